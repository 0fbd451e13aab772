"""CPU and peak RSS of validating one image as predict does (issue 15, "Big images").

Each case runs in a fresh process (peak RSS is per process): PredictSerializer's image validation, i.e. the pixel
budget, then decoding and preprocessing. Usage: .venv/bin/python bench/decode_cost.py
"""

import os
import subprocess
import sys

CHILD = """
import io, json, resource, sys, time, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digitsite.settings")
import django; django.setup()
import numpy as np
from PIL import Image, ImageDraw
from recognizer.domain import images
w, h = int(sys.argv[1]), int(sys.argv[2])
img = Image.new("RGBA", (w, h), (255, 255, 255, 255))
ImageDraw.Draw(img).line([(w // 4, h // 4), (3 * w // 4, 3 * h // 4)], fill=(0, 0, 0, 255), width=max(4, w // 20))
buf = io.BytesIO(); img.save(buf, "PNG", optimize=True); data = buf.getvalue(); del img, buf
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.process_time()
try:
    images.prepare(data, "image/png"); outcome = "decoded"
except Exception as e:
    outcome = getattr(e, "code", None) or str(e)[:60]
cpu = time.process_time() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": f"{w}x{h}", "png_kb": round(len(data) / 1024), "cpu_ms": round(cpu * 1000),
                  "peak_rss_mb": round(peak / 1024), "rss_growth_mb": round((peak - base) / 1024), "outcome": outcome}))
"""

if __name__ == "__main__":
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for size in sys.argv[1:] or ["4096x4096", "2048x2048", "280x280"]:
        w, h = size.split("x")
        out = subprocess.run([sys.executable, "-c", CHILD, w, h], env=env, capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr[-800:])

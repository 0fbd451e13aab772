"""Export time and peak memory for many labeled drawings (default 100,000), in every format.

    .venv/bin/python bench/export_scale.py [--drawings 100000] [--database-url postgres://...]
                                           [--formats csv,idx,npz,png]

Fills a scratch database (a temporary SQLite file unless --database-url names PostgreSQL; that database is created
and dropped) with labeled drawings: MNIST training digits as the 28×28 inputs, canvas-style PNGs as the originals,
both predictions each. Then each format is exported by ``manage.py export`` in a fresh process, whose peak RSS
(``VmHWM``) and RSS before the export are reported with the time and the file size. "Memory stays flat"
means the peak does not grow with the number of drawings: run with --drawings 10000 to compare.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, sys, time
import django, psutil
django.setup()
from django.core.management import call_command
before = psutil.Process().memory_info().rss
t0 = time.perf_counter()
call_command("export", "--format", sys.argv[1], "--out", sys.argv[2], "--include-user-labels")
seconds = time.perf_counter() - t0
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the (big) parent's peak.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rss_before": before, "peak": hwm * 1024}))
"""


def fill(n, say):
    import numpy as np
    from django.db import transaction
    from django.utils import timezone

    from recognizer.ml import canvas_eval, datasets
    from recognizer.models import MODEL_NAMES, Drawing, DrawingImage, Prediction

    x, y = datasets.load_mnist("train")
    originals = [d.png for d in canvas_eval.build_canvas_set(64)]
    rng = np.random.default_rng(0)
    now = timezone.now()
    t0 = time.perf_counter()
    batch = 2000
    for start in range(0, n, batch):
        count = min(batch, n - start)
        idx = rng.integers(0, len(x), size=count)
        with transaction.atomic():
            drawings = Drawing.objects.bulk_create(
                [
                    Drawing(
                        created=now,
                        preprocess_version="mnist-com-v1",
                        agree=True,
                        label=int(y[j]),
                        label_source="staff",
                        labeled_at=now,
                    )
                    for j in idx
                ]
            )
            DrawingImage.objects.bulk_create(
                [
                    DrawingImage(drawing=d, image=originals[(start + i) % len(originals)], model_input=x[j].tobytes())
                    for i, (d, j) in enumerate(zip(drawings, idx, strict=True))
                ]
            )
            probabilities = [0.01] * 10
            Prediction.objects.bulk_create(
                [
                    Prediction(
                        drawing=d,
                        model_name=name,
                        model_version=f"{name}-1",
                        digit=d.label,
                        probabilities=probabilities,
                        confidence=0.91,
                        time_ms=1.0,
                    )
                    for d in drawings
                    for name in MODEL_NAMES
                ]
            )
        if (start // batch) % 10 == 0:
            say(f"  filled {start + count}/{n}")
    say(f"filled {n} drawings in {time.perf_counter() - t0:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drawings", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--formats", default="csv,idx,npz,png")
    args = parser.parse_args()

    from bench.harness import scratch_database

    scratch = ExitStack()
    tmp = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="bench-export-")))
    os.environ["DATABASE_URL"] = scratch.enter_context(scratch_database(args.database_url, "bench_export"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "digitsite.settings"
    say = print
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        fill(args.drawings, say)
        connections.close_all()
        rows = []
        for fmt in args.formats.split(","):
            out = tmp / f"export.{'zip' if fmt in ('idx', 'png') else fmt}"
            result = subprocess.run(
                [sys.executable, "-c", CHILD, fmt, str(out)], cwd=ROOT, env=os.environ, capture_output=True, text=True
            )
            if result.returncode:
                raise SystemExit(result.stderr[-3000:])
            m = json.loads(result.stdout.strip().splitlines()[-1])
            size = out.stat().st_size
            rows.append((fmt, m["seconds"], m["rss_before"] / 2**20, m["peak"] / 2**20, size / 1e6))
            say(
                f"{fmt:>4}: {args.drawings} drawings in {m['seconds']:.1f} s, RSS before {m['rss_before'] / 2**20:.0f} "
                f"MiB, peak RSS {m['peak'] / 2**20:.0f} MiB, file {size / 1e6:.1f} MB"
            )
            out.unlink()
        say(f"parent peak RSS (filling) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        from django.db import connections

        connections.close_all()  # the database can be dropped only once nothing holds it
        scratch.close()


if __name__ == "__main__":
    main()

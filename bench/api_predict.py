"""p50/p95 of ``POST /api/predict/`` in-process (Django test client), over N requests (default 1,000).

    .venv/bin/python bench/api_predict.py [--requests 1000] [--database-url postgres://...]

Runs against a scratch database (a temporary SQLite file unless --database-url names another; a PostgreSQL
database is created and dropped), with the rate limit raised so it never interferes. Each request is a
canvas-style PNG of an MNIST test digit sent as a data URL, exactly as the drawing page sends it; every answer
must be a 201. Reports the whole request (parse, preprocess, both models, one transaction, response).
"""

import argparse
import base64
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--drawings", type=int, default=200, help="distinct canvas drawings, sent in turn")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    from bench.harness import scratch_database

    scratch = ExitStack()
    os.environ["DATABASE_URL"] = scratch.enter_context(scratch_database(args.database_url, "bench_api"))
    os.environ["PREDICT_RATE_ANON"] = "1000000/min"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["DJANGO_SETTINGS_MODULE"] = "digitsite.settings"
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        from recognizer import inference
        from recognizer.ml import canvas_eval
        from recognizer.models import Drawing

        call_command("migrate", verbosity=0)
        inference.warm_up()
        bodies = [
            json.dumps({"image": "data:image/png;base64," + base64.b64encode(d.png).decode()})
            for d in canvas_eval.build_canvas_set(args.drawings)
        ]
        client = Client(REMOTE_ADDR="127.0.0.1")
        for body in bodies[:5]:  # warm-up: first-call costs are not the steady state
            assert client.post("/api/predict/", body, content_type="application/json").status_code == 201
        times, model_ms = [], []
        for i in range(args.requests):
            t0 = time.perf_counter()
            response = client.post("/api/predict/", bodies[i % len(bodies)], content_type="application/json")
            times.append(time.perf_counter() - t0)
            if response.status_code != 201:
                raise SystemExit(f"request {i}: {response.status_code} {response.content[:200]!r}")
            model_ms.append(sum(p["time_ms"] for p in response.json()["predictions"].values()))
        times_ms = sorted(t * 1000 for t in times)
        q = statistics.quantiles(times_ms, n=100, method="inclusive")
        engine = django.db.connection.vendor
        print(
            f"POST /api/predict/ in-process ({engine}), {len(times)} requests, {args.drawings} distinct drawings: "
            f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, mean {statistics.mean(times_ms):.1f} ms, "
            f"max {times_ms[-1]:.1f} ms; {Drawing.objects.count()} drawings stored"
        )
        m = statistics.quantiles(model_ms, n=100, method="inclusive")
        print(f"  of which both models' inference: p50 {m[49]:.1f} ms, p95 {m[94]:.1f} ms")
        print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        from django.db import connections

        connections.close_all()  # the database can be dropped only once nothing holds it
        scratch.close()


if __name__ == "__main__":
    main()

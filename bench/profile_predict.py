"""Where a predict's CPU goes: ``POST /api/predict/`` through the whole WSGI stack, in this process, profiled.

    .venv/bin/python bench/profile_predict.py [--requests 2000] [--profile] [--top 30] [--sqlite]

The same app gunicorn serves (``digitsite.wsgi.application``: the chunked-body wrapper, every middleware, DRF, the
models, one transaction) with production settings (DEBUG off, a scratch PostgreSQL database, Redis), called with a
WSGI environ per request, so only gunicorn's own HTTP parsing is left out. Prints CPU per request of this process and
of PostgreSQL + Redis, the wall-clock p50, and with ``--profile`` cProfile's top entries (own time and cumulative).
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A served worker's library thread pools (gunicorn.conf.py), before NumPy or TensorFlow load.
for _name, _value in {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def environ_for(body, cookie=None):
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/predict/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if cookie:
        env["HTTP_COOKIE"] = cookie
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top entries")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime,cumulative")
    parser.add_argument("--wall", action="store_true", help="profile wall-clock time (default: this process's CPU)")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    parser.add_argument("--dump", metavar="FILE", help="with --profile: also write the raw profile here (pstats)")
    args = parser.parse_args()

    import psutil

    from bench import harness

    scratch = ExitStack()
    url = scratch.enter_context(harness.scratch_database("" if args.sqlite else args.postgres_url, "bench_profile"))
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="digitsite.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-profile-only",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PREDICT_RATE_ANON="1000000/min",
        REDIS_URL=args.redis_url,
        CACHE_KEY_PREFIX=f"profile{os.getpid()}",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from digitsite.wsgi import application
        from recognizer import inference

        inference.warm_up()
        pngs, _labels, _source = harness.canvas_drawings(200)
        bodies = [harness.predict_body(p) for p in pngs]
        cookie = [None]

        def one(i):
            status = []
            headers = []

            def start_response(s, h, exc_info=None):
                status.append(s)
                headers.extend(h)

            out = application(environ_for(bodies[i % len(bodies)], cookie[0]), start_response)
            b"".join(out)
            if hasattr(out, "close"):
                out.close()
            if not status[0].startswith("201"):
                raise SystemExit(f"request {i}: {status[0]}")
            for name, value in headers:  # keep the drawer cookie, as the browser and the load clients do
                if name == "Set-Cookie" and value.strip().startswith("drawer="):
                    cookie[0] = value.strip().split(";", 1)[0]

        for i in range(50):  # warm-up
            one(i)

        def services():
            names = ("postgres", "redis-server")
            total = 0.0
            for p in psutil.process_iter(["name"]):
                if (p.info["name"] or "").startswith(names):
                    try:
                        t = p.cpu_times()
                        total += t.user + t.system
                    except psutil.Error:
                        pass
            return total

        # CPU time by default: waiting for PostgreSQL or for a core the training run holds is not this process's cost.
        timer = time.perf_counter if args.wall else time.process_time
        profiler = cProfile.Profile(timer) if args.profile else None
        walls = []
        s0, c0 = services(), time.process_time()
        if profiler:
            profiler.enable()
        for i in range(args.requests):
            t0 = time.perf_counter()
            one(i)
            walls.append(time.perf_counter() - t0)
        if profiler:
            profiler.disable()
        c1, s1 = time.process_time(), services()
        n = args.requests
        print(
            f"{n} predicts in-process ({django.db.connection.vendor}{', profiled' if profiler else ''}): "
            f"app {1000 * (c1 - c0) / n:.2f} ms CPU/request, PostgreSQL+Redis {1000 * (s1 - s0) / n:.2f} ms, "
            f"wall p50 {1000 * statistics.median(walls):.2f} ms; load average {os.getloadavg()[0]:.1f}"
        )
        if profiler:
            if args.dump:
                profiler.dump_stats(args.dump)
            calls = sum(stat[1] for stat in pstats.Stats(profiler).stats.values())  # primitive calls
            print(f"{calls / n:.0f} Python function calls per request (a count: the load cannot change it)")
            for key in args.sort.split(","):
                stream = io.StringIO()
                stats = pstats.Stats(profiler, stream=stream)
                stats.sort_stats(key).print_stats(args.top)
                print(f"\n---- top {args.top} by {key} ----")
                print("\n".join(line for line in stream.getvalue().splitlines() if line.strip())[:20000])
    finally:
        from django.db import connections

        connections.close_all()
        scratch.close()


if __name__ == "__main__":
    main()

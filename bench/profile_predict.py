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


SECTIONS = [  # (label, module, attribute path): timed with process_time() around each call
    ("whole request (WSGI app)", "django.core.handlers.wsgi", "WSGIHandler.__call__"),
    ("DRF dispatch (the view; middleware is the rest)", "rest_framework.views", "APIView.dispatch"),
    ("DRF initial (negotiation, authentication, throttle)", "rest_framework.views", "APIView.initial"),
    ("  throttle", "rest_framework.views", "APIView.check_throttles"),
    ("    its Redis INCR", "django_redis.client.default", "DefaultClient.incr"),
    ("  authentication", "rest_framework.views", "APIView.perform_authentication"),
    ("PredictView.post", "recognizer.api.views", "PredictView.post"),
    ("  request.data (JSON parse)", "rest_framework.request", "Request._load_data_and_files"),
    ("  validation (the serializer)", "rest_framework.serializers", "BaseSerializer.is_valid"),
    ("    the image field (base64)", "recognizer.api.image_field", "ImageField.to_internal_value"),
    ("  the drawer cookie read", "recognizer.api.views", "drawer_key"),
    ("  prepare (size from the header, preprocessing)", "recognizer.domain.images", "prepare"),
    ("    preprocess.to_model_input", "recognizer.ml.preprocess", "to_model_input"),
    ("  predict and store (the domain)", "recognizer.domain.predicting", "predict_and_store"),
    ("    inference.predict_batch", "recognizer.inference", "predict_batch"),
    ("    Drawing.objects.record_many (store)", "recognizer.models", "DrawingManager.record_many"),
    ("      pg_insert.insert", "recognizer.pg_insert", "insert"),
    (
        "  the answer's dict (DrawingSerializer)",
        "recognizer.api.serializers",
        "DrawingListSerializer.to_representation",
    ),
    ("    the 28x28 input as PNG", "recognizer.ml.preprocess", "stored_input_to_png"),
    ("JSON rendering", "rest_framework.renderers", "JSONRenderer.render"),
]


def timed_sections():
    """Wrap each of SECTIONS with a CPU-time counter; returns {label: [seconds]} filled as requests run."""
    import functools
    import importlib

    totals = {}
    for label, module_name, path in SECTIONS:
        owner = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        original = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
        if original is None:  # not in this version of the code (an older commit, for a before/after)
            continue
        is_classmethod = isinstance(original, classmethod)
        if is_classmethod:
            original = original.__func__
        total = totals[label] = [0.0, 0.0]

        def wrapper(*a, __original=original, __total=total, **k):
            t0, t1 = time.process_time(), time.thread_time()
            try:
                return __original(*a, **k)
            finally:
                __total[0] += time.process_time() - t0
                __total[1] += time.thread_time() - t1

        if is_classmethod:
            setattr(owner, attr, classmethod(functools.wraps(original)(wrapper)))
        else:
            setattr(owner, attr, functools.wraps(original)(wrapper))
    return totals


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
    parser.add_argument("--sections", action="store_true", help="CPU per request of each stage, without a profiler")
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

        sections = timed_sections() if args.sections else None

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
        if sections:  # before the work below runs through the same wrapped functions
            sections = {name: list(total) for name, total in sections.items()}
        # The work itself on the same drawings, in this process: preprocessing and both models, nothing else.
        from recognizer.ml import preprocess

        w0 = time.process_time()
        for i in range(n):
            inference.predict_batch(preprocess.to_model_input(pngs[i % len(pngs)])[None])
        work = 1000 * (time.process_time() - w0) / n
        print(
            f"{n} predicts in-process ({django.db.connection.vendor}{', profiled' if profiler else ''}): "
            f"app {1000 * (c1 - c0) / n:.2f} ms CPU/request, PostgreSQL+Redis {1000 * (s1 - s0) / n:.2f} ms, "
            f"wall p50 {1000 * statistics.median(walls):.2f} ms; load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"the work alone (preprocess + both models, same drawings): {work:.2f} ms CPU/request, so the rest "
            f"(HTTP, Django, DRF, validation, the INSERT, the answer) {1000 * (c1 - c0) / n - work:.2f} ms"
            + (" (the rest measured under the profiler)" if profiler else "")
        )
        if sections:
            print(
                "CPU per request by stage, unprofiled (inclusive: a stage includes the stages inside it); the whole "
                "process's CPU, and this thread's alone:"
            )
            for name, total in sections.items():
                print(f"  {1000 * total[0] / n:6.3f} ms  {1000 * total[1] / n:6.3f} ms  {name}")
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

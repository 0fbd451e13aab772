"""The benchmark: `make bench` (or `python -m bench.run`).

Measures, in one run on this machine:
  1. in-process p50/p95 of preprocessing, each model and both models on one drawing;
  2. over HTTP on loopback, gunicorn (gunicorn.conf.py, DEBUG off) against a fresh PostgreSQL database and Redis:
     req/s, p50/p95/p99 and errors for 1, 4 and 16 concurrent clients sending canvas-style PNGs of MNIST test digits;
  3. the same drawings through the baseline (bench/baseline_wsgi.py: Keras ``model.predict`` at batch size 1 on a
     naively resized image), served by the same gunicorn config, so the speed-up is a measured ratio;
  4. memory (RSS/PSS/USS per worker after warm-up) and cold start (process start to first 201);
  5. no lost writes: N predictions from many threads, then the same while one worker is SIGKILLed (clients retry).
It prints the tables and writes them to bench/RESULTS.md. The rate limit is raised through the environment
(PREDICT_RATE_ANON), the same setting production uses.
"""

import argparse
import json
import os
import platform
import runpy
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench import harness, wrk_predict  # noqa: E402

DEFAULT_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DEFAULT_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def percentiles(values_s, qs=(50, 95, 99)):
    if not values_s:
        return {q: float("nan") for q in qs}
    arr = np.asarray(values_s) * 1000.0
    return {q: float(np.percentile(arr, q)) for q in qs}


def fmt(v, digits=1):
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- in-process -----------------------------------------------------------------------------------------------


def bench_in_process(repeat):
    """In a fresh interpreter, so the thread pools are set up as in a worker (NumPy may already be loaded here)."""
    # A served worker's library thread pools (gunicorn.conf.py); the environment wins.
    env = {**gunicorn_settings({})["thread_env"], **os.environ, "DJANGO_SETTINGS_MODULE": "digitsite.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--in-process-child", str(repeat)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"in-process benchmark failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["stages"], data["versions"]


def _in_process_child(repeat):
    import django

    django.setup()
    from recognizer import inference
    from recognizer.ml import preprocess

    pngs, _labels, _source = harness.canvas_drawings(200)

    inference.warm_up()
    stages = {"preprocess (PNG → 28×28)": [], **{f"{name} model": [] for name in inference.MODEL_NAMES}}
    stages["both models (predict_both)"] = []
    stages["preprocess + both models"] = []
    for i in range(repeat):
        png = pngs[i % len(pngs)]
        t0 = time.perf_counter()
        x = preprocess.to_model_input(png)
        t1 = time.perf_counter()
        answers = inference.predict_both(x)
        t2 = time.perf_counter()
        stages["preprocess (PNG → 28×28)"].append(t1 - t0)
        for name, answer in answers.items():
            stages[f"{name} model"].append(answer.time_ms / 1000)
        stages["both models (predict_both)"].append(t2 - t1)
        stages["preprocess + both models"].append(t2 - t0)
    # The baseline's work in-process, for reference: naive resize + Keras model.predict at batch size 1.
    from bench.baseline_wsgi import keras_model_path
    from recognizer.ml import keras_model

    model = keras_model.load_model(keras_model_path())
    shape = (1, *model.input_shape[1:])
    model.predict(np.zeros(shape, "float32"), verbose=0)
    baseline = []
    for i in range(min(repeat, 100)):
        t0 = time.perf_counter()
        x = preprocess.naive_model_input(pngs[i % len(pngs)]).reshape(shape).astype("float32")
        model.predict(x, verbose=0)
        baseline.append(time.perf_counter() - t0)
    stages["baseline: naive resize + keras model.predict"] = baseline
    print(json.dumps({"stages": stages, "versions": inference.model_versions()}))


# ---- over HTTP ------------------------------------------------------------------------------------------------


def memory_of(server):
    rows = []
    for proc in [psutil.Process(server.proc.pid), *server.workers()]:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        role = "master" if proc.pid == server.proc.pid else "worker"
        rows.append((role, proc.pid, info.rss / 2**20, info.pss / 2**20, info.uss / 2**20))
    return rows


def gunicorn_settings(overrides):
    """workers, threads and worker class as gunicorn.conf.py resolves them with these environment overrides."""
    saved = dict(os.environ)
    try:
        os.environ.update({k: str(v) for k, v in overrides.items()})
        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {
        "workers": conf["workers"],
        "threads": conf["threads"],
        "worker_class": conf["worker_class"],
        "thread_env": conf["THREAD_ENV"],
    }


def describe(conf):
    if conf["worker_class"] == "gthread":
        return f"{conf['workers']} gthread workers × {conf['threads']} threads"
    return f"{conf['workers']} {conf['worker_class']} workers"


def cpu_s(processes):
    """CPU seconds (user + system) these processes have used so far; one that has gone counts nothing."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def worker_cpu_s(server):
    """The gunicorn master's and workers' CPU seconds so far."""
    return cpu_s([psutil.Process(server.proc.pid), *server.workers()])


def services_cpu_s():
    """CPU seconds used so far by this machine's PostgreSQL and Redis processes (all of them)."""
    names = ("postgres", "redis-server")
    return cpu_s(p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith(names))


def measure_cpu(server, load):
    """``load()``'s level dict with CPU ms per request added: gunicorn, PostgreSQL + Redis, and the client (this
    process's threads, or the ``client_cpu_s`` the level reports itself: wrk's)."""
    before = worker_cpu_s(server), services_cpu_s(), time.process_time()
    level = load()
    after = worker_cpu_s(server), services_cpu_s(), time.process_time()
    cpu_used, services_used, client_used = (a - b for a, b in zip(after, before, strict=True))
    client_used = level.pop("client_cpu_s", client_used)
    n = level["requests"]
    level.update(
        cpu_ms=1000 * cpu_used / n if n else float("nan"),
        services_cpu_ms=1000 * services_used / n if n else float("nan"),
        client_cpu_ms=1000 * client_used / n if n else float("nan"),
    )
    return level


def python_level(server, bodies, c, n):
    run = harness.run_load(server.port, bodies, total=n, concurrency=c, deadline_s=180)
    latencies = [r.latency_s for r in run.results if r.status == 201]
    return {
        "concurrency": c,
        "requests": n,
        "ok": len(latencies),
        "errors": len(run.errors),
        "rps": len(latencies) / run.wall_s if run.wall_s else 0.0,
        "pct": percentiles(latencies),
        "error_samples": sorted({(str(r.status), r.error[:80]) for r in run.errors})[:3],  # status may be None
    }


def say_level(say, name, level):
    say(
        f"  {name:<13} c={level['concurrency']:<3} {level['rps']:7.1f} req/s  p50 {fmt(level['pct'][50])} ms  "
        f"p95 {fmt(level['pct'][95])}  p99 {fmt(level['pct'][99])}  errors {level['errors']}  "
        f"CPU ms/req: gunicorn {fmt(level['cpu_ms'], 2)}, PostgreSQL+Redis {fmt(level['services_cpu_ms'], 2)}, "
        f"client {fmt(level['client_cpu_ms'], 2)}"
    )


def drawer_cookie(port, body):
    """The Cookie header a browser sends after its first drawing (wrk sends it on every request)."""
    client = harness.Client(port)
    try:
        client.post(harness.PREDICT_PATH, body)
    finally:
        client.close()
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def serve_and_measure(name, env, bodies, levels, requests, workers, tmp, say, wrk_seconds=0):
    server = harness.Server(env, Path(tmp) / f"{name}.log")
    out = {"name": name, "levels": [], "wrk_levels": []}
    with server:
        cold = harness.wait_until_answering(server, bodies[0], timeout=180)
        if cold is None:
            raise RuntimeError(f"{name}: no answer within 180 s\n{server.log()[-3000:]}")
        out["cold_start_s"] = cold
        server.wait_for_workers(workers, 30)
        # Warm every worker and thread (and the connection pools) before measuring.
        harness.run_load(server.port, bodies, total=max(40, 8 * workers), concurrency=8, deadline_s=120)
        out["memory"] = memory_of(server)
        for c in levels:
            # Where the CPU goes: gunicorn, the database and cache, and the client threads (this process).
            level = measure_cpu(server, lambda c=c: python_level(server, bodies, c, requests(c)))
            out["levels"].append(level)
            say_level(say, name, level)
        if wrk_seconds and levels and wrk_predict.available():
            cookie = drawer_cookie(server.port, bodies[0])
            for c in levels:
                level = measure_cpu(server, lambda c=c: wrk_predict.run(server.port, bodies, c, wrk_seconds, cookie))
                out["wrk_levels"].append(level)
                say_level(say, f"{name} (wrk)", level)
        out["memory_after"] = memory_of(server)
    return out


def no_lost_writes(admin_url, bodies, total, concurrency, workers, tmp, extra_env, say):
    """The full load test, each scenario against a fresh database: a clean run, then one worker SIGKILLed mid-run
    while the clients retry, without and with an Idempotency-Key."""
    scenarios = []
    for name, kill, keys in (
        (f"{concurrency} threads", False, False),
        ("one worker SIGKILLed mid-run, clients retry", True, False),
        ("the same, retries carry an Idempotency-Key", True, True),
    ):
        prefix = f"digits_bench_{'kill' if kill else 'load'}{'_keys' if keys else ''}"
        with harness.fresh_postgres_database(admin_url, prefix) as url:
            env = harness.production_env(url, harness.free_port(), **extra_env)
            server = harness.Server(env, Path(tmp) / f"{prefix}.log")
            with server:
                if harness.wait_until_answering(server, bodies[0], timeout=180) is None:
                    raise RuntimeError(f"{prefix}: server did not answer\n{server.log()[-3000:]}")
                server.wait_for_workers(workers, 30)
                harness.clear_drawings(url)  # the readiness probe's drawing is not part of the test
                run = harness.run_load(
                    server.port,
                    bodies,
                    total=total,
                    concurrency=concurrency,
                    deadline_s=240,
                    max_attempts=20 if kill else 1,
                    kill_after=total // 3 if kill else None,
                    server=server,
                    idempotency_keys=keys,
                )
                respawned = server.wait_for_workers(workers, 60) and run.killed_pid not in {
                    p.pid for p in server.workers()
                }
            problems, summary = harness.check_writes(url, run)
        row = {
            "scenario": name,
            "requests": total,
            "answered_201": run.count(201),
            "errors": len(run.errors),
            "timed_out": run.timed_out,
            "killed_pid": run.killed_pid,
            "respawned": respawned if kill else None,
            "problems": {k: v for k, v in problems.items() if v},
            **summary,
        }
        scenarios.append(row)
        say(
            f"  {row['scenario']}: {row['answered_201']}/{total} answered 201, {row['stored']} stored, "
            f"{row['retried']} retried, {row['replayed']} replayed, problems: {row['problems'] or 'none'}"
        )
    return scenarios


# ---- report ---------------------------------------------------------------------------------------------------


def machine_line():
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{socket.gethostname()}: {os.cpu_count()} CPU ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"
    )


def git_commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def report(ctx):
    """RESULTS.md: the run, the goals, then one section per measurement."""
    app, base, floor, unshared = ctx["app"], ctx["baseline"], ctx["floor"], ctx["unshared"]
    parts = [
        *_report_header(ctx),
        "## Goals",
        "",
        table(["goal", "measured", "met"], ctx["goals"]),
        "",
        "## In-process (one drawing at a time)",
        "",
        table(
            ["stage", "n", "p50 ms", "p95 ms"],
            [[k, len(v), fmt(percentiles(v)[50], 2), fmt(percentiles(v)[95], 2)] for k, v in ctx["stages"].items()],
        ),
        "",
        *_report_http(app, base, floor),
        *_report_wrk(app, base, floor),
        *_report_memory(app, unshared, base),
        *_report_writes(ctx["load"]),
    ]
    if ctx.get("notes"):
        parts += ["## Notes", "", *[f"- {n}" for n in ctx["notes"]], ""]
    return "\n".join(parts)


def _report_header(ctx):
    return [
        "# Benchmark results",
        "",
        f"Run {ctx['when']} on {ctx['machine']}, commit `{ctx['commit']}`, in {ctx['duration_s']:.0f} s "
        f"(`{ctx['command']}`). Load average before/after: {ctx['load_before']} / {ctx['load_after']}.",
        f"Server: gunicorn.conf.py with {ctx['server']}, DEBUG off, "
        f"PostgreSQL (fresh database), cache {ctx['cache']}. Client: Python threads with keep-alive connections on "
        "the same machine (they share its CPUs with the server).",
        f"Models: {ctx['versions']}. Drawings: {ctx['n_drawings']} {ctx['drawings_source']}.",
        "",
    ]


def _report_http(app, base, floor):
    """Latency and throughput per level and their errors; then CPU per request (``_report_cpu``)."""
    levels = [(s, lv) for s in (app, base, floor) for lv in s["levels"]]
    return [
        "## Over HTTP: POST /api/predict/ (predict and store) vs the baseline",
        "",
        "The floor (bench/floor_wsgi.py) does the app's work and storage -- rate-limit count in Redis, live "
        "preprocessing, both models, the one-statement INSERT -- with no Django request handling, DRF, validation, "
        "cookie or idempotency: a lower bound for what this stack can cost.",
        "",
        table(
            ["server", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
            [
                [
                    s["name"],
                    lv["concurrency"],
                    lv["requests"],
                    fmt(lv["rps"]),
                    fmt(lv["pct"][50]),
                    fmt(lv["pct"][95]),
                    fmt(lv["pct"][99]),
                    lv["errors"],
                ]
                for s, lv in levels
            ],
        ),
        "",
        *[
            f"Errors, {s['name']} at {lv['concurrency']} clients: "
            + "; ".join(f"{status} {error}" for status, error in lv["error_samples"])
            + "\n"
            for s, lv in levels
            if lv["errors"]
        ],
        *_report_cpu(app, base, floor),
    ]


def _report_cpu(app, base, floor):
    """CPU per request and the ceiling it sets, then the app against the baseline."""
    levels = [(s, lv) for s in (app, base, floor) for lv in s["levels"]]
    return [
        "CPU per request, measured around each run: the gunicorn processes, PostgreSQL and Redis (all their processes "
        "on this machine), and the client threads. On a saturated machine req/s cannot exceed "
        f"{os.cpu_count()} cores ÷ their sum, the ceiling column.",
        "",
        table(
            ["server", "clients", "gunicorn ms", "PostgreSQL + Redis ms", "client ms", "sum ms", "ceiling req/s"],
            [
                [
                    s["name"],
                    lv["concurrency"],
                    fmt(lv["cpu_ms"], 2),
                    fmt(lv["services_cpu_ms"], 2),
                    fmt(lv["client_cpu_ms"], 2),
                    fmt(total, 2),
                    fmt(1000 * os.cpu_count() / total if total else float("nan"), 0),
                ]
                for s, lv in levels
                for total in [cpu_sum_ms(lv)]
            ],
        ),
        "",
        table(
            ["clients", "app req/s", "baseline req/s", "throughput ×", "baseline p50 / app p50"],
            [
                [
                    a["concurrency"],
                    fmt(a["rps"]),
                    fmt(b["rps"]),
                    fmt(a["rps"] / b["rps"] if b["rps"] else float("nan")),
                    fmt(b["pct"][50] / a["pct"][50] if a["pct"][50] else float("nan")),
                ]
                for a, b in zip(app["levels"], base["levels"], strict=True)
            ],
        ),
        "",
    ]


def _report_wrk(app, base, floor):
    """The same request driven by wrk (bench/wrk_predict.py, bench/predict.lua): a C client that leaves the cores to
    the server; latency, CPU per request split by process, and the app against the baseline."""
    levels = [(s, lv) for s in (app, base, floor) for lv in s.get("wrk_levels", [])]
    if not levels:
        return []
    return [
        "## Over HTTP with wrk (C load generator, bench/predict.lua)",
        "",
        "Each level runs for a fixed time; connections are keep-alive and send the drawer cookie a browser would. "
        "CPU per request as above, the client column being wrk's own CPU.",
        "",
        table(
            [
                "server",
                "clients",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "gunicorn ms",
                "PostgreSQL + Redis ms",
                "wrk ms",
                "sum ms",
            ],
            [
                [
                    s["name"],
                    lv["concurrency"],
                    lv["requests"],
                    fmt(lv["rps"]),
                    fmt(lv["pct"][50]),
                    fmt(lv["pct"][99]),
                    lv["errors"],
                    fmt(lv["cpu_ms"], 2),
                    fmt(lv["services_cpu_ms"], 2),
                    fmt(lv["client_cpu_ms"], 2),
                    fmt(cpu_sum_ms(lv), 2),
                ]
                for s, lv in levels
            ],
        ),  # fmt: skip
        "",
        table(
            ["clients", "app req/s", "baseline req/s", "throughput ×", "baseline p50 / app p50"],
            [
                [
                    a["concurrency"],
                    fmt(a["rps"]),
                    fmt(b["rps"]),
                    fmt(ratio(a["rps"], b["rps"])),
                    fmt(ratio(b["pct"][50], a["pct"][50])),
                ]
                for a, b in zip(app["wrk_levels"], base["wrk_levels"], strict=True)
            ],
        ),  # fmt: skip
        "",
    ]


def ratio(a, b):
    return a / b if b else float("nan")


def _report_memory(app, unshared, base):
    servers = (app, unshared, base)
    return [
        "## Memory and cold start",
        "",
        "After warm-up. RSS counts shared pages in every process; PSS splits them between the processes sharing them "
        "(their sum is the real total); USS is what the process alone holds (what one more worker costs). "
        '"TF not preloaded" is the same app with GUNICORN_PRELOAD_TENSORFLOW=0, to show what the preload saves.',
        "",
        table(
            ["server", "process", "RSS MiB", "PSS MiB", "USS MiB"],
            [
                row
                for s in servers
                for row in [
                    *[
                        [s["name"], role, fmt(rss, 0), fmt(pss, 0), fmt(uss, 0)]
                        for role, _, rss, pss, uss in s["memory"]
                    ],
                    [s["name"], "**all processes**", "", f"**{sum(m[3] for m in s['memory']):.0f}**", ""],
                ]
            ],
        ),
        "",
        table(
            ["server", "cold start: process start → first 201 (s)"],
            [[s["name"], fmt(s["cold_start_s"], 2)] for s in servers],
        ),
        "",
    ]


def _report_writes(scenarios):
    return [
        "## No lost writes (gunicorn → PostgreSQL)",
        "",
        "Every 201 must name exactly one stored drawing with exactly one keras and one custom prediction, and no "
        "drawing may lack either. Without retries nothing else may be stored. When clients retry without a key, a "
        "request whose answer was lost with the killed worker may have been stored once more than answered (at most "
        "one extra per retried request); with an Idempotency-Key the retry gets the stored drawing back (replayed), "
        "so nothing extra may be stored.",
        "",
        table(
            ["scenario", "requests", "201", "errors", "retried", "replayed", "stored", "extra stored", "problems"],
            [
                [
                    s["scenario"],
                    s["requests"],
                    s["answered_201"],
                    s["errors"],
                    s["retried"],
                    s["replayed"],
                    s["stored"],
                    s["extra"],
                    s["problems"] or "none",
                ]
                for s in scenarios
            ],
        ),
        "",
    ]


def cpu_sum_ms(level):
    return level["cpu_ms"] + level["services_cpu_ms"] + level["client_cpu_ms"]


def notes(load_before, app, base, floor):
    out = []
    load = float(load_before.split(",")[0])
    if load > 0.5:
        out.append(
            f"The 1-minute load average was {load:.2f} when the run started on {os.cpu_count()} CPUs: other work "
            "shared the machine, so latencies include waiting for a CPU."
        )
    if app["levels"] and base["levels"]:
        a, b = app["levels"][-1], base["levels"][-1]
        out.append(
            f"Throughput here is CPU-bound: at {a['concurrency']} clients the baseline spends {fmt(cpu_sum_ms(b))} ms "
            f"of CPU per request in all and the app {fmt(cpu_sum_ms(a), 2)} ms "
            f"({fmt(a['cpu_ms'], 2)} of it in gunicorn: Django, DRF, validation, preprocessing, both models, the "
            f"transaction). 15× the baseline's req/s needs ≤ {fmt(cpu_sum_ms(b) / 15, 2)} ms per request in all."
        )
    floor_levels = floor.get("wrk_levels") or floor["levels"]
    if floor_levels:
        out.append(
            "The floor, the same work and storage without Django's request handling, costs "
            + ", ".join(f"{fmt(cpu_sum_ms(lv), 2)} ms at {lv['concurrency']}" for lv in floor_levels)
            + " clients in all. The app can approach it, not pass it: its work, storage and server are all in it."
        )
    out += [
        "Client, gunicorn, PostgreSQL and Redis all run on this machine; every request's CPU (client, server, "
        "database) comes out of the same cores, so req/s is a floor for a server with the cores to itself.",
        "Each worker runs NumPy/OpenBLAS and TensorFlow with one thread (gunicorn.conf.py): with OpenBLAS's default "
        "pool the numpy model cost 8 ms of CPU per drawing instead of 0.4 ms.",
        "Models load in each worker after the fork: a Keras model built before fork() hangs the child's first "
        "prediction (measured); importing TensorFlow before the fork is safe and is what the memory table compares.",
        "Without an Idempotency-Key, a retried request whose worker died after the commit but before the answer is "
        "stored twice; every such drawing is complete, never half-written. With the key it is stored once.",
    ]
    return out


def goals(app, base, scenarios):
    """Issue 24's bar ("no slower than today"): throughput at least 12× the old path at 8 clients and p50 ≤ 5 ms at
    1 client; from wrk where it ran (its client leaves the cores to the server), else from the Python client. CPU per
    predict-and-store summed over the processes, for the record. And no lost writes."""
    app_levels, base_levels = app.get("wrk_levels") or app["levels"], base.get("wrk_levels") or base["levels"]
    driver = "wrk" if app.get("wrk_levels") else "Python client"
    sums = {lv["concurrency"]: cpu_sum_ms(lv) for lv in app_levels}
    ratios = {a["concurrency"]: ratio(a["rps"], b["rps"]) for a, b in zip(app_levels, base_levels, strict=True)}
    p50s = {
        "Python client": next((lv["pct"][50] for lv in app["levels"] if lv["concurrency"] == 1), float("nan")),
        "wrk": next((lv["pct"][50] for lv in app.get("wrk_levels", []) if lv["concurrency"] == 1), float("nan")),
    }
    clean = all(not s["problems"] and not s["timed_out"] for s in scenarios)
    return [
        [
            f"CPU per predict-and-store, summed over gunicorn, PostgreSQL + Redis and the client ({driver})",
            ", ".join(f"{fmt(v, 2)} ms at {c}" for c, v in sums.items()),
            "(recorded)",
        ],
        [
            f"throughput ≥ 12× the old path at 8 clients ({driver})",
            ", ".join(f"{fmt(r)}× at {c}" for c, r in ratios.items()),
            "yes" if 8 in ratios and ratios[8] >= 12 else "no",
        ],
        [
            "p50 ≤ 5 ms, predict and store, 1 client",
            ", ".join(f"{fmt(v)} ms ({k})" for k, v in p50s.items() if v == v),
            "yes" if p50s[driver] <= 5 else "no",
        ],
        ["no lost writes, with and without a SIGKILL", "see below", "yes" if clean else "no"],
    ]


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests, no RESULTS.md")
    parser.add_argument("--requests", type=int, default=1000, help="requests per concurrency level (app)")
    parser.add_argument("--baseline-requests", type=int, default=200, help="requests per level (baseline)")
    parser.add_argument("--levels", default="1,8", help="client concurrency levels")
    parser.add_argument("--load-requests", type=int, default=600, help="requests in each no-lost-writes run")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="seconds per level with wrk (0: Python client only)")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for the servers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: gunicorn.conf.py's)")
    parser.add_argument("--worker-class", help="GUNICORN_WORKER_CLASS (default: gunicorn.conf.py's)")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL, help="an admin URL; a fresh database is made")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="cache and rate limits ('' for local memory)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--in-process-child"]:
        return _in_process_child(int(argv[1])) or 0
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv), say=lambda msg="": print(msg, flush=True))


def run(args, say):
    """Run every measurement, print the tables, write RESULTS.md (not for --quick). Returns an exit status."""
    if args.quick:
        args.requests, args.baseline_requests, args.load_requests = 40, 20, 60
        args.wrk_seconds = min(args.wrk_seconds, 2)
    levels = [int(c) for c in args.levels.split(",")]

    started = time.perf_counter()
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pngs, _labels, source = harness.canvas_drawings(200)
    bodies = [harness.predict_body(p) for p in pngs]

    say("In-process ...")
    stages, versions = bench_in_process(repeat=60 if args.quick else 300)
    for k, v in stages.items():
        p = percentiles(v)
        say(f"  {k:<45} p50 {fmt(p[50], 2):>7} ms  p95 {fmt(p[95], 2):>7} ms")

    server_env, cache = server_settings(args)
    conf = gunicorn_settings(server_env)
    say(f"Servers: {describe(conf)}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        say("Over HTTP ...")
        app, base, floor, unshared = measure_servers(args, bodies, levels, server_env, conf["workers"], tmp, say)
        say("No lost writes ...")
        scenarios = no_lost_writes(
            args.postgres_url, bodies, args.load_requests, 16, conf["workers"], tmp, server_env, say
        )

    ctx = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_line(),
        "commit": git_commit(),
        "command": "make bench" + (" (quick)" if args.quick else ""),
        "duration_s": time.perf_counter() - started,
        "load_before": load_before,
        "load_after": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "server": describe(conf),
        "cache": cache,
        "versions": ", ".join(f"{k} `{v}`" for k, v in versions.items()),
        "n_drawings": len(pngs),
        "drawings_source": source,
        "stages": stages,
        "app": app,
        "baseline": base,
        "floor": floor,
        "unshared": unshared,
        "load": scenarios,
        "goals": goals(app, base, scenarios),
        "notes": notes(load_before, app, base, floor),
    }
    text = report(ctx)
    say()
    say(text)
    if not args.quick:
        Path(args.output).write_text(text)
        say(f"\nwrote {args.output}")
    problems = [s for s in scenarios if s["problems"] or s["timed_out"]]
    return 1 if problems else 0


def server_settings(args):
    """(the servers' environment from the command line, the cache in words)."""
    cache_env = {}
    cache = "local memory (per worker)"
    if args.redis_url:
        cache_env = {"REDIS_URL": args.redis_url, "CACHE_KEY_PREFIX": f"bench{os.getpid()}"}
        cache = f"Redis ({args.redis_url})"
    chosen = {
        "WEB_CONCURRENCY": args.workers,
        "GUNICORN_THREADS": args.threads,
        "GUNICORN_WORKER_CLASS": args.worker_class,
    }
    return {**{k: v for k, v in chosen.items() if v is not None}, **cache_env}, cache


def measure_servers(args, bodies, levels, server_env, workers, tmp, say):
    """(app, baseline, floor, app without TensorFlow preloaded), each served on a fresh database and measured."""
    with harness.fresh_postgres_database(args.postgres_url, "digits_bench") as url:
        env = harness.production_env(url, harness.free_port(), **server_env)
        app = serve_and_measure(
            "app", env, bodies, levels, lambda c: args.requests, workers, tmp, say, args.wrk_seconds
        )
        env = harness.production_env(
            url,
            harness.free_port(),
            GUNICORN_APP="bench.baseline_wsgi:application",
            GUNICORN_PRELOAD="0",
            **server_env,
        )
        base = serve_and_measure(
            "baseline", env, bodies, levels, lambda c: args.baseline_requests, workers, tmp, say, args.wrk_seconds
        )
        # The floor: the same work and storage without Django's request handling (a lower bound for the app).
        env = harness.production_env(
            url, harness.free_port(), GUNICORN_APP="bench.floor_wsgi:application", **server_env
        )
        floor = serve_and_measure(
            "floor", env, bodies, levels, lambda c: args.requests, workers, tmp, say, args.wrk_seconds
        )
        # The preload choice, measured: the same app with TensorFlow imported in each worker instead.
        env = harness.production_env(url, harness.free_port(), GUNICORN_PRELOAD_TENSORFLOW="0", **server_env)
        unshared = serve_and_measure("app, TF not preloaded", env, bodies, [], lambda c: 0, workers, tmp, say)
    return app, base, floor, unshared


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digitsite.settings")
    sys.exit(main())

"""Load ``POST /api/predict/`` with wrk (a C load generator) and bench/predict.lua, so the client takes little of the
machine's CPU: the Python client threads of ``harness.run_load`` cost ~0.4 ms of CPU a request, wrk a fraction.

``run(port, bodies, clients, seconds)`` answers the same figures as a ``harness.run_load`` level (req/s, p50/p95/p99,
errors) plus wrk's own CPU seconds (its rusage, read when it exits). Plain Python, no Django.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

LUA = Path(__file__).resolve().parent / "predict.lua"


def available():
    return shutil.which("wrk") is not None


def run(port, bodies, clients, seconds, cookie="", timeout_s=10):
    """wrk with ``clients`` connections (at most 2 threads: this machine's cores are for the server) for ``seconds``."""
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f:
        f.write(b"\n".join(bodies) + b"\n")
        bodies_path = f.name
    try:
        threads = max(1, min(clients, 2))
        command = [
            shutil.which("wrk"),
            f"-t{threads}",
            f"-c{clients}",
            f"-d{seconds}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}/api/predict/",
        ]
        env = {**os.environ, "PREDICT_BODIES": bodies_path, "PREDICT_COOKIE": cookie}
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)  # wrk's own CPU
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    finally:
        os.unlink(bodies_path)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out[-2000:]}")
    requests, failed, socket_errors, p50, p95, p99, duration_us = (int(v) for v in line.split()[1:])
    duration = duration_us / 1e6 or wall
    return {
        "concurrency": clients,
        "requests": requests,
        "ok": requests - failed,
        "errors": failed + socket_errors,
        "rps": (requests - failed) / duration,
        "pct": {50: p50 / 1000, 95: p95 / 1000, 99: p99 / 1000},
        "client_cpu_s": usage.ru_utime + usage.ru_stime,
        "error_samples": [("wrk", f"{failed} non-201 answers, {socket_errors} socket errors")] if failed else [],
    }

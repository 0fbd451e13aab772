"""The production stack of `make serve` (scripts/serve.sh: nginx in front of gunicorn) on free loopback ports, for the
tests that go through nginx. Plain Python, like bench/harness.py: the server's settings come from its environment.

``Stack`` looks enough like ``harness.Server`` (``port``, ``proc``, ``started_at``, ``log()``, ``workers()``) for
``harness.wait_until_answering`` and ``harness.run_load`` to drive it through nginx.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench import harness

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"


def stack_env(database_url, run_dir, static_root, **extra):
    """A production environment (DEBUG off, plain http on loopback) for serve.sh on two free ports."""
    upstream = harness.free_port()
    env = harness.production_env(database_url, upstream, WEB_CONCURRENCY=1)
    env.update(
        PORT=str(harness.free_port()),
        PY=sys.executable,
        SERVE_RUN_DIR=str(run_dir),
        SERVE_COLLECTSTATIC="0",
        NGINX_STATIC_ROOT=str(static_root),
        NGINX_WORKERS="1",
        NGINX_ACCESS_LOG="off",
    )
    env.pop("TRUSTED_PROXIES", None)  # serve.sh's own default (1) is what is under test
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Stack:
    def __init__(self, env, log_path):
        self.env = env
        self.port = int(env["PORT"])
        self.upstream_port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
        self.log_path = Path(log_path)
        self.proc = None
        self.started_at = None

    def start(self):
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            ["bash", str(SERVE)],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals the group as Ctrl-C would
        )
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def group(self):
        """Live processes of the group (a finished serve.sh waits, a zombie, until stop() reaps it)."""
        return [
            p
            for p in psutil.process_iter(["pid", "status"])
            if _pgid(p.pid) == self.proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
        ]

    def gunicorn_master(self):
        for child in psutil.Process(self.proc.pid).children():
            if "gunicorn" in " ".join(child.cmdline()):
                return child
        return None

    def workers(self):
        try:
            master = self.gunicorn_master()
            return master.children() if master else []
        except psutil.NoSuchProcess:
            return []

    def wait_for_workers(self, count, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.workers()) >= count:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=40):
        """SIGINT to the process group, as Ctrl-C does; True when serve.sh, nginx and gunicorn all exited."""
        if self.proc is None:
            return True
        stopped = True
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while self.group() and time.monotonic() < deadline:
                time.sleep(0.2)
            stopped = not self.group()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever did not stop
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.log_file.close()
        return stopped

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None

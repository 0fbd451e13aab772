"""gunicorn.conf.py: its booleans are parsed as strictly as the settings', worker recycling is configurable, and a
worker past its memory cap is replaced (issue 27, items 9 and 19).

The config is run in a fresh interpreter each time: it sets environment variables (thread pools, the Prometheus
folder) that must not leak into this test process and the subprocesses later tests start.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_VARS = ("GUNICORN_PRELOAD", "GUNICORN_PRELOAD_TENSORFLOW", "GUNICORN_WARM_UP", "GUNICORN_MAX_REQUESTS")

LOAD = """
import json, runpy, sys
conf = runpy.run_path("gunicorn.conf.py")
print(json.dumps({k: conf[k] for k in sys.argv[1:]}))
"""


def run_conf(*names, **env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-c", LOAD, *names], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def conf_values(*names, **env_vars):
    result = run_conf(*names, **env_vars)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("value", ["flase", "2", "enabled", "tru"])
def test_a_boolean_it_cannot_read_stops_gunicorn_with_a_message(value):
    result = run_conf("preload_app", GUNICORN_PRELOAD=value)
    assert result.returncode != 0
    assert f"GUNICORN_PRELOAD must be a boolean (1/0, true/false), got '{value}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_booleans_read_as_the_settings_read_them():
    words = {"1": True, "true": True, " Yes ": True, "ON": True, "0": False, "false": False, "No": False, "off": False}
    for word, meaning in words.items():
        assert conf_values("preload_app", GUNICORN_PRELOAD=word) == {"preload_app": meaning}, word
    assert conf_values("preload_app", GUNICORN_PRELOAD="") == {"preload_app": True}  # empty: the default
    # The settings' parser, for the same words (and the same refusal).
    code = (
        "import os, sys; from digitsite.settings import env_bool;"
        "print({w: env_bool('X', None) for w in sys.argv[1:] if not os.environ.update(X=w)})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "digitsite.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code, *words], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(words)


def test_worker_recycling_has_jitter_and_both_come_from_the_environment():
    assert conf_values("max_requests", "max_requests_jitter", "max_worker_memory_mb") == {
        "max_requests": 20000,
        "max_requests_jitter": 2000,
        "max_worker_memory_mb": 1024,
    }
    assert conf_values(
        "max_requests",
        "max_requests_jitter",
        "max_worker_memory_mb",
        GUNICORN_MAX_REQUESTS="500",
        GUNICORN_MAX_REQUESTS_JITTER="123",
        GUNICORN_MAX_WORKER_MEMORY_MB="0",
    ) == {"max_requests": 500, "max_requests_jitter": 123, "max_worker_memory_mb": 0}
    assert conf_values("max_requests_jitter", GUNICORN_MAX_REQUESTS="1000") == {"max_requests_jitter": 100}


HOOK = """
import json, runpy
conf = runpy.run_path("gunicorn.conf.py")

class Log:
    def __init__(self): self.lines = []
    def warning(self, *args): self.lines.append(args[0] % args[1:])

class Worker:
    pid, alive = 4242, True
    log = Log()

worker = Worker()
rss = conf["resident_mb"]()
conf["post_request"](worker, None, {}, None)
print(json.dumps({"rss": rss, "alive": worker.alive, "log": worker.log.lines}))
"""


@pytest.mark.parametrize("cap, stays", [("1", False), ("1000000", True), ("0", True)])
def test_a_worker_over_its_memory_cap_stops_taking_requests(cap, stays):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    env["GUNICORN_MAX_WORKER_MEMORY_MB"] = cap
    result = subprocess.run([sys.executable, "-c", HOOK], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["rss"] > 1  # a Python interpreter holds more than a MiB
    assert out["alive"] is stays
    if not stays:
        assert "over GUNICORN_MAX_WORKER_MEMORY_MB=1; restarting it" in out["log"][0]

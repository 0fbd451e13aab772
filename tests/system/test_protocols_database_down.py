"""PostgreSQL and Redis really down (a child process with DEBUG off pointed at closed ports): the v2 infer and the
TF Serving predict answer their JSON 503, and readiness names what is down without the driver's message."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.harness import free_port

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, logging
    import django
    django.setup()
    from django.test import Client
    logging.disable(logging.CRITICAL)
    c = Client(raise_request_exception=False)
    x = [[0.0] * 28 for _ in range(28)]
    for row in range(4, 24):
        x[row][13] = 1.0
    v2 = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": x}]}
    out = {}
    for name, r in [
        ("v2", c.post("/v2/models/keras/infer", json.dumps(v2), content_type="application/json")),
        ("v1", c.post("/v1/models/keras:predict", json.dumps({"instances": [x]}), content_type="application/json")),
        ("v2_ready", c.get("/v2/health/ready")),
        ("readyz", c.get("/readyz")),
    ]:
        out[name] = {"status": r.status_code, "type": r.get("Content-Type", ""), "retry": r.get("Retry-After"),
                     "body": r.content.decode(errors="replace")[:3000]}
    print(json.dumps(out))
    """
)


def test_database_down_at_the_protocol_doors_is_their_json_503():
    db_port, redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "digitsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "protocols-down-test-" + "x" * 40,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{db_port}/nowhere",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    env.pop("CACHE_URL", None)
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("v2", "v1"):
        assert out[name]["status"] == 503, out[name]
        assert out[name]["type"].startswith("application/json"), out[name]
        body = json.loads(out[name]["body"])
        assert set(body) == {"error"} and "database" in body["error"], body
        assert int(out[name]["retry"]) > 0
    for name in ("v2_ready", "readyz"):
        assert out[name]["status"] == 503, out[name]
        assert str(db_port) not in out[name]["body"] and str(redis_port) not in out[name]["body"], out[name]
    # What is live is read from the database (recognizer.lifecycle): with it down from the start, no models load.
    assert json.loads(out["v2_ready"]["body"]) == {
        "error": "not ready: models: not loaded; database: unavailable; cache: unavailable"
    }
    assert json.loads(out["readyz"]["body"])["checks"] == {
        "models": "not loaded",
        "database": "unavailable",
        "cache": "unavailable",
    }

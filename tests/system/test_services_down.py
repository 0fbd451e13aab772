"""PostgreSQL or Redis unreachable: clean answers, not 500s and tracebacks.

Redis down (a closed port): predict keeps a per-process rate limit, one warning is logged (not a traceback per
request), the admin login and the session-authenticated API keep working (sessions are in the database).
Database down too (a child process pointed at closed ports, DEBUG off): JSON 503 with Retry-After under /api/, a
plain 503 page elsewhere; /healthz answers, /readyz says 503 and names what failed.
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.test import Client, override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from bench.harness import free_port
from recognizer.api import throttling

ROOT = Path(__file__).resolve().parents[2]


def closed_redis():
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }


@pytest.mark.django_db
def test_redis_down_predict_keeps_a_per_process_limit_and_warns_once(settings, caplog, monkeypatch):
    monkeypatch.setattr(throttling, "local_counters", throttling.LocalCounters())
    monkeypatch.setattr(throttling, "_last_warning", [-1e9])
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "3/min"}
    client = APIClient()
    with (
        override_settings(CACHES=closed_redis()),
        override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}),
        caplog.at_level(logging.WARNING),
    ):
        codes = [client.post("/api/predict/", {}, format="json").status_code for _ in range(6)]
    assert codes == [400, 400, 400, 429, 429, 429]  # empty bodies: counted, then refused before any model runs
    records = [r for r in caplog.records if r.name == "recognizer.api.throttling"]
    assert len(records) == 1 and "per process" in records[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per request


@pytest.mark.django_db
def test_redis_down_admin_login_and_session_api_still_work(django_user_model):
    django_user_model.objects.create_user("keeper", password="keeper-pass-123", is_staff=True, is_superuser=True)
    with override_settings(CACHES=closed_redis()):
        client = Client()
        assert client.get("/admin/login/").status_code == 200
        response = client.post("/admin/login/?next=/admin/", {"username": "keeper", "password": "keeper-pass-123"})
        assert response.status_code == 302 and response["Location"] == "/admin/", response.content[:300]
        assert client.get("/admin/").status_code == 200
        listing = client.get("/api/drawings/")
        assert listing.status_code == 200 and listing.json()["count"] == 0


CHILD = textwrap.dedent(
    """
    import json, logging
    import django
    django.setup()
    from django.test import Client
    from tests import api_images as im
    logging.disable(logging.CRITICAL)
    c = Client(raise_request_exception=False)
    out = {}
    def keep(name, r):
        out[name] = {"status": r.status_code, "type": r.get("Content-Type", ""), "retry": r.get("Retry-After"),
                     "body": r.content.decode(errors="replace")[:3000]}
    keep("predict", c.post("/api/predict/", json.dumps({"image": im.data_url(im.png(im.SEVEN))}),
                           content_type="application/json"))
    keep("token_api", c.get("/api/drawings/", HTTP_AUTHORIZATION="Token " + "a" * 40))
    keep("admin_login", c.post("/admin/login/", {"username": "x", "password": "y"}))
    keep("healthz", c.get("/healthz"))
    keep("readyz", c.get("/readyz"))
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_database_and_redis_down_answer_503_json_under_api_and_a_page_elsewhere():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "digitsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "services-down-test-" + "x" * 40,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    env.pop("CACHE_URL", None)
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("predict", "token_api"):
        assert out[name]["status"] == 503, out[name]
        assert out[name]["type"].startswith("application/json")
        assert json.loads(out[name]["body"])["error"] == "service_unavailable"
        assert int(out[name]["retry"]) > 0
    assert out["admin_login"]["status"] == 503 and out["admin_login"]["type"].startswith("text/html")
    assert "Temporarily unavailable" in out["admin_login"]["body"]
    assert out["healthz"]["status"] == 200
    ready = out["readyz"]
    assert ready["status"] == 503
    assert set(json.loads(ready["body"])["checks"]) == {"models", "database", "cache"}
    assert "database (" in ready["body"] and "cache (" in ready["body"]


@pytest.mark.django_db
def test_readyz_is_ready_when_everything_answers():
    from recognizer import inference

    inference.warm_up()
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"models": "ok", "database": "ok", "cache": "ok"}
    assert Client().get("/healthz").json() == {"status": "alive"}


@pytest.mark.django_db
def test_disallowed_host_under_api_is_json():
    response = Client().get("/api/drawings/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"] == "disallowed_host"
    page = Client().get("/", HTTP_HOST="evil.example")
    assert page.status_code == 400 and not page["Content-Type"].startswith("application/json")

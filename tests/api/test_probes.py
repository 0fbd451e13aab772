"""Probes: with the production defaults (SSL redirect on) the health and readiness paths and /metrics answer plain
HTTP, as load balancers, Kubernetes and Prometheus call them; and readiness says what is down, never how (the detail
is logged)."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import Client, override_settings

from recognizer import health, inference

ROOT = Path(__file__).resolve().parents[2]
PROBES = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/v2/models/keras/ready", "/metrics"]
DETAIL = "connection to server at 127.0.0.1, port 5499 failed: Connection refused"


def production_redirect_settings():
    """SECURE_SSL_REDIRECT and SECURE_REDIRECT_EXEMPT as production gets them (DEBUG off, nothing else set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="digitsite.settings", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="p" * 60)
    code = (
        "import json; from django.conf import settings;"
        "print(json.dumps([settings.SECURE_SSL_REDIRECT, settings.SECURE_REDIRECT_EXEMPT]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    redirect, exempt = json.loads(result.stdout)
    return {"SECURE_SSL_REDIRECT": redirect, "SECURE_REDIRECT_EXEMPT": exempt}


@pytest.mark.django_db
def test_probes_answer_plain_http_under_the_production_redirect():
    production = production_redirect_settings()
    assert production["SECURE_SSL_REDIRECT"] is True
    inference.warm_up()
    with override_settings(**production):
        client = Client()  # its middleware is built now, under these settings
        for path in PROBES:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.get("Location"))
        # everything else is still sent to https
        for path in ["/", "/api/drawings/", "/v2", "/v2/models/keras", "/v1/models/keras", "/admin/"]:
            response = client.get(path)
            assert response.status_code == 301 and response["Location"].startswith("https://"), path


@pytest.fixture
def database_down(monkeypatch):
    def refuse():
        raise OperationalError(DETAIL)

    monkeypatch.setitem(health.CHECKS, "database", refuse)


@pytest.mark.django_db
def test_readiness_says_what_is_down_not_how_and_logs_how(database_down, caplog):
    inference.warm_up()
    client = Client()
    with caplog.at_level(logging.WARNING, logger="recognizer.health"):
        readyz = client.get("/readyz")
        ready = client.get("/v2/health/ready")
        model_ready = client.get("/v2/models/keras/ready")
    for response in (readyz, ready, model_ready):
        assert response.status_code == 503
        text = response.content.decode()
        assert "5499" not in text and "127.0.0.1" not in text and "OperationalError" not in text, text
    assert readyz.json()["checks"] == {"models": "ok", "database": "unavailable", "cache": "ok"}
    assert "database (unavailable)" in readyz.json()["detail"]
    assert ready.json() == {"error": "not ready: database: unavailable"}
    logged = [r.getMessage() for r in caplog.records if r.name == "recognizer.health"]
    assert len(logged) == 3 and all("database" in m and DETAIL in m for m in logged), logged

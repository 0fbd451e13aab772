"""/v2/ (Open Inference Protocol v2) and /v1/ (TF Serving) answer JSON on every error, in their own shape
``{"error": "<message>"}``, as /api/ answers its ``{"error", "detail"}``: database down, a bug (500), a path that does
not exist (404), a Host not allowed (400) and a login lockout (429). The pages keep their HTML.

The database is "down" here at its lowest seam (every connection attempt fails as psycopg fails on a closed port);
tests/system/test_protocols_database_down.py takes a real server away.
"""

import json

import numpy as np
import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory, override_settings

from recognizer import logins
from recognizer.api import tfserving, v2

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

V2_INFER = "/v2/models/keras/infer"
V1_PREDICT = "/v1/models/keras:predict"
DETAIL = "connection to server at 127.0.0.1, port 5499 failed: Connection refused"


def a_one():
    x = np.zeros((28, 28), np.float32)
    x[4:24, 13:15] = 1.0
    return x.tolist()


def v2_body():
    return json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": a_one()}]})


def v1_body():
    return json.dumps({"instances": [a_one()]})


def protocol_error(response, status):
    """The response is the protocols' JSON error with this status; its message."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return body["error"]


@pytest.fixture
def database_down(monkeypatch):
    """Every new connection fails, and the one open now is dropped."""

    def refuse(*args, **kwargs):
        raise OperationalError(DETAIL)

    monkeypatch.setattr(connection, "ensure_connection", refuse)


def test_database_down_at_v2_infer_and_v1_predict_is_a_json_503(database_down):
    client = Client(raise_request_exception=False)
    for path, body in [(V2_INFER, v2_body()), (V1_PREDICT, v1_body())]:
        response = client.post(path, body, content_type="application/json")
        message = protocol_error(response, 503)
        assert "database" in message and "5499" not in message, message
        assert int(response["Retry-After"]) > 0
    # /api/ keeps its own shape, and a page its HTML
    api = client.post("/api/predict/batch/", json.dumps({"images": ["x"]}), content_type="application/json")
    assert api.status_code in (400, 503) and set(api.json()) >= {"error", "detail"}


def test_a_bug_under_v2_and_v1_is_a_json_500(monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(v2, "split_body", bug)
    monkeypatch.setattr(tfserving, "instances_of", bug)
    client = Client(raise_request_exception=False)
    for path, body in [(V2_INFER, v2_body()), (V1_PREDICT, v1_body())]:
        message = protocol_error(client.post(path, body, content_type="application/json"), 500)
        assert "a bug" not in message


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/v2/"),
        ("get", "/v2/nothing/here"),
        ("post", "/v2/models/keras/explain"),
        ("get", "/v2/health/live/"),
        ("get", "/v1"),
        ("post", "/v1/models"),
        ("get", "/v1/anything"),
    ],
)
def test_a_path_that_does_not_exist_under_v2_or_v1_is_a_json_404(method, path, debug):
    with override_settings(DEBUG=debug):
        response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert path in protocol_error(response, 404)


def test_pages_keep_their_html_404():
    response = Client().get("/no/such/page")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")
    assert Client().get("/v2x/models").status_code == 404  # only /v1/ and /v2/ themselves are protocol doors


def test_a_host_not_allowed_under_v2_is_json():
    message = protocol_error(Client().get("/v2/health/live", HTTP_HOST="evil.example"), 400)
    assert "evil.example" in message


@pytest.mark.parametrize("path", [V2_INFER, V1_PREDICT, "/v2"])
def test_a_lockout_under_v2_and_v1_is_json(path, settings):
    response = logins.lockout(RequestFactory().post(path))
    assert "failed logins" in protocol_error(response, 429)
    assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    api = logins.lockout(RequestFactory().post("/api/drawings/"))
    assert api.status_code == 429 and json.loads(api.content)["error"] == "too_many_failed_logins"
    page = logins.lockout(RequestFactory().post("/admin/login/"))
    assert page.status_code == 429 and page["Content-Type"].startswith("text/plain")

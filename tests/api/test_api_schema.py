"""OpenAPI schema, the interactive docs (assets served locally), and schemathesis against the schema."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from recognizer import inference
from tests.factories import make_drawing

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


def test_schema_documents_every_endpoint():
    client = APIClient()
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/api/predict/",
        "/api/drawings/",
        "/api/drawings/{id}/",
        "/api/drawings/{id}/feedback/",
        "/api/drawings/{id}/image.png",
        "/api/drawings/{id}/input.png",
        "/api/drawings/export/",
        "/api/drawings/mine/",
        "/api/predict/batch/",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v1/models/{name}",
        "/v1/models/{name}:predict",
        "/metrics",
    }
    predict = doc["paths"]["/api/predict/"]["post"]
    assert {"application/json", "multipart/form-data"} <= set(predict["requestBody"]["content"])
    assert {"201", "400", "413", "415", "422", "429"} <= set(predict["responses"])
    filters = {p["name"] for p in doc["paths"]["/api/drawings/"]["get"]["parameters"]}
    assert filters >= {"labeled", "label", "agree", "predicted", "model", "min_confidence", "max_confidence",
                       "created_after", "created_before", "page"}  # fmt: skip
    # No Basic auth (issue 15): tokens and staff sessions; failed logins are locked out by django-axes.
    assert set(doc["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


@pytest.mark.django_db
def test_docs_page_uses_local_assets():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "<script>" not in html  # split mode: the settings are a script of their own (CSP, issue 15)
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200 and "/api/schema/" in script.content.decode()
    assert "cdn" not in html.lower() and "https://" not in html
    asset = next(part.split('"')[0] for part in html.split('src="')[1:] if "swagger-ui" in part)
    from django.contrib.staticfiles import finders

    assert finders.find(asset.removeprefix("/static/")), asset


@pytest.fixture
def no_connection_closing():
    """As Django's test client does: a request must not close the test's transaction-held connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(django_user_model, no_connection_closing):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("fuzz-staff", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_schemathesis_finds_no_server_errors_and_responses_match_the_schema(case, staff_token):
    cache.clear()  # the fuzzer would otherwise run into the anonymous rate limit
    inference.warm_up()  # /v2/health/ready answers 503 (as /readyz) until this process has its models
    make_drawing(label=3)  # something to find, label, export
    # Every check but two: a random string is never a valid drawing (so "schema-valid data accepted" cannot
    # hold for predict), and "ignored auth" would resend our explicit staff token and call it invalid.
    case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance, schemathesis.checks.ignored_auth],
    )

"""Malformed and oversized batch bodies count against the anonymous rate limit, before any of the body is parsed:
/api/predict/batch/, the v2 infer and the TF Serving predict share the limit, and a client over it gets 429 without
its (up to 8 MiB of) JSON being read."""

import pytest
from django.test import override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from recognizer import limits

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

DOORS = ["/api/predict/batch/", "/v2/models/keras/infer", "/v1/models/keras:predict"]


def anon_rate(settings, rate):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": rate}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates})


@pytest.fixture
def parses(monkeypatch):
    """How many times a JSON body was parsed."""
    calls = []
    loads = limits.loads
    monkeypatch.setattr(limits, "loads", lambda *a, **k: calls.append(1) or loads(*a, **k))
    return calls


@pytest.mark.parametrize("door", DOORS)
def test_malformed_batch_bodies_count_and_the_ones_over_the_limit_are_not_parsed(door, settings, parses):
    client = APIClient()
    with anon_rate(settings, "3/min"):
        codes = [client.post(door, b"{not json", content_type="application/json").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    assert len(parses) == 3  # the two refused bodies were never parsed


def test_the_limit_is_shared_by_every_batch_door(settings):
    client = APIClient()
    with anon_rate(settings, "3/min"):
        codes = [client.post(door, b"[", content_type="application/json").status_code for door in DOORS]
        assert codes == [400, 400, 400]
        for door in DOORS:
            response = client.post(door, b"[", content_type="application/json")
            assert response.status_code == 429 and int(response["Retry-After"]) > 0


@pytest.mark.parametrize("door", DOORS)
def test_oversized_batch_bodies_count(door, settings, parses):
    settings.MAX_BATCH_BYTES = 1000
    client = APIClient()
    body = b'{"images": ["' + b"A" * 2000 + b'"]}'
    with anon_rate(settings, "2/min"):
        codes = [client.post(door, body, content_type="application/json").status_code for _ in range(4)]
    assert codes == [413, 413, 429, 429]
    assert parses == []


def test_staff_are_still_never_limited(settings, staff_api):
    with anon_rate(settings, "1/min"):
        codes = [staff_api.post(DOORS[0], b"[", content_type="application/json").status_code for _ in range(3)]
    assert codes == [400, 400, 400]

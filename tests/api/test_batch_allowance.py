"""A batch larger than the anonymous allowance can never pass (issue 27: 6): it is refused with a JSON 413 that names
the limit, not a 429 (waiting won't help), and it consumes nothing of the sender's window."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from recognizer.models import Drawing
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


@pytest.fixture
def five_a_minute(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "predict_anon": "5/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        yield


@pytest.mark.usefixtures("five_a_minute")
def test_a_batch_over_the_allowance_is_a_413_naming_the_limit_and_costs_nothing():
    client = APIClient()
    image = im.data_url(im.png(im.SEVEN))
    refused = client.post("/api/predict/batch/", {"images": [image] * 6}, format="json")
    assert refused.status_code == 413, refused.content
    assert refused.json()["error"] == "batch_over_rate_limit"
    assert "5 images per 60 s" in refused.json()["detail"]
    assert Drawing.objects.count() == 0
    # Nothing was consumed: the whole allowance is still there, in one batch...
    assert client.post("/api/predict/batch/", {"images": [image] * 5}, format="json").status_code == 201
    # ...and then it is spent.
    assert client.post("/api/predict/", {"image": image}, format="json").status_code == 429


@pytest.mark.usefixtures("five_a_minute")
def test_the_same_holds_at_the_v2_door():
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [6], "data": [im.b64(im.png(im.SEVEN))] * 6}]}
    refused = APIClient().post("/v2/models/keras/infer", body, format="json")
    assert refused.status_code == 413 and "5 images per 60 s" in refused.json()["error"]
    assert Drawing.objects.count() == 0


def test_with_the_default_limits_the_largest_anonymous_batch_passes(settings):
    allowance = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["predict_anon"].split("/")[0])
    n = min(settings.MAX_BATCH_IMAGES, allowance)
    images = [im.data_url(im.png(im.SEVEN))] * n
    assert APIClient().post("/api/predict/batch/", {"images": images}, format="json").status_code == 201

"""POST /api/predict/ end to end: real preprocessing, both real models, one transaction, 201."""

import base64
import io

import numpy as np
import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image
from rest_framework.test import APIClient

from recognizer import inference
from recognizer.ml import preprocess
from recognizer.models import Drawing, Prediction
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PREDICT = "/api/predict/"


def check_answer(body, original):
    """The response matches the contract and what was stored."""
    drawing = Drawing.objects.with_predictions().get(pk=body["id"])
    assert body["url"] == f"/api/drawings/{drawing.pk}/"
    assert body["preprocess_version"] == preprocess.PREPROCESS_VERSION == drawing.preprocess_version
    assert body["created"]
    assert bytes(drawing.image) == original
    versions = inference.model_versions()
    for name in ("keras", "custom"):
        p = body["predictions"][name]
        assert len(p["probabilities"]) == 10
        assert sum(p["probabilities"]) == pytest.approx(1.0, abs=1e-3)
        assert p["digit"] == int(np.argmax(p["probabilities"]))
        assert p["confidence"] == pytest.approx(max(p["probabilities"]))
        assert p["time_ms"] >= 0
        assert p["model_version"] == versions[name]
        stored = drawing.prediction_for(name)
        assert (stored.digit, stored.model_version) == (p["digit"], p["model_version"])
    assert body["agree"] == (body["predictions"]["keras"]["digit"] == body["predictions"]["custom"]["digit"])
    assert drawing.agree == body["agree"]
    # The input shown is the input stored is the input the models saw.
    assert body["input"].startswith("data:image/png;base64,")
    shown = Image.open(io.BytesIO(base64.b64decode(body["input"].split(",", 1)[1])))
    assert shown.size == (28, 28)
    assert shown.tobytes() == bytes(drawing.model_input)
    expected = preprocess.input_to_bytes(preprocess.to_model_input(original))
    assert bytes(drawing.model_input) == expected
    return drawing


def test_data_url_json():
    original = im.png(im.SEVEN)
    response = APIClient().post(PREDICT, {"image": im.data_url(original)}, format="json")
    assert response.status_code == 201, response.content
    drawing = check_answer(response.json(), original)
    assert (drawing.source, drawing.image_type) == ("api", "image/png")


def test_plain_base64_and_source_web():
    original = im.png(im.ONE)
    response = APIClient().post(PREDICT, {"image": im.b64(original), "source": "web"}, format="json")
    assert response.status_code == 201, response.content
    assert check_answer(response.json(), original).source == "web"


def test_multipart_file_upload():
    original = im.png(im.SEVEN, width=24)
    upload = io.BytesIO(original)
    upload.name = "seven.png"
    response = APIClient().post(PREDICT, {"image": upload}, format="multipart")
    assert response.status_code == 201, response.content
    check_answer(response.json(), original)


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp(fmt, mime):
    original = im.encode(im.canvas(im.SEVEN), fmt, quality=90)
    response = APIClient().post(PREDICT, {"image": im.data_url(original, mime)}, format="json")
    assert response.status_code == 201, response.content
    assert check_answer(response.json(), original).image_type == mime


@pytest.mark.parametrize("returning", [False, True], ids=["first-visit", "returning-drawer"])
def test_one_insert_for_the_drawing_and_one_for_both_predictions(returning):
    client = APIClient()
    if returning:
        client.post(PREDICT, {"image": im.data_url(im.png(im.ONE))}, format="json")  # now holds a drawer cookie
    with CaptureQueriesContext(connection) as captured:
        response = client.post(PREDICT, {"image": im.data_url(im.png(im.SEVEN))}, format="json")
    assert response.status_code == 201
    writes = [
        q["sql"] for q in captured if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "WITH"))
    ]
    assert len([q for q in writes if '"recognizer_drawing"' in q]) == 1
    assert len([q for q in writes if '"recognizer_drawingimage"' in q]) == 1  # its bytes, in their own table
    assert len([q for q in writes if '"recognizer_prediction"' in q]) == 1  # both rows in one statement
    # Nothing else: no session row, first visit or not. On PostgreSQL the drawing, its bytes and its predictions are
    # one statement (recognizer/pg_insert.py).
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3), writes
    reads = [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    assert reads == []  # the answer is built from what was written
    assert Prediction.objects.filter(drawing_id=response.json()["id"]).count() == 2
    assert (Drawing.objects.count(), Prediction.objects.count()) == (1 + returning, 2 + 2 * returning)


def test_the_person_who_drew_it_can_see_it_and_say_what_it_was():
    client = APIClient()
    body = client.post(PREDICT, {"image": im.data_url(im.png(im.SEVEN))}, format="json").json()
    assert client.cookies.get("drawer"), "an anonymous drawer gets a signed drawer cookie"
    assert not client.cookies.get("sessionid") and Session.objects.count() == 0, "and no session row"
    again = client.post(PREDICT, {"image": im.data_url(im.png(im.ONE))}, format="json")
    assert "drawer" not in again.cookies  # the cookie it sent back is kept, not replaced
    assert Drawing.objects.get(pk=again.json()["id"]).drawer_key == Drawing.objects.get(pk=body["id"]).drawer_key
    assert client.get(body["url"]).json()["id"] == body["id"]
    assert client.get(f"/api/drawings/{body['id']}/input.png").status_code == 200
    assert [row["id"] for row in client.get("/api/drawings/mine/").json()["results"]] == [
        again.json()["id"],
        body["id"],
    ]
    response = client.post(f"/api/drawings/{body['id']}/feedback/", {"label": 7}, format="json")
    assert response.status_code == 200 and response.json()["label"] == 7
    # Another person cannot.
    assert APIClient().get(body["url"]).status_code == 401


def test_signed_in_staff_must_send_the_csrf_token(django_user_model):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("draw-staff", is_staff=True))
    payload = {"image": im.data_url(im.png(im.SEVEN))}
    refused = client.post(PREDICT, payload, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Drawing.objects.count() == 0
    client.cookies["csrftoken"] = "t" * 32
    accepted = client.post(PREDICT, payload, format="json", HTTP_X_CSRFTOKEN="t" * 32)
    assert accepted.status_code == 201, accepted.content


def test_models_missing_is_a_clear_503_and_nothing_stored(monkeypatch):
    def unavailable(x):
        raise inference.ModelsUnavailable("no model manifest")

    monkeypatch.setattr(inference, "predict_batch", unavailable)
    response = APIClient().post(PREDICT, {"image": im.data_url(im.png(im.SEVEN))}, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "models_unavailable"
    assert Drawing.objects.count() == 0

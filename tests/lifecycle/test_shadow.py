"""Shadow: a version in shadow answers every predict too (any door), its answers stored apart (ShadowAnswer), shown
to staff under "shadow" and to nobody else, never counted as predictions; its failure never fails a predict."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from recognizer import inference
from recognizer.lifecycle import actions
from recognizer.lifecycle.models import ShadowAnswer
from recognizer.models import Prediction
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


@pytest.fixture
def in_shadow(make_version):
    make_version("custom", 6)
    actions.shadow("custom", 6, reason="see it on live traffic")
    inference.refresh()


def test_a_shadow_answers_every_predict_and_only_staff_see_it(in_shadow, staff_api):
    drawer = APIClient()
    response = drawer.post("/api/predict/", {"image": im.b64(im.png(im.SEVEN))}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["shadow"] is None  # the drawer never sees it
    assert {p["model_version"] for p in body["predictions"].values()} == set(inference.model_versions().values())
    [row] = ShadowAnswer.objects.filter(drawing_id=body["id"])
    assert (row.name, row.version, row.model_version) == ("custom", 6, "custom-6")
    assert 0 <= row.digit <= 9 and len(row.probabilities) == 10 and row.confidence == max(row.probabilities)
    assert not Prediction.objects.filter(model_version="custom-6").exists()  # never a prediction

    drawn = drawer.get(f"/api/drawings/{body['id']}/")
    assert drawn.status_code == 200 and drawn.json()["shadow"] is None
    staff = staff_api.get(f"/api/drawings/{body['id']}/").json()
    assert [(s["model_name"], s["model_version"], s["digit"]) for s in staff["shadow"]] == [
        ("custom", "custom-6", row.digit)
    ]


def test_a_batch_through_the_v2_door_gets_shadow_answers_for_every_image(in_shadow, client, mnist_test):
    x = (mnist_test[0][:3].astype(np.float32) / 255).tolist()
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 28, 28], "data": x}]}
    response = client.post("/v2/models/keras/infer", body, content_type="application/json")
    assert response.status_code == 200
    assert ShadowAnswer.objects.filter(version=6).count() == 3
    assert list(ShadowAnswer.objects.values_list("digit", flat=True).order_by("drawing_id")) == [
        int(d) for d in mnist_test[1][:3]
    ]  # the same weights as the live version: the same answers


def test_a_failing_shadow_never_fails_the_predict(in_shadow, monkeypatch):
    def broken(x):
        raise RuntimeError("shadow exploded")

    monkeypatch.setattr(inference, "shadow_batch", broken)
    response = APIClient().post("/api/predict/", {"image": im.b64(im.png(im.ONE))}, format="json")
    assert response.status_code == 201
    assert not ShadowAnswer.objects.exists()


def test_no_shadow_no_shadow_answers(staff_api):
    inference.refresh()
    response = APIClient().post("/api/predict/", {"image": im.b64(im.png(im.ONE))}, format="json")
    assert response.status_code == 201
    assert not ShadowAnswer.objects.exists()
    assert staff_api.get(f"/api/drawings/{response.json()['id']}/").json()["shadow"] == []


def test_the_shadow_is_scored_against_the_live_answers_on_drawings_labelled_since(in_shadow, staff_user):
    from recognizer.lifecycle import shadow
    from recognizer.models import Drawing

    ids = []
    for strokes in (im.ONE, im.SEVEN, im.ONE):
        response = APIClient().post("/api/predict/", {"image": im.b64(im.png(strokes))}, format="json")
        ids.append(response.json()["id"])
    assert shadow.scoreboard("custom", 6) is None  # none labelled yet
    for pk, label in zip(ids, (1, 7, 4), strict=True):
        Drawing.objects.get(pk=pk).set_label(label, source="staff", by=staff_user)
    board = shadow.scoreboard("custom", 6)
    live = {pk: Drawing.objects.get(pk=pk).predictions.get(model_name="custom").digit for pk in ids}
    right = sum(live[pk] == label for pk, label in zip(ids, (1, 7, 4), strict=True))
    assert board["count"] == 3 and board["live"]["correct"] == right
    assert board["shadow"]["correct"] == right  # the same weights in shadow: the same answers
    assert board["shadow"]["wilson"][0] <= board["shadow"]["accuracy"] <= board["shadow"]["wilson"][1]


def test_the_accuracy_dashboard_shows_the_shadow_against_live(in_shadow, staff_user, admin_client):
    from recognizer.lifecycle import shadow
    from recognizer.models import Drawing

    page = admin_client.get("/admin/recognizer/drawing/dashboard/").content.decode()
    assert 'id="shadows"' in page and "no labelled drawing answered in shadow yet" in page
    ids = [
        APIClient().post("/api/predict/", {"image": im.b64(im.png(s))}, format="json").json()["id"]
        for s in (im.ONE, im.SEVEN)
    ]
    for pk, label in zip(ids, (1, 3), strict=True):
        Drawing.objects.get(pk=pk).set_label(label, source="staff", by=staff_user)
    board = shadow.scoreboard("custom", 6)
    page = admin_client.get("/admin/recognizer/drawing/dashboard/").content.decode()
    row = page[page.index('id="shadows"') :].split("</tr>")[1]
    assert "custom-6" in row and f"<td>{board['count']}</td>" in row
    assert f"{board['shadow']['accuracy']:.2f}%" in row and f"{board['live']['accuracy']:.2f}%" in row


def test_the_dashboard_says_when_nothing_is_in_shadow(admin_client):
    page = admin_client.get("/admin/recognizer/drawing/dashboard/").content.decode()
    assert "No version in shadow" in page and 'id="shadows"' not in page

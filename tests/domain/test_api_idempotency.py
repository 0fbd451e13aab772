"""POST /api/predict/ with an Idempotency-Key: a retry answers the drawing stored the first time, never a copy."""

import threading

import numpy as np
import pytest
from django.db import connection
from rest_framework.test import APIClient

from recognizer.domain import predicting
from recognizer.domain.images import Prepared
from recognizer.domain.predicting import Context
from recognizer.models import Drawing, Prediction
from tests import api_images as im
from tests.factories import drawer_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PREDICT = "/api/predict/"


def predict(client, strokes=im.SEVEN, key=None):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(PREDICT, {"image": im.data_url(im.png(strokes))}, format="json", headers=headers)


def counts():
    return Drawing.objects.count(), Prediction.objects.count()


def test_the_same_request_twice_stores_one_drawing():
    client = APIClient()
    first = predict(client, key="draw-0001")
    again = predict(client, key="draw-0001")
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert counts() == (1, 2)
    assert Drawing.objects.get().idempotency_key == "draw-0001"


def test_a_retry_whose_first_answer_was_lost_gets_that_drawing():
    # The first answer never reached the client; the page's drawer cookie was set when the page loaded.
    client = drawer_client()
    first = predict(client, key="lost-answer-1").json()
    retry = predict(client, key="lost-answer-1")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first["id"]
    assert counts() == (1, 2)
    response = client.post(f"{first['url']}feedback/", {"label": 7}, format="json")
    assert response.status_code == 200 and response.json()["label"] == 7


def test_a_replay_without_a_cookie_never_hands_out_the_drawers_cookie():
    """Review finding: the Idempotency-Key plus the image bytes must not work as a credential."""
    drawer = drawer_client()
    first = predict(drawer, key="stolen-key-1").json()
    thief = APIClient()
    replay = predict(thief, key="stolen-key-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert "drawer" not in replay.cookies
    assert thief.get(first["url"]).status_code in (401, 403)
    assert thief.post(f"{first['url']}feedback/", {"label": 1}, format="json").status_code in (401, 403)
    assert Drawing.objects.get().label is None


def test_different_keys_or_no_key_store_each_drawing():
    client = APIClient()
    ids = {predict(client, key="k1").json()["id"], predict(client, key="k2").json()["id"]}
    ids |= {predict(client).json()["id"], predict(client).json()["id"]}
    assert len(ids) == 4 and counts() == (4, 8)


def test_a_key_reused_for_another_drawing_is_a_conflict_and_stores_nothing():
    client = APIClient()
    predict(client, im.SEVEN, key="reused")
    response = predict(client, im.ONE, key="reused")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_reused"
    assert counts() == (1, 2)


def test_a_key_replayed_by_another_drawer_is_a_conflict():
    predict(drawer_client(), key="someone-elses")
    response = predict(drawer_client(), key="someone-elses")
    assert response.status_code == 409 and response.json()["error"] == "idempotency_key_reused"
    assert counts() == (1, 2)


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "ünïcode", "semi;colon", "quote'd"])
def test_a_malformed_key_is_refused_before_any_work(key):
    response = predict(APIClient(), key=key)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"
    assert counts() == (0, 0)


def test_the_longest_allowed_key_works():
    key = "A-z_0.9:" * 8
    assert len(key) == 64
    assert predict(APIClient(), key=key).status_code == 201
    assert Drawing.objects.get().idempotency_key == key


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_store_one_drawing():
    """Two writers with the same key at the same moment: the unique column lets one in, the other gets its drawing."""
    barrier = threading.Barrier(4)
    results, errors = [], []

    def write():
        try:
            barrier.wait(timeout=10)
            item = Prepared(b"\x89PNG same drawing", "image/png", np.zeros((28, 28), np.float32))
            context = Context(source="api", drawer_key="drawer", sent_drawer="drawer", idempotency_key="race-key")
            result = predicting.predict_and_store([item], context)
            drawing, created = result.drawings[0], not result.replayed
            results.append((drawing.pk, created, sorted(p.model_name for p in drawing.predictions.all())))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len({pk for pk, _, _ in results}) == 1
    assert sorted(created for _, created, _ in results) == [False, False, False, True]
    assert all(models == ["custom", "keras"] for _, _, models in results)
    assert counts() == (1, 2)

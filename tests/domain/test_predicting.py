"""The one predict-and-store use case: every door through it, one transaction, one idempotency scheme, the metrics
counted once for what was stored."""

import numpy as np
import pytest
from django.db import IntegrityError, OperationalError
from rest_framework.test import APIClient

from recognizer import inference
from recognizer.domain import errors, images, predicting
from recognizer.domain.predicting import Context
from recognizer.models import Drawing, Prediction
from tests import api_images as im
from tests.prometheus import total

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def predictions_counted():
    return total("digits_predictions")


def agreements_counted():
    return total("digits_model_agreement")


def seven():
    return images.prepare(im.png(im.SEVEN))


def test_a_drawing_is_stored_with_every_answer_and_counted_once():
    before, agreed_before = predictions_counted(), agreements_counted()
    result = predicting.predict_and_store([seven()], Context(source="api", drawer_key="d1"))
    [drawing] = result.drawings
    assert not result.replayed
    assert (drawing.source, drawing.drawer_key) == ("api", "d1")
    assert sorted(p.model_name for p in drawing.predictions.all()) == ["custom", "keras"]
    assert predictions_counted() - before == 2  # one answer per model
    assert agreements_counted() - agreed_before == 1


def test_a_replay_and_a_conflict_count_nothing_and_store_nothing():
    item = seven()
    first = predicting.predict_and_store([item], Context(source="api", drawer_key="d", idempotency_key="k-1"))
    before, agreed_before = predictions_counted(), agreements_counted()
    again = predicting.predict_and_store([item], Context(source="api", drawer_key="d", idempotency_key="k-1"))
    assert again.replayed and again.drawings[0].pk == first.drawings[0].pk
    other = images.prepare(im.png(im.ONE))
    with pytest.raises(errors.IdempotencyConflict):
        predicting.predict_and_store([other], Context(source="api", drawer_key="d", idempotency_key="k-1"))
    with pytest.raises(errors.IdempotencyConflict):  # the same drawing from another drawer
        predicting.predict_and_store([item], Context(source="api", sent_drawer="e", idempotency_key="k-1"))
    assert (predictions_counted(), agreements_counted()) == (before, agreed_before)
    assert Drawing.objects.count() == 1


def test_replayed_predict_requests_do_not_bump_the_prediction_metrics():
    client = APIClient()
    body = {"image": im.data_url(im.png(im.SEVEN))}
    assert client.post("/api/predict/", body, format="json", headers={"Idempotency-Key": "m-1"}).status_code == 201
    before = predictions_counted()
    replay = client.post("/api/predict/", body, format="json", headers={"Idempotency-Key": "m-1"})
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    other = {"image": im.data_url(im.png(im.ONE))}
    conflict = client.post("/api/predict/", other, format="json", headers={"Idempotency-Key": "m-1"})
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_key_reused"
    assert predictions_counted() == before


def test_a_batch_is_one_model_call_per_model_and_one_transaction(django_assert_max_num_queries):
    items = [images.prepare(im.png(s)) for s in (im.SEVEN, im.ONE, im.SEVEN)]
    with django_assert_max_num_queries(6):  # savepoint, drawings, predictions, release (+ connection setup)
        result = predicting.predict_and_store(items, Context(source="v2"))
    assert [d.source for d in result.drawings] == ["v2"] * 3
    assert Prediction.objects.count() == 6


def test_a_single_image_runs_the_single_input_path_and_a_batch_the_batched_one():
    models = inference.get_models()
    calls = []
    originals = {name: (m.predict, m.predict_many) for name, m in models.items()}
    for name, m in models.items():
        single, many = originals[name]
        m.predict = lambda x, name=name, f=single: calls.append((name, "single")) or f(x)
        m.predict_many = lambda x, name=name, f=many: calls.append((name, "many")) or f(x)
    try:
        predicting.predict_and_store([seven()], Context(source="v2"))
        one = sorted(calls)
        calls.clear()
        predicting.predict_and_store([seven(), seven()], Context(source="v2"))
        two = sorted(calls)
    finally:
        for name, m in models.items():
            m.predict, m.predict_many = originals[name]
    assert one == [("custom", "single"), ("keras", "single")]  # Keras: its TFLite interpreter, not the tf.function
    assert two == [("custom", "many"), ("keras", "many")]


def test_a_failure_while_storing_a_batch_leaves_nothing(monkeypatch):
    original = Prediction.from_answer
    made = []

    def last_row_breaks_the_digit_check(name, answer):
        row = original(name, answer)
        made.append(row)
        if len(made) == 4:  # the second drawing's second answer: the database's CHECK (digit >= 0) refuses it
            row.digit = -1
        return row

    monkeypatch.setattr(Prediction, "from_answer", last_row_breaks_the_digit_check)
    with pytest.raises(IntegrityError):
        predicting.predict_and_store([seven(), seven()], Context(source="api"))
    assert (Drawing.objects.count(), Prediction.objects.count()) == (0, 0)


def test_models_unavailable_and_database_unavailable_are_the_domains_errors(monkeypatch):
    def no_models(x):
        raise inference.ModelsUnavailable("no manifest")

    monkeypatch.setattr(inference, "predict_batch", no_models)
    with pytest.raises(errors.ModelsUnavailable):
        predicting.predict_and_store([seven()], Context(source="api"))
    monkeypatch.undo()

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Drawing.objects, "record_many", down)
    with pytest.raises(errors.DatabaseUnavailable):
        predicting.predict_and_store([seven()], Context(source="api"))


def test_imported_drawings_are_stored_with_their_staff_labels_in_the_same_transaction(staff_user):
    items = [seven(), images.prepare(im.png(im.ONE))]
    result = predicting.predict_and_store(items, Context(source="import", labels=[7, 1], labeled_by=staff_user))
    stored = {d.pk: (d.label, d.label_source, d.labeled_by_id) for d in Drawing.objects.all()}
    assert stored == {d.pk: (label, "staff", staff_user.pk) for d, label in zip(result.drawings, [7, 1], strict=True)}


def test_item_keys_a_single_drawing_keeps_the_clients_key_a_batch_derives_one_each():
    assert predicting.item_keys(None, 3) == [None, None, None]
    assert predicting.item_keys("k", 1) == ["k"]
    keys = predicting.item_keys("k", 3)
    assert len(set(keys)) == 3 and all("#" in k and len(k) <= 64 for k in keys)


def test_an_all_background_tensor_is_refused_as_a_blank_canvas():
    with pytest.raises(errors.ImageRejected) as refused:
        images.prepare_array(np.zeros((28, 28), np.float32))
    assert refused.value.code == "empty_drawing"

"""Batches in process: /api/predict/batch/, TF Serving REST (the formats of its documentation), v2 edge cases,
/metrics access, and inference.predict_batch against predict_both."""

import json

import numpy as np
import pytest
from django.test import override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from recognizer import inference
from recognizer.models import Drawing
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

BATCH = "/api/predict/batch/"
SEVEN, ONE = im.png(im.SEVEN), im.png(im.ONE)


def one_input():
    x = np.zeros((28, 28), np.float32)
    x[4:24, 13:15] = 1.0
    return x


def post_json(path, body, **extra):
    return APIClient().post(path, json.dumps(body), content_type="application/json", **extra)


def test_predict_batch_calls_each_model_once_and_matches_predict_both():
    x = np.random.RandomState(0).rand(5, 28, 28).astype(np.float32)
    models = inference.get_models()
    calls = {name: 0 for name in models}
    originals = {name: m.predict_many for name, m in models.items()}

    def counting(name):
        def predict_many(batch):
            calls[name] += 1
            return originals[name](batch)

        return predict_many

    for name, m in models.items():
        m.predict_many = counting(name)
    try:
        batch = inference.predict_batch(x)
    finally:
        for name, m in models.items():
            m.predict_many = originals[name]
    assert calls == {"keras": 1, "custom": 1}
    for i in range(5):
        single = inference.predict_both(x[i])
        for name in ("keras", "custom"):
            assert batch[i][name].digit == single[name].digit
            assert np.allclose(batch[i][name].probabilities, single[name].probabilities, atol=1e-4)


def test_batch_answers_each_drawing_as_predict_does_in_one_transaction(django_assert_max_num_queries):
    images = [im.data_url(SEVEN), im.b64(ONE), im.data_url(im.encode(im.canvas(im.SEVEN), "WEBP"), "image/webp")]
    with django_assert_max_num_queries(6):  # savepoint/transaction, drawings INSERT, predictions INSERT
        response = post_json(BATCH, {"images": images})
    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert [r["predictions"]["keras"]["digit"] for r in results[:2]] == [7, 1]
    single = post_json("/api/predict/", {"image": im.data_url(SEVEN)}).json()
    assert set(results[0]) == set(single)
    assert Drawing.objects.filter(source="api").count() == 4
    assert all(d.predictions.count() == 2 for d in Drawing.objects.all())
    assert "drawer" in response.cookies


def test_batch_as_multipart_files():
    files = [im.png(im.ONE), SEVEN]
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = APIClient().post(
        BATCH, {"images": [SimpleUploadedFile(f"{i}.png", f) for i, f in enumerate(files)]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert [r["predictions"]["custom"]["digit"] for r in response.json()["results"]] == [1, 7]


@pytest.mark.parametrize(
    "bad, status, code",
    [(im.b64(im.SVG), 415, "unsupported_media_type"), ("not base64!", 400, "not_base64"),
     (im.b64(im.png(())), 422, "empty_drawing")],
)  # fmt: skip
def test_a_bad_image_refuses_the_batch_and_names_its_index(bad, status, code):
    response = post_json(BATCH, {"images": [im.b64(SEVEN), im.b64(ONE), bad]})
    assert response.status_code == status, response.content
    assert response.json()["error"] == code
    assert response.json()["detail"].startswith("images[2]: ")
    assert Drawing.objects.count() == 0


@override_settings(MAX_BATCH_IMAGES=3)
def test_the_batch_limit():
    assert post_json(BATCH, {"images": [im.b64(ONE)] * 4}).status_code == 413
    assert post_json(BATCH, {"images": []}).status_code == 400
    assert post_json(BATCH, {"images": "x"}).status_code == 400
    assert post_json(BATCH, [1, 2]).status_code == 400
    assert Drawing.objects.count() == 0


def test_one_idempotency_key_covers_the_whole_batch():
    body = {"images": [im.b64(SEVEN), im.b64(ONE)]}
    first = post_json(BATCH, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post_json(BATCH, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert [r["id"] for r in again.json()["results"]] == [r["id"] for r in first.json()["results"]]
    assert "drawer" not in again.cookies
    assert Drawing.objects.count() == 2
    other = post_json(BATCH, {"images": [im.b64(ONE), im.b64(SEVEN)]}, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    # A single predict with the same key is a different thing: keys of a batch's drawings can never collide with it.
    assert post_json("/api/predict/", {"image": im.b64(SEVEN)}, HTTP_IDEMPOTENCY_KEY="batch-1").status_code == 201
    assert Drawing.objects.count() == 3


def test_the_throttle_counts_images_not_requests(settings):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "5/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        assert post_json(BATCH, {"images": [im.b64(ONE)] * 3}).status_code == 201
        assert post_json(BATCH, {"images": [im.b64(ONE)] * 3}).status_code == 429  # 6 images > 5
        tf = post_json("/v1/models/keras:predict", {"instances": [one_input().tolist()] * 2})
        assert tf.status_code == 429 and set(tf.json()) == {"error"}
    assert Drawing.objects.count() == 3


# TF Serving REST: the shapes of https://www.tensorflow.org/tfx/serving/api_rest


def test_tfserving_model_status_as_documented():
    response = APIClient().get("/v1/models/keras")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": inference.model_versions()["keras"].split("-")[-1],
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    missing = APIClient().get("/v1/models/half")
    assert missing.status_code == 404 and set(missing.json()) == {"error"}


def test_tfserving_row_format_with_arrays_and_b64():
    body = {"signature_name": "serving_default", "instances": [one_input().tolist(), {"b64": im.b64(SEVEN)}]}
    response = post_json("/v1/models/custom:predict", body)
    assert response.status_code == 200, response.content
    predictions = response.json()["predictions"]
    assert [len(p) for p in predictions] == [10, 10]
    assert [int(np.argmax(p)) for p in predictions] == [1, 7]
    stored = list(Drawing.objects.order_by("id"))
    assert [d.source for d in stored] == ["tfserving", "tfserving"]
    assert stored[0].image_type == "image/png" and len(bytes(stored[0].model_input)) == 784  # the 28×28 as image
    assert all(d.predictions.count() == 2 for d in stored)


def test_tfserving_columnar_format_answers_outputs():
    named = post_json("/v1/models/keras:predict", {"inputs": {"image": [{"b64": im.b64(SEVEN)}]}})
    bare = post_json("/v1/models/keras:predict", {"inputs": [one_input().tolist()]})
    assert named.status_code == bare.status_code == 200
    assert int(np.argmax(named.json()["outputs"][0])) == 7
    assert int(np.argmax(bare.json()["outputs"][0])) == 1


@pytest.mark.parametrize(
    "body, needle",
    [({"instances": [[0.5] * 10]}, "instances[0]"),
     ({"instances": [one_input().tolist(), {"b64": im.b64(im.SVG)}]}, "instances[1]"),
     ({"instances": [(one_input() * 255).tolist()]}, "instances[0]"),
     ({"instances": [], "inputs": []}, "not both"),
     ({"signature_name": "other", "instances": [one_input().tolist()]}, "serving_default")],
)  # fmt: skip
def test_tfserving_errors_are_documented_shape_and_store_nothing(body, needle):
    response = post_json("/v1/models/keras:predict", body)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"} and needle in response.json()["error"]
    assert Drawing.objects.count() == 0


# v2 edge cases (the live test drives tritonclient)


def test_v2_json_fp32_and_requested_outputs():
    body = {
        "id": "r1",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": one_input().ravel().tolist()}],
        "outputs": [{"name": "digit"}],
    }
    response = post_json("/v2/models/keras/infer", body)
    assert response.status_code == 200
    assert response.json() == {
        "model_name": "keras",
        "model_version": inference.model_versions()["keras"].split("-")[-1],
        "id": "r1",
        "outputs": [{"name": "digit", "datatype": "INT64", "shape": [1], "data": [1]}],
    }
    assert Drawing.objects.get().source == "v2"


def test_v2_binary_request_and_response_by_hand():
    png = SEVEN
    blob = len(png).to_bytes(4, "little") + png
    header = json.dumps(
        {
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(blob)}}
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}, {"name": "digit"}],
        }
    ).encode()
    response = APIClient().post(
        "/v2/models/custom/infer",
        header + blob,
        content_type="application/octet-stream",
        HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(header)),
    )
    assert response.status_code == 200
    size = int(response["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:size])
    probabilities = np.frombuffer(response.content[size:], "<f4")
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 40} and probabilities.shape == (10,)
    assert meta["outputs"][1]["data"] == [7] == [int(probabilities.argmax())]


@pytest.mark.parametrize(
    "body, status",
    [(b"{", 400), (b"[]", 400), (b'{"inputs": []}', 400),
     (b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": [1]}]}', 400),
     (b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": [1, 2]}]}', 400)],
)  # fmt: skip
def test_v2_errors_are_the_spec_shape(body, status):
    response = APIClient().post("/v2/models/keras/infer", body, content_type="application/json")
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert APIClient().get("/v2/models/nope").json() == {"error": "Unknown model 'nope'; models: keras, custom."}


def test_metrics_only_for_loopback_and_the_named_addresses(settings):
    client = APIClient()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 200


def test_metrics_count_labels_by_source_and_throttled_requests(settings, staff_user):
    from prometheus_client.parser import text_string_to_metric_families

    post_json(BATCH, {"images": [im.b64(ONE)] * 2})
    first, second = Drawing.objects.all()
    first.set_label(1, by=staff_user)
    second.add_user_feedback(1)
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "1/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        assert post_json("/api/predict/", {}).status_code == 429
    text = APIClient().get("/metrics").content.decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip
    assert samples[("digits_labels_stored", (("source", "staff"),))] == 1
    assert samples[("digits_labels_stored", (("source", "user"),))] == 1
    assert samples[("digits_throttled_requests_total", (("endpoint", "api:predict"),))] >= 1


def test_batch_of_40_calls_each_model_once_where_40_predicts_call_it_40_times(staff_user):
    """Why a batch is cheaper (its speed is measured by ``make bench``, not here): one model call for all 40
    images, where 40 single requests make 40 (staff: no rate limit)."""
    images = [im.b64(SEVEN if i % 2 else ONE) for i in range(40)]
    client = APIClient()
    client.force_authenticate(staff_user)
    client.post(BATCH, {"images": images[:2]}, format="json")  # loads the models
    calls = {"one": 0, "many": 0}
    for model in inference.get_models().values():
        single, many = model.predict, model.predict_many

        def counted_one(x, _f=single):
            calls["one"] += 1
            return _f(x)

        def counted_many(x, _f=many):
            calls["many"] += 1
            return _f(x)

        model.predict, model.predict_many = counted_one, counted_many
    try:
        assert client.post(BATCH, {"images": images}, format="json").status_code == 201
        assert calls == {"one": 0, "many": 2}  # both models, once each
        for image in images:
            assert client.post("/api/predict/", {"image": image}, format="json").status_code == 201
        assert calls == {"one": 80, "many": 2}
    finally:
        inference.reset()

"""Hostile bodies at the protocol doors (issue 27, items 1, 2, 4, 16, 17): a JSON 4xx in the protocol's shape,
never a 500, and nothing stored.

The bodies are written as raw JSON text, so a lone surrogate (``"\\ud800"``, valid JSON that no UTF-8 encoder can
write back) reaches the server exactly as a hostile client sends it.
"""

import gzip
import json

import numpy as np
import pytest
from rest_framework.test import APIClient

from recognizer.models import Drawing
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

V2 = "/v2/models/keras/infer"
V1 = "/v1/models/keras:predict"
LONE = "\\ud800"  # as it is written in JSON text


def one_input():
    x = np.zeros((28, 28), np.float32)
    x[4:24, 13:15] = 1.0
    return x.ravel().tolist()


def fp32(data, shape=(1, 28, 28), **extra):
    return {"name": "input", "datatype": "FP32", "shape": list(shape), "data": data, **extra}


def post_text(path, text, **extra):
    client = APIClient(raise_request_exception=False)
    return client.post(path, text.encode(), content_type="application/json", **extra)


def refused(response, status=400):
    """The protocol's error shape, ASCII-safe text, and nothing stored."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert Drawing.objects.count() == 0
    return body["error"]


V2_ODD_BODIES = {
    "input name a list": {"inputs": [{**fp32(one_input()), "name": ["input"]}]},
    "input name an object": {"inputs": [{**fp32(one_input()), "name": {"a": 1}}]},
    "binary_data_size null, no data": {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "parameters": {"binary_data_size": None}}
        ]
    },
    "binary_data_size a string, no data": {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "parameters": {"binary_data_size": "9"}}]
    },
    "output name a list": {"inputs": [fp32(one_input())], "outputs": [{"name": ["digit"]}]},
    "output name an object": {"inputs": [fp32(one_input())], "outputs": [{"name": {"digit": 1}}]},
    "datatype a list": {"inputs": [{**fp32(one_input()), "datatype": ["FP32"]}]},
    "id a number": {"id": 7, "inputs": [fp32(one_input())]},
    "id a list": {"id": ["r1"], "inputs": [fp32(one_input())]},
}


@pytest.mark.parametrize("case", list(V2_ODD_BODIES))
def test_v2_odd_types_are_a_json_400_and_store_nothing(case):
    refused(post_text(V2, json.dumps(V2_ODD_BODIES[case])))


def test_v2_a_shape_whose_numpy_product_wraps_to_784_is_refused():
    # 16·49·5·5581·8681·49477·384773 = 784·(1 + 4·2^60): int64 arithmetic wraps it to exactly 784.
    shape = [1, 16, 49, 5, 5581, 8681, 49477, 384773]
    assert int(np.prod(shape[1:])) == 784  # what the old check computed
    message = refused(post_text(V2, json.dumps({"inputs": [fp32(one_input(), shape)]})))
    assert "[N, 28, 28]" in message


def test_v2_a_request_id_that_cannot_be_echoed_is_refused_before_anything_is_stored():
    body = json.dumps({"id": "ID", "inputs": [fp32(one_input())]}).replace('"ID"', f'"{LONE}"')
    for _ in range(3):  # a client retrying: still nothing stored
        message = refused(post_text(V2, body))
    assert "id" in message


def test_v2_a_request_id_in_plain_unicode_is_still_echoed():
    response = post_text(V2, json.dumps({"id": "r-é-7 ✓", "inputs": [fp32(one_input())]}))
    assert response.status_code == 200, response.content[:300]
    assert response.json()["id"] == "r-é-7 ✓"
    assert Drawing.objects.count() == 1


@pytest.mark.parametrize(
    "template",
    [
        '{"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 28, 28], "data": [0]}]}',
        '{"inputs": [{"name": "input", "datatype": "X", "shape": [1, 28, 28], "data": [0]}]}',
        '{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["X"]}]}',
        '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": [0]}],'
        ' "outputs": [{"name": "X"}]}',
        '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "data": ["X"]}]}',
    ],
)  # fmt: skip
def test_v2_lone_surrogates_anywhere_are_never_echoed_into_a_500(template):
    refused(post_text(V2, template.replace("X", LONE)))


@pytest.mark.parametrize(
    "template",
    [
        '{"instances": [{"b64": "X"}]}',
        '{"instances": [{"X": "a"}]}',
        '{"instances": ["X"]}',
        '{"inputs": {"X": []}}',
        '{"signature_name": "X", "instances": []}',
        '{"instances": [[["X"]]]}',
    ],
)
def test_v1_lone_surrogates_anywhere_are_never_echoed_into_a_500(template):
    refused(post_text(V1, template.replace("X", LONE)))


def test_an_all_zero_fp32_tensor_is_refused_like_a_blank_image():
    blank = [0.0] * 784
    v2 = post_text(V2, json.dumps({"inputs": [fp32(blank)]}))
    assert "nothing drawn" in refused(v2, 422)
    batch = post_text(V2, json.dumps({"inputs": [fp32(one_input() + blank, (2, 28, 28))]}))
    assert "input 'input'[1]" in refused(batch, 422)  # the blank one, by its index
    binary = np.zeros((1, 28, 28), "<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [1, 28, 28], "parameters": {"binary_data_size": 3136}}
            ]
        }
    ).encode()
    v2_binary = APIClient().post(
        V2,
        header + binary,
        content_type="application/octet-stream",
        HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(header)),
    )
    refused(v2_binary, 422)
    v1 = post_text(V1, json.dumps({"instances": [np.zeros((28, 28)).tolist()]}))
    assert "nothing drawn" in refused(v1, 422)
    # Values too faint to survive the 8-bit input the drawing is stored as are nothing drawn too.
    refused(post_text(V1, json.dumps({"inputs": {"input": [[1e-4] * 784]}})), 422)
    # ...and a blank image is the same answer.
    blank_png = im.encode(im.canvas(strokes=()))
    assert refused(post_text(V1, json.dumps({"instances": [{"b64": im.b64(blank_png)}]})), 422)


def test_v1_refuses_a_compressed_body_with_415_as_v2_does():
    body = gzip.compress(json.dumps({"instances": [one_input()]}).encode())
    v1 = APIClient().post(V1, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert "not supported" in refused(v1, 415)
    v2 = APIClient().post(V2, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    refused(v2, 415)
    # identity is no encoding at all
    plain = APIClient().post(
        V1, json.dumps({"instances": [np.reshape(one_input(), (28, 28)).tolist()]}), content_type="application/json",
        HTTP_CONTENT_ENCODING="identity",
    )  # fmt: skip
    assert plain.status_code == 200 and Drawing.objects.count() == 1

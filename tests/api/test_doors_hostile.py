"""Hostile input at the predict doors (issue 27): the door decides the source, a value is never echoed in a way that
cannot be written, and the per-image and per-request caps hold at every door. Each: a JSON 4xx, nothing stored."""

import io
import json
import struct

import pytest
from PIL import Image
from rest_framework.test import APIClient

from recognizer.models import Drawing
from tests import api_images as im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def post_raw(path, body, content_type="application/json", **headers):
    return APIClient().generic("POST", path, body, content_type=content_type, headers=headers)


def padded_png(size):
    """A valid PNG of a seven with bytes after its IEND chunk (decoders ignore them), ``size`` bytes in all."""
    png = im.png(im.SEVEN)
    return png + b"\0" * (size - len(png))


@pytest.mark.parametrize("source", ["import", "v2", "tfserving"])
@pytest.mark.parametrize("path", ["/api/predict/", "/api/predict/batch/"])
def test_a_client_cannot_choose_a_source_its_door_does_not_give(path, source):
    image = im.data_url(im.png(im.SEVEN))
    body = {"image": image, "source": source} if path.endswith("predict/") else {"images": [image], "source": source}
    response = APIClient().post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert "web" in response.json()["detail"] and "api" in response.json()["detail"]
    assert Drawing.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/predict/", "/api/predict/batch/"])
def test_a_lone_surrogate_in_the_source_is_a_json_400(path):
    image = im.data_url(im.png(im.SEVEN))
    image_part = f'"image": "{image}"' if path.endswith("predict/") else f'"images": ["{image}"]'
    response = post_raw(path, "{" + image_part + ', "source": "\\ud800"}')
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] in ("invalid_choice", "invalid")
    assert Drawing.objects.count() == 0


def test_the_page_and_programs_still_name_their_own_source():
    image = im.data_url(im.png(im.SEVEN))
    assert APIClient().post("/api/predict/", {"image": image, "source": "web"}, format="json").status_code == 201
    assert APIClient().post("/api/predict/", {"image": image}, format="json").status_code == 201
    assert sorted(Drawing.objects.values_list("source", flat=True)) == ["api", "web"]


def v2_binary(png):
    header = json.dumps(
        {
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(png) + 4}}
            ]
        }
    ).encode()
    body = header + struct.pack("<I", len(png)) + png
    return body, {"Inference-Header-Content-Length": str(len(header))}


def test_the_per_image_byte_cap_holds_in_v2_binary_data(settings):
    settings.MAX_UPLOAD_BYTES = 20_000
    body, headers = v2_binary(padded_png(30_000))
    response = post_raw("/v2/models/keras/infer", body, "application/octet-stream", **headers)
    assert response.status_code == 400, response.content
    assert "20000 bytes" in response.json()["error"]
    assert Drawing.objects.count() == 0
    body, headers = v2_binary(padded_png(15_000))
    assert post_raw("/v2/models/keras/infer", body, "application/octet-stream", **headers).status_code == 200


def test_the_per_image_byte_cap_holds_in_a_multipart_batch(settings):
    settings.MAX_UPLOAD_BYTES = 20_000
    files = [io.BytesIO(im.png(im.SEVEN)), io.BytesIO(padded_png(30_000))]
    for i, f in enumerate(files):
        f.name = f"{i}.png"
    response = APIClient().post("/api/predict/batch/", {"images": files}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("images[1]:")
    assert Drawing.objects.count() == 0


def test_the_per_image_byte_cap_holds_in_tf_serving(settings):
    import base64

    settings.MAX_UPLOAD_BYTES = 20_000
    body = json.dumps({"instances": [{"b64": base64.b64encode(padded_png(30_000)).decode()}]})
    response = post_raw("/v1/models/keras:predict", body)
    assert response.status_code == 400 and "20000 bytes" in response.json()["error"]
    assert Drawing.objects.count() == 0


def big_16_bit_png(side=2000):
    buf = io.BytesIO()
    Image.new("I;16", (side, side), 0).save(buf, format="PNG")
    return buf.getvalue()


def test_a_batch_over_the_pixel_budget_is_refused_before_anything_is_decoded(settings):
    # 60 16-bit 2000x2000 PNGs are 12 KB each and within the per-image budget; decoding them all cost 3 s of CPU.
    heavy = big_16_bit_png()
    assert len(heavy) < 100_000
    settings.PREDICT_RATE_ANON = "1000/min"
    images = [im.data_url(heavy)] * 8  # 32 megapixels, over the 16 allowed for a request
    response = APIClient().post("/api/predict/batch/", {"images": images}, format="json")
    assert response.status_code == 413, response.content
    assert response.json()["error"] == "batch_too_large"
    assert "16000000" in response.json()["detail"]
    assert Drawing.objects.count() == 0


def test_a_batch_within_the_pixel_budget_passes(settings):
    settings.MAX_BATCH_PIXELS = 3 * 280 * 280
    images = [im.data_url(im.png(s)) for s in (im.SEVEN, im.ONE, im.SEVEN)]
    assert APIClient().post("/api/predict/batch/", {"images": images}, format="json").status_code == 201
    settings.MAX_BATCH_PIXELS = 3 * 280 * 280 - 1
    response = APIClient().post("/api/predict/batch/", {"images": images}, format="json")
    assert response.status_code == 413
    assert Drawing.objects.count() == 3

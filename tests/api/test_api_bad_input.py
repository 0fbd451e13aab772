"""Bad input to the API: a clear JSON error with the right status and code, and nothing stored.

Every case checks the status, the ``error`` code, that ``detail`` is a readable message, and
that neither the drawing nor the prediction table changed (nor the existing drawing's label).
"""

import io
import json

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from recognizer.models import Drawing, Prediction
from tests import api_images as im
from tests.factories import drawer_client, make_drawing

pytestmark = pytest.mark.django_db

PREDICT = "/api/predict/"
GOOD = im.png(im.SEVEN)
BLANK = im.encode(im.canvas(strokes=()))


def post_json(body):
    return lambda c: c.anon.post(PREDICT, body, format="json")


def post_image(data, mime="image/png"):
    return post_json({"image": im.data_url(data, mime)})


def upload(data, name="drawing.png", content_type="image/png", field="image"):
    def send(c):
        f = io.BytesIO(data)
        f.name = name
        return c.anon.post(PREDICT, {field: f}, format="multipart")

    return send


def raw(body, content_type):
    return lambda c: c.anon.generic("POST", PREDICT, body, content_type=content_type)


def patch_label(value, who="staff"):
    return lambda c: getattr(c, who).patch(f"/api/drawings/{c.drawing.pk}/", {"label": value}, format="json")


def feedback(value, who="owner"):
    return lambda c: getattr(c, who).post(f"/api/drawings/{c.drawing.pk}/feedback/", {"label": value}, format="json")


def jpeg_truncated():
    data = im.encode(im.canvas(im.SEVEN), "JPEG", quality=90)
    return data[: len(data) // 3]


def png_corrupt_pixels():
    data = bytearray(GOOD)
    start = data.index(b"IDAT") + 8
    data[start : start + 200] = b"\x00" * 200
    return bytes(data)


def oversized_json(c):
    limit = c.settings.MAX_UPLOAD_BYTES
    return c.anon.post(PREDICT, {"image": "A" * (limit + 10)}, format="json")


def oversized_multipart(c):
    return upload(GOOD + b"\x00" * (c.settings.MAX_UPLOAD_BYTES + 10))(c)


def csrf_missing(c):
    strict = APIClient(enforce_csrf_checks=True)
    strict.force_login(c.staff_user)
    return strict.patch(f"/api/drawings/{c.drawing.pk}/", {"label": 4}, format="json")


def deep_json(key, depth=5000):
    return ('{"' + key + '": ' + "[" * depth + "]" * depth + "}").encode()


HUGE = b'{"label": ' + b"7" * 4400 + b"}"


def drawing_url(c):
    return f"/api/drawings/{c.drawing.pk}/"


def feedback_url(c):
    return f"/api/drawings/{c.drawing.pk}/feedback/"


def send_raw(who, method, url, body):
    return lambda c: getattr(c, who).generic(method, url(c), body, content_type="application/json")


def list_filter(query):
    return lambda c: c.staff.get("/api/drawings/?" + query)


def export_filter(query):
    return lambda c: c.staff.get("/api/drawings/export/?format=csv&" + query)


def over_rate_limit(c):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "2/min"}
    with override_settings(REST_FRAMEWORK={**c.settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        for _ in range(2):
            assert c.anon.post(PREDICT, {}, format="json").status_code == 400
        return c.anon.post(PREDICT, {"image": im.data_url(GOOD)}, format="json")


CASES = [
    # missing or empty image
    ("no image field", post_json({}), 400, "required"),
    ("image is empty text", post_json({"image": ""}), 400, "empty_image"),
    ("image is blank space", post_json({"image": "   \n"}), 400, "empty_image"),
    ("image is null", post_json({"image": None}), 400, "null"),
    ("image is a number", post_json({"image": 12345}), 400, "invalid"),
    ("image is a list", post_json({"image": ["iVBORw0KGgo="]}), 400, "invalid"),
    ("image is an object", post_json({"image": {"data": "x"}}), 400, "invalid"),
    ("data URL with nothing after the comma", post_json({"image": "data:image/png;base64,"}), 400, "empty_image"),
    # not base64, malformed data URLs
    ("not base64", post_json({"image": "this is not base64!"}), 400, "not_base64"),
    ("data URL with bad base64", post_json({"image": "data:image/png;base64,@@@@"}), 400, "not_base64"),
    ("data URL without ;base64", post_json({"image": "data:image/png,iVBORw0KGgo"}), 400, "invalid_data_url"),
    ("data URL without comma", post_json({"image": "data:image/png;base64"}), 400, "invalid_data_url"),
    # not an image / truncated
    ("base64 of text", post_image(b"hello, I am not a picture at all"), 400, "invalid_image"),
    ("base64 of random bytes", post_image(bytes(range(7, 250))), 400, "invalid_image"),
    ("truncated PNG", post_image(GOOD[:60]), 400, "invalid_image"),
    ("PNG with corrupt pixel data", post_image(png_corrupt_pixels()), 400, "invalid_image"),
    ("truncated JPEG", post_image(jpeg_truncated(), "image/jpeg"), 400, "invalid_image"),
    ("plain base64 of text", post_json({"image": im.b64(b"just some text, not an image")}), 400, "invalid_image"),
    # unsupported types
    ("GIF", post_image(im.encode(im.canvas(im.SEVEN), "GIF"), "image/png"), 415, "unsupported_media_type"),
    ("GIF data URL", post_image(GOOD, "image/gif"), 415, "unsupported_media_type"),
    ("SVG", post_image(im.SVG, "image/png"), 415, "unsupported_media_type"),
    ("SVG data URL", post_image(im.SVG, "image/svg+xml"), 415, "unsupported_media_type"),
    ("PDF", post_json({"image": im.b64(im.PDF)}), 415, "unsupported_media_type"),
    ("BMP", post_image(im.encode(im.canvas(im.SEVEN), "BMP")), 415, "unsupported_media_type"),
    ("TIFF", post_image(im.encode(im.canvas(im.SEVEN), "TIFF")), 415, "unsupported_media_type"),
    ("GIF uploaded as a file", upload(im.encode(im.canvas(im.SEVEN), "GIF"), "x.gif"), 415, "unsupported_media_type"),
    ("text/plain body", raw(b"image=abc", "text/plain"), 415, "unsupported_media_type"),
    # too large, bombs
    ("wider than 4096", post_image(im.png_header_only(4097, 16)), 400, "image_too_large"),
    ("taller than 4096", post_image(im.png_header_only(16, 5000)), 400, "image_too_large"),
    ("decompression bomb header", post_image(im.png_header_only(60000, 60000)), 400, "image_too_large"),
    ("bomb, 1-bit", post_image(im.png_header_only(40000, 40000, bit_depth=1)), 400, "image_too_large"),
    ("over the 4-megapixel budget", post_image(im.png_header_only(2001, 2000)), 400, "image_too_large"),
    ("JSON body over the limit", oversized_json, 413, "payload_too_large"),
    ("multipart body over the limit", oversized_multipart, 413, "payload_too_large"),
    # nothing drawn
    ("blank white canvas", post_image(BLANK), 422, "empty_drawing"),
    (
        "blank transparent canvas",
        post_image(im.encode(im.canvas((), mode="RGBA", background=(0, 0, 0, 0)))),
        422,
        "empty_drawing",
    ),
    ("uniform grey", post_image(im.encode(im.canvas((), background=(128, 128, 128)))), 422, "empty_drawing"),
    # bodies
    ("malformed JSON", raw(b'{"image": "abc', "application/json"), 400, "parse_error"),
    ("JSON that is a list", raw(b"[1, 2]", "application/json"), 400, "invalid"),
    ("multipart without the file", upload(GOOD, field="picture"), 400, "required"),
    ("multipart empty file", upload(b""), 400, "empty_image"),
    ("multipart text file", upload(b"not an image", "x.txt", "text/plain"), 400, "invalid_image"),
    ("unknown source", post_json({"image": im.data_url(GOOD), "source": "mars"}), 400, "invalid_choice"),
    # labels (staff)
    ("label 10", patch_label(10), 400, "out_of_range"),
    ("label -1", patch_label(-1), 400, "out_of_range"),
    ("label text", patch_label("seven"), 400, "invalid"),
    ("label float", patch_label(3.5), 400, "invalid"),
    ("label boolean", patch_label(True), 400, "invalid"),
    ("label list", patch_label([3]), 400, "invalid"),
    ("label missing", lambda c: c.staff.patch(f"/api/drawings/{c.drawing.pk}/", {}, format="json"), 400, "required"),
    # feedback (the person who drew it)
    ("feedback 11", feedback(11), 400, "out_of_range"),
    ("feedback text", feedback("3a"), 400, "invalid"),
    ("feedback null", feedback(None), 400, "null"),
    ("feedback boolean", feedback(False), 400, "invalid"),
    # who may do what
    ("anonymous list", lambda c: c.anon.get("/api/drawings/"), 401, "not_authenticated"),
    ("non-staff list", lambda c: c.plain.get("/api/drawings/"), 403, "permission_denied"),
    ("anonymous label", patch_label(3, who="anon"), 401, "not_authenticated"),
    ("non-staff label", patch_label(3, who="plain"), 403, "permission_denied"),
    (
        "anonymous sees someone else's drawing",
        lambda c: c.anon.get(f"/api/drawings/{c.drawing.pk}/"),
        401,
        "not_authenticated",
    ),
    ("feedback from another session", feedback(3, who="anon"), 401, "not_authenticated"),
    ("staff session write without CSRF token", csrf_missing, 403, "permission_denied"),
    ("anonymous export", lambda c: c.anon.get("/api/drawings/export/?format=csv"), 401, "not_authenticated"),
    (
        "no such drawing",
        lambda c: c.staff.patch("/api/drawings/999999999/", {"label": 1}, format="json"),
        404,
        "not_found",
    ),
    # filters and export parameters
    ("list filter label=abc", lambda c: c.staff.get("/api/drawings/?label=abc"), 400, "invalid"),
    ("list filter min_confidence=nan", lambda c: c.staff.get("/api/drawings/?min_confidence=nan"), 400, "invalid"),
    ("list filter unknown model", lambda c: c.staff.get("/api/drawings/?model=svm"), 400, "invalid_choice"),
    ("export unknown format", lambda c: c.staff.get("/api/drawings/export/?format=xls"), 400, "invalid_choice"),
    ("export without format", lambda c: c.staff.get("/api/drawings/export/"), 400, "required"),
    # rate limit
    ("over the anonymous predict rate", over_rate_limit, 429, "throttled"),
    # deep JSON, huge numbers, bad offsets and ids (Python's own limits must never become a 500)
    ("predict image nested 5000 deep", raw(deep_json("image"), "application/json"), 400, "too_deep"),
    ("predict nested 33 deep", raw(deep_json("image", 33), "application/json"), 400, "too_deep"),
    ("label nested 5000 deep", send_raw("staff", "PATCH", drawing_url, deep_json("label")), 400, "too_deep"),
    ("feedback nested 5000 deep", send_raw("owner", "POST", feedback_url, deep_json("label")), 400, "too_deep"),
    ("label of 4400 digits as a string", patch_label("9" * 4400), 400, "invalid"),
    ("feedback of 4400 digits as a string", feedback("1" * 4400), 400, "invalid"),
    ("label of 4400 digits as a number", send_raw("staff", "PATCH", drawing_url, HUGE), 400, "parse_error"),
    ("label 2**64 as a number", patch_label(2**64), 400, "out_of_range"),
    ("JSON NaN", raw(b'{"image": NaN}', "application/json"), 400, "parse_error"),
    ("list created_after +99:00", list_filter("created_after=2026-01-01T00:00:00%2B99:00"), 400, "invalid"),
    ("list created_after -24:00", list_filter("created_after=2026-01-01T00:00:00-24:00"), 400, "invalid"),
    (
        "list created_before year 1 east of UTC",
        list_filter("created_before=0001-01-01T00:00:00%2B05:00"),
        400,
        "overflow",
    ),
    (
        "list created_after year 9999 west of UTC",
        list_filter("created_after=9999-12-31T23:00:00-05:00"),
        400,
        "overflow",
    ),
    ("list created_after 2026-13-45", list_filter("created_after=2026-13-45"), 400, "invalid"),
    ("list label of 5000 digits", list_filter("label=" + "9" * 5000), 400, "max_string_length"),
    ("export created_after +99:00", export_filter("created_after=2026-01-01T00:00:00%2B99:00"), 400, "invalid"),
    ("export created_before -24:00", export_filter("created_before=2026-01-01-24:00"), 400, "invalid"),
    ("drawing id of 5000 digits", lambda c: c.staff.get("/api/drawings/" + "9" * 5000 + "/"), 404, "not_found"),
    ("drawing id past 2**63", lambda c: c.staff.get(f"/api/drawings/{2**63}/"), 404, "not_found"),
    ("page of 5000 digits", list_filter("page=" + "9" * 5000), 404, "not_found"),
    ("page_size of 5000 digits", list_filter("page_size=" + "9" * 5000), 400, "invalid"),
]


class Ctx:
    pass


@pytest.fixture
def ctx(settings, django_user_model):
    cache.clear()  # throttle counters from other tests
    # No passwords: hashing one costs more than a whole case, and these clients log in directly.
    staff_user = django_user_model.objects.create_user("api-staff", is_staff=True)
    plain_user = django_user_model.objects.create_user("api-plain")
    c = Ctx()
    c.settings = settings
    c.staff_user = staff_user
    c.anon = APIClient()
    c.staff = APIClient()
    c.staff.force_authenticate(staff_user)
    c.plain = APIClient()
    c.plain.force_authenticate(plain_user)
    # The drawing belongs to the "owner" client (its drawer cookie).
    c.owner = drawer_client()
    c.drawing = make_drawing(drawer_key=c.owner.key, label=5, label_source="user")
    yield c
    cache.clear()


def snapshot(drawing):
    drawing.refresh_from_db()
    return (
        Drawing.objects.count(),
        Prediction.objects.count(),
        drawing.label,
        drawing.label_source,
        drawing.labeled_by_id,
        drawing.labeled_at,
    )


@pytest.mark.parametrize(("send", "status", "code"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_a_clear_json_error_and_stores_nothing(ctx, send, status, code):
    before = snapshot(ctx.drawing)
    response = send(ctx)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 3
    assert snapshot(ctx.drawing) == before


def test_the_battery_is_big_enough():
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)


def test_rate_limited_answer_says_when_to_retry(ctx):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "1/min"}
    with override_settings(REST_FRAMEWORK={**ctx.settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        ctx.anon.post(PREDICT, {}, format="json")
        response = ctx.anon.post(PREDICT, {}, format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60

"""Issue 17's cheaper predict path keeps the contract: the page's greyscale PNG gives the models the same 28×28 input
as the canvas's RGBA PNG, the renderer choice is DRF's, the pixel budget is read from the header and plain base64
decodes as the clean-up would."""

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.test import APIClient, APIRequestFactory

from recognizer import drawer
from recognizer.api.image_field import ImageField
from recognizer.domain import images
from recognizer.domain.errors import ImageRejected
from recognizer.ml import preprocess
from recognizer.models import Drawing
from tests import api_images as im

APP_JS = Path(__file__).resolve().parents[2] / "static" / "recognizer" / "app.js"
NODE = shutil.which("node")


def page_canvas(strokes, size=280, width=20):
    """Black strokes on an opaque white RGBA canvas, anti-aliased (drawn at 4× and shrunk), as the page paints."""
    big = Image.new("RGBA", (size * 4, size * 4), (255, 255, 255, 255))
    draw = ImageDraw.Draw(big)
    for stroke in strokes:
        draw.line([(4 * x, 4 * y) for x, y in stroke], fill=(0, 0, 0, 255), width=4 * width, joint="curve")
    return big.resize((size, size), Image.Resampling.LANCZOS).filter(ImageFilter.SMOOTH)


DRAWINGS = [
    im.SEVEN,
    im.ONE,
    (((90, 80), (140, 40), (190, 80), (100, 230), (200, 230)),),  # a 2
    (((180, 60), (100, 60), (90, 140), (170, 140), (180, 220), (90, 230)),),  # a 5
    (((70, 200), (130, 150), (150, 90)), ((60, 60), (220, 220))),  # strokes crossing, near the edge
    (((20, 20), (40, 25)),),  # small, in a corner
]


def js_grey_png(rgba):
    """The page's own ``greyPng`` (app.js), run by Node on these RGBA pixels: a data URL, or None."""
    source = APP_JS.read_text()
    start = source.index("  const CRC_TABLE")
    end = source.index("\n  }\n", source.index("async function greyPng")) + len("\n  }\n")
    script = (
        source[start:end]
        + """
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => {
  const { width, height, rgba } = JSON.parse(input);
  const data = Uint8ClampedArray.from(Buffer.from(rgba, "base64"));
  process.stdout.write(JSON.stringify(await greyPng({ width, height, data })));
});
"""
    )
    payload = json.dumps(
        {"width": rgba.width, "height": rgba.height, "rgba": base64.b64encode(rgba.tobytes()).decode()}
    )
    out = subprocess.run([NODE, "-e", script], input=payload, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def png_bytes(data_url):
    header, _, payload = data_url.partition(",")
    assert header == "data:image/png;base64"
    return base64.b64decode(payload)


needs_node = pytest.mark.skipif(NODE is None, reason="Node.js runs the page's PNG encoder")


@needs_node
@pytest.mark.parametrize("strokes", DRAWINGS)
def test_the_pages_greyscale_png_gives_the_models_the_same_input_as_the_rgba_png(strokes):
    canvas = page_canvas(strokes)
    rgba_png = im.encode(canvas)  # what canvas.toDataURL("image/png") sent before
    grey_png = png_bytes(js_grey_png(canvas))
    decoded = Image.open(io.BytesIO(grey_png))
    assert (decoded.mode, decoded.size, decoded.format) == ("L", (280, 280), "PNG")
    assert preprocess.sniff_type(grey_png) == "image/png"
    assert len(grey_png) < len(rgba_png)
    # Pixel for pixel what the server's RGBA -> grey flattening gives, so the 28×28 input is identical.
    assert decoded.tobytes() == preprocess.decode_image(rgba_png).tobytes()
    grey_input, rgba_input = preprocess.to_model_input(grey_png), preprocess.to_model_input(rgba_png)
    assert grey_input.dtype == rgba_input.dtype and np.array_equal(grey_input, rgba_input)
    assert grey_input.max() > 0


@needs_node
def test_the_pages_grey_is_pillows_luma_for_any_colour():
    rng = np.random.default_rng(17)
    pixels = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    rgba = Image.fromarray(pixels, "RGBA")
    decoded = Image.open(io.BytesIO(png_bytes(js_grey_png(rgba))))
    assert decoded.tobytes() == rgba.convert("L").tobytes() == preprocess.decode_image(im.encode(rgba)).tobytes()


@needs_node
def test_a_pixel_that_is_not_opaque_makes_the_page_send_its_rgba_png():
    canvas = page_canvas(im.ONE)
    canvas.putpixel((3, 3), (255, 255, 255, 254))
    assert js_grey_png(canvas) is None


def test_the_page_sends_the_greyscale_png_and_falls_back_to_the_canvas_png():
    source = APP_JS.read_text()
    assert re.search(r"body: \{ image: await exportImage\(\), source: \"web\" \}", source)
    export = source[source.index("async function exportImage") : source.index("const CRC_TABLE")]
    assert "await greyPng(" in export and 'return c.toDataURL("image/png");' in export


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_cache")
@needs_node
def test_the_api_stores_the_same_input_for_both_pngs_of_one_canvas():
    canvas = page_canvas(im.SEVEN)
    stored = []
    for url in (im.data_url(im.encode(canvas)), js_grey_png(canvas)):
        response = APIClient().post("/api/predict/", {"image": url, "source": "web"}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        stored.append(bytes(Drawing.objects.get(pk=body["id"]).model_input))
        assert body["input"]
    assert stored[0] == stored[1]


# ---- the renderer choice -------------------------------------------------------------------------------


def lenient():
    from recognizer.api import views  # noqa: F401  (the API's modules in the order the URL conf imports them)
    from recognizer.api.negotiation import LenientNegotiation

    return LenientNegotiation


ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/json; indent=4",
    "application/*",
    "image/png",
    "",
    "application/json;q=0.1, text/html;q=0.9",
]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_lenient_renderer_choice_is_drfs_or_the_first(accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    def drf_choice():
        request = APIRequestFactory().post("/api/predict/", **headers)
        from rest_framework.request import Request

        try:
            renderer, media_type = DefaultContentNegotiation().select_renderer(Request(request), renderers)
        except Exception:  # what LenientNegotiation falls back to
            renderer, media_type = renderers[0], renderers[0].media_type
        return renderers.index(renderer), media_type

    from rest_framework.request import Request

    for _ in range(2):  # nothing is remembered between calls
        request = Request(APIRequestFactory().post("/api/predict/", **headers))
        renderer, media_type = lenient()().select_renderer(request, renderers)
        assert (renderers.index(renderer), media_type) == drf_choice()


def png_chunk(kind, data):
    import zlib

    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def png_header_only(width, height, rest=b""):
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + rest


# The header decides, before anything is decoded: a PNG by its IHDR, anything else by Pillow's lazy open; what
# neither can size is left to the decoder (which refuses it with its own error).
@pytest.mark.parametrize(
    "data, expected",
    [
        (im.png(im.SEVEN), "ok"),
        (im.encode(Image.new("L", (2000, 2000), 255)), "ok"),  # exactly the budget
        (png_header_only(2001, 2000, png_chunk(b"IDAT", b"x") + png_chunk(b"IEND", b"")), "too large"),
        (png_header_only(100000, 100000, png_chunk(b"IDAT", b"x") + png_chunk(b"IEND", b"")), "too large"),
        (png_header_only(4000, 4000), "too large"),  # nothing after the header: its IHDR still says
        (png_header_only(0, 5, png_chunk(b"IDAT", b"x")), "ok"),
        (png_header_only(10, 10)[:20], "ok"),  # cut inside IHDR
        (png_header_only(10, 10).replace(b"IHDR", b"IHDX"), "ok"),
        (im.encode(Image.new("L", (2001, 2000), 255), "JPEG"), "too large"),
        (b"", "ok"),
        (b"not an image", "ok"),
    ],
)
def test_the_pixel_budget_is_read_from_the_header(data, expected, settings):
    settings.MAX_IMAGE_PIXELS = 4_000_000
    try:
        images.check_size(data)
        ours = "ok"
    except ImageRejected as e:
        assert e.code == "image_too_large"
        ours = "too large"
    assert ours == expected


def test_plain_base64_decodes_as_the_clean_up_would():
    import random

    rng = random.Random(17)
    field = ImageField()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" + "=-_ \n\t.é"
    texts = [base64.b64encode(rng.randbytes(n)).decode() for n in range(40)]
    texts += [base64.urlsafe_b64encode(rng.randbytes(n)).decode().rstrip("=") for n in range(40)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 24))) for _ in range(3000)]
    texts += ["QUJD", "QUJD\n", "QU JD", "QUI=", "QU==", "Q===", "====", "QUJD====", "QUJ-", "QUJ_", "ＱＵＪＤ"]
    digest = hashlib.sha256()
    for text in texts:
        try:
            outcome = b"ok " + field.decode_text(text)
        except Exception as e:
            outcome = f"error {type(e).__name__} {e.get_codes() if hasattr(e, 'get_codes') else ''}".encode()
        digest.update(len(outcome).to_bytes(4, "big") + outcome)
    # Every text's bytes or error, recorded from the clean-up the shortcut replaced (strip, drop whitespace,
    # URL-safe to standard alphabet, pad, strict b64decode): 1,449 decode, 1,642 are refused.
    assert digest.hexdigest() == "97415e74e56c786fdcf22bbcc017ff68b5863ce40abf41ae1bcd508cfe4445ca"
    decoded = {
        text: field.decode_text(text)
        for text in ["QUJD", "QUJD\n", "QU JD", "QUI=", "QU==", "QUJD====", "QUJ-", "QUJ_"]
    }
    assert decoded == {
        "QUJD": b"ABC",
        "QUJD\n": b"ABC",
        "QU JD": b"ABC",
        "QUI=": b"AB",
        "QU==": b"A",
        "QUJD====": b"ABC",
        "QUJ-": b"AB~",
        "QUJ_": b"AB\x7f",
    }
    for text, code in [
        ("Q===", "not_base64"),
        ("====", "not_base64"),
        ("ＱＵＪＤ", "not_base64"),
        ("  ", "empty_image"),
    ]:
        with pytest.raises(serializers.ValidationError) as refused:
            field.decode_text(text)
        assert refused.value.get_codes() == [code]


def request_with_cookie(value):
    request = APIRequestFactory().get("/")
    if value is not None:
        request.COOKIES[drawer.COOKIE] = value
    return request


def signed(key):
    from django.http import HttpResponse

    response = drawer.remember_drawer(HttpResponse(), key)
    return response.cookies[drawer.COOKIE].value


def test_a_drawer_cookie_is_checked_under_the_current_keys(settings):
    cookie = signed("k" * 32)
    assert drawer.drawer_key(request_with_cookie(cookie)) == "k" * 32
    original_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    assert drawer.drawer_key(request_with_cookie(cookie)) is None  # a new SECRET_KEY refuses it
    settings.SECRET_KEY_FALLBACKS = [original_key]
    assert drawer.drawer_key(request_with_cookie(cookie)) == "k" * 32  # the old key as a fallback: accepted


@pytest.mark.parametrize("value", [None, "", "abc", "k" * 32, "x" * 32 + ":tampered"])
def test_a_bad_or_missing_drawer_cookie_is_none(value):
    assert drawer.drawer_key(request_with_cookie(value)) is None
    tampered = signed("good-key")[:-2] + "xx"
    assert drawer.drawer_key(request_with_cookie(tampered)) is None


def test_messages_are_skipped_under_api_and_kept_for_pages():
    from django.contrib.messages import get_messages
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse

    from recognizer.page_messages import PageMessageMiddleware

    seen = {}

    def view(request):
        seen[request.path] = hasattr(request, "_messages")
        return HttpResponse()

    factory = APIRequestFactory()
    middleware = SessionMiddleware(PageMessageMiddleware(view))
    for path in ("/api/predict/", "/api/drawings/", "/", "/admin/recognizer/drawing/"):
        middleware(factory.post(path))
    assert seen == {
        "/api/predict/": False,
        "/api/drawings/": False,
        "/": True,
        "/admin/recognizer/drawing/": True,
    }
    assert list(get_messages(factory.get("/api/drawings/"))) == []  # readers of an API request see none


def test_the_admin_still_shows_its_messages(admin_client):
    from recognizer.models import Drawing as D
    from tests.factories import make_drawing

    drawing = make_drawing(keras=3, custom=3)
    response = admin_client.post(
        "/admin/recognizer/drawing/",
        {"action": "delete_selected", "_selected_action": [drawing.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Successfully deleted 1 drawing."]
    assert not D.objects.exists()

"""recognizer.ml.preprocess: image bytes -> the MNIST-style 28x28 model input."""

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from recognizer.ml import preprocess as P


def draw(strokes, size=(280, 280), width=18, bg=255, ink=0, mode="L"):
    img = Image.new(mode, size, bg)
    d = ImageDraw.Draw(img)
    for stroke in strokes:
        d.line(stroke, fill=ink, width=width, joint="curve")
    return img


def encode(img, fmt="PNG", **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


SEVEN = [[(60, 40), (200, 50), (120, 240)]]
ONE = [[(150, 30), (140, 250)]]
SMALL_FOUR = [[(30, 200), (20, 240), (55, 240)], [(45, 205), (45, 262)]]  # small, bottom-left, thick


def center_of_mass(x):
    ys, xs = np.mgrid[0:28, 0:28]
    return float((x * ys).sum() / x.sum()), float((x * xs).sum() / x.sum())


def ink_box(x, threshold=0.0):
    rows, cols = np.flatnonzero((x > threshold).any(1)), np.flatnonzero((x > threshold).any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("strokes", [SEVEN, ONE, SMALL_FOUR], ids=["seven", "one", "small-four"])
@pytest.mark.parametrize("width", [6, 18, 30])
def test_centre_of_mass_and_box(strokes, width):
    x = P.to_model_input(encode(draw(strokes, width=width)))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == pytest.approx(1.0)
    cy, cx = center_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    h, w = ink_box(x)
    assert max(h, w) == 20


def test_aspect_ratio_kept():
    x = P.to_model_input(encode(draw(ONE, width=10)))
    h, w = ink_box(x)
    assert h == 20 and w <= 8  # a tall thin stroke stays tall and thin


def test_position_and_scale_do_not_matter():
    a = P.to_model_input(encode(draw(SEVEN, width=16)))
    moved = [[(x * 0.5 + 120, y * 0.5 + 100) for x, y in s] for s in SEVEN]
    b = P.to_model_input(encode(draw(moved, width=8)))
    assert np.abs(a - b).mean() < 0.07


def test_ink_is_bright_background_zero():
    x = P.to_model_input(encode(draw(SEVEN)))
    assert x[0, 0] == 0 and (x > 0.9).sum() > 20


def test_transparent_background_is_white():
    rgba = Image.new("RGBA", (280, 280), (0, 0, 0, 0))  # an untouched browser canvas
    d = ImageDraw.Draw(rgba)
    for s in SEVEN:
        d.line(s, fill=(0, 0, 0, 255), width=18, joint="curve")
    expected = P.to_model_input(encode(draw(SEVEN)))
    assert np.allclose(P.to_model_input(encode(rgba)), expected, atol=1e-6)
    # a palette PNG with a transparent index, and LA
    assert np.allclose(P.to_model_input(encode(rgba.convert("LA"))), expected, atol=1e-6)
    img = P.decode_image(encode(rgba))
    assert img.mode == "L" and img.getpixel((0, 0)) == 255


def test_colour_strokes_and_white_on_black():
    expected = P.to_model_input(encode(draw(SEVEN)))
    blue = draw(SEVEN, mode="RGB", bg=(255, 255, 255), ink=(20, 40, 200))
    assert np.abs(P.to_model_input(encode(blue)) - expected).mean() < 0.02
    inverted = draw(SEVEN, bg=0, ink=255)  # already white-on-black (e.g. an MNIST-style image)
    assert np.allclose(P.to_model_input(encode(inverted)), expected, atol=1e-6)


@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 60}), ("WEBP", {"quality": 60}), ("WEBP", {"lossless": True})])
def test_jpeg_and_webp(fmt, kw):
    png = P.to_model_input(encode(draw(SEVEN)))
    x = P.to_model_input(encode(draw(SEVEN).convert("RGB"), fmt, **kw))
    assert np.abs(x - png).mean() < 0.03
    assert np.allclose(center_of_mass(x), center_of_mass(png), atol=0.6)


def test_grey_noisy_background():
    rng = np.random.default_rng(0)
    img = np.asarray(draw(SEVEN, bg=205, ink=40), dtype=np.float64)
    noisy = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    data = encode(Image.fromarray(noisy).convert("RGB"), "JPEG", quality=50)
    x = P.to_model_input(data)
    expected = P.to_model_input(encode(draw(SEVEN)))
    assert np.abs(x - expected).mean() < 0.04
    assert max(ink_box(x)) == 20  # noise did not inflate the box


@pytest.mark.parametrize(
    "img",
    [
        Image.new("L", (280, 280), 255),
        Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
        Image.new("RGB", (280, 280), (210, 210, 210)),
        draw([[(100, 100), (101, 101)]], width=2),  # a speck
    ],
    ids=["white", "transparent", "grey", "speck"],
)
def test_blank_is_empty_drawing(img):
    with pytest.raises(P.EmptyDrawing, match="nothing drawn") as err:
        P.to_model_input(encode(img))
    assert err.value.code == "empty_drawing"


def test_blank_noisy_jpeg_is_empty():
    rng = np.random.default_rng(1)
    noise = np.clip(240 + rng.normal(0, 4, (280, 280)), 0, 255).astype(np.uint8)
    with pytest.raises(P.EmptyDrawing):
        P.to_model_input(encode(Image.fromarray(noise), "JPEG", quality=40))


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "PDF", "ICO"])
def test_other_image_formats_unsupported(fmt):
    data = encode(draw(SEVEN).convert("RGB"), fmt)
    with pytest.raises(P.UnsupportedImageType) as err:
        P.to_model_input(data)
    assert err.value.code == "unsupported_media_type"


def test_svg_unsupported():
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="280" height="280">'
        b'<path d="M0 0L9 9"/></svg>'
    )
    for data in (svg, svg[21:], b"\n  " + svg[21:], b"%PDF-1.4\n%..."):
        with pytest.raises(P.UnsupportedImageType):
            P.decode_image(data)


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"\xff\xd8\xff\xe0garbage"])
def test_garbage_is_invalid_image(data):
    with pytest.raises(P.ImageError) as err:
        P.to_model_input(data)
    assert type(err.value) is P.ImageError and err.value.code == "invalid_image"


def test_truncated_png_is_invalid_image():
    data = encode(draw(SEVEN))
    with pytest.raises(P.ImageError) as err:
        P.to_model_input(data[: len(data) // 2])
    assert err.value.code == "invalid_image"


def _png_header_only(width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_huge_header_rejected_without_decoding():
    # A 100000x100000 PNG header with no pixel data at all: decoding would fail with a
    # different error (and allocating it would take 10 GB), so ImageTooLarge proves that only
    # the header was read.
    for w, h in [(100_000, 100_000), (4097, 10), (10, 5000)]:
        with pytest.raises(P.ImageTooLarge) as err:
            P.to_model_input(_png_header_only(w, h))
        assert err.value.code == "image_too_large"


def test_max_side_accepted():
    img = Image.new("L", (P.MAX_SIDE, 8), 255)
    ImageDraw.Draw(img).line([(100, 1), (400, 6)], fill=0, width=3)
    assert P.to_model_input(encode(img)).shape == (28, 28)


def test_error_hierarchy():
    for cls in (P.UnsupportedImageType, P.ImageTooLarge, P.EmptyDrawing):
        assert issubclass(cls, P.ImageError) and issubclass(cls, ValueError)
    assert str(P.EmptyDrawing()) == "nothing drawn"


def test_image_to_model_input_matches_bytes():
    img = draw(SEVEN, mode="RGB", bg=(255, 255, 255), ink=(0, 0, 0))
    assert np.array_equal(P.image_to_model_input(img), P.to_model_input(encode(img)))


def test_naive_pipeline():
    x = P.naive_model_input(encode(draw(SMALL_FOUR)))
    assert x.shape == (28, 28) and 0 <= x.min() and x.max() <= 1
    assert x[:, :14].sum() > 5 * x[:, 14:].sum()  # no centring: the ink stays bottom-left


def test_bytes_and_png_roundtrip():
    x = P.to_model_input(encode(draw(SEVEN)))
    b = P.input_to_bytes(x)
    assert len(b) == 784
    back = P.input_from_bytes(b)
    assert back.dtype == np.float32 and np.abs(back - x).max() <= 0.5 / 255 + 1e-6
    png = Image.open(io.BytesIO(P.input_to_png(x)))
    assert png.size == (28, 28) and png.mode == "L"
    assert np.array_equal(np.asarray(png), np.frombuffer(b, np.uint8).reshape(28, 28))
    assert P.input_to_bytes(np.frombuffer(b, np.uint8).reshape(28, 28)) == b
    with pytest.raises(ValueError):
        P.input_from_bytes(b"\x00" * 10)


def test_version_string():
    assert P.PREPROCESS_VERSION == "mnist-com-v1"


def test_mnist_digit_survives_round_trip(mnist_test):
    x, _ = mnist_test
    digit = x[0]
    canvas = Image.new("L", (280, 280), 255)
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BILINEAR)
    canvas.paste(big.crop((40, 40, 240, 240)), (60, 20))  # cut the margins off, move it
    out = P.to_model_input(encode(canvas))
    assert np.abs(out - digit / 255.0).mean() < 0.06


def outcome(f, x):
    """``f(x)`` in a line: its shape and the first 16 hex digits of the sha256 of its bytes, or the error it raises."""
    try:
        got = f(x)
    except P.ImageError as e:
        return type(e).__name__
    assert got.dtype == np.float32 and got.ndim == 2
    return f"{got.shape[0]}x{got.shape[1]} " + hashlib.sha256(got.tobytes()).hexdigest()[:16]


def preprocess_images():
    rng = np.random.default_rng(17)
    images = [encode(draw(strokes, width=w)) for strokes in (SEVEN, ONE) for w in (3, 18, 60)]
    images.append(encode(draw(SEVEN, bg=0, ink=255)))  # white on black
    images.append(encode(draw(ONE, size=(600, 200))))  # wide, lopsided
    images.append(encode(draw([[(5, 5), (12, 9)]])))  # a speck in a corner
    images.append(encode(draw([[(0, 0), (279, 279)], [(279, 0), (0, 279)]], width=2)))  # to the edges
    images.append(encode(draw(SEVEN, mode="RGBA", bg=(0, 0, 0, 0), ink=(200, 20, 20, 255))))  # transparent
    images.append(encode(draw(SEVEN, mode="RGB", bg=(230, 230, 220), ink=(40, 40, 120)), "JPEG", quality=60))
    noisy = np.clip(rng.normal(200, 12, (280, 280)), 0, 255).astype(np.uint8)
    noisy[100:180, 130:140] = 30
    images.append(encode(Image.fromarray(noisy)))
    images.append(encode(Image.new("L", (280, 280), 255)))  # blank: EmptyDrawing both ways
    images.append(encode(Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))))  # noise
    return images


# What grey_to_ink and normalize_ink gave before issue 17's shortcuts (the histogram of the decoded image, the column
# scan only within the rows that have ink), recorded from that code; the faster code matches it bit for bit.
# Per image: to_model_input(image), grey_to_ink(grey), grey_to_ink(grey.T) (not C-ordered).
PREPROCESSED = [
    ("28x28 90b4bd8eaacdf652", "202x142 bccba298dcfedd0a", "142x202 ea0fe935c9613b98"),
    ("28x28 f688ded8787c2fda", "212x150 eef1ed5530c5f7f7", "150x212 8fd662826f21c15a"),
    ("28x28 53d960125663ac93", "241x172 6e73b99326183b73", "172x241 016a308d9fbed6dc"),
    ("28x28 f72b0a270d77d1cf", "221x13 0cdf7cfc43dce1e8", "13x221 dc8f8f80e199d32e"),
    ("28x28 31a66004dfc24968", "221x28 584c0bb6b476c602", "28x221 561c3f6bd09e3765"),
    ("28x28 811f06364c194564", "223x70 c2eb9668f1438e54", "70x223 555242a323a0f44b"),
    ("28x28 f688ded8787c2fda", "212x150 eef1ed5530c5f7f7", "150x212 8fd662826f21c15a"),  # white on black
    ("28x28 04d367b0beedaa0b", "170x26 1b17a47248171294", "26x170 ab3515eb1c07cd1d"),
    ("28x28 7d8eb91b836d28f8", "18x16 7c87648cfdc8d9aa", "16x18 0e7b66224509ab80"),
    ("28x28 394b96c8f900b1e5", "280x280 e5b0cea236438e57", "280x280 7e0c7fe2e5fd1a71"),
    ("28x28 f688ded8787c2fda", "212x150 eef1ed5530c5f7f7", "150x212 8fd662826f21c15a"),  # transparent
    ("28x28 3169e21c4e9d6269", "212x150 3c1177c461d8ba1c", "150x212 e39c7b348286b1ac"),
    ("28x28 8d9d2edb261e421a", "280x280 bee1e8d79390b397", "280x280 31690d1eaf0e0f0e"),
    ("EmptyDrawing", "EmptyDrawing", "EmptyDrawing"),
    ("28x28 5cae554ae48a79b4", "64x64 edb4238a268195fb", "64x64 7635336b46c5b8a7"),
]
NORMALIZED = [
    "28x28 f40b713e59f27507",
    "28x28 5cf4e33aa57be376",
    "28x28 6cf02c0b8d979713",
    "28x28 a4826a9fc035bc15",
    "28x28 d798f3d4f1044fe8",
    "28x28 2cfbff43de320934",
    "28x28 5e973b37251eaa45",
    "EmptyDrawing",
    "EmptyDrawing",
]


def test_preprocessing_is_bit_for_bit_what_it_was():
    got = []
    for data in preprocess_images():
        grey = np.asarray(P.decode_image(data), dtype=np.uint8)
        got.append((outcome(P.to_model_input, data), outcome(P.grey_to_ink, grey), outcome(P.grey_to_ink, grey.T)))
    assert got == PREPROCESSED


def test_normalize_ink_is_bit_for_bit_what_it_was():
    rng = np.random.default_rng(18)
    inks = [rng.random((h, w), dtype=np.float32) * (rng.random((h, w)) < p) for h, w, p in
            ((40, 30, 0.05), (30, 40, 0.3), (5, 90, 0.5), (90, 5, 0.5), (200, 150, 0.01), (3, 3, 0.9))]  # fmt: skip
    edge = np.zeros((50, 50), np.float32)
    edge[10, 3], edge[40, 45], edge[20, 20] = 0.021, 0.02, 0.5  # one just above the bounding-box threshold, one at it
    inks += [edge, np.zeros((10, 10), np.float32), np.full((10, 10), 0.02, np.float32)]
    assert [outcome(P.normalize_ink, ink) for ink in inks] == NORMALIZED

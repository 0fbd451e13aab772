"""Image bytes -> the 28x28 float input both models see, made the way MNIST was made.

MNIST digits were anti-aliased into a 20x20 box (aspect ratio kept) and then placed in a 28x28
field so that their centre of mass sits in the middle.  A canvas drawing is a dark stroke
anywhere on a big light background, so we do the same thing to it:

1. decode (PNG, JPEG or WebP only; transparent pixels count as white background), greyscale;
2. measure background and ink levels from the histogram and turn the picture into "ink"
   (0 = background, 1 = full ink) -- this is the inversion, and it absorbs light grey paper
   and JPEG noise through a small noise floor;
3. crop to the ink's bounding box, resize so the longer side is 20 px (area filter);
4. paste into 28x28 so the centre of mass is at (14, 14) (whole-pixel shift, as MNIST did).

Steps 3-4 are :func:`normalize_ink`, which the training augmentation reuses so that training
images and live drawings go through exactly the same normalisation.  No Django here.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib

import numpy as np
from PIL import Image

PREPROCESS_VERSION = "mnist-com-v1"

MAX_SIDE = 4096
SIZE = 28  # output field
BOX = 20  # longer side of the ink box inside the field
CENTRE = 14.0  # where the centre of mass goes (array index coordinates, as in MNIST)

NOISE_FLOOR = 0.2  # fraction of the ink contrast treated as background noise
MIN_CONTRAST = 48  # grey levels between background and ink, below that: nothing drawn
BBOX_THRESHOLD = 0.02  # ink level that counts for the bounding box in normalize_ink

_ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}


class ImageError(ValueError):
    """Not an image, truncated or corrupt."""

    code = "invalid_image"


class UnsupportedImageType(ImageError):
    """A real image format, but not PNG, JPEG or WebP (SVG, PDF, GIF, BMP, TIFF...)."""

    code = "unsupported_media_type"


class ImageTooLarge(ImageError):
    """More than MAX_SIDE pixels on a side, or a decompression bomb."""

    code = "image_too_large"


class EmptyDrawing(ImageError):
    """A blank or near-blank canvas."""

    code = "empty_drawing"

    def __init__(self, message: str = "nothing drawn"):
        super().__init__(message)


# ---------------------------------------------------------------------------------------------
# Decoding


# The formats decode_image accepts, as content types (what a drawing's image_type may be).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


# Recognised from their first bytes but refused: sniff_type names them, so a client hears "not supported" (415)
# instead of "not an image".
REFUSED_SIGNATURES = (
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"%PDF", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x00\x0cjP  ", "image/jp2"),
)
_PIL_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def sniff_type(data: bytes) -> str | None:
    """The content type from the first bytes: one of ``IMAGE_TYPES``, a format recognised but refused
    (``REFUSED_SIGNATURES``, SVG/XML text), or None when it is not an image we know. The one sniffer: the API's
    image field and ``decode_image`` both ask it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in REFUSED_SIGNATURES:
        if data.startswith(signature):
            return mime
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n\x0b\x0c").lower()  # a BOM and whitespace before SVG text
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        return "image/svg+xml"
    return None


def _flatten(img: Image.Image) -> Image.Image:
    """Any PIL mode -> "L", transparent pixels composited onto white."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        if a.max(initial=0) > 255:
            a = a / 257.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        grey = rgba.convert("L")
        return Image.composite(grey, Image.new("L", img.size, 255), rgba.getchannel("A"))
    if img.mode == "L":
        return img
    if img.mode not in ("RGB", "P", "1"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB...
    return img.convert("L")


def decode_image(data: bytes) -> Image.Image:
    """Validate and decode PNG/JPEG/WebP bytes into an "L" image (white background).

    The format is checked from the magic bytes and the size from the header *before* any pixel
    data is decoded, so a huge or bomb image costs nothing.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise ImageError("empty upload: not an image")
    data = bytes(data)
    mime = sniff_type(data)
    fmt = _PIL_NAMES.get(mime)  # None: not PNG, JPEG or WebP by its first bytes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image too large: {exc}") from exc
    except Exception as exc:
        if mime is not None and fmt is None:  # a format we know and refuse (GIF, PDF, SVG...)
            raise UnsupportedImageType("unsupported image type: only PNG, JPEG and WebP are accepted") from exc
        raise ImageError("not a valid image" if fmt is None else f"corrupt {fmt} image") from exc
    if fmt is None or img.format not in _ALLOWED_FORMATS:
        raise UnsupportedImageType(
            f"unsupported image type {img.format or 'unknown'}: only PNG, JPEG and WebP are accepted"
        )
    width, height = img.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLarge(f"image too large: {width}x{height}, at most {MAX_SIDE}x{MAX_SIDE}")
    if width < 1 or height < 1:
        raise ImageError("image has no pixels")
    if img.format == "JPEG" and max(width, height) > 1024:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: plenty for a 20 px box, much faster.
        img.draft("L", (max(1, width * 512 // max(width, height)), max(1, height * 512 // max(width, height))))
    try:
        img.load()
        return _flatten(img)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from exc
    except Exception as exc:
        raise ImageError(f"corrupt or truncated {img.format} image: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Normalisation


def grey_to_ink(grey: np.ndarray) -> np.ndarray:
    """uint8 greyscale (dark ink on a light background) -> float32 ink in [0, 1], cropped.

    Returns only the bounding box of the ink (everything else is background anyway).  The
    background level is the 90th percentile of the grey levels and the ink level the 0.1th, so
    grey paper, a grey pen and JPEG noise all come out as clean ink on 0.  A picture whose
    background is darker than its ink (white on black) is read the other way round.
    Raises EmptyDrawing when there is (almost) nothing to see.
    """
    return _grey_to_ink(np.ascontiguousarray(grey, dtype=np.uint8))


def _grey_to_ink(grey: np.ndarray, histogram: list[int] | None = None) -> np.ndarray:
    """:func:`grey_to_ink` of a C-contiguous uint8 array; ``histogram``: its 256 counts when already known (the
    decoded "L" image's own ``histogram()``: the same counts, without building a second image)."""
    n = grey.size
    # Pillow's histogram counts the same as np.bincount without widening every pixel to int64 (~6x less CPU).
    counts = np.asarray(Image.fromarray(grey, "L").histogram() if histogram is None else histogram)
    cdf = np.cumsum(counts)
    if np.searchsorted(cdf, n / 2) < 128:  # mostly dark: light ink on a dark background
        grey = 255 - grey
        cdf = np.cumsum(counts[::-1])
    background = int(np.searchsorted(cdf, 0.90 * n))
    ink_level = int(np.searchsorted(cdf, max(1.0, 0.001 * n)))
    contrast = background - ink_level
    if contrast < MIN_CONTRAST:
        raise EmptyDrawing()
    # Grey level below which a pixel is ink, not noise.
    threshold = background - NOISE_FLOOR * contrast
    mask = grey < math.ceil(threshold)  # the same pixels as "< threshold" (they are integers), compared as uint8
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise EmptyDrawing()
    top, bottom = rows[0], rows[-1] + 1
    cols = np.flatnonzero(mask[top:bottom].any(axis=0))  # ink columns: only the rows with ink can have any
    left, right = cols[0], cols[-1] + 1
    crop = grey[top:bottom, left:right].astype(np.float32)
    ink = (threshold - crop) * np.float32(1.0 / ((1.0 - NOISE_FLOOR) * contrast))
    np.clip(ink, 0.0, 1.0, out=ink)
    height, width = grey.shape
    if float(ink.sum()) < max(4.0, 1e-4 * n) or max(bottom - top, right - left) < max(2.0, 0.015 * max(height, width)):
        raise EmptyDrawing()
    return ink


def normalize_ink(ink: np.ndarray) -> np.ndarray:
    """Ink image (float, 0 = background) of any size -> (28, 28) float32 MNIST-style.

    Crop to the bounding box, scale so the longer side is 20 px (aspect kept, area filter when
    shrinking), stretch so the strongest ink is 1, and paste so that the centre of mass is at
    (14, 14) to the nearest pixel.  Shared by preprocessing and training augmentation.
    """
    ink = np.asarray(ink, dtype=np.float32)
    mask = ink > BBOX_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise EmptyDrawing()
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    if (new_h, new_w) != (h, w):
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        crop = np.asarray(Image.fromarray(crop, "F").resize((new_w, new_h), resample), dtype=np.float32)
    peak = float(crop.max())
    if peak <= 0:
        raise EmptyDrawing()
    crop = np.clip(crop * np.float32(1.0 / peak), 0.0, 1.0)
    total = float(crop.sum())
    cy = float(crop.sum(axis=1) @ np.arange(new_h, dtype=np.float32)) / total
    cx = float(crop.sum(axis=0) @ np.arange(new_w, dtype=np.float32)) / total
    top, left = int(round(CENTRE - cy)), int(round(CENTRE - cx))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    # Paste with clipping (a lopsided digit may poke out of the field, as in MNIST).
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + new_h, SIZE), min(left + new_w, SIZE)
    out[y0:y1, x0:x1] = crop[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def image_to_model_input(img: Image.Image) -> np.ndarray:
    """An already-decoded PIL image (any mode) -> (28, 28) float32 in [0, 1], ink bright."""
    if img.mode != "L":
        img = _flatten(img)
    return normalize_ink(_grey_to_ink(np.asarray(img, dtype=np.uint8), img.histogram()))


def to_model_input(data: bytes) -> np.ndarray:
    """Image bytes -> (28, 28) float32 in [0, 1], ink bright, MNIST-style.

    Raises ImageError (or a subclass: UnsupportedImageType, ImageTooLarge, EmptyDrawing).
    """
    return image_to_model_input(decode_image(data))


def naive_model_input(data: bytes) -> np.ndarray:
    """The old app's pipeline, kept as a baseline: resize the whole canvas to 28x28 and invert."""
    img = decode_image(data).resize((SIZE, SIZE))
    return (255.0 - np.asarray(img, dtype=np.float32)) / 255.0


# ---------------------------------------------------------------------------------------------
# Storing and showing the model input


def _to_uint8(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.shape != (SIZE, SIZE) and x.size == SIZE * SIZE:
        x = x.reshape(SIZE, SIZE)
    if x.shape != (SIZE, SIZE):
        raise ValueError(f"expected a 28x28 input, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    return np.clip(np.rint(x.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)


def input_to_png(x: np.ndarray) -> bytes:
    """28x28 float [0, 1] or uint8 -> PNG bytes, white ink on black as the model sees it.

    Written with zlib (8-bit greyscale, no row filter): for 784 pixels a tenth of the cost of Pillow's PNG plugin, and
    any decoder reads it as Pillow's own file (tested)."""
    pixels = _to_uint8(x)
    rows = np.concatenate([np.zeros((pixels.shape[0], 1), np.uint8), pixels], axis=1)  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows.tobytes())) + _PNG_END


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_PNG_END = _png_chunk(b"IEND", b"")


def stored_input_to_png(b: bytes) -> bytes:
    """A drawing's stored 784-byte model input -> PNG bytes (the admin's, the API's and the export's picture)."""
    return input_to_png(np.frombuffer(bytes(b), dtype=np.uint8))


def input_to_bytes(x: np.ndarray) -> bytes:
    """28x28 float [0, 1] or uint8 -> 784 bytes (uint8, row-major)."""
    return _to_uint8(x).tobytes()


def input_from_bytes(b: bytes) -> np.ndarray:
    """784 bytes -> (28, 28) float32 in [0, 1]."""
    if len(b) != SIZE * SIZE:
        raise ValueError(f"expected {SIZE * SIZE} bytes, got {len(b)}")
    return np.frombuffer(bytes(b), dtype=np.uint8).reshape(SIZE, SIZE).astype(np.float32) / 255.0

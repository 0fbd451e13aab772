"""Received bytes -> what the models see: the checks every door makes before anything is decoded or stored.

A door decodes its own transport (base64, a multipart file, a v2 BYTES element, a TF Serving ``b64``) and hands the
raw bytes here; FP32 tensors come in as arrays. Each gives a :class:`Prepared`, or raises ``ImageRejected`` with a
stable code: ``invalid_image``, ``unsupported_media_type``, ``image_too_large``, ``empty_drawing``.
"""

import io
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from recognizer.domain.errors import ImageRejected
from recognizer.ml import preprocess

SIDE = 28
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # the signature, then the IHDR chunk's length (13) and type


@dataclass(frozen=True)
class Prepared:
    """One drawing ready for the models: the image as received, its type, and the (28, 28) float32 input."""

    image: bytes
    image_type: str
    model_input: np.ndarray


def sniff(raw, index=None):
    """The image's content type from its first bytes; refuses what is not PNG, JPEG or WebP."""
    mime = preprocess.sniff_type(raw)
    if mime is None:
        raise ImageRejected("The data is not a PNG, JPEG or WebP image.", "invalid_image", index)
    if mime not in preprocess.IMAGE_TYPES:
        raise ImageRejected(
            f"Images of type {mime} are not supported; send a PNG, JPEG or WebP.", "unsupported_media_type", index
        )
    return mime


def pixels(raw):
    """Width × height from the header alone (0 when the header cannot be read: decoding then says why)."""
    if raw[:16] == PNG_HEAD and len(raw) >= 24:
        return int.from_bytes(raw[16:20], "big") * int.from_bytes(raw[20:24], "big")
    try:
        width, height = Image.open(io.BytesIO(raw)).size  # lazy: reads the header only
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return 0
    return width * height


def check_size(raw, index=None):
    """``MAX_UPLOAD_BYTES`` per image and ``MAX_IMAGE_PIXELS`` from the header, before anything is decoded.

    A 4096×4096 RGBA PNG of 84 KB cost 0.5-1 s of CPU and ~130 MB to decode; a canvas needs well under a megapixel.
    Returns the image's pixels."""
    if len(raw) > settings.MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"The image is {len(raw)} bytes; at most {settings.MAX_UPLOAD_BYTES} bytes are accepted per image.",
            "image_too_large",
            index,
        )
    n = pixels(raw)
    if n > settings.MAX_IMAGE_PIXELS:
        raise ImageRejected(
            f"The image has {n} pixels; at most {settings.MAX_IMAGE_PIXELS} pixels are accepted.",
            "image_too_large",
            index,
        )
    return n


def check_batch(raws):
    """Every image's size, then the request's pixels summed against ``MAX_BATCH_PIXELS``, from the headers alone: one
    request may not buy seconds of decoding (60 16-bit 2000×2000 PNGs cost 3 s of CPU). ``raws``: {index: bytes}."""
    total = sum(check_size(raw, i) for i, raw in raws.items())
    if total > settings.MAX_BATCH_PIXELS:
        raise ImageRejected(
            f"The images hold {total} pixels in all; a request may hold at most {settings.MAX_BATCH_PIXELS}.",
            "batch_too_large",
        )


def prepare(raw, mime=None, index=None):
    """Image bytes -> :class:`Prepared` (sniffed, size-checked from the header, decoded, preprocessed)."""
    raw = bytes(raw)
    if not raw:
        raise ImageRejected("The image is empty.", "invalid_image", index)
    mime = mime or sniff(raw, index)
    check_size(raw, index)
    try:
        x = preprocess.to_model_input(raw)
    except preprocess.ImageError as exc:
        code = getattr(exc, "code", "invalid_image")
        raise ImageRejected(str(exc) or code, code, index) from None
    return Prepared(raw, mime, x)


def prepare_array(value, index=None):
    """A 28×28 FP32 array in the MNIST convention (ink 1.0, background 0.0, centred) -> :class:`Prepared`.

    The models see it as it is stored, rounded to the 8-bit input every drawing keeps; its 28×28 PNG is the image.
    An all-background array is refused as a blank canvas is."""
    try:
        x = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        raise ImageRejected("expected 28×28 numbers", "invalid_tensor", index) from None
    if x.size != SIDE * SIDE:
        raise ImageRejected(f"expected 28×28 = 784 numbers, got shape {list(x.shape)}", "invalid_tensor", index)
    x = x.reshape(SIDE, SIDE)
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        raise ImageRejected("values must be finite, from 0.0 (background) to 1.0 (ink)", "invalid_tensor", index)
    stored = preprocess.input_to_bytes(x)
    if not any(stored):
        raise ImageRejected("nothing drawn: every value is background", "empty_drawing", index)
    return Prepared(preprocess.input_to_png(x), "image/png", preprocess.input_from_bytes(stored))

"""The HTTP doors' adapter over the domain's predict-and-store: items in, the domain's errors out as HTTP.

Each door (``views.PredictView``, ``batch_doors``, ``v2``, ``tfserving``) reads its own body, turns each image or
tensor into a prepared item here (:func:`image_item`, :func:`array_item`), and calls :func:`predict_and_store`.
A bad item refuses the whole request and names its index (:class:`BadItem`).
"""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework import exceptions, status

from recognizer.api.errors import first_error
from recognizer.api.exceptions import ApiError
from recognizer.api.image_field import ImageField
from recognizer.domain import errors, images, predicting
from recognizer.unavailable import RETRY_AFTER_S

# What the domain's image codes mean over HTTP.
IMAGE_STATUS = {
    "invalid_image": status.HTTP_400_BAD_REQUEST,
    "invalid_tensor": status.HTTP_400_BAD_REQUEST,
    "image_too_large": status.HTTP_400_BAD_REQUEST,
    "batch_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "empty_drawing": status.HTTP_422_UNPROCESSABLE_ENTITY,
}


class BadItem(exceptions.APIException):
    """Item ``index`` of a batch is wrong: the whole request is refused; ``where`` names the item for the caller."""

    def __init__(self, index, code, message, status_code=status.HTTP_400_BAD_REQUEST, where="images"):
        self.index, self.message, self.where = index, message, where
        self.status_code = status_code
        super().__init__(detail=f"{where}[{index}]: {message}", code=code)


class ServiceUnavailable(ApiError):
    wait = RETRY_AFTER_S  # the error handler turns it into Retry-After

    def __init__(self, code, detail):
        super().__init__(code, detail, status.HTTP_503_SERVICE_UNAVAILABLE)


def rejected(exc, where=None):
    """The domain's ``ImageRejected`` as the API's error (a batch item's names its index)."""
    status_code = IMAGE_STATUS.get(exc.code, status.HTTP_400_BAD_REQUEST)
    if where is not None and exc.index is not None:
        return BadItem(exc.index, exc.code, exc.message, status_code, where)
    return ApiError(exc.code, exc.message, status_code)


def predict_and_store(items, context):
    """``domain.predicting.predict_and_store`` with its errors as HTTP answers (409, 503)."""
    try:
        return predicting.predict_and_store(items, context)
    except errors.IdempotencyConflict as exc:
        raise ApiError(exc.code, exc.message, status.HTTP_409_CONFLICT) from None
    except errors.ModelsUnavailable as exc:
        raise ServiceUnavailable(exc.code, exc.message) from None
    except errors.DatabaseUnavailable:
        raise ServiceUnavailable(
            "service_unavailable", "The database is unreachable; try again in a few seconds."
        ) from None


def prepare_one(raw, mime):
    """A single predict's image (already decoded from its transport) -> the prepared item."""
    try:
        return images.prepare(raw, mime)
    except errors.ImageRejected as exc:
        raise rejected(exc) from None


_image_field = ImageField()


def decode_item(value, index, where="images"):
    """An image as text (data URL or base64), bytes or an uploaded file -> its raw bytes. Raises :class:`BadItem`."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, str | UploadedFile):
        raise BadItem(index, "invalid", "send the image as a data URL, base64 text or a file", where=where)
    try:
        raw, _ = _image_field.to_internal_value(value)
    except exceptions.ValidationError as exc:
        code, message = first_error(exc.detail)
        raise BadItem(index, code, message, exc.status_code, where) from None
    except exceptions.APIException as exc:  # ApiError: 415
        raise BadItem(index, exc.get_codes(), str(exc.detail), exc.status_code, where) from None
    return raw


def prepare_items(values, where):
    """``[("image", text, bytes or file) or ("array", 28×28 numbers)]`` -> prepared items, in order. The images are
    decoded from their transport and size-checked together (each, and their pixels summed) before any is decoded."""
    raws = {i: decode_item(v, i, where) for i, (kind, v) in enumerate(values) if kind == "image"}
    try:
        images.check_batch(raws)
        return [
            images.prepare(raws[i], index=i) if kind == "image" else images.prepare_array(v, i)
            for i, (kind, v) in enumerate(values)
        ]
    except errors.ImageRejected as exc:
        raise rejected(exc, where) from None


def image_items(values, where="images"):
    return prepare_items([("image", v) for v in values], where)


def array_items(values, where="inputs"):
    return prepare_items([("array", v) for v in values], where)


def check_count(n, where="images"):
    if n == 0:
        raise ApiError("empty_batch", f"{where}: send at least one image.")
    if n > settings.MAX_BATCH_IMAGES:
        raise ApiError(
            "batch_too_large",
            f"{where}: {n} images, more than the {settings.MAX_BATCH_IMAGES} a request may hold.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

"""What every batch door shares (``/api/predict/batch/``, Open Inference Protocol v2, TF Serving REST).

Decoding and validation of each item -- an image through exactly the checks ``/api/predict/`` makes (ImageField,
then ``PredictSerializer.validate_image``), or an already-preprocessed 28×28 array -- then one model call per model
on the whole batch (``inference.predict_batch``) and one transaction storing every drawing with both answers
(``Drawing.objects.record_many``). A bad item refuses the whole request and names its index (:class:`BadItem`).
"""

from __future__ import annotations

import hashlib

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from recognizer import limits
from recognizer.api.errors import first_error
from recognizer.api.serializers import ApiError, ImageField, PredictSerializer
from recognizer.api.throttling import PredictThrottle
from recognizer.ml import preprocess
from recognizer.models import Drawing

SIDE = 28


class BadItem(exceptions.APIException):
    """Item ``index`` of a batch is wrong: the whole request is refused; ``where`` names the item for the caller."""

    def __init__(self, index, code, message, status_code=status.HTTP_400_BAD_REQUEST, where="images"):
        self.index, self.message, self.where = index, message, where
        self.status_code = status_code
        super().__init__(detail=f"{where}[{index}]: {message}", code=code)


def max_images():
    return settings.MAX_BATCH_IMAGES


def check_count(n, where="images"):
    if n == 0:
        raise ApiError("empty_batch", f"{where}: send at least one image.")
    if n > max_images():
        raise ApiError(
            "batch_too_large",
            f"{where}: {n} images, more than the {max_images()} a request may hold.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


_image_field = ImageField()
_validator = PredictSerializer()


def image_item(value, index, where="images"):
    """An image as text (data URL or base64), bytes or an uploaded file -> the prepared item, validated as
    ``/api/predict/`` validates its one image. Raises :class:`BadItem`."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = SimpleUploadedFile(f"{where}-{index}", bytes(value))
    if not isinstance(value, str | UploadedFile):
        raise BadItem(index, "invalid", "send the image as a data URL, base64 text or a file", where=where)
    try:
        raw, mime = _image_field.to_internal_value(value)
        prepared = _validator.validate_image((raw, mime))
    except exceptions.ValidationError as exc:
        code, message = first_error(exc.detail)
        raise BadItem(index, code, message, exc.status_code, where) from None
    except exceptions.APIException as exc:  # ApiError: 415, 422...
        raise BadItem(index, exc.get_codes(), str(exc.detail), exc.status_code, where) from None
    return {"image": prepared["data"], "image_type": prepared["content_type"], "model_input": prepared["model_input"]}


def array_item(value, index, where="inputs"):
    """A 28×28 FP32 array in the MNIST convention (ink 1.0, background 0.0, centred) -> the prepared item.

    The models see it as it is stored: rounded to the 8-bit input every drawing keeps, and its 28×28 PNG is the image.
    """
    try:
        x = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadItem(index, "invalid_tensor", "expected 28×28 numbers", where=where) from None
    if x.size != SIDE * SIDE:
        raise BadItem(index, "invalid_tensor", f"expected 28×28 = 784 numbers, got shape {list(x.shape)}", where=where)
    x = x.reshape(SIDE, SIDE)
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        raise BadItem(index, "invalid_tensor", "values must be finite, from 0.0 (background) to 1.0 (ink)", where=where)
    stored = preprocess.input_to_bytes(x)
    return {
        "image": preprocess.input_to_png(x),
        "image_type": "image/png",
        "model_input": preprocess.input_from_bytes(stored),
    }


def batch_keys(idempotency_key, n):
    """One key per drawing of a batch, derived from the batch's Idempotency-Key; '#' never occurs in a single
    predict's key, so the two can never collide."""
    if not idempotency_key:
        return [None] * n
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return [f"batch#{digest}#{i}" for i in range(n)]


def predict_and_store(items, *, source, drawer_key="", idempotency_key=None, sent_drawer=None):
    """Both models on the whole batch, then every drawing and both answers in one transaction.

    Returns ``(drawings, replayed)``. With an ``idempotency_key`` a repeat of an earlier batch answers the drawings
    stored the first time (``replayed`` True); the same key with different images, or from another drawer
    (``sent_drawer``, the cookie the client sent), is a 409.
    """
    from recognizer import inference  # TensorFlow loads on first prediction, not when Django starts

    keys = batch_keys(idempotency_key, len(items))
    try:
        answers = inference.predict_batch(np.stack([item["model_input"] for item in items]))
    except inference.ModelsUnavailable as exc:
        raise ApiError("models_unavailable", str(exc), status.HTTP_503_SERVICE_UNAVAILABLE) from exc
    rows = [
        {**item, "model_input": preprocess.input_to_bytes(item["model_input"]), "answers": a, "idempotency_key": k}
        for item, a, k in zip(items, answers, keys, strict=True)
    ]
    try:
        drawings = Drawing.objects.record_many(
            rows, source=source, drawer_key=drawer_key, preprocess_version=preprocess.PREPROCESS_VERSION
        )
    except IntegrityError:
        drawings = replay(keys, items, sent_drawer) if idempotency_key else None
        if drawings is None:  # some other constraint failed
            raise
        return drawings, True
    for drawing in drawings:
        drawing.replayed = False
    return drawings, False


def replay(keys, items, drawer_key):
    """The drawings an earlier batch with these keys stored (None: there are none), or a 409."""
    stored = {d.idempotency_key: d for d in Drawing.objects.with_predictions().filter(idempotency_key__in=keys)}
    same = len(stored) == len(keys) and all(
        bytes(stored[k].image) == item["image"] for k, item in zip(keys, items, strict=True)
    )
    if not same or (drawer_key and any(d.drawer_key != drawer_key for d in stored.values())):
        if not stored:
            return None
        raise ApiError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different batch; send a new key for a new batch.",
            status.HTTP_409_CONFLICT,
        )
    drawings = [stored[k] for k in keys]
    for drawing in drawings:
        drawing.replayed = True
    return drawings


class BatchJSONParser(JSONParser):
    """JSON up to ``MAX_BATCH_BYTES``, nesting bounded as everywhere in the API (``limits.loads``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(settings.MAX_BATCH_BYTES + 1) if stream is not None else b""
        if len(data) > settings.MAX_BATCH_BYTES:
            raise too_large()
        try:
            return limits.loads(data)
        except limits.BadInput as exc:
            raise exceptions.ParseError(exc.detail) from None


def too_large():
    return ApiError(
        "payload_too_large",
        f"The request body is over the {settings.MAX_BATCH_BYTES}-byte limit.",
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


class BatchView(APIView):
    """Base of the batch doors: anyone may call, the body may be up to ``MAX_BATCH_BYTES``, and the rate limit counts
    images: every request is charged one up front, before its body is read or parsed (so malformed and oversized
    bodies count too), and the rest of its images once their number is known (:meth:`throttle_images`)."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PredictThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [BatchJSONParser, MultiPartParser, FormParser]
    throttle_cost = 1
    error_shape = "api"  # "api": {"error": code, "detail": ...}; "message": {"error": "<message>"} (v2, TF Serving)

    def initial(self, request, *args, **kwargs):
        self.throttle_cost = 1
        super().initial(request, *args, **kwargs)  # authentication, permissions, then the throttles: one charged
        if content_length(request) > settings.MAX_BATCH_BYTES:
            raise too_large()

    def throttle_images(self, request, n):
        """Charge the images beyond the one :meth:`initial` charged (a 429 once the limit is passed)."""
        if n > 1:
            self.throttle_cost = n - 1
            self.check_throttles(request)

    def read_body(self, request):
        """The raw body (the batch limit, not Django's DATA_UPLOAD_MAX_MEMORY_SIZE, applies)."""
        stream = request.stream
        data = stream.read(settings.MAX_BATCH_BYTES + 1) if stream is not None else b""
        if len(data) > settings.MAX_BATCH_BYTES:
            raise too_large()
        return data

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if self.error_shape == "message" and isinstance(getattr(response, "data", None), dict):
            response.data = {"error": response.data.get("detail") or response.data.get("error") or "error"}
        return response


def content_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def error_message_responses(*codes):
    """OpenAPI responses in the protocols' own error shape, ``{"error": "<message>"}``."""
    return {code: OpenApiResponse(ProtocolErrorSerializer, description=WHY[code]) for code in codes}


WHY = {
    400: "Bad request: malformed body, or an item that is not a valid image or tensor (its index is named).",
    403: "Not allowed.",
    404: "No such model.",
    413: "Too many images or too large a body.",
    415: "Unsupported image type or content encoding.",
    422: "Nothing drawn.",
    429: "Rate limit exceeded (each image counts).",
    503: "Not ready: the models or the database are unavailable.",
}


class ProtocolErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong.")

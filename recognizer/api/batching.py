"""What the batch doors share (``/api/predict/batch/`` in ``predict_batch``, Open Inference Protocol v2, TF Serving
REST): the base view with its body limit, JSON parser and per-image rate limit, and the protocols' error shape.

Each door decodes its items through ``api.predicting`` and stores them with one call of the domain's
predict-and-store.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from recognizer import limits
from recognizer.api.exceptions import ApiError
from recognizer.api.headers import content_length
from recognizer.api.throttling import PredictThrottle


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
        """Charge the images beyond the one :meth:`initial` charged (a 429 once the limit is passed).

        A batch larger than the client's whole allowance could never pass, however long it waited: it is refused
        with a 413 that names the limit, and what :meth:`initial` charged is given back, so it consumes nothing."""
        for throttle in self.get_throttles():
            allowance = throttle.allowance(request) if hasattr(throttle, "allowance") else None
            if allowance is not None and n > allowance[0]:
                throttle.refund(request, 1)
                raise ApiError(
                    "batch_over_rate_limit",
                    f"{n} images in one request, more than the {allowance[0]} images per {allowance[1]} s this client "
                    f"may send; send at most {allowance[0]} per request.",
                    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                )
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

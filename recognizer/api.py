"""The REST API: thin views over the serializers, the models and the export.

Every error is JSON ``{"error": "<code>", "detail": "<message>"}`` (plus ``fields`` for a
field-level validation error), whatever raised it.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView, set_rollback

from . import export
from .drawer import drawer_key, remember_drawer
from .models import Drawing
from .serializers import (
    DrawingFilterSerializer,
    DrawingListSerializer,
    DrawingSerializer,
    ErrorSerializer,
    ExportFilterSerializer,
    FeedbackSerializer,
    LabelSerializer,
    PredictSerializer,
    idempotency_key,
)

logger = logging.getLogger(__name__)


# --- errors -------------------------------------------------------------------------------------


def first_error(detail, path=""):
    """(code, "field: message") of the first error in a DRF error structure."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            prefix = path if key == api_settings.NON_FIELD_ERRORS_KEY else f"{path}{key}"
            return first_error(value, prefix + ": " if prefix and not prefix.endswith(": ") else prefix)
    if isinstance(detail, list):
        if detail:
            return first_error(detail[0], path)
        return "invalid", path + "invalid"
    return getattr(detail, "code", None) or "invalid", f"{path}{detail}"


def json_error(code, detail, status_code, **extra):
    return Response({"error": code, "detail": str(detail), **extra}, status=status_code)


def api_exception_handler(exc, context):
    """DRF's exceptions (and Django's 404/403/too-big) as ``{"error", "detail"}`` JSON."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return json_error(
            "payload_too_large", "The request body is too large.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    elif isinstance(exc, TooManyFieldsSent | SuspiciousOperation):
        return json_error("bad_request", str(exc) or "Malformed request.", status.HTTP_400_BAD_REQUEST)
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500
    set_rollback()  # as DRF's own handler: an error inside ATOMIC_REQUESTS writes nothing
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, exceptions.ValidationError):
        code, message = first_error(exc.detail)
        body = {"error": code, "detail": message}
        if isinstance(exc.detail, dict):
            body["fields"] = exc.detail
        return Response(body, status=exc.status_code, headers=headers)
    code = exc.get_codes() if not isinstance(exc.detail, list | dict) else "error"
    return Response({"error": code, "detail": str(exc.detail)}, status=exc.status_code, headers=headers)


class LenientNegotiation(DefaultContentNegotiation):
    """Never 404/406 on ``?format=`` or an odd Accept header: fall back to the first renderer.

    ``format`` is an export parameter here, not DRF's renderer override.
    """

    settings = api_settings

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (Http404, exceptions.NotAcceptable):
            return renderers[0], renderers[0].media_type

    def filter_renderers(self, renderers, format):
        return renderers


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    @property
    def page_size(self):
        return api_settings.PAGE_SIZE  # read per request, so settings changes apply

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        # A wrong page size is an error, not silently the default.
        if not value.isdigit() or not 1 <= int(value) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]}, code="invalid"
            )
        return int(value)


class JsonErrorsMixin:
    content_negotiation_class = LenientNegotiation
    pagination_class = Pagination

    def get_exception_handler(self):
        return api_exception_handler

    def get_authenticate_header(self, request):
        # Unauthenticated is 401 with a challenge (Token: no browser password pop-up), not a bare 403.
        for authenticator in self.get_authenticators():
            header = authenticator.authenticate_header(request)
            if header and not header.startswith("Basic"):
                return header
        return None


def errors(*codes):
    why = {
        400: "Bad input.",
        401: "Not authenticated.",
        403: "Not allowed.",
        404: "No such drawing.",
        409: "Conflict: already labeled by staff, or an Idempotency-Key reused for a different drawing.",
        413: "Body too large.",
        415: "Unsupported image or body type.",
        422: "Nothing drawn.",
        429: "Rate limit exceeded.",
        503: "The models are not available.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=why[code]) for code in codes}


# --- throttling ---------------------------------------------------------------------------------


class RateThrottle(BaseThrottle):
    """Fixed-window counter in the cache, one atomic ``incr`` per request.

    DRF's own throttles read-modify-write a list, which loses counts when several gunicorn
    workers share Redis; ``incr`` is atomic in Redis (and in the local-memory cache).
    Staff are never throttled. Anonymous clients are counted by IP address (X-Forwarded-For
    only when ``NUM_PROXIES`` says how many proxies to trust), signed-in users by id.
    """

    anon_scope = None
    user_scope = None

    def allow_request(self, request, view):
        user = request.user
        if user and user.is_staff:
            return True
        if user and user.is_authenticated:
            scope, ident = self.user_scope, f"user{user.pk}"
        else:
            scope, ident = self.anon_scope, self.client_ip(request)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = self.parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{ident}:{window}"
        self.wait_seconds = (window + 1) * period - now
        try:
            try:
                count = cache.incr(key)  # one round trip once the window's counter exists
            except ValueError:  # first request of the window (or the counter just expired)
                count = 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)
        except Exception:  # the cache is down: serve rather than fail every request
            logger.exception("throttle cache unavailable; not throttling")
            return True
        return count <= limit

    def wait(self):
        return getattr(self, "wait_seconds", None)

    @staticmethod
    def parse_rate(rate):
        number, _, unit = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit.strip()[:1].lower()]
        return int(number), seconds

    def client_ip(self, request):
        if api_settings.NUM_PROXIES:
            return self.get_ident(request)
        return request.META.get("REMOTE_ADDR", "")


class PredictThrottle(RateThrottle):
    anon_scope, user_scope = "predict_anon", "predict_user"


class FeedbackThrottle(RateThrottle):
    anon_scope, user_scope = "feedback", "feedback"


# --- permissions ------------------------------------------------------------------------------------


class IsStaffOrDrew(permissions.BasePermission):
    """Staff, or the browser that made the drawing (its drawer cookie)."""

    message = "Only staff or the person who made this drawing may see it."

    def has_object_permission(self, request, view, obj):
        if request.user and request.user.is_staff:
            return True
        key = drawer_key(request)
        return bool(key) and obj.session_key == key


class DrewIt(IsStaffOrDrew):
    message = "Only the person who made this drawing (same browser) can give feedback."

    def has_object_permission(self, request, view, obj):
        key = drawer_key(request)
        return bool(key) and obj.session_key == key


# --- views --------------------------------------------------------------------------------------


class PredictView(JsonErrorsMixin, APIView):
    """Run both models on a drawing and store it."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PredictThrottle]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        # Refuse an oversized body from its header, before anything reads it.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_UPLOAD_BYTES:
            raise PayloadTooLarge()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="predict",
        request={"application/json": PredictSerializer, "multipart/form-data": PredictSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="A random key (e.g. a UUID) per drawing, 1-64 characters of A-Z a-z 0-9 . _ : -. "
                "Sending the same drawing again with the same key (a retry after a lost answer) answers the drawing "
                "stored the first time, with the header Idempotent-Replayed: true, instead of storing it twice.",
            )
        ],
        responses={201: DrawingSerializer, **errors(400, 409, 413, 415, 422, 429, 503)},
        auth=[{}],
    )
    def post(self, request):
        key = idempotency_key(request)  # a bad header is refused before any work
        serializer = PredictSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        drawer = drawer_key(request)
        drawing = serializer.save(drawer_key=drawer, idempotency_key=key)  # predictions come back with it
        response = Response(
            DrawingSerializer(drawing, context={"request": request}).data, status=status.HTTP_201_CREATED
        )
        if drawing.replayed:
            response["Idempotent-Replayed"] = "true"
        return response if drawer else remember_drawer(response, drawing.session_key)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self):
        limit = settings.MAX_UPLOAD_BYTES
        super().__init__(f"The request body is over the {limit}-byte limit.", self.default_code)


@extend_schema_view(
    list=extend_schema(
        parameters=[DrawingFilterSerializer], responses={200: DrawingListSerializer, **errors(400, 401, 403, 404)}
    ),
    retrieve=extend_schema(responses={200: DrawingSerializer, **errors(401, 403, 404)}, auth=[{}]),
    partial_update=extend_schema(
        request=LabelSerializer, responses={200: DrawingSerializer, **errors(400, 401, 403, 404)}
    ),
)
class DrawingViewSet(JsonErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stored drawings: staff list and label them; the person who drew one may see it and say what it was."""

    queryset = Drawing.objects.with_predictions().select_related("labeled_by")
    lookup_value_regex = r"-?[0-9]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.action == "mine":
            return [permissions.AllowAny()]
        if self.action in ("retrieve", "image", "input"):
            return [IsStaffOrDrew()]
        if self.action == "feedback":
            return [DrewIt()]
        return [permissions.IsAdminUser()]

    def get_throttles(self):
        return [FeedbackThrottle()] if self.action == "feedback" else []

    def get_object(self):
        # Ids outside the column's range are simply not there (and must not reach the database).
        if not 0 < int(self.kwargs["pk"]) < 2**63:
            raise exceptions.NotFound()
        return super().get_object()

    def get_serializer_class(self):
        return DrawingListSerializer if self.action == "list" else DrawingSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list":
            # The list shows neither picture; don't fetch the blobs.
            filters = DrawingFilterSerializer(data=self.request.query_params.dict())
            filters.is_valid(raise_exception=True)
            qs = filters.filter(qs.defer("image", "model_input"))
        elif self.action in ("feedback", "partial_update"):
            qs = qs.defer("image")
        return qs

    @extend_schema(responses={200: DrawingListSerializer(many=True), **errors(400, 404)}, auth=[{}])
    @action(detail=False)
    def mine(self, request):
        """This browser's drawings, newest first (the drawing page's "recent drawings")."""
        qs = self.get_queryset().of_session(drawer_key(request)).defer("image", "model_input")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DrawingListSerializer(page, many=True, context={"request": request}).data)

    def partial_update(self, request, *args, **kwargs):
        drawing = self.get_object()
        serializer = LabelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        drawing.set_label(serializer.validated_data["label"], by=request.user, source=Drawing.LabelSource.STAFF)
        return Response(self.get_serializer(drawing).data)

    @extend_schema(
        request=FeedbackSerializer,
        responses={200: DrawingSerializer, **errors(400, 401, 403, 404, 409, 429)},
        auth=[{}],
    )
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        """The person who drew it says what it really was (never overrides a staff label)."""
        drawing = self.get_object()
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not drawing.add_user_feedback(serializer.validated_data["label"]):
            return json_error("already_labeled", "Staff have already labeled this drawing.", status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(drawing).data)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(401, 403, 404)},
        auth=[{}],
        operation_id="drawing_image",
    )
    @action(detail=True, url_path="image.png")
    def image(self, request, pk=None):
        """The drawing exactly as received (PNG, or the JPEG/WebP it was sent as)."""
        drawing = self.get_object()
        return image_response(bytes(drawing.image), drawing.image_type)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(401, 403, 404)},
        auth=[{}],
        operation_id="drawing_input",
    )
    @action(detail=True, url_path="input.png")
    def input(self, request, pk=None):
        """The 28×28 input the models saw, white ink on black."""
        from . import preprocess

        drawing = self.get_object()
        return image_response(preprocess.input_to_png(preprocess.input_from_bytes(bytes(drawing.model_input))))

    @extend_schema(
        parameters=[ExportFilterSerializer],
        responses={
            **{
                (200, media): OpenApiResponse(
                    OpenApiTypes.BINARY, description="csv: text/csv; idx and png: a zip; npz: a NumPy archive."
                )
                for media in ("text/csv", "application/zip", "application/octet-stream")
            },
            **errors(400, 401, 403),
        },
        operation_id="drawings_export",
    )
    @action(detail=False, url_path="export")
    def export(self, request):
        """Labeled drawings as training data, streamed (staff labels unless told otherwise)."""
        params = ExportFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        options = dict(params.validated_data)
        fmt = options.pop("format")
        selection = export.select(**options)
        stream = export.stream(fmt, selection)
        filename = f"drawings-{timezone.now():%Y%m%d-%H%M%S}.{export.EXTENSIONS[fmt]}"
        response = StreamingHttpResponse(stream, content_type=export.CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Drawing-Count"] = str(len(selection))
        return response


def image_response(data, content_type="image/png"):
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@csrf_exempt  # nothing is written; a POST to a wrong path should still get the JSON 404
def not_found(request, *args, **kwargs):
    """Any other path under /api/: a JSON 404, like the rest of the API."""
    return JsonResponse({"error": "not_found", "detail": f"No API endpoint at {request.path}."}, status=404)

"""The REST API's views: thin, over the serializers, the models and the export."""

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from recognizer import limits
from recognizer.api import predicting
from recognizer.api.errors import error_responses, json_error
from recognizer.api.exceptions import PayloadTooLarge
from recognizer.api.headers import content_length, idempotency_key
from recognizer.api.parsers import BoundedJSONParser
from recognizer.api.permissions import DrewIt, IsStaffOrDrew
from recognizer.api.serializers import (
    AccuracyQuerySerializer,
    DrawingFilterSerializer,
    DrawingListSerializer,
    DrawingSerializer,
    ExportFilterSerializer,
    FeedbackSerializer,
    LabelSerializer,
    PredictSerializer,
)
from recognizer.api.throttling import FeedbackThrottle, PredictThrottle
from recognizer.domain.predicting import Context
from recognizer.drawer import drawer_key, new_drawer_key, remember_drawer
from recognizer.image_responses import image_response
from recognizer.ml import preprocess
from recognizer.models import Drawing
from recognizer.staff import accuracy, export


class ApiView:
    """What every API view shares beyond ``REST_FRAMEWORK``: the 401 challenge."""

    def get_authenticate_header(self, request):
        # Unauthenticated is 401 with a challenge (Token: no browser password pop-up), not a bare 403.
        for authenticator in self.get_authenticators():
            header = authenticator.authenticate_header(request)
            if header and not header.startswith("Basic"):
                return header
        return None


class PredictView(ApiView, APIView):
    """Run the models on one drawing and store it: the drawing page's door and the API's."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PredictThrottle]
    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]

    def initial(self, request, *args, **kwargs):
        # Refuse an oversized body from its header, before anything reads it.
        if content_length(request) > settings.MAX_UPLOAD_BYTES:
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
        responses={201: DrawingSerializer, **error_responses(400, 409, 413, 415, 422, 429, 503)},
        auth=[{}],
    )
    def post(self, request):
        key = idempotency_key(request)  # a bad header is refused before any work
        serializer = PredictSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw, mime = serializer.validated_data["image"]
        item = predicting.prepare_one(raw, mime)
        sent = drawer_key(request)
        context = Context(
            source=serializer.validated_data["source"],
            drawer_key=sent or new_drawer_key(),
            sent_drawer=sent,
            idempotency_key=key,
        )
        result = predicting.predict_and_store([item], context)
        return predicted_response(
            request, result, DrawingSerializer(result.drawings[0], context={"request": request}).data
        )


def predicted_response(request, result, data):
    """201 with the drawings; a replay says so and never hands out a drawer cookie its client didn't send (the
    Idempotency-Key and the image bytes must not work as a credential for someone else's drawings)."""
    response = Response(data, status=status.HTTP_201_CREATED)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    if result.replayed or drawer_key(request):
        return response
    return remember_drawer(response, result.drawings[0].drawer_key)


@extend_schema_view(
    list=extend_schema(
        parameters=[DrawingFilterSerializer],
        responses={200: DrawingListSerializer, **error_responses(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(responses={200: DrawingSerializer, **error_responses(401, 403, 404)}, auth=[{}]),
    destroy=extend_schema(
        description="Delete a drawing and its predictions: the person who drew it (drawer cookie) or staff.",
        responses={204: None, **error_responses(401, 403, 404)},
        auth=[{}],
    ),
    partial_update=extend_schema(
        request=LabelSerializer, responses={200: DrawingSerializer, **error_responses(400, 401, 403, 404)}
    ),
)
class DrawingViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Stored drawings: staff list and label them; the person who drew one may see it and say what it was."""

    queryset = Drawing.objects.with_predictions().select_related("labeled_by")
    lookup_value_regex = r"-?[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_permissions(self):
        if self.action == "mine":
            return [permissions.AllowAny()]
        if self.action in ("retrieve", "image", "input", "destroy"):
            return [IsStaffOrDrew()]
        if self.action == "feedback":
            return [DrewIt()]
        return [permissions.IsAdminUser()]

    def get_throttles(self):
        return [FeedbackThrottle()] if self.action == "feedback" else []

    def get_object(self):
        # Ids outside the column's range are simply not there (and must not reach the database).
        try:
            limits.parse_int(self.kwargs["pk"], 1, limits.MAX_ID)
        except ValueError:
            raise exceptions.NotFound() from None
        return super().get_object()

    def get_serializer_class(self):
        return DrawingListSerializer if self.action == "list" else DrawingSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list":
            filters = DrawingFilterSerializer(data=self.request.query_params.dict())
            filters.is_valid(raise_exception=True)
            qs = filters.filter(qs)
        elif self.action in ("retrieve", "partial_update", "feedback", "image", "input"):
            qs = qs.select_related("picture")  # the bytes (DrawingImage), in the same query, for those that show them
        return qs

    @extend_schema(responses={200: DrawingListSerializer(many=True), **error_responses(400, 404)}, auth=[{}])
    @action(detail=False)
    def mine(self, request):
        """This browser's drawings, newest first (the drawing page's "recent drawings")."""
        qs = self.get_queryset().of_drawer(drawer_key(request))
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
        responses={200: DrawingSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
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
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(401, 403, 404)},
        auth=[{}],
        operation_id="drawing_image",
    )
    @action(detail=True, url_path="image.png")
    def image(self, request, pk=None):
        """The drawing exactly as received (PNG, or the JPEG/WebP it was sent as)."""
        drawing = self.get_object()
        return image_response(bytes(drawing.image), drawing.image_type)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(401, 403, 404)},
        auth=[{}],
        operation_id="drawing_input",
    )
    @action(detail=True, url_path="input.png")
    def input(self, request, pk=None):
        """The 28×28 input the models saw, white ink on black."""
        drawing = self.get_object()
        return image_response(preprocess.stored_input_to_png(drawing.model_input))

    @extend_schema(
        parameters=[ExportFilterSerializer],
        responses={
            **{
                (200, media): OpenApiResponse(
                    OpenApiTypes.BINARY, description="csv: text/csv; idx and png: a zip; npz: a NumPy archive."
                )
                for media in ("text/csv", "application/zip", "application/octet-stream")
            },
            **error_responses(400, 401, 403),
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


class AccuracyView(ApiView, APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        parameters=[AccuracyQuerySerializer],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Per model accuracy with n and 95% Wilson interval, per-class precision and recall, "
                "confusion matrices, agreement, accuracy when the models agree and disagree, at least one right, "
                "coverage, confidence histogram and calibration, by week and by model version "
                "(recognizer.accuracy.compute).",
            ),
            **error_responses(400, 401, 403),
        },
        operation_id="accuracy",
    )
    def get(self, request):
        """Production accuracy of both models over labeled drawings."""
        params = AccuracyQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return Response(accuracy.compute(**params.validated_data))

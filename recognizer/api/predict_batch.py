"""``POST /api/predict/batch/``: many drawings in one request, each answered as ``/api/predict/`` answers one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from recognizer.api import batching, predicting
from recognizer.api.errors import error_responses
from recognizer.api.exceptions import ApiError
from recognizer.api.headers import idempotency_key
from recognizer.api.image_field import ImageField
from recognizer.api.serializers import CLIENT_SOURCES, DrawingSerializer
from recognizer.api.views import ApiView, predicted_response
from recognizer.domain.predicting import Context
from recognizer.drawer import drawer_key, new_drawer_key
from recognizer.models import Drawing

CLIENT_SOURCE_VALUES = [value for value, _ in CLIENT_SOURCES]


class BatchRequestSerializer(serializers.Serializer):
    """For the schema; the view reads the images itself so that a bad one is named by its index."""

    images = serializers.ListField(
        child=ImageField(), help_text="Data URLs or base64 of PNG, JPEG or WebP images; in multipart, files."
    )
    source = serializers.ChoiceField(choices=CLIENT_SOURCES, default=Drawing.Source.API, required=False)


class BatchResponseSerializer(serializers.Serializer):
    results = DrawingSerializer(many=True, help_text="One drawing per image, in order, as /api/predict/ answers.")


class BatchPredictView(ApiView, batching.BatchView):
    @extend_schema(
        operation_id="predict_batch",
        request={"application/json": BatchRequestSerializer, "multipart/form-data": BatchRequestSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="One key for the whole batch (1-64 characters of A-Z a-z 0-9 . _ : -): sending the same "
                "images again with it answers the drawings stored the first time (Idempotent-Replayed: true).",
            )
        ],
        responses={201: BatchResponseSerializer, **error_responses(400, 409, 413, 415, 422, 429, 503)},
        auth=[{}],
    )
    def post(self, request):
        """Predict a batch (up to MAX_BATCH_IMAGES, 64 by default) and store every drawing in one transaction.

        A bad image refuses the whole batch and the error names it (``images[3]: ...``). The rate limit counts
        images, not requests.
        """
        key = idempotency_key(request)
        images, source = self.images(request)
        predicting.check_count(len(images))
        self.throttle_images(request, len(images))
        items = predicting.image_items(images)
        sent = drawer_key(request)
        context = Context(source=source, drawer_key=sent or new_drawer_key(), sent_drawer=sent, idempotency_key=key)
        result = predicting.predict_and_store(items, context)
        data = {"results": [DrawingSerializer(d, context={"request": request}).data for d in result.drawings]}
        return predicted_response(request, result, data)

    def images(self, request):
        """(the images, the source) from JSON or multipart."""
        data = request.data
        if hasattr(data, "getlist"):  # multipart or form
            images = request.FILES.getlist("images") or data.getlist("images")
            source = data.get("source", Drawing.Source.API)
        elif isinstance(data, dict):
            images, source = data.get("images"), data.get("source", Drawing.Source.API)
        else:
            images, source = None, None
        if not isinstance(images, list):
            raise ApiError("invalid", "images: send a list of images.")
        if source not in CLIENT_SOURCE_VALUES:  # the message names the choices, never the value sent
            raise ApiError("invalid_choice", f"source: must be one of: {', '.join(CLIENT_SOURCE_VALUES)}.")
        return images, source

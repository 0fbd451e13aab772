"""``POST /api/predict/batch/``: many drawings in one request, each answered as ``/api/predict/`` answers one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from recognizer.api import batching
from recognizer.api.errors import error_responses
from recognizer.api.serializers import ApiError, DrawingSerializer, ImageField, idempotency_key
from recognizer.api.views import ApiView
from recognizer.drawer import drawer_key, new_drawer_key, remember_drawer
from recognizer.models import Drawing


class BatchRequestSerializer(serializers.Serializer):
    """For the schema; the view reads the images itself so that a bad one is named by its index."""

    images = serializers.ListField(
        child=ImageField(), help_text="Data URLs or base64 of PNG, JPEG or WebP images; in multipart, files."
    )
    source = serializers.ChoiceField(choices=Drawing.Source.choices, default=Drawing.Source.API, required=False)


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
        batching.check_count(len(images))
        if source not in Drawing.Source.values:
            raise ApiError("invalid_choice", f'source: "{source}" is not a valid choice.')
        self.throttle_images(request, len(images))
        items = [batching.image_item(value, i) for i, value in enumerate(images)]
        drawer = drawer_key(request)
        drawings, replayed = batching.predict_and_store(
            items, source=source, drawer_key=drawer or new_drawer_key(), idempotency_key=key, sent_drawer=drawer
        )
        context = {"request": request}
        response = Response(
            {"results": [DrawingSerializer(d, context=context).data for d in drawings]},
            status=status.HTTP_201_CREATED,
        )
        if replayed:
            response["Idempotent-Replayed"] = "true"
        if drawer or replayed:
            return response  # as /api/predict/: a replay never hands out a cookie its client didn't send
        return remember_drawer(response, drawings[0].drawer_key)

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
        return images, source

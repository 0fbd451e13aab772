"""``GET /api/accuracy/``: the dashboard's numbers as JSON, for staff."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import accuracy
from .api import JsonErrorsMixin, errors


class AccuracyQuerySerializer(serializers.Serializer):
    include_user_labels = serializers.BooleanField(
        required=False, default=False, help_text="Also count labels people gave their own drawings."
    )


class AccuracyView(JsonErrorsMixin, APIView):
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
            **errors(400, 401, 403),
        },
        operation_id="accuracy",
    )
    def get(self, request):
        """Production accuracy of both models over labeled drawings."""
        params = AccuracyQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return Response(accuracy.compute(include_user_labels=params.validated_data["include_user_labels"]))

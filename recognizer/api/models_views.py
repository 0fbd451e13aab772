"""The model lifecycle over the API (staff token): versions, training jobs, shadow / promote / retire / rollback.

- ``GET /api/models/``: every version with its status, metrics (Wilson intervals, per class) and how it was trained;
- ``POST /api/models/train/`` ``{"models", "epochs", "limit", "include_labeled", ...}``: 202 and the queued job; 409
  while another job is queued or running (one training at a time);
- ``GET /api/models/train/{id}/``: the job's status, progress, versions made, error; ``DELETE`` cancels it;
- ``POST /api/models/{name}/versions/{version}/shadow|promote|retire`` and ``POST /api/models/{name}/rollback``
  ``{"reason", "force"}``: staff with the ``lifecycle.promote_model`` permission (else 403). A promotion worse than the
  live version beyond the noise on any set is a 409 naming the set unless ``"force": true`` with a reason.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from recognizer.api.errors import error_responses, json_error
from recognizer.api.parsers import BoundedJSONParser
from recognizer.api.views import ApiView
from recognizer.fields import StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField
from recognizer.lifecycle import actions, jobs
from recognizer.lifecycle.models import ModelVersion, TrainingJob
from recognizer.ml import registry


class CanChangeModels(permissions.BasePermission):
    message = "Changing model versions needs the 'lifecycle.promote_model' permission."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_staff and user.has_perm("lifecycle.promote_model"))


def describe_version(v: ModelVersion) -> dict:
    return {
        "name": v.name,
        "version": str(v.version),
        "status": v.status,
        "metrics": v.metrics,
        "created": v.created,
        "training": v.training,
        "files": v.files,
    }


class ModelVersionsView(ApiView, APIView):
    @extend_schema(
        operation_id="model_versions",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"versions": [...]}'),
            **error_responses(401, 403),
        },
        tags=["models"],
    )
    def get(self, request):
        """Every model version: status, metrics, when and how it was trained."""
        return Response({"versions": [describe_version(v) for v in ModelVersion.objects.order_by("name", "-version")]})


class TrainSerializer(serializers.Serializer):
    models = serializers.ListField(
        child=serializers.ChoiceField(choices=list(registry.NAMES)), min_length=1, max_length=len(registry.NAMES)
    )
    epochs = StrictIntegerField(min_value=1, max_value=50, required=False)
    limit = StrictIntegerField(min_value=1, max_value=60_000, required=False)
    include_labeled = StrictBooleanField(required=False, default=True)
    labeled_weight = StrictFloatField(min_value=0.01, max_value=100, required=False, default=1.0)
    pen = StrictBooleanField(required=False, default=True)
    seed = StrictIntegerField(min_value=0, max_value=2**31 - 1, required=False, default=0)
    canvas_count = StrictIntegerField(min_value=10, max_value=10_000, required=False, default=2000)

    def validate_models(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each model once.")
        return value


def busy(exc: jobs.Busy) -> Response:
    return Response(
        {
            "error": "training_busy",
            "detail": f"Training job {exc.job.pk} is {exc.job.status}: one training runs at a time. "
            "Wait for it, or cancel it with DELETE on its URL.",
            "job": jobs.describe(exc.job),
        },
        status=status.HTTP_409_CONFLICT,
    )


class TrainView(ApiView, APIView):
    parser_classes = [BoundedJSONParser]  # JSON only: a form's "0" is no boolean

    @extend_schema(
        operation_id="models_train",
        request=TrainSerializer,
        responses={
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="The queued job."),
            **error_responses(400, 401, 403, 409),
        },
        tags=["models"],
    )
    def post(self, request):
        """Queue a training job: candidates trained by the worker, evaluated beside the live versions."""
        params = TrainSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        options = {k: v for k, v in params.validated_data.items()}
        try:
            job = jobs.start(options, request.user)
        except jobs.Busy as exc:
            return busy(exc)
        return Response(jobs.describe(job), status=status.HTTP_202_ACCEPTED)


class TrainJobView(ApiView, APIView):
    def job(self, pk):
        jobs.reap()
        found = TrainingJob.objects.filter(pk=pk).first()
        if found is None:
            return None
        return found

    @extend_schema(
        operation_id="models_train_job",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The job."), **error_responses(401, 403, 404)},
        tags=["models"],
    )
    def get(self, request, pk):
        """A training job: status, progress, versions made, error."""
        job = self.job(pk)
        if job is None:
            return json_error("not_found", f"No training job {pk}.", status.HTTP_404_NOT_FOUND)
        return Response(jobs.describe(job))

    @extend_schema(
        operation_id="models_train_cancel",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The job."),
            **error_responses(401, 403, 404, 409),
        },
        tags=["models"],
    )
    def delete(self, request, pk):
        """Cancel a job: a queued one at once, a running one at its next progress report."""
        job = self.job(pk)
        if job is None:
            return json_error("not_found", f"No training job {pk}.", status.HTTP_404_NOT_FOUND)
        if job.status not in TrainingJob.ACTIVE:
            return json_error("finished", f"Training job {pk} is already {job.status}.", status.HTTP_409_CONFLICT)
        return Response(jobs.describe(jobs.cancel(job)))


class ChangeSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    force = StrictBooleanField(required=False, default=False)


def lifecycle_error(exc: actions.LifecycleError) -> Response:
    body = {"error": exc.code, "detail": exc.message}
    body.update(exc.details)
    return Response(body, status=exc.status)


def change_response(change) -> Response:
    versions = ModelVersion.objects.filter(name=change.name).order_by("-version")
    return Response(
        {
            "change": {
                "id": change.pk,
                "name": change.name,
                "action": change.action,
                "from_version": change.from_version,
                "to_version": change.to_version,
                "who": change.who,
                "when": change.created,
                "reason": change.reason,
                "forced": change.forced,
            },
            "versions": [describe_version(v) for v in versions],
        }
    )


ACTIONS = {"shadow": actions.shadow, "promote": actions.promote, "retire": actions.retire}


class VersionActionView(ApiView, APIView):
    permission_classes = [CanChangeModels]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        operation_id="models_version_action",
        request=ChangeSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The change."),
            **error_responses(400, 401, 403, 404, 409),
        },
        tags=["models"],
    )
    def post(self, request, name, version, action):
        """Put a version in shadow, promote it to live, or retire it."""
        params = ChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        kwargs = {"user": request.user, "reason": params.validated_data["reason"]}
        if action == "promote":
            kwargs["force"] = params.validated_data["force"]
        try:
            change = ACTIONS[action](name, version, **kwargs)
        except actions.LifecycleError as exc:
            return lifecycle_error(exc)
        return change_response(change)


class RollbackView(ApiView, APIView):
    permission_classes = [CanChangeModels]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        operation_id="models_rollback",
        request=ChangeSerializer,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The change."),
            **error_responses(400, 401, 403, 404, 409),
        },
        tags=["models"],
    )
    def post(self, request, name):
        """Back to the previous live version."""
        params = ChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            change = actions.rollback(name, request.user, params.validated_data["reason"])
        except actions.LifecycleError as exc:
            return lifecycle_error(exc)
        return change_response(change)

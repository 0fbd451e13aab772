"""TensorFlow Serving's REST API for the models ``keras`` and ``custom``.

- ``GET /v1/models/{name}``: model status (``model_version_status``).
- ``POST /v1/models/{name}:predict``: ``instances`` (row format) or ``inputs`` (columnar format), never both. One
  instance is a 28×28 array of FP32 in the MNIST convention (ink 1.0, background 0.0), or ``{"b64": "<image bytes>"}``
  (PNG, JPEG or WebP, the canvas path, validated as ``/api/predict/``); the named form ``{"image": ...}`` /
  ``{"input": ...}`` is accepted too. The answer is ``{"predictions": [[10 probabilities], ...]}`` for rows and
  ``{"outputs": [[...], ...]}`` for columns, as TF Serving answers.

Every image is stored with both models' answers (source ``tfserving``), one transaction per request. Errors are
TF Serving's ``{"error": "<message>"}``.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from recognizer import limits
from recognizer.api import batching, predicting
from recognizer.api.exceptions import ApiError
from recognizer.api.v2 import MODEL_PARAMETER, model_or_404, model_version
from recognizer.domain.predicting import Context
from recognizer.models import Drawing

INPUT_NAMES = ("image", "input", "images", "inputs")


class TFServingView(batching.BatchView):
    error_shape = "message"
    authentication_classes = []  # no cookies or passwords: programs call these doors


ModelStatus = inline_serializer(
    "TFServingModelStatus",
    {
        "model_version_status": inline_serializer(
            "TFServingVersionStatus",
            {
                "version": serializers.CharField(),
                "state": serializers.CharField(),
                "status": inline_serializer(
                    "TFServingStatus", {"error_code": serializers.CharField(), "error_message": serializers.CharField()}
                ),
            },
            many=True,
        )
    },
)
Instance = {
    "oneOf": [
        {"type": "array", "description": "28 rows of 28 numbers from 0.0 to 1.0", "items": {}},
        {"type": "object", "description": '{"b64": "<PNG, JPEG or WebP bytes, base64>"}', "additionalProperties": True},
    ]
}
PredictRequest = {
    "type": "object",
    "properties": {
        "signature_name": {"type": "string", "enum": ["serving_default"]},
        "instances": {"type": "array", "items": Instance, "minItems": 1},
        "inputs": {"description": "Columnar: the instances as one list, or {input name: list}."},
    },
}
PredictResponse = inline_serializer(
    "TFServingPredictResponse",
    {
        "predictions": serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField()), required=False, help_text="Row format."
        ),
        "outputs": serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField()), required=False, help_text="Columnar format."
        ),
    },
)


class ModelStatusView(TFServingView):
    throttle_classes = []

    @extend_schema(
        operation_id="tfserving_model_status",
        responses={200: ModelStatus, **batching.error_message_responses(404, 503)},
        tags=["tfserving"],
        auth=[{}],
        parameters=[MODEL_PARAMETER],
    )
    def get(self, request, name):
        """Model status, as TF Serving's GetModelStatus."""
        model_or_404(name)
        from recognizer.lifecycle.store import version_states

        version = model_version(name)
        states = [(version, "AVAILABLE"), *[(v, state) for v, state in version_states(name) if v != version]]
        ok = {"error_code": "OK", "error_message": ""}
        return Response({"model_version_status": [{"version": v, "state": s, "status": ok} for v, s in states]})


class TFServingPredictView(TFServingView):
    def initial(self, request, *args, **kwargs):
        check_encoding(request)  # before the body is read: a gzip body is refused as v2 refuses it (415)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="tfserving_predict",
        request={"application/json": PredictRequest},
        responses={200: PredictResponse, **batching.error_message_responses(400, 404, 413, 415, 422, 429, 503)},
        tags=["tfserving"],
        auth=[{}],
        parameters=[MODEL_PARAMETER],
    )
    def post(self, request, name):
        """Predict on a batch: every image is stored with both models' answers."""
        model_or_404(name)
        try:
            body = limits.loads(self.read_body(request) or b"null")
        except limits.BadInput as exc:
            raise ApiError("invalid_json", exc.detail) from None
        rows, where, key = instances_of(body)
        predicting.check_count(len(rows), where=where)
        self.throttle_images(request, len(rows))
        items = predicting.prepare_items([instance(value, i, where) for i, value in enumerate(rows)], where)
        result = predicting.predict_and_store(items, Context(source=Drawing.Source.TFSERVING))
        return Response({key: [d.prediction_for(name).probabilities for d in result.drawings]})


def check_encoding(request):
    """A compressed body (``Content-Encoding: gzip``...) is refused with 415, as v2 refuses it: it used to be read as
    JSON and answered with a misleading 400."""
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        raise ApiError("unsupported_encoding", "Compressed requests are not supported.", 415)


def instances_of(body):
    """(the list of instances, what to call it in errors, the answer's key)."""
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "The request must be a JSON object with 'instances' or 'inputs'.")
    if body.get("signature_name", "serving_default") != "serving_default":
        raise ApiError("invalid_request", "The only signature is 'serving_default'.")
    if ("instances" in body) == ("inputs" in body):
        raise ApiError("invalid_request", "Send either 'instances' (row format) or 'inputs' (columnar), not both.")
    if "instances" in body:
        rows, where, key = body["instances"], "instances", "predictions"
    else:
        rows, where, key = body["inputs"], "inputs", "outputs"
        if isinstance(rows, dict):  # {input name: tensor}
            if len(rows) != 1 or next(iter(rows)) not in INPUT_NAMES:
                raise ApiError("invalid_request", "'inputs' must hold one named input: 'image' or 'input'.")
            rows = next(iter(rows.values()))
    if not isinstance(rows, list):
        raise ApiError("invalid_request", f"'{where}' must be a list of instances.")
    return rows, where, key


def instance(value, index, where):
    """("image", base64 text) or ("array", nested numbers) for one instance."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INPUT_NAMES:
        value = next(iter(value.values()))  # a named instance: {"image": {"b64": ...}}
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise predicting.BadItem(index, "invalid", 'an image is {"b64": "<base64 bytes>"}', where=where)
        return "image", value["b64"]
    if isinstance(value, list):
        return "array", value
    raise predicting.BadItem(index, "invalid", 'expected 28×28 numbers or {"b64": ...}', where=where)

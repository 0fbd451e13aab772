"""KServe's Open Inference Protocol v2 over HTTP (what Triton, MLServer and KServe serve, and tritonclient speaks).

Models ``keras`` and ``custom``. Inputs, one per request, a batch of either kind:

- ``image``, BYTES ``[N]``: PNG, JPEG or WebP bytes (base64 or data-URL text in the JSON encoding, raw bytes in the
  binary extension), the canvas path, validated and preprocessed exactly as ``/api/predict/``;
- ``input``, FP32 ``[N, 28, 28]``: already-preprocessed input in the MNIST convention (ink 1.0, background 0.0).

Outputs ``probabilities`` FP32 ``[N, 10]`` and ``digit`` INT64 ``[N]``, as JSON tensors or, when asked
(``binary_data`` / ``binary_data_output``), in the binary-data extension (``Inference-Header-Content-Length``).
Every image is stored with both models' answers (source ``v2``), one transaction per request, whichever model was
asked. Errors are the protocol's ``{"error": "<message>"}``.
"""

import json
import math

import numpy as np
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from recognizer import health, limits
from recognizer.api import batching, predicting
from recognizer.api.exceptions import ApiError
from recognizer.domain.predicting import Context
from recognizer.ml import registry
from recognizer.models import MODEL_NAMES, Drawing

SERVER_NAME = "digit-recognizer"
SERVER_VERSION = "1.0.0"
EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "Inference-Header-Content-Length"
INPUTS = {"image": ("BYTES", [-1]), "input": ("FP32", [-1, 28, 28])}
OUTPUTS = {"probabilities": ("FP32", [-1, 10]), "digit": ("INT64", [-1])}


MODEL_PARAMETER = OpenApiParameter(
    "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(MODEL_NAMES), description="The model."
)


def tensor_spec(name, datatype, shape):
    return {"name": name, "datatype": datatype, "shape": shape}


def model_or_404(name):
    if name not in MODEL_NAMES:
        raise ApiError("not_found", f"Unknown model '{name}'; models: {', '.join(MODEL_NAMES)}.", 404)


def model_version(name):
    from recognizer import inference

    try:
        return str(inference.get_models()[name].entry["version"])
    except inference.ModelsUnavailable as exc:
        raise ApiError("models_unavailable", str(exc), status.HTTP_503_SERVICE_UNAVAILABLE) from exc


class V2View(batching.BatchView):
    error_shape = "message"
    throttle_classes = []  # only infer is rate-limited
    authentication_classes = []  # no cookies or passwords: programs call these doors


class TensorSerializer(serializers.Serializer):
    name = serializers.CharField()
    datatype = serializers.CharField()
    shape = serializers.ListField(child=serializers.IntegerField())


Health = OpenApiResponse(OpenApiTypes.OBJECT, description="Ready (or live).")


class LiveView(V2View):
    @extend_schema(operation_id="v2_health_live", responses={200: Health}, tags=["v2"], auth=[{}])
    def get(self, request):
        """Live: the server answers."""
        return Response({"live": True})


class ReadyView(V2View):
    @extend_schema(
        operation_id="v2_health_ready",
        responses={200: Health, **batching.error_message_responses(503)},
        tags=["v2"],
        auth=[{}],
    )
    def get(self, request):
        """Ready: both models loaded and the database reachable (the same checks as /readyz; Redis is optional)."""
        checks = health.checks()
        missing, degraded = health.problems(checks)
        if not missing:
            return Response({"ready": True, **({"degraded": degraded} if degraded else {})})
        problems = "; ".join(f"{k}: {checks[k]}" for k in missing + degraded)
        return Response({"error": f"not ready: {problems}"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


class ServerMetadataView(V2View):
    @extend_schema(
        operation_id="v2_server_metadata",
        responses={
            200: inline_serializer(
                "V2ServerMetadata",
                {
                    "name": serializers.CharField(),
                    "version": serializers.CharField(),
                    "extensions": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
        tags=["v2"],
        auth=[{}],
    )
    def get(self, request):
        """Server metadata: name, version and the protocol extensions spoken."""
        return Response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS})


class ModelMetadataView(V2View):
    @extend_schema(
        operation_id="v2_model_metadata",
        responses={
            200: inline_serializer(
                "V2ModelMetadata",
                {
                    "name": serializers.CharField(),
                    "versions": serializers.ListField(child=serializers.CharField()),
                    "platform": serializers.CharField(),
                    "inputs": TensorSerializer(many=True),
                    "outputs": TensorSerializer(many=True),
                },
            ),
            **batching.error_message_responses(404, 503),
        },
        tags=["v2"],
        auth=[{}],
        parameters=[MODEL_PARAMETER],
    )
    def get(self, request, name):
        """A model's inputs and outputs with their datatypes and shapes (send one input or the other)."""
        model_or_404(name)
        return Response(
            {
                "name": name,
                "versions": versions_of(name),  # the live one first, then every other registered version
                "platform": registry.get(name).platform,
                "inputs": [tensor_spec(n, *spec) for n, spec in INPUTS.items()],
                "outputs": [tensor_spec(n, *spec) for n, spec in OUTPUTS.items()],
            }
        )


def versions_of(name):
    """The live version first, then the model's other versions in the database (issue 26)."""
    from recognizer.lifecycle.store import version_numbers

    live = model_version(name)
    return [live, *[v for v in version_numbers(name) if v != live]]


class ModelReadyView(V2View):
    @extend_schema(
        operation_id="v2_model_ready",
        responses={200: Health, **batching.error_message_responses(404, 503)},
        tags=["v2"],
        auth=[{}],
        parameters=[MODEL_PARAMETER],
    )
    def get(self, request, name):
        """The model is ready when the server is (both models are served together)."""
        model_or_404(name)
        missing, _ = health.problems(health.checks())
        if not missing:
            return Response({"name": name, "ready": True})
        return Response({"error": f"model '{name}' is not ready"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


InferInput = lambda **kwargs: inline_serializer(  # noqa: E731
    "V2InferInput",
    {
        "name": serializers.ChoiceField(choices=list(INPUTS)),
        "datatype": serializers.ChoiceField(choices=["BYTES", "FP32"]),
        "shape": serializers.ListField(child=serializers.IntegerField(min_value=0)),
        "parameters": serializers.DictField(required=False),
        "data": serializers.ListField(required=False, help_text="Row-major (flat or nested); absent with binary."),
    },
    **kwargs,
)
InferRequest = inline_serializer(
    "V2InferRequest",
    {
        "id": serializers.CharField(required=False),
        "parameters": serializers.DictField(required=False),
        "inputs": InferInput(many=True),
        "outputs": inline_serializer(
            "V2RequestedOutput",
            {
                "name": serializers.ChoiceField(choices=list(OUTPUTS)),
                "parameters": serializers.DictField(required=False),
            },
            many=True,
            required=False,
        ),
    },
)
OutputTensor = lambda **kwargs: inline_serializer(  # noqa: E731
    "V2OutputTensor",
    {
        "name": serializers.CharField(),
        "datatype": serializers.CharField(),
        "shape": serializers.ListField(child=serializers.IntegerField()),
        "data": serializers.ListField(required=False),
        "parameters": serializers.DictField(required=False),
    },
    **kwargs,
)


class InferView(V2View):
    throttle_classes = batching.BatchView.throttle_classes

    @extend_schema(
        operation_id="v2_model_infer",
        request={"application/json": InferRequest, "application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: inline_serializer(
                "V2InferResponse",
                {
                    "model_name": serializers.CharField(),
                    "model_version": serializers.CharField(),
                    "id": serializers.CharField(required=False),
                    "outputs": OutputTensor(many=True),
                },
            ),
            **batching.error_message_responses(400, 404, 413, 415, 422, 429, 503),
        },
        tags=["v2"],
        auth=[{}],
        description="JSON tensors, or the binary-data extension: the header Inference-Header-Content-Length gives "
        "the length of the JSON part; binary inputs (parameters.binary_data_size) follow it in order, BYTES elements "
        "each prefixed with its 4-byte little-endian length. Outputs come back binary when asked "
        "(outputs[].parameters.binary_data, or parameters.binary_data_output).",
    )
    def post(self, request, name):
        """Inference on a batch of images (BYTES) or 28×28 inputs (FP32); every image is stored."""
        model_or_404(name)
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise ApiError("unsupported_encoding", "Compressed requests are not supported.", 415)
        body = self.read_body(request)
        infer, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        spec = one_input(infer)
        n = batch_size(spec)
        predicting.check_count(n, where=f"input '{spec['name']}'")
        wanted = requested_outputs(infer)
        self.throttle_images(request, n)
        items = decode_input(spec, binary)
        result = predicting.predict_and_store(items, Context(source=Drawing.Source.V2))
        return infer_response(name, infer, result.drawings, wanted)


class VersionInferView(InferView):
    @extend_schema(
        operation_id="v2_model_version_infer",
        request={"application/json": InferRequest, "application/octet-stream": OpenApiTypes.BINARY},
        responses={200: OpenApiTypes.OBJECT, **batching.error_message_responses(400, 404, 413, 415, 422, 429, 503)},
        tags=["v2"],
        auth=[{}],
        parameters=[MODEL_PARAMETER, OpenApiParameter("version", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def post(self, request, name, version):
        """Inference by one version: the live version answers (and is stored); any other is a 404."""
        model_or_404(name)
        live = model_version(name)
        if version != live:
            raise ApiError("not_found", f"Version '{version}' of model '{name}' is not served; live: {live}.", 404)
        return super().post(request, name)


def split_body(body, header_length):
    """(the JSON request, the binary part after it)."""
    if header_length is None:
        json_part, binary = body, b""
    else:
        try:
            size = int(header_length)
        except ValueError:
            size = -1
        if not 0 <= size <= len(body):
            raise ApiError("invalid_header", f"{HEADER_LENGTH} must be from 0 to the body's {len(body)} bytes.")
        json_part, binary = body[:size], body[size:]
    try:
        infer = limits.loads(json_part)
    except limits.BadInput as exc:
        raise ApiError("invalid_json", f"The inference request is not valid JSON: {exc.detail}") from None
    if not isinstance(infer, dict):
        raise ApiError("invalid_request", "The inference request must be a JSON object.")
    check_request_id(infer)
    return infer, binary


def check_request_id(infer):
    """The request's ``id`` is echoed in the answer, so it is checked before anything is stored: a string (or absent)
    that can be written as UTF-8. A lone surrogate (``"\\ud800"``, valid JSON) cannot: it used to be stored first and
    then answered with a 500, so every retry stored another drawing (v2 has no Idempotency-Key)."""
    request_id = infer.get("id")
    if request_id is None:
        return
    if not isinstance(request_id, str):
        raise ApiError("invalid_request", "id must be a string.")
    if not encodable(request_id):
        raise ApiError("invalid_request", "id must be valid Unicode text (it holds a lone surrogate).")


def encodable(text):
    """True when ``text`` can be written as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value, limit=40):
    """A client's value as it may be quoted in an error message: ASCII only (a lone surrogate or any other character
    is escaped, so the answer can always be encoded) and at most ``limit`` characters."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_input(infer):
    inputs = infer.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError("invalid_request", "Send exactly one input: 'image' (BYTES) or 'input' (FP32).")
    spec = inputs[0]
    name = spec.get("name")
    if not isinstance(name, str) or name not in INPUTS:
        raise ApiError(
            "invalid_request", f"Unknown input {shown(name)}; inputs: 'image' (BYTES [N]), 'input' (FP32 [N,28,28])."
        )
    if spec.get("datatype") != INPUTS[name][0]:
        raise ApiError(
            "invalid_request", f"Input '{name}' must be {INPUTS[name][0]}, got {shown(spec.get('datatype'))}."
        )
    shape = spec.get("shape")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and 0 <= d < 2**31 for d in shape):
        raise ApiError("invalid_request", f"Input '{name}': shape must be a list of non-negative integers.")
    # math.prod: exact Python integers. numpy's int64 product wraps silently, so a shape such as
    # [1, 16, 49, 5, 5581, 8681, 49477, 384773] (3.6e21 elements) passed as 784.
    if name == "image" and math.prod(shape) != shape[0]:
        raise ApiError("invalid_request", f"Input 'image' must have shape [N] (or [N, 1]), got {shown(shape, 80)}.")
    if name == "input" and (len(shape) < 2 or math.prod(shape[1:]) != 28 * 28):
        raise ApiError("invalid_request", f"Input 'input' must have shape [N, 28, 28], got {shown(shape, 80)}.")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ApiError("invalid_request", f"Input '{name}': parameters must be an object.")
    size = parameters.get("binary_data_size")
    if size is None and not isinstance(spec.get("data"), list):  # absent, or null
        raise ApiError("invalid_request", f"Input '{name}': send its data (or binary_data_size with the binary part).")
    if size is not None and type(size) is not int:
        raise ApiError("invalid_request", f"Input '{name}': binary_data_size must be an integer.")
    return spec


def batch_size(spec):
    return spec["shape"][0]


def decode_input(spec, binary):
    name, shape = spec["name"], spec["shape"]
    n = shape[0]
    where = f"input '{name}'"
    size = (spec.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if type(size) is not int or not 0 <= size <= len(binary):
            raise ApiError(
                "invalid_request", f"Input '{name}': binary_data_size must fit the {len(binary)} bytes sent."
            )
        raw = binary[:size]
        if name == "image":
            values = split_bytes_elements(raw, n, name)
        else:
            if size != n * 28 * 28 * 4:
                raise ApiError("invalid_request", f"Input '{name}': {size} bytes is not {n}×28×28 FP32.")
            values = np.frombuffer(raw, dtype="<f4").reshape(n, 28, 28)
    elif name == "image":
        values = flatten(spec["data"])
        if len(values) != n:
            raise ApiError("invalid_request", f"Input 'image': shape says {n} images, data holds {len(values)}.")
    else:
        try:
            values = np.asarray(spec["data"], dtype=np.float32).reshape(n, 28, 28)
        except (ValueError, TypeError):
            raise ApiError("invalid_request", f"Input 'input': data must be {n}×28×28 numbers.") from None
    if name == "image":
        return predicting.image_items(values, where)
    # An all-background tensor is refused as a blank canvas is (422), in domain.images.prepare_array.
    return predicting.array_items(values, where)


def flatten(data):
    out = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


def split_bytes_elements(raw, n, name):
    """The binary BYTES encoding: each element is a 4-byte little-endian length, then that many bytes."""
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ApiError("invalid_request", f"Input '{name}': truncated BYTES element length.")
        length = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        if offset + length > len(raw):
            raise ApiError("invalid_request", f"Input '{name}': BYTES element {len(values)} is truncated.")
        values.append(raw[offset : offset + length])
        offset += length
    if len(values) != n:
        raise ApiError(
            "invalid_request", f"Input '{name}': shape says {n} images, the binary data holds {len(values)}."
        )
    return values


def requested_outputs(infer):
    """[(name, binary)] in the order asked (all outputs when none are named)."""
    parameters = infer.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ApiError("invalid_request", "parameters must be an object.")
    default_binary = bool(parameters.get("binary_data_output", False))
    outputs = infer.get("outputs")
    if outputs is None:
        return [(n, default_binary) for n in OUTPUTS]
    if not isinstance(outputs, list):
        raise ApiError("invalid_request", "outputs must be a list.")
    wanted = []
    for out in outputs:
        if not isinstance(out, dict) or not isinstance(out.get("name"), str) or out["name"] not in OUTPUTS:
            raise ApiError("invalid_request", f"Unknown output; outputs: {', '.join(OUTPUTS)}.")
        params = out.get("parameters") or {}
        wanted.append(
            (out["name"], bool(params.get("binary_data", default_binary)) if isinstance(params, dict) else False)
        )
    return wanted


def infer_response(name, infer, drawings, wanted):
    answers = [d.prediction_for(name) for d in drawings]
    arrays = {
        "probabilities": np.asarray([a.probabilities for a in answers], dtype="<f4").reshape(len(answers), 10),
        "digit": np.asarray([a.digit for a in answers], dtype="<i8"),
    }
    body = {"model_name": name, "model_version": answers[0].model_version.rsplit("-", 1)[-1]}
    if isinstance(infer.get("id"), str):
        body["id"] = infer["id"]
    outputs, blobs = [], []
    for output, binary in wanted:
        array = arrays[output]
        tensor = {"name": output, "datatype": OUTPUTS[output][0], "shape": list(array.shape)}
        if binary:
            blob = array.tobytes()
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        outputs.append(tensor)
    body["outputs"] = outputs
    if not blobs:
        return Response(body)
    header = json.dumps(body, separators=(",", ":")).encode()
    response = HttpResponse(header + b"".join(blobs), content_type="application/octet-stream")
    response[HEADER_LENGTH] = str(len(header))
    return response

"""One error shape for the whole API: ``{"error": "<code>", "detail": "<message>"}``.

Plus ``fields`` for a field-level validation error, whatever raised it. The exception handler
is installed for every API view in ``REST_FRAMEWORK``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from recognizer.api.serializers import ErrorSerializer


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


def error_responses(*codes):
    """OpenAPI responses for these error statuses, all in the one error shape."""
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


@csrf_exempt  # nothing is written; a POST to a wrong path should still get the JSON 404
def not_found(request, *args, **kwargs):
    """Any other path under /api/: a JSON 404, like the rest of the API."""
    return JsonResponse({"error": "not_found", "detail": f"No API endpoint at {request.path}."}, status=404)

"""A clean 503 when PostgreSQL or Redis is unreachable, and JSON errors at every door that speaks JSON.

The doors: the REST API under /api/ answers ``{"error": "<code>", "detail": "<message>"}``; the standard protocols
under /v2/ (Open Inference Protocol v2) and /v1/ (TF Serving) answer their own ``{"error": "<message>"}``; the
pages get HTML (:func:`door_error` is None for them).

``ServiceUnavailableMiddleware.process_exception`` catches what a view raises (no traceback per request, one warning
a minute); ``server_error`` (``handler500``) does the same for what escapes a middleware, and answers a door's JSON
for anything else. ``bad_request`` (``handler400``) answers JSON for what Django refuses before the API runs, e.g. a
Host header not in ALLOWED_HOSTS, and ``not_found`` (``handler404``, and the catch-all under /v1/ and /v2/) a JSON 404.
"""

import logging
import sys
import time

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 10
WARN_EVERY_S = 60
_last_warning = {}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>
<body><h1>Temporarily unavailable</h1><p>The {what} cannot be reached. Please try again in a few seconds.</p></body>
</html>
"""


def unreachable_service(exc):
    """'database' or 'cache' when ``exc`` says that service is unreachable, else None."""
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "cache"
    return None


PROTOCOL_ROOTS = ("/v1", "/v2")


def door(request):
    """ "api" under /api/, "protocol" under /v1/ and /v2/, None for the pages (the path inside the site, so a URL
    prefix -- SCRIPT_NAME -- changes nothing)."""
    path = request.path_info
    if path.startswith("/api/"):
        return "api"
    if path in PROTOCOL_ROOTS or path.startswith(tuple(root + "/" for root in PROTOCOL_ROOTS)):
        return "protocol"
    return None


def door_error(request, code, detail, status):
    """The error in the JSON shape of the request's door, or None for a page (its caller answers HTML)."""
    kind = door(request)
    if kind == "api":
        return JsonResponse({"error": code, "detail": detail}, status=status)
    if kind == "protocol":
        return JsonResponse({"error": detail}, status=status)
    return None


def unavailable(request, what):
    response = door_error(
        request, "service_unavailable", f"The {what} is unreachable; try again in a few seconds.", status=503
    )
    if response is None:
        response = HttpResponse(PAGE.format(what=what), status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


def warn(what, exc):
    now = time.monotonic()
    if now - _last_warning.get(what, -WARN_EVERY_S) >= WARN_EVERY_S:
        _last_warning[what] = now
        logger.warning("%s unreachable (%s: %s); answering 503", what, type(exc).__name__, exc)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        what = unreachable_service(exc)
        if what is None:
            return None
        warn(what, exc)
        return unavailable(request, what)


def server_error(request):
    what = unreachable_service(sys.exc_info()[1])
    if what is not None:
        return unavailable(request, what)
    response = door_error(request, "server_error", "Something went wrong on our side.", status=500)
    return response if response is not None else defaults.server_error(request)


def bad_request(request, exception):
    code = "disallowed_host" if type(exception).__name__ == "DisallowedHost" else "bad_request"
    response = door_error(request, code, str(exception) or "Malformed request.", status=400)
    return response if response is not None else defaults.bad_request(request, exception)


@csrf_exempt  # nothing is written; a POST to a wrong path gets the JSON 404, not a CSRF page
def not_found(request, exception=None, *args, **kwargs):
    """``handler404``, and the catch-all under /v1/ and /v2/ (so a 404 there is JSON even with DEBUG on)."""
    response = door_error(request, "not_found", f"Nothing at {request.path}.", status=404)
    return response if response is not None else defaults.page_not_found(request, exception or Http404())

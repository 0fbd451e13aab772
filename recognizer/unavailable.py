"""A clean 503 when PostgreSQL or Redis is unreachable: JSON with Retry-After under /api/, a plain page elsewhere.

``ServiceUnavailableMiddleware.process_exception`` catches what a view raises (no traceback per request, one warning
a minute); ``server_error`` (``handler500``) does the same for what escapes a middleware, and answers JSON under /api/
for anything else. ``bad_request`` (``handler400``) answers JSON under /api/ for what Django refuses before the API
runs, e.g. a Host header not in ALLOWED_HOSTS.
"""

import logging
import sys
import time

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults

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


def is_api(request):
    return request.path.startswith("/api/")


def unavailable(request, what):
    if is_api(request):
        response = JsonResponse(
            {"error": "service_unavailable", "detail": f"The {what} is unreachable; try again in a few seconds."},
            status=503,
        )
    else:
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
    if is_api(request):
        return JsonResponse({"error": "server_error", "detail": "Something went wrong on our side."}, status=500)
    return defaults.server_error(request)


def bad_request(request, exception):
    if is_api(request):
        code = "disallowed_host" if type(exception).__name__ == "DisallowedHost" else "bad_request"
        return JsonResponse({"error": code, "detail": str(exception) or "Malformed request."}, status=400)
    return defaults.bad_request(request, exception)

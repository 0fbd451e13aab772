"""Failed logins are throttled by django-axes, per client address and per username (settings ``AXES_*``).

axes counts failures from Django's ``user_login_failed`` signal (the admin login form) and, through
``api/authentication.py``, from a wrong API token. This is its lockout answer: 429 with Retry-After, JSON under /api/
(and in the protocols' shape under /v1/ and /v2/).
"""

from django.conf import settings
from django.http import HttpResponse

from recognizer.unavailable import door_error


def lockout(request, original_response=None, credentials=None):
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    detail = f"Too many failed logins; try again in {max(1, seconds // 60)} minutes."
    response = door_error(request, "too_many_failed_logins", detail, status=429)
    if response is None:
        response = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    return response


def lockout_parameters(request_or_attempt, credentials=None):
    """Per address and, when a username was tried, per username too. A wrong API token names no user, so it counts
    for its address only (a shared "no username" counter would lock out every token user)."""
    username = (credentials or {}).get("username") or getattr(request_or_attempt, "username", None)
    return ["ip_address", "username"] if username else ["ip_address"]

"""Failed logins: django-axes locks out a client address, and a username at that address (settings ``AXES_*``).

axes counts failures from Django's ``user_login_failed`` signal (the admin login form) and, through
``api/authentication.py``, from a wrong API token. :func:`lockout` is its answer: 429 with Retry-After, JSON under
/api/ (and in the protocols' shape under /v1/ and /v2/).

A username is never locked out on its own: anyone who knows a staff username could otherwise keep that person out of
the admin (ten wrong passwords from ten addresses locked the right one out everywhere for 15 minutes). Guessing one
username from many addresses is slowed down instead (:class:`UsernameSlowDown`): past ``AXES_FAILURE_LIMIT`` failures
for it within ``AXES_COOLOFF_TIME``, the next attempt from an address it has not logged in from must wait a growing
interval after the last failure (2 s, doubling every further limit's worth of failures, at most 60 s). Attempts sent
sooner are answered 429 at once: no password hash, no thread held asleep, and nothing recorded, so they neither count
nor push the wait back. The owner's own addresses (a successful login in the last 30 days) never wait, and their API
token is never touched (it names no username).
"""

import math
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils import timezone

from recognizer.clientip import client_ip
from recognizer.unavailable import door_error

FIRST_WAIT_S = 2
LONGEST_WAIT_S = 60
KNOWN_ADDRESS_DAYS = 30


def lockout(request, original_response=None, credentials=None):
    slowed = getattr(request, "login_retry_after", None)
    if slowed:
        seconds = slowed
        detail = f"Too many failed logins for this username; try again in {seconds} seconds."
    else:
        seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
        detail = f"Too many failed logins; try again in {max(1, seconds // 60)} minutes."
    response = door_error(request, "too_many_failed_logins", detail, status=429)
    if response is None:
        response = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    return response


def lockout_parameters(request_or_attempt, credentials=None):
    """Per address and, when a username was tried, that username at that address -- never the username alone. A wrong
    API token names no user, so it counts for its address only (a shared "no username" counter would lock out every
    token user)."""
    username = (credentials or {}).get("username") or getattr(request_or_attempt, "username", None)
    return ["ip_address", ["username", "ip_address"]] if username else ["ip_address"]


class UsernameSlowDown:
    """An authentication backend, after axes' and before ModelBackend: refuses an attempt on a username under attack
    that comes too soon (see the module's docstring). It never logs anyone in, so it has no ``get_user`` (Django's
    test client and ``login()`` pick the first backend that has one for the session)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or not username:
            return None
        wait = username_wait(str(username), client_ip(request))
        if wait:
            request.login_retry_after = wait
            request.axes_locked_out = True  # axes answers with lockout() and records nothing (settings)
            request.axes_credentials = {"username": username}
            raise PermissionDenied("this username is being guessed; wait before trying again")
        return None


def username_wait(username, address, now=None):
    """Seconds an attempt on ``username`` from ``address`` must still wait (0: go ahead)."""
    from axes.models import AccessAttempt, AccessLog
    from django.db.models import Max, Sum

    now = now or timezone.now()
    limit = settings.AXES_FAILURE_LIMIT
    recent = AccessAttempt.objects.filter(username=username, attempt_time__gte=now - settings.AXES_COOLOFF_TIME)
    seen = recent.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    failures = seen["failures"] or 0
    if failures < limit:
        return 0
    known = AccessLog.objects.filter(
        username=username, ip_address=address, attempt_time__gte=now - timedelta(days=KNOWN_ADDRESS_DAYS)
    )
    if known.exists():
        return 0
    gap = growing_wait(failures, limit)
    left = (seen["last"] + timedelta(seconds=gap) - now).total_seconds()
    return max(0, math.ceil(left))


def growing_wait(failures, limit):
    """2 s at the limit, doubling with every further ``limit`` failures, at most ``LONGEST_WAIT_S``."""
    doublings = min((failures - limit) // max(1, limit), 16)
    return min(LONGEST_WAIT_S, FIRST_WAIT_S * 2**doublings)

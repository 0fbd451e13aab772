"""Token authentication whose failures count toward the failed-login lockout (django-axes).

A wrong token costs one indexed lookup, not a password hash, and 160-bit keys cannot be guessed; still, a client that
keeps sending wrong tokens is locked out like one guessing passwords, and a locked-out client gets 429 before any
lookup. (Basic auth was dropped from the API: every guess cost ~350 ms of hashing, and tokens or a staff session
cover every use.)
"""

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from recognizer import adapters


class LockedOut(exceptions.Throttled):
    default_code = "too_many_failed_logins"
    default_detail = "Too many failed logins from this address; try again later."


class AxesTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token"):
            return None  # no token sent: nothing to count
        http_request = adapters.http_request(request)  # what axes and its middleware read
        if not AxesProxyHandler.is_allowed(http_request, {}):
            raise LockedOut()
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            user_login_failed.send(sender=type(self), credentials={}, request=http_request)
            raise

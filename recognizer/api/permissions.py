"""Who may see or change a drawing: staff, or the browser that drew it (its drawer cookie).

The drawer cookie is a credential the browser sends by itself, so a write it authorizes (delete, feedback) must also
show that the drawing page made it: the page's CSRF token (``X-CSRFToken``, checked as Django checks a form), or an
``Origin`` header naming this site. A cross-origin page that makes the browser send the cookie has neither; only
SameSite stood in its way before. Staff are not affected: a session is CSRF-checked by DRF's SessionAuthentication, and
a token is no cookie.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.http import is_same_domain
from rest_framework import exceptions, permissions
from rest_framework.authentication import CSRFCheck

from recognizer.drawer import drawer_key


def same_origin(request, origin):
    """``origin`` is this site (its scheme and Host) or one of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com``
    names the subdomains too), as Django's CSRF check reads them."""
    try:
        if origin == f"{'https' if request.is_secure() else 'http'}://{request.get_host()}":
            return True
    except DisallowedHost:
        pass
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if origin == trusted:
            return True
        if "*" in trusted:
            allowed = urlsplit(trusted)
            if parsed.scheme == allowed.scheme and is_same_domain(parsed.netloc, allowed.netloc.lstrip("*")):
                return True
    return False


def check_drawer_write(request):
    """Raise 403 (``CSRF Failed: ...``, what the page tells apart) unless an unsafe request authorized by the drawer
    cookie came from this site: a same-origin ``Origin``, or else the CSRF token Django's middleware accepts."""
    if request.method in permissions.SAFE_METHODS:
        return
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        if same_origin(request, origin):
            return
        raise exceptions.PermissionDenied(f"CSRF Failed: Origin {origin!r} is not this site.")
    check = CSRFCheck(lambda request: None)
    check.process_request(request)  # reads the csrftoken cookie, as DRF's SessionAuthentication does
    reason = check.process_view(request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


def drew_it(request, obj):
    """The request carries the drawer cookie of ``obj`` (and, to change it, comes from this site)."""
    key = drawer_key(request)
    if not key or obj.drawer_key != key:
        return False
    check_drawer_write(request)
    return True


class IsStaffOrDrew(permissions.BasePermission):
    """Staff, or the browser that made the drawing (its drawer cookie)."""

    message = "Only staff or the person who made this drawing may see it."

    def has_object_permission(self, request, view, obj):
        if request.user and request.user.is_staff:
            return True
        return drew_it(request, obj)


class DrewIt(permissions.BasePermission):
    message = "Only the person who made this drawing (same browser) can give feedback."

    def has_object_permission(self, request, view, obj):
        return drew_it(request, obj)

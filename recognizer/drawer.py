"""Who drew a drawing: a random key in a signed cookie, so the person can see it later and say what it was.

Not a Django session: an anonymous predict would otherwise look up, insert and update a session row (and its cache
entry) on every request -- 5 of the 11 ms of CPU a predict took (profiled on PostgreSQL). A signed cookie costs no
query, cannot be forged without ``SECRET_KEY``, and a client that sends no cookie back simply gets a new key each time.
The key is stored in ``Drawing.drawer_key``.
"""

import secrets

from django.conf import settings

COOKIE = "drawer"
SALT = "recognizer.drawer"


def drawer_key(request):
    """The caller's drawer key from its signed cookie, or None: no cookie, a tampered or foreign one, or one signed
    longer ago than the lifetime it was set with (the server lets it expire, not only the browser)."""
    return request.get_signed_cookie(COOKIE, default=None, salt=SALT, max_age=settings.SESSION_COOKIE_AGE) or None


def new_drawer_key():
    return secrets.token_urlsafe(24)


def remember_drawer(response, key):
    """Set the signed cookie on ``response``; same lifetime and flags as the session cookie."""
    response.set_signed_cookie(
        COOKIE,
        key,
        salt=SALT,
        max_age=settings.SESSION_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite=settings.SESSION_COOKIE_SAMESITE or "Lax",
    )
    return response

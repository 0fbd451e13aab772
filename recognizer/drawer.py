"""Who drew a drawing: a random key in a signed cookie, so the person can see it later and say what it was.

Not a Django session: an anonymous predict would otherwise look up, insert and update a session row (and its cache
entry) on every request -- 5 of the 11 ms of CPU a predict took (profiled on PostgreSQL). A signed cookie costs no
query, cannot be forged without ``SECRET_KEY``, and a client that sends no cookie back simply gets a new key each time.
The key is stored in ``Drawing.drawer_key``.
"""

import secrets

from django.conf import settings
from django.core import signing

COOKIE = "drawer"
SALT = "recognizer.drawer"


# Cookies whose signature this process has checked: (signing keys, cookie) -> drawer key. A browser sends the same
# cookie with every drawing, and checking it again is two SHA-256 key derivations and an HMAC, ~0.1 ms of a predict's
# CPU (issue 17). The signing keys are part of the entry, so a new SECRET_KEY (or fallback list) checks afresh; only
# good signatures are kept, and the memo is emptied when full.
_verified = {}
MAX_VERIFIED = 10_000


def drawer_key(request):
    """The caller's drawer key from its signed cookie, or None (no cookie, or one that fails the signature)."""
    cookie = request.COOKIES.get(COOKIE)
    if not cookie:
        return None  # what the signature check gives for a missing or empty cookie
    memo = (settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS), settings.SIGNING_BACKEND, cookie)
    key = _verified.get(memo)
    if key is not None:
        return key
    try:
        key = request.get_signed_cookie(COOKIE, default=None, salt=SALT) or None
    except signing.BadSignature:  # includes a tampered or foreign cookie
        return None
    if key is not None:
        if len(_verified) >= MAX_VERIFIED:
            _verified.clear()
        _verified[memo] = key
    return key


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

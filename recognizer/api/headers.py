"""Request headers the predict doors read: the Idempotency-Key and the declared body length."""

import re

from recognizer.api.exceptions import ApiError

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def idempotency_key(request):
    """The request's Idempotency-Key header (None when absent); 400 when it is not 1-64 safe characters."""
    value = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise ApiError(
            "invalid_idempotency_key", "Idempotency-Key must be 1 to 64 characters from A-Z a-z 0-9 . _ : -."
        )
    return value


def content_length(request):
    """The declared body length (0 when absent or not a number)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0

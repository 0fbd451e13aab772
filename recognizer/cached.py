"""A value remembered in the shared cache when it can be: with Redis unreachable it is simply computed (Redis is
optional; a staff page must not fail because a memo could not be read)."""

from django.core.cache import cache

from recognizer import metrics
from recognizer.unavailable import unreachable_service


def remembered(key, compute, seconds):
    """``cache.get(key)``, else ``compute()`` stored for ``seconds``; ``compute()`` alone when the cache is down."""
    try:
        value = cache.get(key)
    except Exception as exc:
        if unreachable_service(exc) != "cache":
            raise
        metrics.child(metrics.CACHE_FALLBACKS, "read", type(exc).__name__).inc()
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, seconds)
        except Exception as exc:
            if unreachable_service(exc) != "cache":
                raise
            metrics.child(metrics.CACHE_FALLBACKS, "write", type(exc).__name__).inc()
    return value

"""Who is labeling which drawing: short leases in the shared cache, so two staff members never get the same drawing.

A lease is released only by its holder, atomically: on Redis one script compares and deletes (a read, then a delete
could remove another person's fresh lease taken in between); in local memory a lock does the same.

Redis is optional (README): when it cannot be reached, leases are kept in this process's memory instead, so the
queue goes on working (two workers may then hand out the same drawing; labeling still refuses to overwrite another
person's label). Every fallback is counted in ``digits_cache_fallbacks_total`` and logged once a minute.
"""

import logging
import threading
import time

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from recognizer import metrics
from recognizer.unavailable import unreachable_service

logger = logging.getLogger(__name__)

WARN_EVERY_S = 60
_local = LocMemCache("recognizer-leases", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
_local_lock = threading.Lock()
_last_warning = [-1e9]

# KEYS[1]: the lease; ARGV[1]: the holder. Deletes the lease only if it is still this holder's.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def _fallback(operation, exc):
    metrics.child(metrics.CACHE_FALLBACKS, operation, type(exc).__name__).inc()
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_S:
        _last_warning[0] = now
        logger.warning("Redis unreachable (%s): queue leases are kept per process until it is back", type(exc).__name__)


def _shared(operation, shared, local):
    """``shared()`` on the cache, else ``local()`` on this process's memory when the cache is unreachable."""
    try:
        return shared()
    except Exception as exc:
        if unreachable_service(exc) != "cache":
            raise
        _fallback(operation, exc)
        return local()


def take(key, holder, seconds):
    """Lease ``key`` to ``holder`` for ``seconds``; True if it is theirs now (new, or already theirs, renewed)."""

    def on(store):
        def attempt():
            if store.add(key, holder, seconds):
                return True
            if store.get(key) == holder:
                store.set(key, holder, seconds)
                return True
            return False

        return attempt

    return _shared("take", on(cache), on(_local))


def holders(keys):
    """{key: holder} of the leases held among ``keys``."""
    return _shared("read", lambda: cache.get_many(keys), lambda: _local.get_many(keys))


def release(key, holder):
    """Drop ``key``'s lease if ``holder`` holds it, in one atomic step."""

    def shared():
        redis = _redis_client()
        if redis is None:  # local memory: this process is the whole store
            return _release_local(cache, key, holder)
        # django-redis stores integers as plain numbers, so the script compares the holder's id as text.
        return bool(redis.eval(_RELEASE, 1, cache.make_key(key), str(holder)))

    return _shared("release", shared, lambda: _release_local(_local, key, holder))


def _release_local(store, key, holder):
    with _local_lock:
        if store.get(key) == holder:
            store.delete(key)
            return True
    return False


def _redis_client():
    """The Redis client under the cache (django-redis's public ``get_redis_connection``), or None for local memory."""
    try:
        from django_redis import get_redis_connection
    except ImportError:  # pragma: no cover - django-redis is in requirements.txt
        return None
    try:
        return get_redis_connection("default")
    except NotImplementedError:  # not a django-redis cache
        return None

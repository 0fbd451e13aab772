"""Rate limits kept in the shared cache (Redis in production), with a per-process fallback when it is down."""

import logging
import threading
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from recognizer.clientip import client_ip

logger = logging.getLogger(__name__)

WARN_EVERY_S = 60  # one warning a minute while the cache is down, not a traceback per request


class LocalCounters:
    """Fixed-window counters in this process, used only while the shared cache is unreachable.

    Each worker then enforces the limit on its own: a client gets at most workers × limit, a safe bound, instead of
    no limit at all (what a "serve anyway" fallback gave) or a 503 for everyone (what failing closed gives).
    """

    MAX_KEYS = 100_000

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def incr(self, key, expires_at, by=1):
        with self._lock:
            if len(self._counts) >= self.MAX_KEYS:
                now = time.time()
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
                if len(self._counts) >= self.MAX_KEYS:  # all live: forget the oldest half rather than grow
                    self._counts = dict(list(self._counts.items())[self.MAX_KEYS // 2 :])
            count, _ = self._counts.get(key, (0, expires_at))
            self._counts[key] = (count + by, expires_at)
            return count + by


local_counters = LocalCounters()
_last_warning = [0.0]


def warn_cache_down(error):
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_S:
        _last_warning[0] = now
        logger.warning(
            "cache unreachable (%s: %s); rate limits are per process until it is back", type(error).__name__, error
        )


class RateThrottle(BaseThrottle):
    """Fixed-window counter in the cache, one atomic ``incr`` per request.

    DRF's own throttles read-modify-write a list, which loses counts when several gunicorn
    workers share Redis; ``incr`` is atomic in Redis (and in the local-memory cache).
    Staff are never throttled. Anonymous clients are counted by IP address (``clientip``: X-Forwarded-For
    only as far as ``TRUSTED_PROXIES`` says), signed-in users by id.
    """

    anon_scope = None
    user_scope = None

    def allow_request(self, request, view):
        user = request.user
        if user and user.is_staff:
            return True
        if user and user.is_authenticated:
            scope, ident = self.user_scope, f"user{user.pk}"
        else:
            scope, ident = self.anon_scope, client_ip(request)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = self.parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{ident}:{window}"
        self.wait_seconds = (window + 1) * period - now
        cost = getattr(view, "throttle_cost", 1)  # a batch counts its images (api/batching.py)
        try:
            try:
                count = cache.incr(key, cost)  # one round trip once the window's counter exists
            except ValueError:  # first request of the window (or the counter just expired)
                count = cost if cache.add(key, cost, timeout=period + 1) else cache.incr(key, cost)
        except Exception as e:  # the cache is down (ConnectionError, TimeoutError...): count in this process
            warn_cache_down(e)
            count = local_counters.incr(key, (window + 1) * period, cost)
        return count <= limit

    def wait(self):
        return getattr(self, "wait_seconds", None)

    @staticmethod
    def parse_rate(rate):
        number, _, unit = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit.strip()[:1].lower()]
        return int(number), seconds


class PredictThrottle(RateThrottle):
    anon_scope, user_scope = "predict_anon", "predict_user"


class FeedbackThrottle(RateThrottle):
    anon_scope, user_scope = "feedback", "feedback"

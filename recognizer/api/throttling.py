"""Rate limits kept in the shared cache (Redis in production)."""

import logging
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)


class RateThrottle(BaseThrottle):
    """Fixed-window counter in the cache, one atomic ``incr`` per request.

    DRF's own throttles read-modify-write a list, which loses counts when several gunicorn
    workers share Redis; ``incr`` is atomic in Redis (and in the local-memory cache).
    Staff are never throttled. Anonymous clients are counted by IP address (X-Forwarded-For
    only when ``NUM_PROXIES`` says how many proxies to trust), signed-in users by id.
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
            scope, ident = self.anon_scope, self.client_ip(request)
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
        except Exception:  # the cache is down: serve rather than fail every request
            logger.exception("throttle cache unavailable; not throttling")
            return True
        return count <= limit

    def wait(self):
        return getattr(self, "wait_seconds", None)

    @staticmethod
    def parse_rate(rate):
        number, _, unit = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit.strip()[:1].lower()]
        return int(number), seconds

    def client_ip(self, request):
        if api_settings.NUM_PROXIES:
            return self.get_ident(request)
        return request.META.get("REMOTE_ADDR", "")


class PredictThrottle(RateThrottle):
    anon_scope, user_scope = "predict_anon", "predict_user"


class FeedbackThrottle(RateThrottle):
    anon_scope, user_scope = "feedback", "feedback"

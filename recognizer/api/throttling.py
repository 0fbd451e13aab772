"""Rate limits kept in the shared cache (Redis in production), with a per-process fallback when it is down."""

import logging
import threading
import time

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from recognizer import metrics
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
_unlogged = [0]  # fallbacks since the last warning


def warn_cache_down(error):
    """Every fallback is counted (``digits_rate_limit_fallbacks_total``, by error type); the log gets one warning a
    minute while they go on, saying how many there were, so a slow Redis (each command over ``REDIS_TIMEOUT``)
    never splits the limit silently."""
    kind = type(error).__name__
    metrics.child(metrics.RATE_LIMIT_FALLBACKS, kind).inc()
    _unlogged[0] += 1
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_S:
        _last_warning[0] = now
        count, _unlogged[0] = _unlogged[0], 0
        logger.warning(
            "cache unreachable (%s: %s); rate limits are per process until it is back (%d request%s counted in this "
            "process since the last warning)",
            kind,
            error,
            count,
            "" if count == 1 else "s",
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

    def allowance(self, request):
        """(requests, seconds) this client may send per window, or None when it is not limited (staff, no rate)."""
        user = request.user
        if user and user.is_staff:
            return None
        scope = self.user_scope if user and user.is_authenticated else self.anon_scope
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        return self.parse_rate(rate) if rate else None

    def refund(self, request, cost):
        """Give back ``cost`` counted in this window (a request refused for a reason waiting cannot fix)."""
        user = request.user
        if user and user.is_staff:
            return
        scope, ident = (
            (self.user_scope, f"user{user.pk}")
            if user and user.is_authenticated
            else (self.anon_scope, client_ip(request))
        )
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return
        _, period = self.parse_rate(rate)
        window = int(time.time() // period)
        key = f"throttle:{scope}:{ident}:{window}"
        try:
            cache.decr(key, cost)
        except ValueError:  # the window turned over: nothing of it is counted in the new one
            pass
        except Exception as e:  # the cache is down: the count was made in this process
            warn_cache_down(e)
            local_counters.incr(key, (window + 1) * period, -cost)

    @staticmethod
    def parse_rate(rate):
        return parse_rate(rate)


class PredictThrottle(RateThrottle):
    anon_scope, user_scope = "predict_anon", "predict_user"


class FeedbackThrottle(RateThrottle):
    anon_scope, user_scope = "feedback", "feedback"


PERIODS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}


def parse_rate(rate, name="rate"):
    """``"60/min"`` -> ``(60, 60)``: a whole number of requests per s(econd), m(inute), h(our) or d(ay).

    Raises ImproperlyConfigured for anything else; :func:`check_rates` runs this on every configured rate when the app
    starts (``RecognizerConfig.ready``), so a typo stops the server instead of answering 500 to every request.
    """
    number, slash, unit = str(rate).partition("/")
    unit = unit.strip().lower()
    number = number.strip()
    if not slash or not number.isascii() or not number.isdigit() or unit not in PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be a number of requests per s, min, hour or day (e.g. 60/min), got {rate!r}"
        )
    return int(number), PERIODS[unit]


RATE_VARIABLES = {"predict_anon": "PREDICT_RATE_ANON", "predict_user": "PREDICT_RATE_USER", "feedback": "FEEDBACK_RATE"}


def check_rates():
    """Every rate in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` parses (None or empty: no limit)."""
    for scope, rate in api_settings.DEFAULT_THROTTLE_RATES.items():
        if rate:
            parse_rate(rate, RATE_VARIABLES.get(scope, f"the {scope} rate"))

"""Health checks for nginx and load balancers: /healthz (the process answers), /readyz (it can serve predictions).

The answers say what is down ("database: unavailable"), never how: an error's text (a host, a port, a driver's
message) goes to the log, not to whoever can reach a probe.
"""

import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from recognizer import inference

logger = logging.getLogger(__name__)


@never_cache
def healthz(request):
    return JsonResponse({"status": "alive"})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache():
    cache.set("readyz", 1, 5)
    if cache.get("readyz") != 1:
        raise RuntimeError("cache did not keep a value")


def _models():
    if not inference.is_warm():
        raise RuntimeError("models not loaded in this process yet")


CHECKS = {"models": _models, "database": _database, "cache": _cache}
# What serving needs. Redis is optional: without it the rate limits and queue leases fall back per process, so a
# cache outage makes an instance degraded, not unready (a load balancer must not pull every healthy instance).
REQUIRED = ("models", "database")
# What a failed check says in an answer: what is down, nothing about why.
DOWN = {"models": "not loaded", "database": "unavailable", "cache": "unavailable"}


def checks() -> dict[str, str]:
    """{check: "ok" or what is down}; /readyz and the v2 protocol's ready endpoints answer from it alike. A failure's
    detail is logged, never answered."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as e:  # any failure means "not ready"; name it, no traceback
            logger.warning("readiness: %s check failed (%s: %s)", name, type(e).__name__, e)
            results[name] = DOWN.get(name, "unavailable")
    return results


def problems(results):
    """(the required checks that failed, the optional ones that failed)."""
    failed = [name for name, result in results.items() if result != "ok"]
    return [n for n in failed if n in REQUIRED], [n for n in failed if n not in REQUIRED]


@never_cache
def readyz(request):
    results = checks()
    missing, degraded = problems(results)
    if missing:
        detail = "Not ready: " + ", ".join(f"{name} ({results[name]})" for name in missing + degraded)
        return JsonResponse({"error": "not_ready", "detail": detail, "checks": results}, status=503)
    if degraded:
        return JsonResponse({"status": "degraded", "degraded": degraded, "checks": results})
    return JsonResponse({"status": "ready", "checks": results})

"""Health checks for nginx and load balancers: /healthz (the process answers), /readyz (it can serve predictions)."""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from recognizer import inference


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


def checks() -> dict[str, str]:
    """{check: "ok" or what is wrong}; /readyz and the v2 protocol's ready endpoints answer from it alike."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as e:  # any failure means "not ready"; name it, no traceback
            results[name] = f"{type(e).__name__}: {e}"[:200]
    return results


@never_cache
def readyz(request):
    results = checks()
    failed = [name for name, result in results.items() if result != "ok"]
    if failed:
        detail = "Not ready: " + ", ".join(f"{name} ({results[name]})" for name in failed)
        return JsonResponse({"error": "not_ready", "detail": detail, "checks": results}, status=503)
    return JsonResponse({"status": "ready", "checks": results})

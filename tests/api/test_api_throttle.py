"""Rate limits on predicting: per client IP for anonymous callers, none for staff, shared through Redis.

The requests carry an empty body (a 400 after the throttle has counted them), so no model runs.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]
PREDICT = "/api/predict/"

pytestmark = pytest.mark.usefixtures("fresh_cache")


def rates(settings, **scopes):
    merged = {**api_settings.DEFAULT_THROTTLE_RATES, **scopes}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged})


def statuses(client, n, **extra):
    return [client.post(PREDICT, {}, format="json", **extra).status_code for _ in range(n)]


@pytest.mark.django_db
def test_anonymous_limit_is_per_client_ip(settings):
    client = APIClient()
    with rates(settings, predict_anon="3/min"):
        assert statuses(client, 5, REMOTE_ADDR="10.0.0.1") == [400, 400, 400, 429, 429]
        # Another address has its own budget...
        assert statuses(client, 1, REMOTE_ADDR="10.0.0.2") == [400]
        # ...and a made-up X-Forwarded-For does not buy a new one (no proxy is trusted by default).
        assert statuses(client, 1, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4") == [429]


@pytest.mark.django_db
def test_forwarded_for_is_used_behind_a_trusted_proxy(settings):
    client = APIClient()
    with override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "NUM_PROXIES": 1,
            "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, "predict_anon": "1/min"},
        }
    ):
        proxy = {"REMOTE_ADDR": "10.9.9.9"}
        assert statuses(client, 2, HTTP_X_FORWARDED_FOR="5.5.5.5", **proxy) == [400, 429]
        assert statuses(client, 1, HTTP_X_FORWARDED_FOR="6.6.6.6", **proxy) == [400]


@pytest.mark.django_db
def test_staff_are_not_limited_and_users_have_their_own_rate(settings, django_user_model):
    staff, user = APIClient(), APIClient()
    staff.force_authenticate(django_user_model.objects.create_user("t-staff", is_staff=True))
    user.force_authenticate(django_user_model.objects.create_user("t-user"))
    with rates(settings, predict_anon="1/min", predict_user="2/min"):
        assert set(statuses(staff, 6)) == {400}
        assert statuses(user, 3) == [400, 400, 429]
        assert statuses(APIClient(), 2) == [400, 429]


@pytest.mark.redis
@pytest.mark.django_db
def test_throttle_counts_live_in_redis(settings, redis_url):
    prefix = f"throttle-test-{uuid.uuid4().hex[:8]}"
    redis_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    import redis

    server = redis.Redis.from_url(redis_url)
    with override_settings(CACHES=redis_cache), rates(settings, predict_anon="2/min"):
        assert statuses(APIClient(), 3, REMOTE_ADDR="10.1.1.1") == [400, 400, 429]
        keys = [k.decode() for k in server.keys(f"{prefix}:*throttle:predict_anon:10.1.1.1:*")]
        assert len(keys) == 1
        assert int(server.get(keys[0])) == 3
        assert 0 < server.ttl(keys[0]) <= 61
        server.delete(*keys)


WORKER = textwrap.dedent(
    """
    import json, logging, sys, time
    import django
    django.setup()
    from django.core.cache import cache
    from django.test import Client
    from recognizer import metrics
    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logging.getLogger("recognizer.api.throttling").addHandler(handler)
    start_at, n = float(sys.argv[1]), int(sys.argv[2])
    client = Client(REMOTE_ADDR="10.7.7.7")
    client.get("/api/schema/")  # warm up imports before the race
    cache.get("warm-up")  # and the connection to Redis
    time.sleep(max(0.0, start_at - time.time()))
    codes = [client.post("/api/predict/", "{}", content_type="application/json").status_code for _ in range(n)]
    fallbacks = {
        sample.labels["error"]: sample.value
        for metric in metrics.RATE_LIMIT_FALLBACKS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    print(json.dumps({"codes": codes, "fallbacks": fallbacks, "log": logged}))
    """
)


@pytest.mark.redis
def test_limit_holds_across_worker_processes_sharing_redis(redis_url):
    """Four processes (like gunicorn workers) hammer one IP's budget at once: exactly the limit gets through."""
    limit, workers, each = 25, 4, 12
    # A day-long window, so the race never straddles a window boundary.
    until_midnight = 86400 - time.time() % 86400
    if until_midnight < 60:
        time.sleep(until_midnight + 1)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "digitsite.settings",
        "DATABASE_URL": "sqlite:///:memory:",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"race-{uuid.uuid4().hex[:8]}",
        "PREDICT_RATE_ANON": f"{limit}/day",
        # What is tested is that the workers share one atomic counter, not how fast Redis answers. With the
        # production 0.5 s, every command that waited longer (a busy machine, the full suite) was counted in the
        # worker alone, silently, and each worker's first connection was opened inside the race. The connection is
        # now opened before the race, the wait is generous, and any fallback fails the test with its logged cause.
        "REDIS_CONNECT_TIMEOUT": "10",
        "REDIS_TIMEOUT": "10",
    }
    env.pop("CACHE_URL", None)
    start_at = time.time() + 6
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(start_at), str(each)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    codes, fallbacks = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        result = json.loads(out.strip().splitlines()[-1])
        codes += result["codes"]
        if result["fallbacks"]:
            fallbacks.append(result)
    import redis

    server = redis.Redis.from_url(redis_url)
    keys = server.keys(env["CACHE_KEY_PREFIX"] + ":*")
    # A worker that could not reach Redis counted on its own; say so, with what its log said.
    assert not fallbacks, fallbacks
    assert len(keys) == 1  # one shared counter
    server.delete(*keys)
    assert len(codes) == workers * each
    assert codes.count(400) == limit
    assert codes.count(429) == workers * each - limit

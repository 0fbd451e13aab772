"""Redis down (issue 27: 10): the staff pages work, queue/next answers JSON, readiness says ready (degraded), every
fallback is counted. And a lease is released atomically, only by its holder (issue 27: 19)."""

import socket

import pytest
from django.test import override_settings

from recognizer import inference
from recognizer.staff import leases, queue
from tests.factories import make_drawing
from tests.prometheus import total

pytestmark = pytest.mark.django_db


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_redis():
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }


def fallbacks():
    return total("digits_cache_fallbacks")


def test_with_redis_down_the_staff_pages_work_and_the_queue_answers_json(admin_client):
    staff_client = admin_client
    for _ in range(3):
        make_drawing(keras=3, custom=5)
    before = fallbacks()
    with override_settings(CACHES=closed_redis()):
        listing = staff_client.get("/admin/recognizer/drawing/")
        assert listing.status_code == 200
        with_filter = staff_client.get("/admin/recognizer/drawing/?version=keras:test-1")
        assert with_filter.status_code == 200
        taken = staff_client.get("/admin/recognizer/drawing/queue/next/")
        assert taken.status_code == 200 and taken["Content-Type"].startswith("application/json")
        assert len(taken.json()["drawings"]) == 1
        again = staff_client.get("/admin/recognizer/drawing/queue/next/")  # the same person keeps their drawing
        assert again.json()["drawings"][0]["id"] == taken.json()["drawings"][0]["id"]
        assert staff_client.get("/admin/recognizer/drawing/dashboard/").status_code == 200
    assert fallbacks() > before


def test_with_redis_down_readiness_is_ready_and_says_degraded(client):
    inference.warm_up()
    with override_settings(CACHES=closed_redis()):
        ready = client.get("/readyz")
        v2 = client.get("/v2/health/ready")
    assert ready.status_code == 200, ready.content
    assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == ["cache"]
    assert ready.json()["checks"]["cache"] == "unavailable"
    assert v2.status_code == 200 and v2.json() == {"ready": True, "degraded": ["cache"]}


@pytest.mark.usefixtures("fresh_cache")
def test_a_lease_is_released_only_by_its_holder():
    key = queue.lease_key(1)
    assert leases.take(key, 7, 60)
    assert not leases.take(key, 8, 60)
    assert not leases.release(key, 8)  # another person's release leaves the lease
    assert not leases.take(key, 8, 60)
    assert leases.release(key, 7)
    assert leases.take(key, 8, 60)


@pytest.mark.redis
def test_a_lease_is_released_atomically_on_redis(redis_url):
    config = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}}
    with override_settings(CACHES=config):
        from django.core.cache import cache

        key = queue.lease_key(991)
        cache.delete(key)
        assert leases.take(key, 7, 60)
        assert not leases.release(key, 8)  # compared and kept in one script
        assert cache.get(key) == 7
        assert leases.release(key, 7)
        assert cache.get(key) is None

"""The rate limit's key and its configuration (issue 27, items 13 and 19).

- The X-Forwarded-For hop taken as the client must be an IP address; anything else falls back to the connecting
  address, so a client cannot rotate made-up strings into fresh rate-limit budgets.
- A rate the app cannot read stops it at start-up, instead of a 500 on every request.
- Every request counted in a worker's own memory because Redis failed shows in /metrics and in the log.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from recognizer import clientip, metrics
from recognizer.api import throttling

ROOT = Path(__file__).resolve().parents[2]
PREDICT = "/api/predict/"

pytestmark = pytest.mark.usefixtures("fresh_cache")


def behind_proxies(settings, n, **rates):
    return override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "NUM_PROXIES": n,
            "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **rates},
        }
    )


def ip_of(forwarded, remote="10.9.9.9"):
    return clientip.client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded))


def test_the_chosen_hop_must_be_an_ip_address(settings):
    with behind_proxies(settings, 1):
        assert ip_of("5.5.5.5") == "5.5.5.5"
        assert ip_of("spoofed, 2001:DB8:0:0::1") == "2001:db8::1"  # one spelling per address
        assert ip_of("<script>") == "10.9.9.9"
        assert ip_of("5.5.5.5:8080") == "10.9.9.9"
        assert ip_of("1" * 5000) == "10.9.9.9"
        assert ip_of("\ud800") == "10.9.9.9"
    with behind_proxies(settings, 3):  # more proxies trusted than there are: the leftmost hop is the client's own
        assert ip_of("made-up, 6.6.6.6") == "10.9.9.9"
        assert ip_of("7.7.7.7, 6.6.6.6") == "7.7.7.7"


@pytest.mark.django_db
def test_rotating_made_up_forwarded_strings_buys_no_new_budget(settings):
    client = APIClient()
    with behind_proxies(settings, 2, predict_anon="2/min"):  # one proxy too many trusted: the client's hop is read
        codes = [
            client.post(PREDICT, {}, format="json", REMOTE_ADDR="10.4.4.4", HTTP_X_FORWARDED_FOR=f"key-{i}").status_code
            for i in range(4)
        ]
    assert codes == [400, 400, 429, 429]


@pytest.mark.parametrize("rate", ["60/minn", "60", "sixty/min", "60/", "/min", "-1/min", "1.5/s", "60/fortnight"])
def test_a_rate_it_cannot_read_is_refused(rate):
    with pytest.raises(ImproperlyConfigured, match="PREDICT_RATE_ANON must be a number of requests per"):
        throttling.parse_rate(rate, "PREDICT_RATE_ANON")


@pytest.mark.parametrize("rate, parsed", [("60/min", (60, 60)), ("5/s", (5, 1)), ("1000 / Hour", (1000, 3600)),
                                          ("25/day", (25, 86400)), ("0/m", (0, 60))])  # fmt: skip
def test_the_rates_it_reads(rate, parsed):
    assert throttling.parse_rate(rate) == parsed


def test_a_bad_rate_in_the_environment_stops_the_app_at_start_up():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="digitsite.settings", PREDICT_RATE_ANON="60/minn")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "started" not in result.stdout
    assert "PREDICT_RATE_ANON must be a number of requests per s, min, hour or day" in result.stderr
    assert "'60/minn'" in result.stderr
    env["PREDICT_RATE_ANON"] = "60/min"
    ok = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "started" in ok.stdout, ok.stderr[-2000:]


def closed_redis():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }


def fallbacks():
    return sum(
        sample.value
        for metric in metrics.RATE_LIMIT_FALLBACKS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


@pytest.mark.django_db
def test_every_fallback_to_per_process_counting_is_counted_and_logged(settings, caplog, monkeypatch, staff_user):
    monkeypatch.setattr(throttling, "local_counters", throttling.LocalCounters())
    monkeypatch.setattr(throttling, "_last_warning", [-1e9])
    monkeypatch.setattr(throttling, "_unlogged", [0])
    before = fallbacks()
    client = APIClient()
    with (
        override_settings(CACHES=closed_redis()),
        behind_proxies(settings, 0, predict_anon="100/min"),
        caplog.at_level(logging.WARNING, logger="recognizer.api.throttling"),
    ):
        codes = [client.post(PREDICT, {}, format="json").status_code for _ in range(5)]
    assert codes == [400] * 5
    assert fallbacks() - before == 5  # every one, not only the first of the minute
    records = [r for r in caplog.records if r.name == "recognizer.api.throttling"]
    assert len(records) == 1 and "per process" in records[0].getMessage()
    assert "ConnectionError" in records[0].getMessage()
    # /metrics shows it (by error type).
    staff = APIClient()
    staff.force_authenticate(staff_user)
    scrape = APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    line = next(x for x in scrape.splitlines() if x.startswith("digits_rate_limit_fallbacks_total{"))
    assert 'error="ConnectionError"' in line and float(line.rsplit(" ", 1)[1]) >= 5


def test_the_next_warning_says_how_many_fallbacks_went_unlogged(caplog, monkeypatch):
    monkeypatch.setattr(throttling, "_last_warning", [-1e9])
    monkeypatch.setattr(throttling, "_unlogged", [0])
    with caplog.at_level(logging.WARNING, logger="recognizer.api.throttling"):
        for _ in range(4):
            throttling.warn_cache_down(TimeoutError("Timeout reading from socket"))
        throttling._last_warning[0] = -1e9  # a minute later
        throttling.warn_cache_down(TimeoutError("Timeout reading from socket"))
    messages = [r.getMessage() for r in caplog.records if r.name == "recognizer.api.throttling"]
    assert len(messages) == 2
    assert "(1 request counted in this process since the last warning)" in messages[0]
    assert "(4 requests counted in this process since the last warning)" in messages[1]

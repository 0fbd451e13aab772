"""Settings are read from the environment; each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "db = settings.DATABASES['default'];"
    "print(json.dumps({'debug': settings.DEBUG, 'engine': db['ENGINE'], 'name': str(db['NAME']),"
    " 'host': db.get('HOST'), 'cache': settings.CACHES['default']['BACKEND'],"
    " 'hosts': settings.ALLOWED_HOSTS, 'secret': settings.SECRET_KEY}))"
)
SETTING_VARS = (
    "DATABASE_URL",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "CACHE_URL",
    "REDIS_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests for their own process; never in a deployment
)


def run_python(code, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARS}
    env.update(DJANGO_SETTINGS_MODULE="digitsite.settings", **env_vars)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def settings_with(**env_vars):
    result = run_python(PROBE, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_fresh_checkout_defaults():
    s = settings_with()
    assert s["debug"] is True
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(ROOT / "db.sqlite3")
    assert s["cache"].endswith("LocMemCache")
    assert "127.0.0.1" in s["hosts"]


def test_postgres_url_and_redis_cache():
    s = settings_with(DATABASE_URL="postgres://u:p@db.example:5433/digits", REDIS_URL="redis://127.0.0.1:6379/2")
    assert s["engine"] == "recognizer.postgres"  # Django's backend, its health check without a round trip
    assert (s["name"], s["host"]) == ("digits", "db.example")
    assert s["cache"] == "django_redis.cache.RedisCache"


def test_allowed_hosts_list():
    assert settings_with(DJANGO_ALLOWED_HOSTS="a.example, b.example")["hosts"] == ["a.example", "b.example"]


def test_debug_off_requires_secret_key():
    result = run_python(PROBE, DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("var,value", [("DJANGO_DEBUG", "maybe"), ("CACHE_URL", "memcached://x")])
def test_bad_values_are_refused_with_a_message(var, value):
    result = run_python(PROBE, **{var: value})
    assert result.returncode != 0
    assert var.split("_")[0] in result.stderr


def test_check_deploy_passes_with_production_variables():
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARS}
    env.update(
        DJANGO_SETTINGS_MODULE="digitsite.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="x" * 20 + "-production-secret-" + "y" * 30,
        DJANGO_ALLOWED_HOSTS="digits.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""HSTS includeSubDomains and preload are hard-to-undo commitments: off unless the deployment opts in."""

import json

from tests.test_settings import run_python

PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps([settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
    " settings.SECURE_HSTS_PRELOAD]))"
)
PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 60}


def hsts(**env_vars):
    result = run_python(PROBE, **PRODUCTION, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hsts_is_on_but_neither_subdomains_nor_preload_by_default():
    assert hsts() == [31536000, False, False]


def test_subdomains_and_preload_are_opt_in():
    assert hsts(DJANGO_HSTS_INCLUDE_SUBDOMAINS="1", DJANGO_HSTS_PRELOAD="1") == [31536000, True, True]

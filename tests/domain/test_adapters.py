"""The adapter module's private reads still mean what they meant: these fail loudly when a library changes."""

from django.test import RequestFactory
from rest_framework.request import Request

from recognizer import adapters


def test_the_libraries_are_the_versions_the_adapters_were_written_for():
    assert adapters.versions_match(), adapters.WRITTEN_FOR


def test_http_request_is_the_django_request_under_drf_s():
    django_request = RequestFactory().get("/api/drawings/")
    assert adapters.http_request(Request(django_request)) is django_request
    assert adapters.http_request(django_request) is django_request

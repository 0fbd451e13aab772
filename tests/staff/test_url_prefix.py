"""Served under a URL prefix (SCRIPT_NAME, e.g. behind a proxy at /digits/), the pages point at the API under that
prefix: the dashboard's JSON link and the drawing page's API URLs come from reverse(), not from literal paths."""

import re

import pytest
from django.test import Client
from django.test.utils import override_script_prefix
from django.urls import reverse

pytestmark = pytest.mark.django_db

PREFIX = "/digits/"


def test_the_dashboards_json_link_is_under_the_prefix(viewer):
    with override_script_prefix(PREFIX):
        url = reverse("admin:recognizer_drawing_dashboard")
        html = viewer.get(url.removeprefix(PREFIX[:-1]), {"include_imported": "1"}).content.decode()
    assert url.startswith(PREFIX)
    assert 'href="/digits/api/accuracy/?include_imported=1" id="dash-json"' in html


def test_the_drawing_pages_api_urls_are_under_the_prefix():
    with override_script_prefix(PREFIX):
        html = Client().get("/").content.decode()
    app = re.search(r'<div class="app" id="app"([^>]*)>', html).group(1)
    urls = dict(re.findall(r'(data-[a-z-]+-url)="([^"]*)"', app))
    assert urls == {
        "data-predict-url": "/digits/api/predict/",
        "data-mine-url": "/digits/api/drawings/mine/",
        "data-feedback-url": "/digits/api/drawings/{id}/feedback/",
    }

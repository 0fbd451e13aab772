"""The drawing page (GET /): renders, needs nothing from outside the server, sets the CSRF cookie."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse


class AssetCollector(HTMLParser):
    """Every URL the browser would fetch by itself: scripts, styles, icons, images, frames, media."""

    def __init__(self):
        super().__init__()
        self.urls = []
        self.ids = set()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("src", "srcset", "poster", "data"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


@pytest.fixture
def page(db):
    response = Client().get(reverse("recognizer:index"))
    assert response.status_code == 200
    parser = AssetCollector()
    parser.feed(response.content.decode())
    return response, parser


def test_page_renders_the_drawing_pad_tools_and_both_models(page):
    response, parser = page
    assert response["Content-Type"].startswith("text/html")
    for element_id in ("ink", "recognise", "undo", "clear", "results", "feedback", "recent-list", "seen"):
        assert element_id in parser.ids, element_id
    models = [attrs["data-model"] for tag, attrs in parser.tags if "data-model" in attrs]
    assert models == ["keras", "custom"]
    canvas = next(attrs for tag, attrs in parser.tags if tag == "canvas")
    assert (canvas["width"], canvas["height"]) == ("280", "280")
    # Ten probability bars per model and ten "it was N" buttons.
    bars = [attrs for tag, attrs in parser.tags if attrs.get("class") == "bar"]
    assert [b["data-digit"] for b in bars] == [str(d) for d in range(10)] * 2
    digit_buttons = [attrs["data-label"] for tag, attrs in parser.tags if "data-label" in attrs]
    assert digit_buttons == [str(d) for d in range(10)]


def test_page_has_live_regions_and_labels_for_assistive_technology(page):
    response, parser = page
    live = {attrs["id"] for tag, attrs in parser.tags if attrs.get("aria-live") and "id" in attrs}
    assert {"message", "announce", "fb-status"} <= live
    assert any(attrs.get("role") == "alert" for tag, attrs in parser.tags)
    canvas = next(attrs for tag, attrs in parser.tags if tag == "canvas")
    assert canvas.get("aria-label")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html


def test_page_links_only_local_static_assets_that_exist(page, settings):
    response, parser = page
    assert parser.urls, "the page should load its script and stylesheet"
    for url in parser.urls:
        assert url.startswith(
            settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
        ), url
        path = url.split("?")[0].removeprefix("/").removeprefix(settings.STATIC_URL.strip("/") + "/")
        assert finders.find(path), f"{url} is not a static file"
    html = response.content.decode()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "no absolute or protocol-relative URLs"


@pytest.mark.parametrize("asset", ["recognizer/app.js", "recognizer/app.css"])
def test_static_assets_make_no_external_requests(asset):
    with open(finders.find(asset), encoding="utf-8") as f:
        text = f.read()
    assert not re.search(r"https?://", text), f"{asset} mentions an absolute URL"
    assert "@import" not in text and "fonts.googleapis" not in text


def test_page_sets_the_csrf_cookie_for_the_api_calls(db):
    client = Client(enforce_csrf_checks=True)
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert response.cookies["csrftoken"].value


def test_page_points_at_the_api_endpoints(page):
    response, parser = page
    app = next(attrs for tag, attrs in parser.tags if attrs.get("id") == "app")
    assert app["data-predict-url"] == "/api/predict/"
    assert app["data-mine-url"] == "/api/drawings/mine/"
    assert app["data-feedback-url"] == "/api/drawings/{id}/feedback/"


def test_page_says_which_handwriting_styles_are_read(page):
    response, _ = page
    text = " ".join(response.content.decode().split())
    assert "a crossed 7, a European 1 with its long up-stroke and a slashed zero are all read" in text

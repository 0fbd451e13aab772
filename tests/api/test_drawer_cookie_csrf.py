"""The drawer cookie (who drew a drawing) as a credential: it expires on the server as in the browser, and a write it
authorizes (delete, feedback) must come from the drawing page: its CSRF token, or a same-origin Origin header. Staff
with a token are not affected."""

import re
from pathlib import Path

import pytest
from django.core import signing
from django.http import HttpResponse
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory

from recognizer import drawer
from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

ROOT = Path(__file__).resolve().parents[2]
EVIL = "https://evil.example"


def cookie_for(key):
    return drawer.remember_drawer(HttpResponse(), key).cookies[drawer.COOKIE].value


def request_with(cookie):
    request = APIRequestFactory().get("/")
    request.COOKIES[drawer.COOKIE] = cookie
    return request


# -- the cookie expires on the server


def test_a_cookie_older_than_its_lifetime_is_refused(monkeypatch, settings):
    now = signing.time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - settings.SESSION_COOKIE_AGE - 60)
    old = cookie_for("k" * 32)  # signed more than a lifetime ago
    monkeypatch.setattr(signing.time, "time", lambda: now - settings.SESSION_COOKIE_AGE + 60)
    recent = cookie_for("r" * 32)  # signed just inside it
    monkeypatch.undo()
    assert drawer.drawer_key(request_with(old)) is None
    assert drawer.drawer_key(request_with(recent)) == "r" * 32
    drawing = make_drawing(drawer_key="k" * 32)
    client = APIClient()
    client.cookies[drawer.COOKIE] = old
    assert client.get(f"/api/drawings/{drawing.pk}/").status_code == 401  # no drawer: not authenticated
    assert client.delete(f"/api/drawings/{drawing.pk}/").status_code == 401
    assert Drawing.objects.filter(pk=drawing.pk).exists()


@pytest.mark.parametrize("value", ["", "abc", "k" * 32, "x" * 32 + ":tampered"])
def test_a_bad_cookie_is_no_drawer(value):
    assert drawer.drawer_key(request_with(value)) is None
    assert drawer.drawer_key(request_with(cookie_for("good-key")[:-2] + "xx")) is None


def test_a_cookie_signed_with_an_old_secret_key_reads_while_it_is_a_fallback(settings):
    cookie = cookie_for("k" * 32)
    original = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    assert drawer.drawer_key(request_with(cookie)) is None
    settings.SECRET_KEY_FALLBACKS = [original]
    assert drawer.drawer_key(request_with(cookie)) == "k" * 32


def test_every_request_checks_its_cookie_afresh(monkeypatch):
    """No process-wide memo of checked cookies (issue 24: it saved ~0.12 ms): each read checks the signature."""
    checks = []
    unsign = signing.TimestampSigner.unsign
    monkeypatch.setattr(
        signing.TimestampSigner, "unsign", lambda self, *a, **k: checks.append(1) or unsign(self, *a, **k)
    )
    cookie = cookie_for("k" * 32)
    assert [drawer.drawer_key(request_with(cookie)) for _ in range(3)] == ["k" * 32] * 3
    assert len(checks) == 3


# -- writes made with the cookie need the page's CSRF token or a same-origin Origin


def browser(key, enforce_csrf=True):
    """A browser that drew with ``key``: strict CSRF checks, as a real browser gets."""
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.cookies[drawer.COOKIE] = cookie_for(key)
    return client


def delete(client, drawing, **headers):
    return client.delete(f"/api/drawings/{drawing.pk}/", **headers)


def feedback(client, drawing, **headers):
    return client.post(
        f"/api/drawings/{drawing.pk}/feedback/", {"label": 3}, content_type="application/json", **headers
    )


def test_a_cross_origin_delete_or_feedback_with_the_cookie_is_refused():
    drawing = make_drawing(drawer_key="k" * 32)
    client = browser("k" * 32)
    for write in (delete, feedback):
        for headers in ({"HTTP_ORIGIN": EVIL}, {"HTTP_ORIGIN": "null"}, {}):  # another site; no token at all
            response = write(client, drawing, **headers)
            assert response.status_code == 403, (write.__name__, headers, response.content)
            assert "CSRF" in response.json()["detail"]
    drawing.refresh_from_db()
    assert drawing.label is None
    assert Drawing.objects.filter(pk=drawing.pk).exists()


def test_the_same_origin_or_the_pages_token_lets_the_drawer_write():
    first, second = make_drawing(drawer_key="k" * 32), make_drawing(drawer_key="k" * 32)
    client = browser("k" * 32)
    response = feedback(client, first, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200 and response.json()["label"] == 3
    assert delete(client, first, HTTP_ORIGIN="http://testserver").status_code == 204
    # no Origin: the token the drawing page set (its csrftoken cookie), sent back in X-CSRFToken as app.js does
    page = client.get("/")
    token = page.cookies["csrftoken"].value
    assert feedback(client, second, HTTP_X_CSRFTOKEN=token).status_code == 200
    assert delete(client, second, HTTP_X_CSRFTOKEN=token).status_code == 204
    assert not Drawing.objects.filter(pk__in=[first.pk, second.pk]).exists()
    # a token with another site's Origin is still another site
    third = make_drawing(drawer_key="k" * 32)
    assert delete(client, third, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN=EVIL).status_code == 403


def test_trusted_origins_are_the_same_site(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://digits.example", "https://*.apps.example"]
    drawings = [make_drawing(drawer_key="k" * 32) for _ in range(3)]
    client = browser("k" * 32)
    assert delete(client, drawings[0], HTTP_ORIGIN="https://digits.example").status_code == 204
    assert delete(client, drawings[1], HTTP_ORIGIN="https://a.apps.example").status_code == 204
    assert delete(client, drawings[2], HTTP_ORIGIN="http://a.apps.example").status_code == 403  # not its scheme
    assert delete(client, drawings[2], HTTP_ORIGIN="https://apps.example.evil").status_code == 403


def test_reading_with_the_cookie_needs_no_token():
    drawing = make_drawing(drawer_key="k" * 32)
    client = browser("k" * 32)
    assert client.get(f"/api/drawings/{drawing.pk}/", HTTP_ORIGIN=EVIL).status_code == 200
    assert client.get(f"/api/drawings/{drawing.pk}/image.png").status_code == 200


def test_staff_with_a_token_are_not_affected(staff_user):
    drawing = make_drawing(drawer_key="k" * 32)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    client.cookies[drawer.COOKIE] = cookie_for("k" * 32)
    assert client.delete(f"/api/drawings/{drawing.pk}/", HTTP_ORIGIN=EVIL).status_code == 204


def test_the_drawing_page_sends_its_csrf_token_with_every_write():
    """app.js sends X-CSRFToken (from the csrftoken cookie the page sets) on every request that is not a GET, and
    the feedback and delete calls go through that one function."""
    script = (ROOT / "static" / "recognizer" / "app.js").read_text()
    assert re.search(r'if \(method !== "GET"\) headers\["X-CSRFToken"\] = csrfToken\(\);', script)
    assert re.search(r"await api\(urls\.feedback\(drawing\.id\), \{ method: \"POST\"", script)
    assert re.search(r'await api\([^;]*\{ method: "DELETE" \}\)', script)
    response = Client(enforce_csrf_checks=True).get("/")
    assert response.cookies["csrftoken"].value

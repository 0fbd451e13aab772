"""A stored drawing's image is served the same way by the API and the admin: only PNG, JPEG and WebP inline,
anything else (an SVG with script, HTML) as an inert download, always sandboxed and never sniffed."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

# Cache-Control differs on purpose: admin_view marks every admin page never_cache.
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Content-Disposition")


@pytest.fixture
def fetch_both(admin_user, admin_client):
    api = APIClient()
    api.force_authenticate(admin_user)

    def fetch(drawing):
        return (
            api.get(f"/api/drawings/{drawing.pk}/image.png"),
            admin_client.get(reverse("admin:recognizer_drawing_image", args=[drawing.pk])),
        )

    return fetch


@pytest.mark.parametrize(
    "image, stored_type",
    [(b"<svg onload=alert(1)>", "image/svg+xml"), (b"<script>alert(1)</script>", "text/html"), (b"x", "")],
)
def test_other_types_are_an_inert_download(fetch_both, image, stored_type):
    for response in fetch_both(make_drawing(image=image, image_type=stored_type)):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == "attachment"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize("stored_type", ["image/png", "image/jpeg", "image/webp"])
def test_allowed_types_are_shown_inline_with_the_same_headers(fetch_both, stored_type):
    api, admin = fetch_both(make_drawing(image=b"bytes as received", image_type=stored_type))
    assert api.content == admin.content == b"bytes as received"
    assert api["Content-Type"] == admin["Content-Type"] == stored_type
    assert "Content-Disposition" not in api
    assert {h: api.get(h) for h in SECURITY_HEADERS} == {h: admin.get(h) for h in SECURITY_HEADERS}
    assert "sandbox" in api["Content-Security-Policy"]

"""Content-Security-Policy (recognizer/csp.py): on every HTML page, no inline script in any template; the API docs
have their own policy; stored images keep their sandbox. The browser tests assert no violation (browser/conftest.py)."""

import re
from pathlib import Path

import pytest

from recognizer import csp

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html")) + sorted((ROOT / "recognizer").rglob("templates/**/*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_script_or_event_handlers(template):
    html = template.read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "javascript:" not in html


def test_policies_allow_no_inline_script_and_no_eval():
    for policy in (csp.PAGES, csp.API_DOCS):
        script = next(d for d in policy.split("; ") if d.startswith("script-src"))
        assert script == "script-src 'self'"
    assert "frame-ancestors 'none'" in csp.PAGES


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, policy",
    [("/", csp.PAGES), ("/admin/login/", csp.PAGES), ("/api/docs/", csp.API_DOCS), ("/api/redoc/", csp.API_DOCS)],
)
def test_pages_carry_their_policy(client, path, policy):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == policy


@pytest.mark.django_db
def test_json_answers_carry_none(client):
    assert "Content-Security-Policy" not in client.get("/healthz")


@pytest.mark.django_db
def test_a_stored_image_keeps_its_sandbox(viewer):
    from tests.factories import make_drawing

    drawing = make_drawing()
    response = viewer.get(f"/api/drawings/{drawing.id}/image.png")
    assert response.status_code == 200
    assert "sandbox" in response["Content-Security-Policy"]

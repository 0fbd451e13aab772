"""GET /api/drawings/ pages by cursor (the same cost at any depth), keeps ?page= for the first pages, and counts only
up to a bound unless asked (issue 25)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from recognizer.api import pagination
from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture
def drawings():
    rows = [make_drawing(keras=i % 10, custom=i % 10) for i in range(11)]
    now = timezone.now()
    for i, d in enumerate(rows):  # three share one timestamp: the id breaks the tie
        Drawing.objects.filter(pk=d.pk).update(created=now - timedelta(minutes=min(i, 4)))
    return list(Drawing.objects.order_by("-created", "-id").values_list("pk", flat=True))


def walk(client, url, key="next"):
    pages = []
    while url:
        body = client.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body[key]
    return pages


def test_next_links_walk_every_drawing_once_in_order(staff_api, drawings):
    pages = walk(staff_api, "/api/drawings/?page_size=3")
    assert [pk for page in pages for pk in page] == drawings
    assert [len(p) for p in pages] == [3, 3, 3, 2]


def test_previous_links_walk_back(staff_api, drawings):
    body = staff_api.get("/api/drawings/?page_size=4").json()
    second = staff_api.get(body["next"]).json()
    third = staff_api.get(second["next"]).json()
    back = staff_api.get(third["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in second["results"]]
    first = staff_api.get(back["previous"]).json()
    assert [r["id"] for r in first["results"]] == drawings[:4] and first["previous"] is None


def test_filters_hold_across_cursor_pages(staff_api, drawings):
    pages = walk(staff_api, "/api/drawings/?page_size=2&predicted=3")
    expected = list(
        Drawing.objects.filter(predictions__digit=3).distinct().order_by("-created", "-id").values_list("pk", flat=True)
    )
    assert [pk for page in pages for pk in page] == expected


def test_page_numbers_work_for_the_first_pages_then_hand_over_to_the_cursor(staff_api, drawings, monkeypatch):
    monkeypatch.setattr(pagination, "MAX_PAGE_ROWS", 6)
    page2 = staff_api.get("/api/drawings/?page=2&page_size=3").json()
    assert [r["id"] for r in page2["results"]] == drawings[3:6]
    assert "cursor=" in page2["next"] and "page=" not in page2["next"]
    page3 = staff_api.get(page2["next"]).json()
    assert [r["id"] for r in page3["results"]] == drawings[6:9]
    deep = staff_api.get("/api/drawings/?page=3&page_size=3")
    assert deep.status_code == 400 and "cursor" in deep.json()["detail"]


def test_bad_cursor_is_a_400(staff_api, drawings):
    for bad in ["nope", "bm9wZQ", "WyJ4IiwgIjIwMjYtMDEtMDEiLCAxXQ"]:
        response = staff_api.get("/api/drawings/", {"cursor": bad})
        assert response.status_code == 400 and response.json()["error"] == "invalid", bad
    both = staff_api.get("/api/drawings/", {"cursor": "x", "page": "1"})
    assert both.status_code == 400


def test_count_is_exact_up_to_a_bound_then_estimated_unless_asked(staff_api, drawings, monkeypatch):
    body = staff_api.get("/api/drawings/").json()
    assert (body["count"], body["count_exact"]) == (11, True)
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 5)
    body = staff_api.get("/api/drawings/").json()
    if connection.vendor == "postgresql":
        assert body["count_exact"] is False and body["count"] >= 6  # the planner's estimate, no full COUNT
    else:
        assert (body["count"], body["count_exact"]) == (11, True)  # SQLite has no estimate: counted
    asked = staff_api.get("/api/drawings/", {"count": "true"}).json()
    assert (asked["count"], asked["count_exact"]) == (11, True)
    assert staff_api.get("/api/drawings/", {"count": "maybe"}).status_code == 400


def test_schema_documents_the_cursor(client):
    doc = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    listing = doc["paths"]["/api/drawings/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"cursor", "page", "page_size", "count"} <= names
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert {"count", "count_exact", "next", "previous", "results"} <= set(schema["properties"])

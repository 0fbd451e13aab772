"""The accuracy dashboard page in the admin: the numbers of recognizer.staff.accuracy, with inline SVG plots."""

import re

import pytest
from django.urls import reverse

from recognizer.staff import accuracy
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

URL = reverse("admin:recognizer_drawing_dashboard")


def card(html, element_id):
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def test_empty_database_renders(viewer):
    response = viewer.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert card(html, "dash-labeled") == "0"
    assert card(html, "dash-accuracy-keras") == "—"
    assert "no labeled drawings yet" in html


def test_numbers_and_plots(viewer):
    make_drawing(keras=1, custom=1, label=1)
    make_drawing(keras=2, custom=3, label=3)
    make_drawing(keras=4, custom=4, label=4)
    make_drawing(keras=5, custom=5, label=6, label_source="user")
    html = viewer.get(URL).content.decode()
    numbers = accuracy.compute()
    assert card(html, "dash-labeled") == "3"
    assert card(html, "dash-accuracy-keras") == "66.7%"  # 2 of 3
    assert card(html, "dash-accuracy-custom") == "100.0%"
    assert card(html, "dash-agreement") == "66.7%"
    assert card(html, "dash-coverage") == f"{100 * numbers['coverage']['rate']:.1f}%"
    assert html.count('class="cell"') == 200  # two 10×10 confusion matrices
    # the heatmap cell for label 3 predicted 2 by keras holds the count 1
    assert 'data-label="3" data-predicted="2" data-count="1"' in html
    assert html.count('class="chart"') == 5  # two heatmaps, accuracy by week, histogram, calibration
    # plots are drawn here: no script, image or stylesheet from anywhere else
    assert not re.search(r'(src|href)="https?://', html)


def test_switch_includes_user_labels(viewer):
    make_drawing(keras=1, custom=1, label=1)
    make_drawing(keras=5, custom=5, label=6, label_source="user")
    html = viewer.get(URL, {"include_user_labels": "1"}).content.decode()
    assert card(html, "dash-labeled") == "2"
    assert card(html, "dash-accuracy-keras") == "50.0%"
    assert "staff labels and user feedback" in html


def test_switch_includes_imported_drawings(viewer):
    make_drawing(keras=1, custom=1, label=1)
    make_drawing(keras=5, custom=5, label=6, source="import")
    make_drawing(keras=5, custom=5, label=6, label_source="user")
    html = viewer.get(URL).content.decode()
    assert card(html, "dash-labeled") == "1" and card(html, "dash-drawings") == "2"  # production only
    assert 'href="?include_imported=1" id="include-imported"' in html
    html = viewer.get(URL, {"include_imported": "1"}).content.decode()
    assert card(html, "dash-labeled") == "2" and card(html, "dash-drawings") == "3"
    assert card(html, "dash-accuracy-keras") == "50.0%"
    assert "production and imported" in html
    assert 'href="/api/accuracy/?include_imported=1" id="dash-json"' in html
    # the other switch keeps this one on
    assert 'href="?include_user_labels=1&amp;include_imported=1" id="include-user-labels"' in html
    html = viewer.get(URL, {"include_imported": "1", "include_user_labels": "1"}).content.decode()
    assert card(html, "dash-labeled") == "3"


def test_only_staff_with_view_permission(client, staff_user, plain_user):
    assert client.get(URL).status_code == 302
    client.force_login(plain_user)
    assert client.get(URL).status_code == 302
    client.force_login(staff_user)
    assert client.get(URL).status_code == 403

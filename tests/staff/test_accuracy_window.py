"""The time window (last 7 / 30 / 90 days, or all) on the dashboard, /api/accuracy/ and manage.py accuracy."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:recognizer_drawing_dashboard")


@pytest.fixture
def drawings():
    old = make_drawing(keras=1, custom=1, label=1)
    Drawing.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=45))
    make_drawing(keras=2, custom=2, label=2)


def test_api_window(staff_api, drawings):
    assert staff_api.get("/api/accuracy/").json()["labeled"] == 2
    data = staff_api.get("/api/accuracy/", {"days": "30"}).json()
    assert (data["days"], data["labeled"]) == (30, 1)
    assert staff_api.get("/api/accuracy/", {"days": "90"}).json()["labeled"] == 2
    assert staff_api.get("/api/accuracy/", {"days": "all"}).json()["days"] is None
    bad = staff_api.get("/api/accuracy/", {"days": "12"})
    assert bad.status_code == 400 and "days" in bad.json()["detail"]


def test_dashboard_window(admin_client, drawings):
    html = admin_client.get(DASHBOARD).content.decode()
    assert "<strong>all time</strong>" in html and "?days=7" in html
    response = admin_client.get(DASHBOARD, {"days": "30", "include_user_labels": "1"})
    html = response.content.decode()
    assert response.context["n"]["days"] == 30 and response.context["n"]["labeled"] == 1
    assert "<strong>last 30 days</strong>" in html
    assert "days=30" in response.context["api_url"] and "include_user_labels=1" in response.context["api_url"]
    assert 'id="dash-as-of"' not in html  # every drawing counted


def test_command_window(drawings):
    out = io.StringIO()
    call_command("accuracy", "--json", "--days", "7", stdout=out)
    numbers = json.loads(out.getvalue())
    assert (numbers["days"], numbers["labeled"]) == (7, 1)

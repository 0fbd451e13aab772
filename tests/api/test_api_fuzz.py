"""Hypothesis over the label, feedback, filter and queue parameters: any input is answered, never with a 5xx.

The bad-input battery pins the known cases (deep JSON, 4,400-digit labels, +99:00 offsets, ids past 2**63); this
looks for the ones nobody listed. Every answer must be JSON below 500.
"""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.factories import drawer_client, make_drawing

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers_as_text = st.one_of(
    st.integers().map(str),
    st.integers(min_value=0, max_value=5000).map(lambda n: "9" * n),
    st.sampled_from([str(2**63), str(-(2**63) - 1), "1e309", "NaN", "-0", "+5", "٣", "0x10", " 7 "]),
)
offsets = st.sampled_from(["+99:00", "-24:00", "+23:59", "Z", "+00:00", "-99:99", "+5", ""])
date_times = st.one_of(
    st.builds(lambda d, o: d.isoformat() + o, st.datetimes(), offsets),
    st.builds(lambda y, o: f"{y:04d}-01-01T00:00:00{o}", st.integers(0, 9999), offsets),
    st.text(max_size=40),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), numbers_as_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10,
)
filter_names = ["labeled", "label", "label_source", "agree", "predicted", "model", "min_confidence", "max_confidence",
                "created_after", "created_before", "page", "page_size", "format", "include_user_labels",
                "only_disagreements"]  # fmt: skip
query = st.dictionaries(st.sampled_from(filter_names), st.one_of(numbers_as_text, date_times, st.text(max_size=30)))


def deep(n):
    return "[" * n + "]" * n


raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps({"label": v, "id": v})),
    st.integers(0, 6000).map(lambda n: '{"id": 1, "label": ' + deep(n) + "}"),
    numbers_as_text.map(lambda t: '{"id": ' + t + ', "label": ' + t + "}"),
    st.text(max_size=50),
)


def assert_clean(response):
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert set(body) >= {"error", "detail"}, body


@pytest.fixture
def clients(django_user_model):
    cache.clear()
    staff = django_user_model.objects.create_user("fuzz-staff", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_drawing", "change_drawing"], content_type__app_label="recognizer"
        )
    )
    api = APIClient()
    api.force_authenticate(staff)
    admin = Client()
    admin.force_login(staff)
    owner = drawer_client()
    drawing = make_drawing(drawer_key=owner.key)
    yield api, admin, owner, drawing
    cache.clear()


@FUZZ
@given(body=raw_bodies)
def test_label_and_feedback_bodies_never_5xx(clients, body):
    api, _admin, owner, drawing = clients
    cache.clear()  # the feedback throttle
    assert_clean(api.generic("PATCH", f"/api/drawings/{drawing.pk}/", body, content_type="application/json"))
    assert_clean(owner.generic("POST", f"/api/drawings/{drawing.pk}/feedback/", body, content_type="application/json"))


@FUZZ
@given(params=query)
def test_list_and_export_filters_never_5xx(clients, params):
    api, *_ = clients
    assert_clean(api.get("/api/drawings/", params))
    assert_clean(api.get("/api/drawings/export/", {"format": "csv", **params}))


@FUZZ
@given(exclude=st.lists(st.one_of(numbers_as_text, st.text(max_size=10)), max_size=4), count=numbers_as_text,
       body=raw_bodies)  # fmt: skip
def test_queue_parameters_never_5xx(clients, exclude, count, body):
    _api, admin, *_ = clients
    assert_clean(
        admin.get(reverse("admin:recognizer_drawing_queue_next"), {"exclude": ",".join(exclude), "count": count})
    )
    for name in ("label", "skip"):
        url = reverse(f"admin:recognizer_drawing_queue_{name}")
        assert_clean(admin.post(url, body, content_type="application/json"))

"""The labeling queue: order, leases between staff members, label, skip, undo, errors and permissions."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from recognizer.models import Drawing
from recognizer.staff import queue as labeling_queue
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:recognizer_drawing_queue")
NEXT = reverse("admin:recognizer_drawing_queue_next")
LABEL = reverse("admin:recognizer_drawing_queue_label")
SKIP = reverse("admin:recognizer_drawing_queue_skip")
UNDO = reverse("admin:recognizer_drawing_queue_undo")
RESET = reverse("admin:recognizer_drawing_queue_reset")


@pytest.fixture(autouse=True)
def clear_leases():
    cache.clear()
    yield
    cache.clear()


def labeler(user):
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_drawing", "change_drawing"], content_type__app_label="recognizer"
        )
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(staff_user):
    return labeler(staff_user)


@pytest.fixture
def bob(other_staff_user):
    return labeler(other_staff_user)


def post(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def next_ids(client, count=1, exclude=()):
    response = client.get(NEXT, {"count": count, "exclude": ",".join(map(str, exclude))})
    assert response.status_code == 200, response.content
    return [d["id"] for d in response.json()["drawings"]]


@pytest.fixture
def queue():
    """Named drawings; the expected queue order is written out in test_order."""
    return {
        "sure": make_drawing(keras=1, custom=1, keras_conf=0.99, custom_conf=0.97),
        "split_sure": make_drawing(keras=2, custom=3, keras_conf=0.96, custom_conf=0.95),
        "unsure_agree": make_drawing(keras=4, custom=4, keras_conf=0.95, custom_conf=0.6),
        "split_unsure": make_drawing(keras=5, custom=6, keras_conf=0.5, custom_conf=0.9),
        "fairly_sure": make_drawing(keras=7, custom=7, keras_conf=0.8, custom_conf=0.85),
        "staff_done": make_drawing(keras=8, custom=8, keras_conf=0.3, custom_conf=0.3, label=8),
        "user_said": make_drawing(keras=9, custom=9, keras_conf=0.92, custom_conf=0.99, label=9, label_source="user"),
    }


def names(queue, ids):
    by_pk = {d.pk: name for name, d in queue.items()}
    return [by_pk[i] for i in ids]


def test_order(queue):
    order = labeling_queue.queue_order()
    # disagreements first (least confident first), then low confidence, then the rest; staff-labeled never
    assert names(queue, order) == [
        "split_unsure",
        "split_sure",
        "unsure_agree",
        "fairly_sure",
        "user_said",
        "sure",
    ]


def test_next_follows_the_order_and_shows_both_answers(alice, queue):
    response = alice.get(NEXT, {"count": 2})
    data = response.json()
    assert names(queue, [d["id"] for d in data["drawings"]]) == ["split_unsure", "split_sure"]
    first = data["drawings"][0]
    assert {a["model"]: (a["digit"], a["confidence"]) for a in first["answers"]} == {
        "keras": (5, 0.5),
        "custom": (6, 0.9),
    }
    assert first["agree"] is False
    assert first["image_url"] == reverse("admin:recognizer_drawing_image", args=[first["id"]])
    assert len(first["answers"][0]["probabilities"]) == 10
    assert data["remaining"] == 6


def test_label_moves_on_and_records_staff(alice, staff_user, queue):
    first = next_ids(alice)[0]
    response = post(alice, LABEL, {"id": first, "label": 6})
    assert response.status_code == 200
    assert response.json()["remaining"] == 5
    d = Drawing.objects.get(pk=first)
    assert (d.label, d.label_source, d.labeled_by) == (6, "staff", staff_user)
    assert d.labeled_at is not None
    assert names(queue, next_ids(alice)) == ["split_sure"]


def test_a_drawing_handed_to_one_staff_member_is_not_handed_to_another(alice, bob, queue):
    a = next_ids(alice, count=2)
    b = next_ids(bob, count=2)
    assert not set(a) & set(b)
    assert names(queue, b) == ["unsure_agree", "fairly_sure"]
    # alice labels hers; bob never gets them, labeled or still leased
    post(alice, LABEL, {"id": a[0], "label": 5})
    later = next_ids(bob, count=10, exclude=b)
    assert not set(a) & set(later)


def test_lease_runs_out(alice, bob, queue):
    (a,) = next_ids(alice)
    cache.delete(labeling_queue.lease_key(a))  # as if LEASE_SECONDS had passed
    assert next_ids(bob) == [a]


def test_asking_again_gives_the_same_drawing_back_to_its_holder(alice, queue):
    assert next_ids(alice) == next_ids(alice)


def test_label_refuses_what_another_staff_member_labeled(alice, bob, queue):
    d = queue["sure"]
    post(bob, LABEL, {"id": d.pk, "label": 1})
    response = post(alice, LABEL, {"id": d.pk, "label": 7})
    assert response.status_code == 409
    assert response.json()["error"] == "already_labeled"
    d.refresh_from_db()
    assert d.label == 1


def test_skip(alice, bob, queue):
    first = next_ids(alice)[0]
    response = post(alice, SKIP, {"id": first})
    assert response.json()["skipped"] == 1
    assert first not in next_ids(alice, count=10)
    assert first in next_ids(bob, count=10)  # a skip is one person's, and it gave the lease back
    assert Drawing.objects.get(pk=first).label is None
    cache.clear()
    post(alice, RESET)
    assert next_ids(alice)[0] == first


def test_undo_restores_the_drawing_and_returns_it(alice, queue):
    first, second = next_ids(alice, count=2)
    post(alice, LABEL, {"id": first, "label": 3})
    post(alice, LABEL, {"id": second, "label": 4})
    response = post(alice, UNDO)
    assert response.status_code == 200
    assert response.json()["drawing"]["id"] == second
    assert Drawing.objects.get(pk=second).label is None
    assert Drawing.objects.get(pk=first).label == 3
    post(alice, UNDO)
    assert Drawing.objects.get(pk=first).label is None
    assert post(alice, UNDO).status_code == 409  # nothing left to undo


def test_undo_puts_a_user_label_back(alice, queue):
    d = queue["user_said"]
    said_at = d.labeled_at
    post(alice, LABEL, {"id": d.pk, "label": 4})
    assert Drawing.objects.get(pk=d.pk).label_source == "staff"
    post(alice, UNDO)
    d.refresh_from_db()
    assert (d.label, d.label_source, d.labeled_by, d.labeled_at) == (9, "user", None, said_at)


def test_undo_of_a_label_whose_earlier_labeler_was_deleted_restores_nobody(alice, queue, django_user_model):
    d = queue["user_said"]
    carol = django_user_model.objects.create_user(username="carol", is_staff=True)
    Drawing.objects.filter(pk=d.pk).update(labeled_by=carol)  # the label alice replaces names carol
    post(alice, LABEL, {"id": d.pk, "label": 4})
    carol.delete()  # her id is still in alice's undo record
    response = post(alice, UNDO)
    assert response.status_code == 200, response.content
    d.refresh_from_db()
    assert (d.label, d.label_source, d.labeled_by) == (9, "user", None)


def test_undone_drawing_stays_with_its_labeler(alice, bob, queue):
    (first,) = next_ids(alice)
    post(alice, LABEL, {"id": first, "label": 3})
    post(alice, UNDO)
    assert first not in next_ids(bob, count=10)


def test_undo_does_not_clobber_a_later_change(alice, bob, queue, other_staff_user):
    d = queue["sure"]
    post(alice, LABEL, {"id": d.pk, "label": 1})
    d.refresh_from_db()
    d.set_label(7, by=other_staff_user)  # bob corrected it in the admin meanwhile
    response = post(alice, UNDO)
    assert response.status_code == 409
    d.refresh_from_db()
    assert d.label == 7


@pytest.mark.parametrize(
    "body, code",
    [
        ({"id": "x", "label": 1}, "invalid_id"),
        ({"label": 1}, "invalid_id"),
        ({"id": 1, "label": 10}, "invalid_label"),
        ({"id": 1, "label": -1}, "invalid_label"),
        ({"id": 1, "label": True}, "invalid_label"),
        ({"id": 1, "label": 1.5}, "invalid_label"),
        ({"id": 1}, "invalid_label"),
        ({"id": 2**63, "label": 1}, "invalid_id"),
        ({"id": str(2**64), "label": 1}, "invalid_id"),
        ({"id": 0, "label": 1}, "invalid_id"),
        ({"id": 1, "label": "9" * 4400}, "invalid_label"),
        ({"id": "1" * 5000, "label": 1}, "invalid_id"),
        ({"id": 1, "label": [[[[1]]]]}, "invalid_label"),
    ],
)
def test_bad_label_requests(alice, queue, body, code):
    response = post(alice, LABEL, body)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert Drawing.objects.filter(label_source="staff").count() == 1


def test_not_json_and_unknown_drawing(alice, queue):
    response = alice.post(LABEL, "label=3", content_type="text/plain")
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    for body in (b"null", b"[1]", b'"x"', b"3"):
        for url in (LABEL, SKIP):
            response = alice.post(url, body, content_type="application/json")
            assert response.status_code == 400 and response.json()["error"] == "invalid_json", (url, body)
    response = post(alice, LABEL, {"id": 999999, "label": 3})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert alice.get(LABEL).status_code == 405
    assert alice.get(NEXT, {"count": "many"}).json()["error"] == "invalid_count"


def test_deep_json_huge_ids_and_numbers_are_400s(alice, queue):
    deep = b'{"id": 1, "label": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for url in (LABEL, SKIP):
        response = alice.post(url, deep, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    huge_number = b'{"id": 1, "label": ' + b"7" * 4400 + b"}"
    response = alice.post(LABEL, huge_number, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    response = post(alice, SKIP, {"id": 2**63})
    assert response.status_code == 400 and response.json()["error"] == "invalid_id"
    for exclude in (str(2**63), "-1", "9" * 5000):
        response = alice.get(NEXT, {"exclude": exclude})
        assert response.status_code == 400 and response.json()["error"] == "invalid_exclude", exclude
    assert alice.get(NEXT, {"count": "9" * 5000}).json()["error"] == "invalid_count"
    assert Drawing.objects.filter(label_source="staff").count() == 1


def test_empty_queue(alice):
    data = alice.get(NEXT).json()
    assert data["drawings"] == [] and data["remaining"] == 0


def test_queue_page(alice, queue):
    response = alice.get(QUEUE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="queue-remaining">6<' in html
    assert "recognizer/admin/queue.js" in html
    assert f'data-label-url="{LABEL}"' in html


def test_permissions(client, plain_user, staff_user, queue):
    d = queue["sure"]
    for who in ("anonymous", "plain"):
        c = Client()
        if who == "plain":
            c.force_login(plain_user)
        assert c.get(NEXT).status_code == 302
        assert post(c, LABEL, {"id": d.pk, "label": 2}).status_code == 302
    view_only = Client()
    staff_user.user_permissions.add(Permission.objects.get(codename="view_drawing"))
    view_only.force_login(staff_user)
    assert view_only.get(QUEUE).status_code == 403
    assert view_only.get(NEXT).status_code == 403
    assert post(view_only, LABEL, {"id": d.pk, "label": 2}).status_code == 403
    d.refresh_from_db()
    assert d.label is None


def test_csrf_is_enforced(staff_user, queue):
    c = Client(enforce_csrf_checks=True)
    staff_user.user_permissions.add(*Permission.objects.filter(codename="change_drawing"))
    c.force_login(staff_user)
    response = post(c, LABEL, {"id": queue["sure"].pk, "label": 2})
    assert response.status_code == 403
    assert Drawing.objects.get(pk=queue["sure"].pk).label is None

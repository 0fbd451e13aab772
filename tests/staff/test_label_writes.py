"""Every label write goes through the model (``Drawing.write_labels``); another staff member's label needs an explicit
override in the queue and in the admin's bulk actions, which ask on a page before replacing it."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from recognizer.models import Drawing, LabelConflict
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:recognizer_drawing_changelist")


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user("alice", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_drawing", "change_drawing"], content_type__app_label="recognizer"
        )
    )
    return user


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", is_staff=True)


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def state(pk):
    d = Drawing.objects.get(pk=pk)
    return d.label, d.label_source, d.labeled_by_id


def test_set_label_without_override_keeps_another_staff_label(alice, bob):
    d = make_drawing()
    d.set_label(4, by=bob)
    with pytest.raises(LabelConflict):
        d.set_label(5, by=alice, override=False)
    assert state(d.pk) == (4, "staff", bob.pk)
    assert d.label == 4  # the instance shows what the database holds
    d.set_label(5, by=alice)  # an edit of this one drawing (the admin's form, PATCH) replaces it
    assert state(d.pk) == (5, "staff", alice.pk)


def test_label_many_writes_the_others_and_reports_the_refused(alice, bob):
    mine, theirs, user_said = make_drawing(), make_drawing(), make_drawing()
    theirs.set_label(1, by=bob)
    user_said.add_user_feedback(2)
    written, refused = Drawing.label_many([mine.pk, theirs.pk, user_said.pk], 7, by=alice)
    assert sorted(written) == sorted([mine.pk, user_said.pk]) and refused == [theirs.pk]
    assert state(mine.pk) == (7, "staff", alice.pk) and state(user_said.pk) == (7, "staff", alice.pk)
    assert state(theirs.pk) == (1, "staff", bob.pk)
    written, refused = Drawing.label_many([theirs.pk], 7, by=alice, override=True)
    assert (written, refused) == ([theirs.pk], [])
    assert state(theirs.pk) == (7, "staff", alice.pk)


def test_bulk_action_asks_before_replacing_another_staff_label(alice_client, alice, bob):
    free, theirs = make_drawing(), make_drawing()
    theirs.set_label(3, by=bob)
    response = alice_client.post(CHANGELIST, {"action": "set_label_8", "_selected_action": [free.pk, theirs.pk]})
    assert response.status_code == 200
    assert "admin/recognizer/drawing/confirm_override.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert 'id="confirm-override"' in html and "bob" in html
    assert state(free.pk) == (8, "staff", alice.pk)
    assert state(theirs.pk) == (3, "staff", bob.pk)  # kept until confirmed

    response = alice_client.post(
        CHANGELIST, {"action": "set_label_8", "_selected_action": [theirs.pk], "override": "1"}
    )
    assert response.status_code == 302
    assert state(theirs.pk) == (8, "staff", alice.pk)


def test_clear_action_keeps_another_staff_label_too(alice_client, alice, bob):
    theirs, mine = make_drawing(), make_drawing()
    theirs.set_label(3, by=bob)
    mine.set_label(4, by=alice)
    response = alice_client.post(CHANGELIST, {"action": "clear_label", "_selected_action": [theirs.pk, mine.pk]})
    assert response.status_code == 200
    assert state(theirs.pk) == (3, "staff", bob.pk)
    assert state(mine.pk) == (None, "", None)
    alice_client.post(CHANGELIST, {"action": "clear_label", "_selected_action": [theirs.pk], "override": "1"})
    assert state(theirs.pk) == (None, "", None)


def test_bulk_action_with_nothing_to_ask_redirects(alice_client, alice):
    d = make_drawing()
    response = alice_client.post(CHANGELIST, {"action": "set_label_2", "_selected_action": [d.pk]})
    assert response.status_code == 302
    assert state(d.pk) == (2, "staff", alice.pk)


def test_feedback_and_undo_go_through_the_model(alice):
    d = make_drawing()
    assert d.add_user_feedback(6) is True
    d.set_label(1, by=alice)
    assert d.add_user_feedback(2) is False
    assert state(d.pk) == (1, "staff", alice.pk)
    assert (
        d.restore_label(
            {"label": 6, "label_source": "user", "labeled_by": None, "labeled_at": None}, only_if=(9, "staff", alice.pk)
        )
        is False
    )  # not what the undo expected: left alone
    assert d.restore_label(
        {"label": 6, "label_source": "user", "labeled_by": None, "labeled_at": None}, only_if=(1, "staff", alice.pk)
    )
    assert state(d.pk) == (6, "user", None)

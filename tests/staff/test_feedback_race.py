"""Review finding: feedback from the drawer must never overwrite a staff label saved a moment before it."""

import threading

import pytest
from django.db import connection

from recognizer.models import Drawing
from tests.factories import make_drawing


@pytest.mark.django_db
def test_feedback_read_before_a_staff_label_does_not_overwrite_it(staff_user):
    drawing = make_drawing()
    stale = Drawing.objects.get(pk=drawing.pk)  # the drawer's request read the row: no staff label yet
    Drawing.objects.get(pk=drawing.pk).set_label(5, by=staff_user)  # staff label in between
    assert stale.add_user_feedback(3) is False
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by_id) == (5, "staff", staff_user.pk)
    assert (stale.label, stale.label_source) == (5, "staff")  # the caller sees what is stored


@pytest.mark.django_db
def test_feedback_on_an_unlabeled_drawing_is_stored():
    drawing = make_drawing()
    assert drawing.add_user_feedback(3) is True
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by_id) == (3, "user", None)


@pytest.mark.django_db(transaction=True)
def test_racing_feedback_and_staff_label_always_keep_the_staff_label(staff_user):
    """Two threads, two connections (on PostgreSQL in CI's second pass): staff always wins."""
    errors = []
    for _ in range(15):
        pk = make_drawing().pk
        barrier = threading.Barrier(2)

        def drawer(pk=pk, barrier=barrier):
            try:
                drawing = Drawing.objects.get(pk=pk)  # read first, write after the staff thread may have
                barrier.wait(timeout=10)
                drawing.add_user_feedback(3)
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                connection.close()

        def staff(pk=pk, barrier=barrier):
            try:
                barrier.wait(timeout=10)
                Drawing.objects.get(pk=pk).set_label(5, by=staff_user)
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                connection.close()

        threads = [threading.Thread(target=drawer), threading.Thread(target=staff)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert Drawing.objects.filter(pk=pk, label=5, label_source="staff").exists()

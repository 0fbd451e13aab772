"""Deleting drawings: DELETE /api/drawings/<id>/ by the person who drew it or staff, and `manage.py purge`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from recognizer.models import Drawing, Prediction
from tests.factories import drawer_client, make_drawing

pytestmark = pytest.mark.django_db


def test_the_drawer_deletes_their_drawing_and_its_predictions():
    owner = drawer_client()
    mine, other = make_drawing(drawer_key=owner.key), make_drawing(drawer_key="someone-else")
    response = owner.delete(f"/api/drawings/{mine.pk}/")
    assert response.status_code == 204, response.content
    assert not Drawing.objects.filter(pk=mine.pk).exists()
    assert not Prediction.objects.filter(drawing_id=mine.pk).exists()
    assert Prediction.objects.filter(drawing=other).count() == 2
    assert owner.delete(f"/api/drawings/{mine.pk}/").status_code == 404


def test_nobody_else_may_delete_but_staff_may(staff_user, plain_user):
    drawing = make_drawing(drawer_key="owner-key")
    anon = APIClient()
    assert anon.delete(f"/api/drawings/{drawing.pk}/").json()["error"] == "not_authenticated"
    assert drawer_client().delete(f"/api/drawings/{drawing.pk}/").status_code == 401  # as for GET
    plain = APIClient()
    plain.force_authenticate(plain_user)
    assert plain.delete(f"/api/drawings/{drawing.pk}/").status_code == 403
    assert Drawing.objects.filter(pk=drawing.pk).exists()
    staff = APIClient()
    staff.force_authenticate(staff_user)
    assert staff.delete(f"/api/drawings/{drawing.pk}/").status_code == 204
    assert not Drawing.objects.exists() and not Prediction.objects.exists()


def age(drawing, days):
    Drawing.objects.filter(pk=drawing.pk).update(created=timezone.now() - timedelta(days=days))


def run_purge(*args):
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


def test_purge_is_a_dry_run_unless_told_and_deletes_only_old_unlabeled_drawings():
    old = [make_drawing() for _ in range(5)]
    old_labeled, recent = make_drawing(label=3), make_drawing()
    for d in [*old, old_labeled]:
        age(d, 40)
    age(recent, 2)

    out = run_purge("--unlabeled-older-than", "30")
    assert "would delete 5 unlabeled drawings" in out and "(10 predictions)" in out
    assert Drawing.objects.count() == 7

    out = run_purge("--unlabeled-older-than", "30", "--yes", "--batch-size", "2")
    assert "Deleted 5 unlabeled drawings" in out and "10 predictions in 3 batches" in out
    assert set(Drawing.objects.values_list("pk", flat=True)) == {old_labeled.pk, recent.pk}
    assert Prediction.objects.count() == 4

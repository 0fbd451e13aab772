"""The accuracy rollup stays exact: after random predicts, labels, relabels, feedback, undo, bulk actions, imports,
deletions, folds and rebuilds, ``accuracy.compute()`` (the rollup) equals ``accuracy.compute_from_drawings()`` (a
scan of every drawing) for every switch and time window."""

import math
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from recognizer.models import Drawing, Rollup, RollupDrawing, RollupLabeled, RollupPrediction
from recognizer.staff import accuracy
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

SOURCES = ["web"] * 6 + ["api", "v2", "tfserving", "import"]
VERSIONS = ["v1", "v2"]


def same(a, b, path="numbers"):
    """Equal, floats to 1e-9 (the rollup adds and takes away confidences in another order than AVG does)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), (path, set(a) ^ set(b))
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def check_exact():
    for include_user_labels in (False, True):
        for include_imported in (False, True):
            for days in (None, 7, 30):
                options = {
                    "include_user_labels": include_user_labels,
                    "include_imported": include_imported,
                    "days": days,
                }
                reference = accuracy.compute_from_drawings(**options)
                same(accuracy.compute(**options), reference)


def predict(rng):
    keras = rng.randrange(10)
    custom = keras if rng.random() < 0.7 else rng.randrange(10)
    drawing = make_drawing(
        keras=keras,
        custom=custom,
        keras_conf=rng.choice([0.3, 0.55, 0.91, 0.97, 0.995, rng.random()]),
        custom_conf=rng.choice([0.45, 0.8, 0.93, 0.999, rng.random()]),
        keras_version=rng.choice(VERSIONS),
        custom_version=rng.choice(VERSIONS),
        source=rng.choice(SOURCES),
    )
    # spread over 60 days, as a bulk load would (only before it is counted: created never changes after)
    Drawing.objects.filter(pk=drawing.pk, counted=False).update(
        created=timezone.now() - timedelta(days=rng.randrange(60), hours=rng.randrange(24))
    )
    return drawing


def test_the_rollup_equals_a_full_recompute_after_random_changes(django_user_model):
    rng = random.Random(25)
    alice = django_user_model.objects.create_user("alice", is_staff=True)
    bob = django_user_model.objects.create_user("bob", is_staff=True)
    undo = []
    for _ in range(30):
        predict(rng)
    Rollup.fold(limit=10)  # part of them counted, the rest waits
    for step in range(240):
        drawings = list(Drawing.objects.order_by("?").values_list("pk", flat=True)[:5])
        op = rng.random()
        if op < 0.25 or not drawings:
            predict(rng)
        elif op < 0.45:  # staff label or relabel, by one of two people; the queue's rule refuses the other's
            d = Drawing.objects.get(pk=drawings[0])
            before = {"label": d.label, "label_source": d.label_source, "labeled_by": d.labeled_by_id}
            before["labeled_at"] = d.labeled_at
            who = rng.choice([alice, bob])
            try:
                d.set_label(rng.randrange(10), by=who, override=rng.random() < 0.5)
                undo.append((d.pk, before, (d.label, "staff", who.pk)))
            except Exception as e:  # LabelConflict
                assert type(e).__name__ == "LabelConflict"
        elif op < 0.55:  # the person who drew it
            Drawing.objects.get(pk=drawings[0]).add_user_feedback(rng.randrange(10))
        elif op < 0.62 and undo:  # the queue's undo
            pk, before, only_if = undo.pop()
            d = Drawing.objects.filter(pk=pk).first()
            if d is not None:
                d.restore_label(before, only_if=only_if)
        elif op < 0.70:  # a bulk action: label or clear a few, with or without override
            label = rng.choice([None, *range(10)])
            Drawing.label_many(drawings, label, by=rng.choice([alice, bob]), override=rng.random() < 0.5)
        elif op < 0.76:  # an import: drawings stored with staff labels in one transaction
            from django.db import transaction

            with transaction.atomic():
                new = [predict(rng) for _ in range(3)]
                Drawing.label_many([d.pk for d in new], rng.randrange(10), by=alice, source="staff")
        elif op < 0.84:  # deletions: one drawing, or a queryset (the drawer's DELETE, purge)
            if rng.random() < 0.5:
                Drawing.objects.get(pk=drawings[0]).delete()
            else:
                Drawing.objects.filter(pk__in=drawings[:3]).delete()
        elif op < 0.92:
            Rollup.fold(limit=rng.randrange(1, 20))
        elif op < 0.95:
            call_command("refresh_stats", verbosity=0, stdout=open("/dev/null", "w"))
        if step % 40 == 39:
            check_exact()
    check_exact()
    assert Drawing.objects.filter(label__isnull=False).exists()
    assert Drawing.objects.filter(source="import").exists()


def test_a_predict_touches_no_counter_row():
    make_drawing()
    Rollup.fold()
    before = (
        list(RollupDrawing.objects.values_list("n", flat=True)),
        list(RollupPrediction.objects.values_list("n", flat=True)),
        list(RollupLabeled.objects.values_list("n", flat=True)),
    )
    drawing = make_drawing()
    after = (
        list(RollupDrawing.objects.values_list("n", flat=True)),
        list(RollupPrediction.objects.values_list("n", flat=True)),
        list(RollupLabeled.objects.values_list("n", flat=True)),
    )
    assert after == before
    assert Drawing.objects.get(pk=drawing.pk).counted is False
    assert Rollup.fold() == 1
    assert Drawing.objects.get(pk=drawing.pk).counted is True


def test_refresh_stats_is_idempotent_and_counts_what_it_finds():
    for i in range(5):
        make_drawing(keras=i, custom=i, label=i if i % 2 else None)
    call_command("refresh_stats", stdout=open("/dev/null", "w"))
    first = accuracy.compute()
    call_command("refresh_stats", stdout=open("/dev/null", "w"))
    same(accuracy.compute(), first)
    same(first, accuracy.compute_from_drawings())
    assert first["drawings"] == 5 and first["labeled"] == 2


def test_the_numbers_say_as_of_when_drawings_wait(monkeypatch):
    for _ in range(3):
        make_drawing()
    monkeypatch.setattr(accuracy, "FOLD_INLINE", 1)
    numbers = accuracy.compute()
    assert numbers["uncounted"] == 2 and numbers["as_of"] is not None
    assert numbers["drawings"] == 1
    monkeypatch.setattr(accuracy, "FOLD_INLINE", 100)
    numbers = accuracy.compute()
    assert (numbers["uncounted"], numbers["as_of"], numbers["drawings"]) == (0, None, 3)


def test_time_windows(django_user_model):
    old = make_drawing(keras=1, custom=1, label=1)
    Drawing.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=40))
    make_drawing(keras=2, custom=2, label=3)
    assert accuracy.compute()["labeled"] == 2
    assert accuracy.compute(days=90)["labeled"] == 2
    last_30 = accuracy.compute(days=30)
    assert last_30["labeled"] == 1 and last_30["days"] == 30
    assert last_30["per_model"]["keras"]["accuracy"]["k"] == 0
    assert accuracy.compute(days="all")["days"] is None

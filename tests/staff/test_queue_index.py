"""The queue takes the next drawing by an index: ``queue_rank`` kept on each drawing at insert gives the same order
as the three groups computed from the predictions, and the partial index over the waiting drawings serves it."""

import random

import pytest
from django.db import connection

from recognizer.models import LOW_CONFIDENCE, Drawing, fill_derived
from recognizer.staff import queue
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


def expected_order():
    """The queue's order from its definition: disagreements first, then agreements under LOW_CONFIDENCE, then the
    rest; within each the lower confidence first, then the id. Staff-labeled drawings are not waiting."""
    keys = []
    for d in Drawing.objects.exclude(label_source="staff").prefetch_related("predictions"):
        lowest = min(p.confidence for p in d.predictions.all())
        group = 0 if not d.agree else (1 if lowest < LOW_CONFIDENCE else 2)
        keys.append((group, lowest, d.pk))
    return [pk for *_, pk in sorted(keys)]


def random_drawings(rng, n):
    for _ in range(n):
        keras = rng.randrange(10)
        custom = keras if rng.random() < 0.6 else rng.randrange(10)
        label = rng.choice([None, None, None, keras])
        make_drawing(
            keras=keras,
            custom=custom,
            keras_conf=round(rng.random(), 3),
            custom_conf=rng.choice([0.5, 0.89, 0.9, 0.95, round(rng.random(), 3)]),
            label=label,
            label_source=rng.choice(["staff", "user"]),
        )


def test_the_rank_gives_the_queues_order():
    random_drawings(random.Random(7), 60)
    assert queue.queue_order() == expected_order()
    assert queue.queue_order(limit=5) == expected_order()[:5]


def test_drawings_stored_without_the_columns_are_filled_by_refresh_stats():
    random_drawings(random.Random(8), 12)
    Drawing.objects.update(queue_rank=None, lowest_confidence=None, keras_digit=None, keras_confidence=None)
    assert fill_derived() == 12
    assert queue.queue_order() == expected_order()
    for d in Drawing.objects.prefetch_related("predictions"):
        keras = d.prediction_for("keras")
        assert (d.keras_digit, d.keras_confidence) == (keras.digit, keras.confidence)
        assert d.lowest_confidence == min(p.confidence for p in d.predictions.all())


def test_the_waiting_drawings_are_read_from_the_partial_index():
    random_drawings(random.Random(9), 20)
    sql, params = queue.waiting().values_list("pk", flat=True)[:1].query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be read whole otherwise
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(cell) for row in cursor.fetchall() for cell in row)
    assert "drawing_queue_idx" in plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan  # already in order: no sort of the waiting drawings


def test_remaining_is_counted_up_to_a_cap(monkeypatch):
    random_drawings(random.Random(10), 8)
    waiting = Drawing.objects.exclude(label_source="staff").count()
    assert queue.remaining() == (waiting, False)
    monkeypatch.setattr(queue, "REMAINING_CAP", 3)
    assert queue.remaining() == (3, True)

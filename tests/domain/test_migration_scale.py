"""Migration 0006 (issue 25) on a database filled before it: each drawing gets its answer columns and queue rank, the
accuracy rollup is built for the existing drawings (exact at once), and it reverses."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.domain.migrating import latest, migrate

BEFORE = [("recognizer", "0005_drawing_source_import")]
AFTER = [("recognizer", "0006_staff_pages_at_scale")]


@pytest.mark.django_db(transaction=True)
def test_0006_fills_the_columns_and_counts_the_existing_drawings():
    old = migrate(BEFORE)
    try:
        Drawing, Prediction = old.get_model("recognizer", "Drawing"), old.get_model("recognizer", "Prediction")
        now = timezone.now()
        rows = [  # (keras, k conf, custom, c conf, label, label source, source, days ago)
            (1, 0.99, 1, 0.98, 1, "staff", "web", 0),
            (2, 0.60, 3, 0.95, 3, "staff", "api", 3),
            (4, 0.95, 4, 0.50, None, "", "web", 10),
            (5, 0.97, 5, 0.91, 6, "user", "web", 40),
            (7, 0.30, 7, 0.99, 7, "staff", "import", 1),
        ]
        for keras, kc, custom, cc, label, label_source, source, days in rows:
            d = Drawing.objects.create(
                image=b"png", model_input=bytes(784), preprocess_version="v", source=source,
                agree=keras == custom, label=label, label_source=label_source, created=now - timedelta(days=days),
            )  # fmt: skip
            for name, digit, conf in (("keras", keras, kc), ("custom", custom, cc)):
                Prediction.objects.create(
                    drawing=d, model_name=name, model_version="v1", digit=digit, confidence=conf,
                    probabilities=[0.1] * 10, time_ms=0.1,
                )  # fmt: skip
        Drawing.objects.create(image=b"png", model_input=bytes(784), preprocess_version="v")  # no answers

        migrate(AFTER)
        migrate(latest())
        from recognizer.models import Drawing as Current
        from recognizer.models import RollupDrawing
        from recognizer.staff import accuracy, queue

        d = Current.objects.get(keras_digit=2)
        assert (d.keras_confidence, d.custom_digit, d.custom_confidence) == (0.60, 3, 0.95)
        assert d.lowest_confidence == 0.60 and d.queue_rank == pytest.approx(0.60)  # a disagreement: group 0
        assert Current.objects.get(keras_digit=4).queue_rank == pytest.approx(2.50)  # agree, unsure
        assert Current.objects.get(keras_digit=1).queue_rank == pytest.approx(4.98)  # agree, sure
        assert Current.objects.get(keras_digit__isnull=True).queue_rank == -1.0
        assert not Current.objects.filter(counted=False).exists()
        assert RollupDrawing.objects.exists()  # counted by the migration itself, no refresh_stats needed
        for options in ({}, {"include_user_labels": True, "include_imported": True}, {"days": 7}):
            exact = accuracy.compute_from_drawings(**options)
            got = accuracy.compute(**options)
            assert got["drawings"] == exact["drawings"] and got["labeled"] == exact["labeled"]
            assert got["per_model"] == exact["per_model"] and got["by_week"] == exact["by_week"]
            assert [b["count"] for b in got["confidence"]["keras"]] == [
                b["count"] for b in exact["confidence"]["keras"]
            ]
        waiting = queue.queue_order()
        assert waiting[0] == Current.objects.get(keras_digit__isnull=True).pk

        back = migrate(BEFORE)  # reversible: the columns and the rollup go, the drawings stay
        assert back.get_model("recognizer", "Drawing").objects.count() == 6
        assert back.get_model("recognizer", "Prediction").objects.count() == 10
    finally:
        migrate(latest())

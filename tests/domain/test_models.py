import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from recognizer.models import Drawing, DrawingImage, Prediction
from tests.factories import answer, make_drawing

pytestmark = pytest.mark.django_db


def test_record_stores_drawing_and_both_predictions():
    drawing = make_drawing(keras=3, custom=5, source="web", drawer_key="abc")
    drawing.refresh_from_db()
    assert bytes(drawing.image) == b"\x89PNG test image"
    assert len(bytes(drawing.model_input)) == 784
    assert drawing.source == "web" and drawing.drawer_key == "abc"
    assert drawing.agree is False
    assert {p.model_name: p.digit for p in drawing.predictions.all()} == {"keras": 3, "custom": 5}
    keras = drawing.prediction_for("keras")
    assert keras.probabilities[3] == pytest.approx(0.9)
    assert sum(keras.probabilities) == pytest.approx(1.0)


def test_agreement_is_recorded():
    assert make_drawing(keras=1, custom=1).agree is True


def test_failure_after_the_drawing_was_inserted_leaves_nothing():
    # A digit of -1 passes Python but not the database's CHECK (digit >= 0): the predictions' INSERT fails
    # after the drawing's INSERT went through, so only the transaction keeps the drawing from being left alone.
    with CaptureQueriesContext(connection) as captured:
        with pytest.raises(IntegrityError):
            make_drawing(keras=3, custom=-1)
    tables = ('"recognizer_drawing"', '"recognizer_drawingimage"', '"recognizer_prediction"')
    if connection.vendor == "postgresql":  # one statement inserts all three (recognizer/pg_insert.py)
        [statement] = [q["sql"] for q in captured if "INSERT" in q["sql"].upper()]
        assert [statement.index(t) for t in tables] == sorted(statement.index(t) for t in tables)
    else:
        inserts = [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith("INSERT")]
        assert [[t in q for t in tables] for q in inserts] == [  # the drawing, its bytes, then the predictions
            [True, False, False],
            [False, True, False],
            [False, False, True],
        ]
    assert Drawing.objects.count() == 0
    assert DrawingImage.objects.count() == 0
    assert Prediction.objects.count() == 0


def test_record_rejects_missing_answer_and_bad_input():
    with pytest.raises(ValueError, match="custom"):
        Drawing.objects.record(image=b"x", model_input=bytes(784), preprocess_version="v", answers={"keras": answer(1)})
    with pytest.raises(ValueError, match="784"):
        Drawing.objects.record(
            image=b"x",
            model_input=bytes(10),
            preprocess_version="v",
            answers={"keras": answer(1), "custom": answer(1)},
        )
    assert Drawing.objects.count() == 0


def test_one_prediction_per_model_per_drawing():
    drawing = make_drawing()
    with pytest.raises(IntegrityError):
        Prediction.objects.create(
            drawing=drawing,
            model_name="keras",
            model_version="x",
            digit=1,
            probabilities=[0.1] * 10,
            confidence=0.1,
            time_ms=1,
        )


def test_staff_label_records_who_and_when(staff_user):
    drawing = make_drawing()
    drawing.set_label(4, by=staff_user)
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by) == (4, "staff", staff_user)
    assert drawing.labeled_at is not None


@pytest.mark.parametrize("bad", [-1, 10, True, "x"])
def test_label_must_be_a_digit(bad):
    drawing = make_drawing()
    with pytest.raises((ValueError, TypeError)):
        drawing.set_label(bad)
    drawing.refresh_from_db()
    assert drawing.label is None


def test_user_feedback_never_overrides_staff_label(staff_user):
    drawing = make_drawing()
    assert drawing.add_user_feedback(2) is True
    assert (drawing.label, drawing.label_source) == (2, "user")
    drawing.set_label(3, by=staff_user)
    assert drawing.add_user_feedback(5) is False
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source) == (3, "staff")


def test_label_constraint_holds_in_the_database():
    drawing = make_drawing()
    with pytest.raises(IntegrityError):
        Drawing.objects.filter(pk=drawing.pk).update(label=12)


def test_labeled_queryset_separates_staff_and_user_labels():
    make_drawing(label=1)
    make_drawing(label=2, label_source="user")
    make_drawing()
    assert Drawing.objects.labeled().count() == 1
    assert Drawing.objects.labeled(include_user_labels=True).count() == 2
    assert Drawing.objects.unlabeled().count() == 1


def test_with_predictions_avoids_extra_queries(django_assert_num_queries):
    for _ in range(3):
        make_drawing()
    with django_assert_num_queries(2):
        digits = [d.prediction_for("keras").digit for d in Drawing.objects.with_predictions()]
    assert digits == [7, 7, 7]


def test_recorded_drawing_hands_back_its_predictions_without_a_query(django_assert_num_queries):
    drawing = make_drawing(keras=2, custom=8)
    with django_assert_num_queries(0):
        assert (drawing.prediction_for("keras").digit, drawing.prediction_for("custom").digit) == (2, 8)
    assert drawing.predictions.count() == 2  # the rows really are in the database


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement insert is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_one_statement_insert_keeps_its_cursor_while_the_connection_lives():
    from recognizer import pg_insert

    first = make_drawing(keras=1, custom=1)
    cursor = pg_insert._kept.cursor
    fields = {"image": b"x", "model_input": bytes(784), "preprocess_version": "v", "idempotency_key": "key-1"}
    second = Drawing.objects.record(answers={"keras": answer(2), "custom": answer(2)}, **fields)
    with pytest.raises(IntegrityError):  # a unique violation on the kept cursor...
        Drawing.objects.record(answers={"keras": answer(3), "custom": answer(3)}, **fields)
    third = make_drawing(keras=4, custom=4)  # ...leaves it working
    assert pg_insert._kept.cursor is cursor and not cursor.closed
    connection.close()
    fourth = make_drawing(keras=5, custom=5)  # a new connection, a new cursor
    assert pg_insert._kept.cursor is not cursor and pg_insert._kept.cursor.connection is connection.connection
    stored = {d.pk: sorted(p.digit for p in d.predictions.all()) for d in Drawing.objects.all()}
    assert stored == {first.pk: [1, 1], second.pk: [2, 2], third.pk: [4, 4], fourth.pk: [5, 5]}

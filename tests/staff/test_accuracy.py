"""recognizer.staff.accuracy on a fixture whose numbers were worked out by hand.

Fixture (staff labels unless marked "user"):

    #   keras  custom  label    keras conf  week         keras version
    1   1      1       1        0.99        2024-01-01   k-1
    2   2      2       2        0.97        2024-01-01   k-1
    3   3      3       8        0.55        2024-01-01   k-1
    4   4      9       4        0.92        2024-01-01   k-1
    5   7      1       1        0.45        2024-01-08   k-2
    6   5      6       0        0.65        2024-01-08   k-2
    7   0      0       0        0.995       2024-01-08   k-2
    8   9      9       9        1.0         2024-01-08   k-2
    9   7      7       -        0.30        2024-01-08   k-2
   10   3      5       3 user   0.85        2024-01-08   k-2
   11   6      6       5 user   0.75        2024-01-08   k-2

Custom confidence is 0.9 everywhere, custom version "c-1".
"""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from recognizer.models import Drawing, Rollup
from recognizer.staff import accuracy
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

ROWS = [
    # keras, custom, label, source, keras_conf, day, keras_version
    (1, 1, 1, "staff", 0.99, 3, "k-1"),
    (2, 2, 2, "staff", 0.97, 3, "k-1"),
    (3, 3, 8, "staff", 0.55, 3, "k-1"),
    (4, 9, 4, "staff", 0.92, 3, "k-1"),
    (7, 1, 1, "staff", 0.45, 10, "k-2"),
    (5, 6, 0, "staff", 0.65, 10, "k-2"),
    (0, 0, 0, "staff", 0.995, 10, "k-2"),
    (9, 9, 9, "staff", 1.0, 10, "k-2"),
    (7, 7, None, "", 0.30, 10, "k-2"),
    (3, 5, 3, "user", 0.85, 10, "k-2"),
    (6, 6, 5, "user", 0.75, 10, "k-2"),
]


@pytest.fixture
def fixture_drawings():
    drawings = []
    for keras, custom, label, source, keras_conf, day, version in ROWS:
        d = make_drawing(
            keras=keras,
            custom=custom,
            keras_conf=keras_conf,
            custom_conf=0.9,
            keras_version=version,
            custom_version="c-1",
            label=label,
            label_source=source or "staff",
        )
        Drawing.objects.filter(pk=d.pk).update(created=datetime(2024, 1, day, 12, tzinfo=UTC))
        drawings.append(d)
    return drawings


def rate(p):
    return (p["k"], p["n"])


def test_wilson_interval_matches_published_values():
    # 8/10: the textbook example, (0.4902, 0.9433); 0/10 has upper bound 0.2775; 5/8 worked by hand.
    assert accuracy.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert accuracy.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert accuracy.wilson_interval(5, 8) == pytest.approx((0.3057, 0.8632), abs=1e-4)
    assert accuracy.wilson_interval(0, 0) == (None, None)


def test_bands():
    assert accuracy.band_of(0.1) == 0
    assert accuracy.band_of(0.5) == 1
    assert accuracy.band_of(0.9) == 5
    assert accuracy.band_of(0.95) == 6
    assert accuracy.band_of(0.99) == 7
    assert accuracy.band_of(1.0) == 7


def test_staff_label_numbers(fixture_drawings, django_assert_max_num_queries):
    Rollup.fold()  # what refresh_stats --follow does within a minute of each insert
    # One probe for drawings not counted yet, eight grouped queries over the rollup's cells, whatever the rows.
    with django_assert_max_num_queries(9):
        n = accuracy.compute()

    assert n["include_user_labels"] is False
    assert n["drawings"] == 11
    assert n["labeled"] == 8
    assert (n["labeled_staff"], n["labeled_user"]) == (8, 2)
    assert rate(n["coverage"]) == (8, 11)

    keras = n["per_model"]["keras"]["accuracy"]
    custom = n["per_model"]["custom"]["accuracy"]
    assert rate(keras) == (5, 8) and rate(custom) == (5, 8)
    assert keras["rate"] == pytest.approx(0.625)
    assert (keras["ci_low"], keras["ci_high"]) == pytest.approx((0.3057, 0.8632), abs=1e-4)

    assert rate(n["agreement"]) == (5, 8)
    assert rate(n["agreement_all_drawings"]) == (7, 11)
    assert rate(n["when_agree"]["keras"]) == (4, 5)
    assert rate(n["when_agree"]["custom"]) == (4, 5)
    assert rate(n["when_agree"]["at_least_one_right"]) == (4, 5)
    assert rate(n["when_disagree"]["keras"]) == (1, 3)
    assert rate(n["when_disagree"]["custom"]) == (1, 3)
    assert rate(n["when_disagree"]["at_least_one_right"]) == (2, 3)
    assert rate(n["at_least_one_right"]) == (6, 8)


def test_confusion_and_per_class(fixture_drawings):
    n = accuracy.compute()
    keras = n["per_model"]["keras"]
    m = keras["confusion"]
    assert sum(map(sum, m)) == 8
    expected_cells = {(1, 1): 1, (2, 2): 1, (8, 3): 1, (4, 4): 1, (1, 7): 1, (0, 5): 1, (0, 0): 1, (9, 9): 1}
    for label in range(10):
        for predicted in range(10):
            assert m[label][predicted] == expected_cells.get((label, predicted), 0), (label, predicted)

    classes = {c["digit"]: c for c in keras["per_class"]}
    assert (classes[0]["precision"], classes[0]["recall"], classes[0]["support"]) == (1.0, 0.5, 2)
    assert (classes[1]["precision"], classes[1]["recall"]) == (1.0, 0.5)
    assert (classes[3]["precision"], classes[3]["recall"]) == (0.0, None)  # predicted once, never the label
    assert (classes[8]["precision"], classes[8]["recall"]) == (None, 0.0)  # the label once, never predicted
    assert classes[5]["precision"] == 0.0

    custom = {c["digit"]: c for c in n["per_model"]["custom"]["per_class"]}
    assert (custom[9]["precision"], custom[9]["recall"]) == (0.5, 1.0)
    assert (custom[1]["precision"], custom[1]["recall"]) == (1.0, 1.0)


def test_confidence_histogram_and_calibration(fixture_drawings):
    n = accuracy.compute()
    keras = n["confidence"]["keras"]
    assert [b["count"] for b in keras] == [2, 1, 1, 1, 1, 1, 1, 3]  # all 11 drawings
    top = keras[7]
    assert top["band"] == "0.99–1.00"
    assert rate(top["accuracy"]) == (3, 3)
    assert top["mean_confidence"] == pytest.approx((0.99 + 0.995 + 1.0) / 3)
    assert rate(keras[0]["accuracy"]) == (0, 1)  # drawing 5 (0.45); drawing 9 (0.30) is unlabeled
    assert rate(keras[1]["accuracy"]) == (0, 1)
    assert keras[3]["accuracy"]["n"] == 0  # drawing 11 (0.75) has only a user label
    custom = n["confidence"]["custom"]
    assert custom[5]["count"] == 11 and rate(custom[5]["accuracy"]) == (5, 8)


def test_by_week_and_by_version(fixture_drawings):
    n = accuracy.compute()
    weeks = {w["week"]: w for w in n["by_week"]}
    assert list(weeks) == ["2024-01-01", "2024-01-08"]
    assert rate(weeks["2024-01-01"]["keras"]) == (3, 4)
    assert rate(weeks["2024-01-01"]["custom"]) == (2, 4)
    assert rate(weeks["2024-01-08"]["keras"]) == (2, 4)
    assert rate(weeks["2024-01-08"]["custom"]) == (3, 4)

    keras_versions = {v["version"]: rate(v["accuracy"]) for v in n["by_version"]["keras"]}
    assert keras_versions == {"k-1": (3, 4), "k-2": (2, 4)}
    assert {v["version"]: rate(v["accuracy"]) for v in n["by_version"]["custom"]} == {"c-1": (5, 8)}


def test_including_user_labels(fixture_drawings):
    n = accuracy.compute(include_user_labels=True)
    assert n["labeled"] == 10
    assert rate(n["coverage"]) == (10, 11)
    assert rate(n["per_model"]["keras"]["accuracy"]) == (6, 10)
    assert rate(n["per_model"]["custom"]["accuracy"]) == (5, 10)
    assert rate(n["agreement"]) == (6, 10)
    assert rate(n["at_least_one_right"]) == (7, 10)
    assert (n["per_model"]["keras"]["accuracy"]["ci_low"], n["per_model"]["keras"]["accuracy"]["ci_high"]) == (
        pytest.approx(accuracy.wilson_interval(6, 10))
    )


def test_staff_label_wins_over_user_label(fixture_drawings, staff_user):
    # Drawing 10: user said 3 (keras right); staff correct it to 5 (custom right).
    fixture_drawings[9].set_label(5, by=staff_user)
    n = accuracy.compute()
    assert n["labeled"] == 9
    assert rate(n["per_model"]["custom"]["accuracy"]) == (6, 9)
    assert rate(n["per_model"]["keras"]["accuracy"]) == (5, 9)


def test_empty_database():
    n = accuracy.compute()
    assert n["drawings"] == 0 and n["labeled"] == 0
    assert n["coverage"] == {"n": 0, "k": 0, "rate": None, "ci_low": None, "ci_high": None}
    for name in ("keras", "custom"):
        assert n["per_model"][name]["accuracy"]["rate"] is None
        assert n["per_model"][name]["confusion"] == [[0] * 10 for _ in range(10)]
        assert all(c["precision"] is None and c["recall"] is None for c in n["per_model"][name]["per_class"])
        assert [b["count"] for b in n["confidence"][name]] == [0] * len(accuracy.BANDS)
        assert n["by_version"][name] == []
    assert n["by_week"] == []
    assert n["agreement"]["rate"] is None and n["at_least_one_right"]["rate"] is None
    assert accuracy.format_table(n)  # renders without dividing by zero


def test_management_command_prints_the_table(fixture_drawings, capsys):
    call_command("accuracy")
    out = capsys.readouterr().out
    assert "Accuracy over staff labels" in out
    assert "keras    62.5% [30.6%, 86.3%] (5/8)" in out
    assert "coverage 72.7%" in out
    call_command("accuracy", "--include-user-labels")
    out = capsys.readouterr().out
    assert "Accuracy over staff and user labels" in out
    assert "(6/10)" in out


def test_management_command_json(fixture_drawings, capsys):
    import json

    call_command("accuracy", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(accuracy.compute()))

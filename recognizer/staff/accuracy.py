"""Production accuracy: every number the dashboard, ``/api/accuracy/`` and ``manage.py accuracy`` show.

Ground truth is the staff label; ``include_user_labels=True`` also counts the labels people gave their own
drawings. ``compute()`` reads the accuracy rollup (``RollupDrawing``, ``RollupPrediction``, ``RollupLabeled`` in
``recognizer/models.py``): counts by day kept exact where drawings are counted, labeled and deleted, so its cost
grows with the number of days and cells, not of drawings. ``compute_from_drawings()`` gives the same numbers by
scanning every drawing (the reference the rollup is tested against). ``days`` keeps the drawings made in the last
7, 30 or 90 days (today included); ``None`` is all time.

Every rate has the same shape, ``proportion(k, n)``: ``{"n", "k", "rate", "ci_low", "ci_high"}`` with a 95%
Wilson score interval; ``rate`` and the interval are ``None`` when ``n`` is 0.
"""

import math
from datetime import timedelta

from django.db import connections
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from recognizer.models import (
    CONFIDENCE_BANDS,
    DIGITS,
    MODEL_NAMES,
    Drawing,
    Prediction,
    Rollup,
    RollupDrawing,
    RollupLabeled,
    RollupPrediction,
    band_case,
    labeled_q,
)
from recognizer.models import band_of as band_of  # re-exported: the bands' helpers live with the models
from recognizer.models import band_q as band_q

Z_95 = 1.959963984540054  # two-sided 95% normal quantile

BANDS = CONFIDENCE_BANDS  # the admin filter and the queue use the same bands
WINDOWS = (7, 30, 90)  # the time windows offered: the last N days, today included
FOLD_INLINE = 5000  # drawings a read counts itself (one fold batch, ~0.2 s) before answering; more: refresh_stats


def band_label(index):
    low, high = BANDS[index]
    return f"{low:.2f}–{high:.2f}"


def window(days):
    """``days`` as given by a query string or a command line ("7", 30, "all", None) -> an int or None (all time)."""
    if days in (None, "", "all"):
        return None
    days = int(days)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    return days


def first_day(days):
    """The first day of the last ``days`` days (today included), or None for all time."""
    days = window(days)
    return None if days is None else timezone.localdate() - timedelta(days=days - 1)


def wilson_interval(k, n, z=Z_95):
    """95% Wilson score interval for k successes out of n; (None, None) when n is 0."""
    if n == 0:
        return None, None
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(k, n):
    low, high = wilson_interval(k, n)
    return {"n": n, "k": k, "rate": (k / n) if n else None, "ci_low": low, "ci_high": high}


def _ratio(k, n):
    return k / n if n else None


# What the numbers read from the labeled predictions' rollup: each grouping's columns, with three sums per group
# (cells, correct: the label's digit, confidence) and, per grouping, the conditions it keeps.
LABELED_GROUPINGS = {
    "by_agree": ("agree", "model_name"),
    "confusion": ("model_name", "label", "digit"),
    "bands": ("model_name", "band"),
    "weeks": ("day", "model_name"),
    "versions": ("model_name", "model_version"),
}


def _labeled_groups(labeled, since, include_imported, include_user_labels):
    """``{grouping: [row dicts with its columns, cells, correct, confidence]}`` over ``labeled`` (RollupLabeled in
    scope). On PostgreSQL one scan of the rollup serves all five (GROUPING SETS: the table holds ~60k cells at 10M
    drawings and each scan costs ~12 ms); elsewhere one query per grouping, which gives the same rows."""
    connection = connections[labeled.db]
    if connection.vendor != "postgresql":
        right = Q(digit=F("label"))
        return {
            name: list(
                labeled.values(*columns).annotate(
                    cells=Sum("n"), correct=Sum("n", filter=right), confidence=Sum("confidence_sum")
                )
            )
            for name, columns in LABELED_GROUPINGS.items()
        }
    where, params = ["TRUE"], []
    if since is not None:
        where.append("day >= %s")
        params.append(since)
    if not include_imported:
        where.append("NOT imported")
    if not include_user_labels:
        where.append("label_source = %s")
        params.append(Drawing.LabelSource.STAFF)
    columns = ("agree", "model_name", "label", "digit", "band", "day", "model_version")
    # GROUPING(...) has a bit set for each column a row's grouping leaves out: it tells the five apart.
    masks = {
        sum(1 << (len(columns) - 1 - i) for i, c in enumerate(columns) if c not in grouped): name
        for name, grouped in LABELED_GROUPINGS.items()
    }
    sets = ", ".join("(" + ", ".join(grouped) + ")" for grouped in LABELED_GROUPINGS.values())
    sql = (
        f"SELECT GROUPING({', '.join(columns)}), {', '.join(columns)}, SUM(n)::bigint, "  # SUM(bigint) is numeric
        "(SUM(n) FILTER (WHERE digit = label))::bigint, SUM(confidence_sum) "
        f"FROM {connection.ops.quote_name(RollupLabeled._meta.db_table)} WHERE {' AND '.join(where)} "
        f"GROUP BY GROUPING SETS ({sets})"
    )
    groups = {name: [] for name in LABELED_GROUPINGS}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for mask, *values, cells, correct, confidence in cursor.fetchall():
            name = masks[mask]
            row = {c: v for c, v in zip(columns, values, strict=True) if c in LABELED_GROUPINGS[name]}
            groups[name].append({**row, "cells": cells, "correct": correct, "confidence": confidence})
    return groups


def compute(include_user_labels=False, include_imported=False, days=None):
    """All the numbers, as plain JSON-ready data, from the accuracy rollup: the same as ``compute_from_drawings``.

    Drawings not counted yet (at most a minute of traffic while ``refresh_stats --follow`` runs) are counted first,
    up to ``FOLD_INLINE``; beyond that the numbers leave the newest out and say so: ``as_of`` is the time of the
    oldest drawing not counted and ``uncounted`` how many wait.
    """
    uncounted, oldest = 0, None
    if Rollup.fold(limit=FOLD_INLINE) >= FOLD_INLINE:
        uncounted, oldest = Rollup.uncounted()
    since = first_day(days)

    def scope(table):
        rows = table.objects.order_by()
        if since is not None:
            rows = rows.filter(day__gte=since)
        return rows if include_imported else rows.filter(imported=False)

    drawings, predictions, labeled = scope(RollupDrawing), scope(RollupPrediction), scope(RollupLabeled)
    if not include_user_labels:
        labeled = labeled.filter(label_source=Drawing.LabelSource.STAFF)
    on_labeled = Q(label__gte=0) if include_user_labels else Q(label__gte=0, label_source=Drawing.LabelSource.STAFF)

    counts = {
        k: v or 0
        for k, v in drawings.aggregate(
            total=Sum("n"),
            staff=Sum("n", filter=Q(label__gte=0, label_source=Drawing.LabelSource.STAFF)),
            user=Sum("n", filter=Q(label__gte=0, label_source=Drawing.LabelSource.USER)),
            n_agree=Sum("n", filter=Q(agree=1)),
            n_known=Sum("n", filter=Q(agree__gte=0)),
        ).items()
    }
    n_labeled = counts["staff"] + (counts["user"] if include_user_labels else 0)

    by_agree = {a: {"n": 0, "any_right": 0, **{f"{name}_right": 0 for name in MODEL_NAMES}} for a in (0, 1)}
    for row in drawings.filter(on_labeled, agree__gte=0).values("agree", "any_right").annotate(cells=Sum("n")):
        by_agree[row["agree"]]["n"] += row["cells"]
        if row["any_right"]:
            by_agree[row["agree"]]["any_right"] += row["cells"]
    groups = _labeled_groups(labeled, since, include_imported, include_user_labels)
    for row in groups["by_agree"]:
        if row["agree"] >= 0 and row["model_name"] in MODEL_NAMES:
            by_agree[row["agree"]][f"{row['model_name']}_right"] += row["correct"] or 0
    agreed, disagreed = by_agree[1], by_agree[0]
    n_known = agreed["n"] + disagreed["n"]

    confusion = {name: [[0] * 10 for _ in DIGITS] for name in MODEL_NAMES}
    for row in groups["confusion"]:
        if row["model_name"] in confusion:
            confusion[row["model_name"]][row["label"]][row["digit"]] = row["cells"]

    counts_by_band = {
        (row["model_name"], row["band"]): row["cells"]
        for row in predictions.values("model_name", "band").annotate(cells=Sum("n"))
    }
    labeled_by_band = {(row["model_name"], row["band"]): row for row in groups["bands"]}
    bands = {name: [] for name in MODEL_NAMES}
    for name in MODEL_NAMES:
        for index, (low, high) in enumerate(BANDS):
            row = labeled_by_band.get((name, index)) or {"cells": 0, "correct": 0, "confidence": 0.0}
            n = row["cells"] or 0
            bands[name].append(
                {
                    "band": band_label(index),
                    "low": low,
                    "high": high,
                    "count": counts_by_band.get((name, index), 0),
                    "mean_confidence": row["confidence"] / n if n else None,
                    "accuracy": proportion(row["correct"] or 0, n),
                }
            )

    weeks = {}
    for row in sorted((r for r in groups["weeks"] if r["cells"]), key=lambda r: r["day"]):
        week = (row["day"] - timedelta(days=row["day"].weekday())).isoformat()
        cells = weeks.setdefault(week, {"week": week, **{name: [0, 0] for name in MODEL_NAMES}})
        if row["model_name"] in MODEL_NAMES:
            cells[row["model_name"]][0] += row["correct"] or 0
            cells[row["model_name"]][1] += row["cells"]
    by_week = [
        {"week": week, **{name: proportion(*cells[name]) for name in MODEL_NAMES}} for week, cells in weeks.items()
    ]

    by_version = {name: [] for name in MODEL_NAMES}
    for row in sorted(
        (r for r in groups["versions"] if r["cells"]), key=lambda r: (r["model_name"], r["model_version"])
    ):
        if row["model_name"] in by_version:
            by_version[row["model_name"]].append(
                {"version": row["model_version"], "accuracy": proportion(row["correct"] or 0, row["cells"])}
            )

    return {
        "include_user_labels": bool(include_user_labels),
        "include_imported": bool(include_imported),
        "days": window(days),
        "as_of": oldest.isoformat() if uncounted else None,
        "uncounted": uncounted,
        "models": list(MODEL_NAMES),
        "drawings": counts["total"],
        "labeled": n_labeled,
        "labeled_staff": counts["staff"],
        "labeled_user": counts["user"],
        "coverage": proportion(n_labeled, counts["total"]),
        "per_model": {name: _scores(matrix) for name, matrix in confusion.items()},
        "agreement": proportion(agreed["n"], n_known),
        "agreement_all_drawings": proportion(counts["n_agree"], counts["n_known"]),
        "when_agree": _split(agreed),
        "when_disagree": _split(disagreed),
        "at_least_one_right": proportion(agreed["any_right"] + disagreed["any_right"], n_known),
        "confidence": bands,
        "by_week": by_week,
        "by_version": by_version,
    }


def compute_from_drawings(include_user_labels=False, include_imported=False, days=None):
    """All the numbers, as plain JSON-ready data, by scanning every drawing (the reference for ``compute``).

    Drawings brought in by ``manage.py import_drawings`` (source "import") are not production traffic and are left
    out unless ``include_imported``.
    """
    drawings, predictions = Drawing.objects.all(), Prediction.objects.all()
    since = first_day(days)
    if since is not None:
        drawings = drawings.filter(created__date__gte=since)
        predictions = predictions.filter(drawing__created__date__gte=since)
    if not include_imported:
        drawings = drawings.exclude(source=Drawing.Source.IMPORT)
        predictions = predictions.exclude(drawing__source=Drawing.Source.IMPORT)
    labeled = drawings.filter(labeled_q(include_user_labels))
    on_labeled = labeled_q(include_user_labels, prefix="drawing__")

    counts = _coverage(drawings)
    n_labeled = counts["staff"] + (counts["user"] if include_user_labels else 0)
    agreed, disagreed = _by_agreement(labeled)
    n_known = agreed["n"] + disagreed["n"]
    return {
        "include_user_labels": bool(include_user_labels),
        "include_imported": bool(include_imported),
        "days": window(days),
        "as_of": None,
        "uncounted": 0,
        "models": list(MODEL_NAMES),
        "drawings": counts["total"],
        "labeled": n_labeled,
        "labeled_staff": counts["staff"],
        "labeled_user": counts["user"],
        "coverage": proportion(n_labeled, counts["total"]),
        "per_model": _per_model(predictions.filter(on_labeled)),
        "agreement": proportion(agreed["n"], n_known),
        "agreement_all_drawings": proportion(counts["n_agree"], counts["n_known"]),
        "when_agree": _split(agreed),
        "when_disagree": _split(disagreed),
        "at_least_one_right": proportion(agreed["any_right"] + disagreed["any_right"], n_known),
        "confidence": _confidence_bands(predictions, on_labeled),
        "by_week": _by_week(predictions.filter(on_labeled)),
        "by_version": _by_version(predictions.filter(on_labeled)),
    }


RIGHT = Q(digit=F("drawing__label"))  # a prediction that matches its drawing's label


def _coverage(drawings):
    # 1. Coverage.
    return drawings.aggregate(
        total=Count("id"),
        staff=Count("id", filter=labeled_q()),
        user=Count("id", filter=labeled_q(include_user_labels=True) & Q(label_source=Drawing.LabelSource.USER)),
        n_agree=Count("id", filter=Q(agree=True)),
        n_known=Count("id", filter=Q(agree__isnull=False)),
    )


def _per_model(labeled_predictions):
    # 2. Confusion matrices: one grouped query for both models (rows: true label, columns: predicted).
    confusion = {name: [[0] * 10 for _ in DIGITS] for name in MODEL_NAMES}
    cells = labeled_predictions.values("model_name", "drawing__label", "digit").annotate(n=Count("id")).order_by()
    for cell in cells:
        if cell["model_name"] in confusion:
            confusion[cell["model_name"]][cell["drawing__label"]][cell["digit"]] = cell["n"]
    return {name: _scores(matrix) for name, matrix in confusion.items()}


def _scores(matrix):
    """Accuracy, per-class precision and recall of one model's confusion matrix."""
    n = sum(map(sum, matrix))
    correct = sum(matrix[d][d] for d in DIGITS)
    per_class = []
    for d in DIGITS:
        support = sum(matrix[d])
        predicted = sum(row[d] for row in matrix)
        per_class.append(
            {
                "digit": d,
                "support": support,
                "predicted": predicted,
                "correct": matrix[d][d],
                "precision": _ratio(matrix[d][d], predicted),
                "recall": _ratio(matrix[d][d], support),
            }
        )
    return {"accuracy": proportion(correct, n), "per_class": per_class, "confusion": matrix}


def _by_agreement(labeled):
    """(agreed, disagreed): counts of labeled drawings where the models agree / disagree, and how many of each
    every model got right."""
    # 3. Agreement, and accuracy when the models agree / disagree: one grouped query over labeled drawings.
    by_agree = {True: None, False: None}
    rows = (
        labeled.values("agree")
        .annotate(
            n=Count("id", distinct=True),
            any_right=Count("id", distinct=True, filter=Q(predictions__digit=F("label"))),
            **{
                f"{name}_right": Count(
                    "predictions", filter=Q(predictions__model_name=name, predictions__digit=F("label"))
                )
                for name in MODEL_NAMES
            },
        )
        .order_by()
    )
    for row in rows:
        if row["agree"] is not None:
            by_agree[row["agree"]] = row
    empty = {"n": 0, "any_right": 0, **{f"{name}_right": 0 for name in MODEL_NAMES}}
    return by_agree[True] or empty, by_agree[False] or empty


def _split(row):
    out = {name: proportion(row[f"{name}_right"], row["n"]) for name in MODEL_NAMES}
    out["at_least_one_right"] = proportion(row["any_right"], row["n"])
    return out


def _confidence_bands(predictions, on_labeled):
    # 4. Confidence histogram (all drawings) and calibration (labeled ones), per model and band: one query.
    band_rows = {
        (row["model_name"], row["band"]): row
        for row in predictions.annotate(band=band_case())
        .values("model_name", "band")
        .annotate(
            count=Count("id"),
            n=Count("id", filter=on_labeled),
            correct=Count("id", filter=on_labeled & RIGHT),
            mean_confidence=Avg("confidence", filter=on_labeled),
        )
        .order_by()
    }
    bands = {name: [] for name in MODEL_NAMES}
    for name in MODEL_NAMES:
        for index, (low, high) in enumerate(BANDS):
            row = band_rows.get((name, index), {"count": 0, "n": 0, "correct": 0, "mean_confidence": None})
            bands[name].append(
                {
                    "band": band_label(index),
                    "low": low,
                    "high": high,
                    "count": row["count"],
                    "mean_confidence": row["mean_confidence"],
                    "accuracy": proportion(row["correct"], row["n"]),
                }
            )
    return bands


def _by_week(labeled_predictions):
    # 5. Accuracy by week (of the drawing) ...
    weeks = {}
    week_rows = (
        labeled_predictions.annotate(week=TruncWeek("drawing__created"))
        .values("week", "model_name")
        .annotate(n=Count("id"), correct=Count("id", filter=RIGHT))
        .order_by("week")
    )
    for row in week_rows:
        week = (row["week"].date() if hasattr(row["week"], "date") else row["week"]).isoformat()
        weeks.setdefault(week, {"week": week, **{name: proportion(0, 0) for name in MODEL_NAMES}})
        if row["model_name"] in MODEL_NAMES:
            weeks[week][row["model_name"]] = proportion(row["correct"], row["n"])
    return list(weeks.values())


def _by_version(labeled_predictions):
    # ... and by model version.
    by_version = {name: [] for name in MODEL_NAMES}
    version_rows = (
        labeled_predictions.values("model_name", "model_version")
        .annotate(n=Count("id"), correct=Count("id", filter=RIGHT))
        .order_by("model_name", "model_version")
    )
    for row in version_rows:
        if row["model_name"] in by_version:
            by_version[row["model_name"]].append(
                {"version": row["model_version"], "accuracy": proportion(row["correct"], row["n"])}
            )
    return by_version


def _pct(rate):
    return "—" if rate is None else f"{100 * rate:.1f}%"


def _with_ci(p):
    if p["rate"] is None:
        return f"— (n={p['n']})"
    return f"{_pct(p['rate'])} [{_pct(p['ci_low'])}, {_pct(p['ci_high'])}] ({p['k']}/{p['n']})"


def format_table(numbers):
    """The numbers as plain text (``manage.py accuracy``)."""
    models = numbers["models"]
    source = "staff and user labels" if numbers["include_user_labels"] else "staff labels"
    lines = [
        f"Accuracy over {source}",
        f"Drawings {numbers['drawings']}, labeled {numbers['labeled']} "
        f"(staff {numbers['labeled_staff']}, user {numbers['labeled_user']}), "
        f"coverage {_pct(numbers['coverage']['rate'])}",
        "",
        "Accuracy [95% Wilson interval] (right/n)",
    ]
    for name in models:
        lines.append(f"  {name:<8} {_with_ci(numbers['per_model'][name]['accuracy'])}")
    lines += [
        f"  agreement          {_with_ci(numbers['agreement'])}",
        f"  at least one right {_with_ci(numbers['at_least_one_right'])}",
    ]
    for key, title in (("when_agree", "when the models agree"), ("when_disagree", "when they disagree")):
        lines.append(f"  {title}:")
        for name in [*models, "at_least_one_right"]:
            lines.append(f"    {name.replace('_', ' '):<18} {_with_ci(numbers[key][name])}")

    for name in models:
        lines += ["", f"{name}: per class", "  digit  precision  recall   support"]
        for c in numbers["per_model"][name]["per_class"]:
            lines.append(f"  {c['digit']:>5}  {_pct(c['precision']):>9}  {_pct(c['recall']):>7}  {c['support']:>8}")
        lines += ["", f"{name}: confusion matrix (rows: label, columns: predicted)"]
        lines.append("       " + "".join(f"{d:>6}" for d in DIGITS))
        for d, row in enumerate(numbers["per_model"][name]["confusion"]):
            lines.append(f"  {d:>4} " + "".join(f"{v:>6}" for v in row))
        lines += ["", f"{name}: confidence histogram and calibration", "  band         all  labeled  accuracy"]
        for b in numbers["confidence"][name]:
            acc = b["accuracy"]
            lines.append(f"  {b['band']:<10} {b['count']:>5}  {acc['n']:>7}  {_pct(acc['rate']):>8}")
        lines += ["", f"{name}: by model version"]
        for v in numbers["by_version"][name]:
            lines.append(f"  {v['version']:<24} {_with_ci(v['accuracy'])}")

    lines += ["", "By week (week starting)"]
    lines.append("  week        " + "".join(f"{name:>12}" for name in models))
    for w in numbers["by_week"]:
        cells = "".join(f"{_pct(w[name]['rate']):>8} n={w[name]['n']:<2}" for name in models)
        lines.append(f"  {w['week']}  {cells}")
    return "\n".join(lines)

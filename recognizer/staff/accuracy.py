"""Production accuracy: every number the dashboard, ``/api/accuracy/`` and ``manage.py accuracy`` show.

Ground truth is the staff label; ``include_user_labels=True`` also counts the labels people gave their own
drawings. Everything is computed with a handful of grouped aggregate queries (no per-drawing Python loop),
so it stays fast with 100,000 drawings on PostgreSQL and SQLite alike.

Every rate has the same shape, ``proportion(k, n)``: ``{"n", "k", "rate", "ci_low", "ci_high"}`` with a 95%
Wilson score interval; ``rate`` and the interval are ``None`` when ``n`` is 0.
"""

import math

from django.db.models import Avg, Case, Count, F, IntegerField, Q, Value, When
from django.db.models.functions import TruncWeek

from recognizer.models import DIGITS, MODEL_NAMES, Drawing, Prediction, labeled_q

Z_95 = 1.959963984540054  # two-sided 95% normal quantile

# Confidence bands (low inclusive, high exclusive; the last one includes 1.0). Softmax confidences pile up
# near 1, so the top is split finer than the bottom. The admin filter and the queue use the same bands.
BANDS = (
    (0.0, 0.5),
    (0.5, 0.6),
    (0.6, 0.7),
    (0.7, 0.8),
    (0.8, 0.9),
    (0.9, 0.95),
    (0.95, 0.99),
    (0.99, 1.0),
)


def band_label(index):
    low, high = BANDS[index]
    return f"{low:.2f}–{high:.2f}"


def band_of(confidence):
    """Index of the band a confidence falls in."""
    for index, (_, high) in enumerate(BANDS[:-1]):
        if confidence < high:
            return index
    return len(BANDS) - 1


def band_q(index, field="confidence"):
    """A filter for one band, for querysets (``field`` may be a lookup path such as predictions__confidence)."""
    low, high = BANDS[index]
    q = Q(**{f"{field}__gte": low}) if index > 0 else Q()
    if index < len(BANDS) - 1:
        q &= Q(**{f"{field}__lt": high})
    return q


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


def _band_case(field="confidence"):
    return Case(
        *[When(band_q(i, field), then=Value(i)) for i in range(len(BANDS) - 1)],
        default=Value(len(BANDS) - 1),
        output_field=IntegerField(),
    )


def compute(include_user_labels=False, include_imported=False):
    """All the numbers, as plain JSON-ready data.

    Drawings brought in by ``manage.py import_drawings`` (source "import") are not production traffic and are left
    out unless ``include_imported``.
    """
    drawings, predictions = Drawing.objects.all(), Prediction.objects.all()
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
        for row in predictions.annotate(band=_band_case())
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
        week = row["week"].date().isoformat()
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

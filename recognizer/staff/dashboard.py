"""The accuracy dashboard's view model: ``accuracy.compute()``'s numbers arranged as the template's rows and charts.

Served by ``ReviewAdminMixin.dashboard_view`` (staff/review.py); the numbers come from ``staff/accuracy.py`` and the
SVG from ``staff/charts.py``.
"""

from recognizer.staff import accuracy, charts


def windows(days, query):
    """The time windows the page offers: ``(title, query string, chosen)`` for the last 7/30/90 days and all time."""
    options = [(f"last {d} days", str(d)) for d in accuracy.WINDOWS] + [("all time", None)]
    return [(title, query(window=value), value == days) for title, value in options]


def view_model(numbers):
    """Rows per model, per digit and per confidence band, and the three charts."""
    models = numbers["models"]
    per_model = numbers["per_model"]
    return {
        "model_rows": [
            {
                "name": name,
                "colour": charts.colour(name, i),
                "accuracy": per_model[name]["accuracy"],
                "when_agree": numbers["when_agree"][name],
                "when_disagree": numbers["when_disagree"][name],
                "per_class": per_model[name]["per_class"],
                "versions": numbers["by_version"][name],
                "bands": numbers["confidence"][name],
                "heatmap": charts.heatmap(per_model[name]["confusion"], f"{name} confusion matrix"),
            }
            for i, name in enumerate(models)
        ],
        "per_class_rows": [
            {
                "digit": d,
                "support": per_model[models[0]]["per_class"][d]["support"] if models else 0,
                "cells": [per_model[name]["per_class"][d] for name in models],
            }
            for d in range(10)
        ],
        "band_rows": [
            {"band": accuracy.band_label(i), "cells": [numbers["confidence"][name][i] for name in models]}
            for i in range(len(accuracy.BANDS))
        ],
        "time_chart": charts.accuracy_over_time(numbers["by_week"], models),
        "calibration_chart": charts.calibration(numbers["confidence"], models),
        "histogram_chart": charts.histogram(numbers["confidence"], models),
    }

"""Small inline SVG charts for the accuracy dashboard, drawn on the server.

No plotting library and no request leaves the page: each function takes numbers from
``recognizer.staff.accuracy.compute()`` and returns SVG markup (every value escaped by ``format_html``).
Hover titles carry the exact numbers.
"""

from django.utils.html import format_html
from django.utils.safestring import mark_safe

from recognizer.ml.registry import MODELS

MODEL_COLOURS = {spec.name: spec.colour for spec in MODELS}
FALLBACK_COLOURS = ("#2b8a3e", "#862e9c", "#495057")
FONT = "font-family:system-ui,sans-serif;font-size:11px"


def _html(template, *args):
    """format_html with coordinates rounded to one decimal (shorter markup)."""
    return format_html(template, *(round(a, 1) if isinstance(a, float) else a for a in args))


def colour(name, index=0):
    return MODEL_COLOURS.get(name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def _join(parts):
    return mark_safe("".join(str(p) for p in parts))  # noqa: S308 - every part comes from format_html


def _svg(width, height, label, body):
    return _html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="{}" class="chart" style="{}">{}</svg>',
        width,
        height,
        width,
        height,
        label,
        FONT,
        body,
    )


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f}%"


def _mix(fraction, rgb):
    """White to ``rgb`` by ``fraction``."""
    r, g, b = (round(255 + (c - 255) * fraction) for c in rgb)
    return f"rgb({r},{g},{b})"


def heatmap(matrix, title="Confusion matrix"):
    """10×10 confusion matrix; rows are the true label, columns the prediction. Shaded by share of the row:
    green on the diagonal (right), red off it (wrong)."""
    cell, left, top = 30, 34, 34
    size = len(matrix)
    width, height = left + size * cell + 6, top + size * cell + 6
    parts = [
        _html('<text x="{}" y="12" text-anchor="middle">predicted</text>', left + size * cell / 2),
        _html(
            '<text x="10" y="{}" text-anchor="middle" transform="rotate(-90 10 {})">label</text>',
            top + size * cell / 2,
            top + size * cell / 2,
        ),
    ]
    for d in range(size):
        parts.append(_html('<text x="{}" y="28" text-anchor="middle">{}</text>', left + d * cell + cell / 2, d))
        parts.append(_html('<text x="26" y="{}" text-anchor="end">{}</text>', top + d * cell + cell / 2 + 4, d))
    for label, row in enumerate(matrix):
        total = sum(row)
        for predicted, count in enumerate(row):
            share = count / total if total else 0.0
            fill = _mix(share, (47, 158, 68) if label == predicted else (224, 49, 49))
            x, y = left + predicted * cell, top + label * cell
            parts.append(
                _html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#dee2e6" class="cell" '
                    'data-label="{}" data-predicted="{}" data-count="{}"><title>label {}, predicted {}: {} ({} of '
                    "the row)</title></rect>",
                    x,
                    y,
                    cell,
                    cell,
                    fill,
                    label,
                    predicted,
                    count,
                    label,
                    predicted,
                    count,
                    _pct(share if total else None),
                )
            )
            if count:
                parts.append(
                    _html(
                        '<text x="{}" y="{}" text-anchor="middle" fill="{}" pointer-events="none">{}</text>',
                        x + cell / 2,
                        y + cell / 2 + 4,
                        "#fff" if share > 0.55 else "#212529",
                        count,
                    )
                )
    return _svg(width, height, title, _join(parts))


def _axes(left, top, plot_w, plot_h, y_ticks=(0, 0.25, 0.5, 0.75, 1.0)):
    parts = []
    for tick in y_ticks:
        y = top + plot_h * (1 - tick)
        parts.append(
            _html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e9ecef"/><text x="{}" y="{}" text-anchor="end">{}'
                "</text>",
                left,
                left + plot_w,
                y,
                y,
                left - 4,
                y + 4,
                f"{int(tick * 100)}%",
            )
        )
    parts.append(
        _html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#868e96"/>',
            left,
            left + plot_w,
            top + plot_h,
            top + plot_h,
        )
    )
    return parts


def _legend(models, x, y):
    parts = []
    for i, name in enumerate(models):
        parts.append(
            _html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>',
                x + i * 80,
                y - 9,
                colour(name, i),
                x + i * 80 + 14,
                y,
                name,
            )
        )
    return parts


def accuracy_over_time(by_week, models, title="Accuracy by week"):
    """Accuracy per week and model with its 95% interval as a vertical bar."""
    left, top, plot_w, plot_h = 44, 22, 520, 170
    width, height = left + plot_w + 16, top + plot_h + 40
    parts = _axes(left, top, plot_w, plot_h) + _legend(models, left, 12)
    weeks = [w["week"] for w in by_week]
    if not weeks:
        parts.append(_html('<text x="{}" y="{}" text-anchor="middle">no labeled drawings yet</text>', 300, 110))
        return _svg(width, height, title, _join(parts))
    step = plot_w / len(weeks)
    label_every = max(1, len(weeks) // 8)
    for i, week in enumerate(weeks):
        if i % label_every == 0:
            parts.append(
                _html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    left + step * (i + 0.5),
                    top + plot_h + 16,
                    week,
                )
            )
    for m, name in enumerate(models):
        offset = (m - (len(models) - 1) / 2) * min(8, step / 4)  # side by side so the bars don't overlap
        points = []
        for i, week in enumerate(by_week):
            p = week[name]
            if p["rate"] is None:
                continue
            x = left + step * (i + 0.5) + offset
            y = top + plot_h * (1 - p["rate"])
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(
                _html(
                    '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-opacity="0.45" stroke-width="3"/>',
                    x,
                    x,
                    top + plot_h * (1 - p["ci_high"]),
                    top + plot_h * (1 - p["ci_low"]),
                    colour(name, m),
                )
            )
            parts.append(
                _html(
                    '<circle cx="{}" cy="{}" r="3.5" fill="{}" class="point" data-model="{}" data-week="{}" '
                    'data-rate="{}"><title>{} week of {}: {} ({} of {}), 95% {}–{}</title></circle>',
                    x,
                    y,
                    colour(name, m),
                    name,
                    week["week"],
                    f"{p['rate']:.4f}",
                    name,
                    week["week"],
                    _pct(p["rate"]),
                    p["k"],
                    p["n"],
                    _pct(p["ci_low"]),
                    _pct(p["ci_high"]),
                )
            )
        if len(points) > 1:
            parts.insert(
                0,
                _html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                    " ".join(points),
                    colour(name, m),
                ),
            )
    return _svg(width, height, title, _join(parts))


def calibration(confidence, models, title="Calibration"):
    """Reliability diagram: accuracy against mean confidence per band; the diagonal is perfect calibration."""
    left, top, size = 44, 22, 240
    width, height = left + size + 16, top + size + 40
    parts = _axes(left, top, size, size) + _legend(models, left, 12)
    parts.append(
        _html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#adb5bd" stroke-dasharray="4 3"/>',
            left,
            top + size,
            left + size,
            top,
        )
    )
    for tick in (0, 0.5, 1.0):
        parts.append(
            _html(
                '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                left + size * tick,
                top + size + 16,
                f"{int(tick * 100)}%",
            )
        )
    parts.append(_html('<text x="{}" y="{}" text-anchor="middle">confidence</text>', left + size / 2, top + size + 32))
    for m, name in enumerate(models):
        points = []
        for band in confidence[name]:
            acc = band["accuracy"]
            if acc["rate"] is None or band["mean_confidence"] is None:
                continue
            x = left + size * band["mean_confidence"]
            y = top + size * (1 - acc["rate"])
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(
                _html(
                    '<circle cx="{}" cy="{}" r="{}" fill="{}" fill-opacity="0.8" class="point" '
                    'data-model="{}" data-band="{}"><title>{} {}: accuracy {} ({} of {}), mean confidence {}</title>'
                    "</circle>",
                    x,
                    y,
                    min(8.0, 2.5 + acc["n"] ** 0.5 / 2),
                    colour(name, m),
                    name,
                    band["band"],
                    name,
                    band["band"],
                    _pct(acc["rate"]),
                    acc["k"],
                    acc["n"],
                    _pct(band["mean_confidence"]),
                )
            )
        if len(points) > 1:
            parts.insert(
                0,
                _html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>',
                    " ".join(points),
                    colour(name, m),
                ),
            )
    return _svg(width, height, title, _join(parts))


def histogram(confidence, models, title="Confidence histogram"):
    """How many drawings fall in each confidence band, per model (all drawings, labeled or not)."""
    left, top, plot_w, plot_h = 44, 22, 400, 170
    width, height = left + plot_w + 16, top + plot_h + 40
    bands = [b["band"] for b in confidence[models[0]]] if models else []
    peak = max([b["count"] for name in models for b in confidence[name]] or [0]) or 1
    ticks = (0, 0.5, 1.0)
    parts = _legend(models, left, 12)
    for tick in ticks:
        y = top + plot_h * (1 - tick)
        parts.append(
            _html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e9ecef"/><text x="{}" y="{}" text-anchor="end">{}'
                "</text>",
                left,
                left + plot_w,
                y,
                y,
                left - 4,
                y + 4,
                round(peak * tick),
            )
        )
    step = plot_w / max(1, len(bands))
    bar = step * 0.8 / max(1, len(models))
    for i, band in enumerate(bands):
        parts.append(
            _html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="9">{}</text>',
                left + step * (i + 0.5),
                top + plot_h + 14,
                band,
            )
        )
        for m, name in enumerate(models):
            count = confidence[name][i]["count"]
            h = plot_h * count / peak
            parts.append(
                _html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="bar"><title>{} {}: {}</title></rect>',
                    left + step * i + step * 0.1 + bar * m,
                    top + plot_h - h,
                    bar,
                    h,
                    colour(name, m),
                    name,
                    band,
                    count,
                )
            )
    return _svg(width, height, title, _join(parts))

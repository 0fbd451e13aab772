"""Pen strokes -> the 280x280 canvas the drawing page would send -> the live 28x28 model input.

The drawing page (``static/recognizer/app.js``) draws each stroke as quadratic curves through the
midpoints of the pointer samples, with a round pen (round caps and joins) ``LINE_WIDTH`` = 20 px
wide, black on a white 280x280 canvas.  :func:`render` does the same with Pillow, and
:func:`to_model_input` sends the picture through the *live* preprocessing
(:func:`preprocess.image_to_model_input`, the same code a ``POST /api/predict/`` runs after
decoding the PNG), so training, evaluation and tests all see what a model sees in production.

Strokes are lists of ``(x, y)`` points in screen orientation (y grows down), in any units: the
UNIPEN file uses a 1000-unit box.  :func:`augment_strokes` varies them the way different writers
and pens would (pen width, resampling and jitter, small rotation and shear, per-stroke offsets);
:func:`place` fits them onto the canvas at a size and place.

No Django here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from recognizer.ml import preprocess

CANVAS = 280  # the page's canvas, CSS px
LINE_WIDTH = 20.0  # the page's pen (app.js LINE_WIDTH)

Stroke = np.ndarray  # (n, 2) float (x, y)


def as_strokes(strokes) -> list[Stroke]:
    """JSON-ish strokes ``[[[x, y], ...], ...]`` -> list of float64 (n, 2) arrays (empty ones dropped)."""
    out = []
    for s in strokes:
        a = np.asarray(s, dtype=np.float64).reshape(-1, 2)
        if len(a):
            out.append(a)
    if not out:
        raise ValueError("no strokes")
    return out


# ---------------------------------------------------------------------------------------------
# Geometry


def resample(stroke: Stroke, spacing: float) -> Stroke:
    """Points every ``spacing`` units along the stroke's path (ends kept)."""
    if len(stroke) < 2:
        return stroke
    seg = np.hypot(*np.diff(stroke, axis=0).T)
    keep = np.concatenate([[True], seg > 1e-9])
    stroke, seg = stroke[keep], seg[seg > 1e-9]
    if len(stroke) < 2:
        return stroke[:1]
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(dist[-1] / spacing)) + 1)
    t = np.linspace(0.0, dist[-1], n)
    return np.stack([np.interp(t, dist, stroke[:, 0]), np.interp(t, dist, stroke[:, 1])], axis=1)


def smooth(stroke: Stroke, sigma: float) -> Stroke:
    """Gaussian smoothing along the stroke (``sigma`` in points), ends pinned.

    Resample first so that a point is a fixed distance: then this rounds off the staircase of
    a coarse grid (72 dpi tablets) without shortening the stroke.
    """
    if sigma <= 0 or len(stroke) < 3:
        return stroke
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(stroke[:1], r, 0), stroke, np.repeat(stroke[-1:], r, 0)])
    out = np.stack([np.convolve(padded[:, 0], k, "valid"), np.convolve(padded[:, 1], k, "valid")], axis=1)
    out[0], out[-1] = stroke[0], stroke[-1]
    return out


def bounds(strokes: Sequence[Stroke]) -> tuple[np.ndarray, np.ndarray]:
    allp = np.concatenate(strokes)
    return allp.min(axis=0), allp.max(axis=0)


def staircase_step(strokes: Sequence[Stroke]) -> float:
    """The grid step of a trajectory recorded on a coarse grid (72 dpi tablets), else 0.

    Such a trajectory moves in axis-aligned unit steps: most of its segments are horizontal or
    vertical, and the typical coordinate change is one grid step.
    """
    segs = [np.diff(s, axis=0) for s in strokes if len(s) > 1]
    if not segs:
        return 0.0
    d = np.concatenate(segs)
    d = d[(d != 0).any(axis=1)]
    if len(d) < 4 or np.mean((d == 0).any(axis=1)) < 0.45:
        return 0.0
    return float(np.median(np.abs(d[d != 0])))


def clean(strokes: Sequence[Stroke], spacing: float = 0.012, sigma: float = 1.0) -> list[Stroke]:
    """Resample every stroke at ``spacing`` x the digit's size and smooth it.

    This is what every digit gets before it is drawn: it turns a staircased or sparsely sampled
    trajectory into a smooth one, like the page's pointer samples.  A staircase is smoothed over
    about one grid step (:func:`staircase_step`), anything else over ``sigma`` points.
    """
    lo, hi = bounds(strokes)
    size = max(float((hi - lo).max()), 1e-6)
    step = spacing * size
    sigma = max(sigma, staircase_step(strokes) / step)
    return [smooth(resample(s, step), sigma) for s in strokes]


# ---------------------------------------------------------------------------------------------
# Augmentation


@dataclass(frozen=True)
class StrokeAugment:
    """How much a digit's strokes and pen vary (uniform in +-, unless a range)."""

    rotation_deg: float = 10.0
    shear: float = 0.25  # x += shear * y
    aspect: float = 0.2  # log of the x/y stretch
    spacing: tuple[float, float] = (0.008, 0.03)  # resampling step, fraction of the digit's size
    smooth_sigma: tuple[float, float] = (0.5, 1.5)
    jitter: float = 0.015  # smooth per-point noise, fraction of the digit's size
    stroke_offset: float = 0.03  # each stroke moved by up to this fraction (multi-stroke digits)
    height: tuple[float, float] = (80.0, 240.0)  # the longer side of the digit on the canvas, px
    width: tuple[float, float] = (11.0, 30.0)  # pen width, px, log-uniform (page: 20)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _smooth_noise(stroke: Stroke, rng: np.random.Generator, scale: float, wavelength: float) -> np.ndarray:
    """(n, 2) smooth random displacement along the stroke, one random value every ``wavelength``."""
    n = len(stroke)
    if n == 1:
        return rng.normal(0, scale, (1, 2))
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
    knots = max(2, int(arc[-1] / wavelength) + 2)
    ctrl = rng.normal(0, scale, (knots, 2))
    t = arc / max(arc[-1], 1e-9) * (knots - 1)
    grid = np.arange(knots)
    return np.stack([np.interp(t, grid, ctrl[:, 0]), np.interp(t, grid, ctrl[:, 1])], axis=1)


def augment_strokes(strokes: Sequence[Stroke], rng: np.random.Generator, cfg: StrokeAugment) -> list[Stroke]:
    """A new writer's version of the digit: resampled, jittered, strokes shifted, sheared and rotated."""
    lo, hi = bounds(strokes)
    size = max(float((hi - lo).max()), 1e-6)
    spacing = rng.uniform(*cfg.spacing) * size
    sigma = max(rng.uniform(*cfg.smooth_sigma), rng.uniform(0.8, 1.2) * staircase_step(strokes) / spacing)
    out = []
    for s in strokes:
        s = smooth(resample(s, spacing), sigma)
        if cfg.jitter > 0:
            s = s + _smooth_noise(s, rng, cfg.jitter * size, 0.25 * size)
        if len(strokes) > 1 and cfg.stroke_offset > 0:
            s = s + rng.uniform(-cfg.stroke_offset, cfg.stroke_offset, 2) * size
        out.append(s)
    angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    shear = rng.uniform(-cfg.shear, cfg.shear)
    aspect = np.exp(rng.uniform(-cfg.aspect, cfg.aspect))
    c, s_ = np.cos(angle), np.sin(angle)
    m = (
        np.array([[c, -s_], [s_, c]])
        @ np.array([[1.0, shear], [0.0, 1.0]])
        @ np.diag([np.sqrt(aspect), 1 / np.sqrt(aspect)])
    )
    centre = (lo + hi) / 2
    return [(p - centre) @ m.T for p in out]


# ---------------------------------------------------------------------------------------------
# Placing and drawing


def place(
    strokes: Sequence[Stroke], height: float, width: float, rng: np.random.Generator | None = None
) -> list[Stroke]:
    """Scale the digit so its longer side is ``height`` px and put it on the canvas.

    Anywhere the whole pen line fits (random with ``rng``, else centred).
    """
    lo, hi = bounds(strokes)
    size = max(float((hi - lo).max()), 1e-6)
    margin = width / 2 + 2
    scale = min(height / size, (CANVAS - 2 * margin) / size)
    span = (hi - lo) * scale
    room = np.maximum(CANVAS - 2 * margin - span, 0)
    offset = margin + (rng.uniform(0, 1, 2) * room if rng is not None else room / 2)
    return [(s - lo) * scale + offset for s in strokes]


def page_path(stroke: Stroke, steps: int = 4) -> Stroke:
    """The polyline the page's ``traceStroke`` draws: quadratic curves through the midpoints.

    ``moveTo(p0)``, then for each inner point ``quadraticCurveTo(p[i], mid(p[i], p[i+1]))``,
    then ``lineTo(last)``; each curve flattened into ``steps`` segments.
    """
    n = len(stroke)
    if n < 3:
        return stroke
    mids = (stroke[1:-1] + stroke[2:]) / 2  # end point of curve i
    starts = np.concatenate([stroke[:1], mids[:-1]])  # start point of curve i
    ctrl = stroke[1:-1]
    t = np.linspace(0, 1, steps + 1)[1:, None, None]
    curves = (1 - t) ** 2 * starts + 2 * (1 - t) * t * ctrl + t**2 * mids  # (steps, n-2, 2)
    pts = curves.transpose(1, 0, 2).reshape(-1, 2)
    return np.concatenate([stroke[:1], pts, stroke[-1:]])


def draw(strokes: Sequence[Stroke], width: float = LINE_WIDTH, size: int = CANVAS) -> Image.Image:
    """Black strokes on a white ``size`` x ``size`` "L" image, round caps and joins, like the page.

    Pillow's own round joins (``joint="curve"``) cost ~15 ms a digit; a plain wide line plus a
    pen-sized disc at every vertex is the same shape (a round pen swept along the path) at ~1 ms.
    """
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    # Canvas coordinates put pixel i's centre at i + 0.5, Pillow at i; Pillow's boxes include both ends.
    r = width / 2 - 0.5
    w = max(1, int(round(width)))
    for s in strokes:
        path = page_path(np.asarray(s, dtype=np.float64), steps=2) - 0.5
        pts = [tuple(p) for p in path.tolist()]
        if len(pts) > 1:
            d.line(pts, fill=0, width=w)
        for x, y in pts:  # round caps and joins; a one-point stroke is a dot, as on the page
            d.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return img


def to_model_input(img: Image.Image) -> np.ndarray:
    """The live preprocessing of a drawn canvas -> (28, 28) float32."""
    return preprocess.image_to_model_input(img)


def render(
    strokes,
    rng: np.random.Generator | None = None,
    cfg: StrokeAugment | None = None,
    height: float = 200.0,
    width: float = LINE_WIDTH,
) -> np.ndarray:
    """Strokes -> (28, 28) float32 model input, through the page's pen and the live preprocessing.

    Without ``rng``: cleaned (resampled and smoothed), ``height`` px, centred, ``width`` pen.
    With ``rng`` and ``cfg``: augmented, random size, place and pen width.
    """
    strokes = as_strokes(strokes)
    if rng is not None and cfg is not None:
        strokes = augment_strokes(strokes, rng, cfg)
        height = rng.uniform(*cfg.height)
        width = float(np.exp(rng.uniform(np.log(cfg.width[0]), np.log(cfg.width[1]))))
        width = min(width, height / 4.0)  # thicker, and a small digit is an ink blot
    else:
        strokes = clean(strokes)
    return to_model_input(draw(place(strokes, height, width, rng), width))


def render_many(
    items, rng: np.random.Generator | Sequence[np.random.Generator], cfg: StrokeAugment | None
) -> np.ndarray:
    """Many digits (each a strokes list) -> uint8 (N, 28, 28); a digit that draws nothing is black.

    ``rng``: one generator for all the digits, or one per digit.
    """
    out = np.zeros((len(items), 28, 28), np.uint8)
    rngs = [rng] * len(items) if isinstance(rng, np.random.Generator) else rng
    for i, (strokes, digit_rng) in enumerate(zip(items, rngs, strict=True)):
        try:
            out[i] = np.rint(render(strokes, digit_rng, cfg) * 255)
        except preprocess.EmptyDrawing:
            pass
    return out


VALIDATION_HEIGHT = (90.0, 240.0)


def render_validation(items, seed: int = 0) -> np.ndarray:
    """Evaluation renders: uint8 (N, 28, 28), the page's pen (20 px), cleaned strokes, no augmentation.

    Digit ``i`` is drawn ``VALIDATION_HEIGHT`` px tall (random, from ``(seed, i)``) at a random
    place: a pure function of the strokes and the seed, like a user drawing each digit once.
    """
    out = np.zeros((len(items), 28, 28), np.uint8)
    for i, strokes in enumerate(items):
        rng = np.random.default_rng([seed, i])
        height = rng.uniform(*VALIDATION_HEIGHT)
        out[i] = np.rint(render(strokes, rng=rng, height=height) * 255)
    return out

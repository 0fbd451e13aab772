"""Handwriting styles that real pen digits show too rarely, added to their strokes for training.

Most training writers (and nearly all of MNIST) write a 1 as a plain bar, a 0 as a bare oval and
a 7 without a bar, so the models read a European 1 (a long up-stroke into the top) as a 7 and a
slashed zero as an 8.  :func:`add_style` gives a real digit's strokes one of these styles, the way
a writer who uses it would draw it, before the digit is augmented and drawn through the page's pen:

* **European 1**: an up-stroke from the left, steeper and shorter than a 7's bar, into the top;
* **slashed zero**: a stroke across the oval, from bottom left to top right (or the other way);
* **crossed 7**: a short bar across the stem, about halfway down.

Strokes are ``(n, 2)`` float arrays in screen orientation (y grows down), any units.  No Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recognizer.ml.strokes import Stroke, bounds, resample


@dataclass(frozen=True)
class StyleAugment:
    """How often a training render of a digit gets each style (a probability per render)."""

    european_one: float = 0.6
    slashed_zero: float = 0.3
    crossed_seven: float = 0.25
    # A European 1's up-stroke: its length (fraction of the digit's height) and its angle below
    # the horizontal.  A 7's bar is longer (most are 0.6 of the height or more).  Measured on the
    # validation writers (Keras, 5 epochs): 1s 91 % with (0.2-0.45, 25-60 deg) -> 95 % with these,
    # 7s 100 % either way.
    flag_length: tuple[float, float] = (0.2, 0.5)
    flag_angle_deg: tuple[float, float] = (10.0, 60.0)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _segment(a: np.ndarray, b: np.ndarray, points: int = 12) -> Stroke:
    t = np.linspace(0.0, 1.0, points)[:, None]
    return a + (b - a) * t


def european_one(strokes: Sequence[Stroke], rng: np.random.Generator, cfg: StyleAugment) -> list[Stroke]:
    """A plain 1 (a narrow bar) with an up-stroke into its top; any other 1 is left as it is."""
    lo, hi = bounds(strokes)
    width, height = hi - lo
    if height <= 0 or width > 0.3 * height:  # already has a flag or a foot, or is not upright
        return list(strokes)
    allp = np.concatenate(strokes)
    top = allp[np.argmin(allp[:, 1])]
    length = rng.uniform(*cfg.flag_length) * height
    angle = np.deg2rad(rng.uniform(*cfg.flag_angle_deg))
    start = top + length * np.array([-np.cos(angle), np.sin(angle)])
    return [_segment(start, top), *strokes]


def slashed_zero(strokes: Sequence[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 0 with a slash across it, reaching a little past the oval or stopping just short."""
    lo, hi = bounds(strokes)
    size = hi - lo
    reach = rng.uniform(-0.1, 0.15, 2) * size
    a = np.array([lo[0], hi[1]]) + np.array([-reach[0], reach[1]])  # bottom left
    b = np.array([hi[0], lo[1]]) + np.array([reach[0], -reach[1]])  # top right
    if rng.random() < 0.5:  # drawn either way
        a, b = b, a
    return [*strokes, _segment(a, b)]


def crossed_seven(strokes: Sequence[Stroke], rng: np.random.Generator) -> list[Stroke]:
    """A 7 with a short, nearly level bar across its stem about halfway down."""
    lo, hi = bounds(strokes)
    width, height = hi - lo
    allp = np.concatenate([resample(s, 0.02 * max(width, height)) for s in strokes])  # sparse samples too
    y = lo[1] + rng.uniform(0.45, 0.62) * height
    near = allp[np.abs(allp[:, 1] - y) < 0.08 * height]
    if not len(near) or width <= 0:
        return list(strokes)
    x = float(near[np.argmin(np.abs(near[:, 1] - y)), 0])
    half = rng.uniform(0.2, 0.35) * width
    tilt = rng.uniform(-0.08, 0.08) * height
    return [*strokes, _segment(np.array([x - half, y + tilt]), np.array([x + half, y - tilt]))]


def add_style(strokes: Sequence[Stroke], label: int, rng: np.random.Generator, cfg: StyleAugment) -> list[Stroke]:
    """The digit's strokes, given its label's style with the configured probability."""
    if label == 1 and rng.random() < cfg.european_one:
        return european_one(strokes, rng, cfg)
    if label == 0 and rng.random() < cfg.slashed_zero:
        return slashed_zero(strokes, rng)
    if label == 7 and rng.random() < cfg.crossed_seven:
        return crossed_seven(strokes, rng)
    return list(strokes)

"""A canvas-style evaluation set: MNIST *test* digits re-drawn the way people draw on the page.

Each digit is upscaled, thinned to its skeleton (Zhang-Suen) and redrawn with a round pen of
random width on a 280x280 canvas (white, or transparent like an untouched browser canvas), at a
random size and position -- not centred, sometimes small, sometimes with a thick pen (the hard
case).  The PNG bytes then go through the *real* :func:`preprocess.to_model_input`, and through
the old app's :func:`preprocess.naive_model_input` for the baseline.

Everything is a pure function of (count, seed), so every run and every test sees the same set.
No Django, no TensorFlow.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from recognizer.ml import datasets, preprocess
from recognizer.ml.thinning import thin

CANVAS = 280
DEFAULT_SEED = 1234
DEFAULT_COUNT = 10_000


# ---------------------------------------------------------------------------------------------
# Thinning


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean image to one-pixel-wide lines (cropped for speed)."""
    out = np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return out
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    out[window] = thin(mask[window][None])[0]
    return out


# ---------------------------------------------------------------------------------------------
# Drawing


def _topology(mask: np.ndarray) -> tuple[int, int]:
    """(pieces, holes) of a binary shape, ignoring specks."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    pieces = int((np.bincount(labels.ravel())[1:] >= 20).sum()) if n else 0
    bg_labels, n_bg = ndimage.label(np.pad(~mask, 1, constant_values=True))
    holes = int((np.bincount(bg_labels.ravel())[1:] >= 6).sum()) - 1 if n_bg else 0
    return pieces, holes


def pen_core(big: np.ndarray, thresholds=(40, 70, 100, 150, 200, 235)) -> np.ndarray:
    """Where the pen went: the thinnest threshold of the upscaled digit that keeps its shape.

    A bold MNIST digit thresholded low is a blob whose loops are filled in, and its skeleton
    is not the digit any more (a bold 8 becomes an S).  The stroke's core -- a higher
    threshold -- keeps the loops; we take the highest threshold that neither breaks the digit
    into more pieces nor loses a hole.
    """
    best = big > thresholds[0]
    pieces, holes = _topology(best)
    for t in thresholds[1:]:
        mask = big > t
        p, h = _topology(mask)
        if p > pieces or h < holes or mask.sum() < 40:
            break
        best, holes = mask, max(holes, h)
    return best


@dataclass(frozen=True)
class CanvasDigit:
    png: bytes
    label: int
    height: int  # digit height on the canvas, px
    pen: float  # pen width, px
    transparent: bool


def _pen_path(skeleton: np.ndarray) -> np.ndarray:
    """Segments between 8-connected skeleton pixels as (M, 2, 2) [start, end] (y, x) pairs."""
    pts = np.argwhere(skeleton)
    segments = [np.stack([pts, pts], axis=1)]  # dots, for isolated pixels
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shifted = np.zeros_like(skeleton)
        h, w = skeleton.shape
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        yt, xt = slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx))
        shifted[ys, xs] = skeleton[ys, xs] & skeleton[yt, xt]
        start = np.argwhere(shifted)
        segments.append(np.stack([start, start + (dy, dx)], axis=1))
    return np.concatenate(segments).astype(np.float32)


def draw_digit(digit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int, float]:
    """uint8 28x28 MNIST digit -> ink (280x280 float, 1 = black) redrawn with a round pen."""
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BILINEAR))
    mask = pen_core(big)
    skeleton = skeletonize(mask)
    if not skeleton.any():
        skeleton = mask
    segments = _pen_path(skeleton)
    ys, xs = segments[..., 0], segments[..., 1]
    y0, x0 = ys.min(), xs.min()
    sk_h, sk_w = ys.max() - y0 + 1, xs.max() - x0 + 1
    # size and pen: a third of the digits small (hard with a thick pen), the rest anything
    height = int(rng.uniform(50, 100) if rng.random() < 1 / 3 else rng.uniform(100, 240))
    pen = float(rng.uniform(6.0, min(26.0, height / 3.5)))
    scale = max(0.3, (height - pen) / sk_h)
    scale = min(scale, (CANVAS - 8 - pen) / sk_w)
    # position: anywhere the whole stroke fits
    span_y, span_x = sk_h * scale + pen, sk_w * scale + pen
    top = rng.uniform(2, CANVAS - 2 - span_y) + pen / 2
    left = rng.uniform(2, CANVAS - 2 - span_x) + pen / 2
    start = (segments[:, 0] - (y0, x0)) * scale + (top, left)
    end = (segments[:, 1] - (y0, x0)) * scale + (top, left)
    # dense points along every segment, then the distance to them gives a round, anti-aliased pen
    steps = max(2, int(np.ceil(scale * 1.5)) + 1)
    t = np.linspace(0, 1, steps, dtype=np.float32)[None, :, None]
    points = np.rint(start[:, None, :] + (end - start)[:, None, :] * t).reshape(-1, 2).astype(int)
    points = np.clip(points, 0, CANVAS - 1)
    seeds = np.ones((CANVAS, CANVAS), bool)
    seeds[points[:, 0], points[:, 1]] = False
    r = pen / 2
    lo = np.maximum(points.min(axis=0) - int(r) - 2, 0)
    hi = np.minimum(points.max(axis=0) + int(r) + 3, CANVAS)
    ink = np.zeros((CANVAS, CANVAS), np.float32)
    dist = ndimage.distance_transform_edt(seeds[lo[0] : hi[0], lo[1] : hi[1]])
    ink[lo[0] : hi[0], lo[1] : hi[1]] = np.clip(r + 0.5 - dist, 0.0, 1.0)
    return ink, int(round(span_y)), pen


def _to_png(ink: np.ndarray, transparent: bool) -> bytes:
    a = np.rint(ink * 255).astype(np.uint8)
    if transparent:  # black strokes on a transparent canvas, as an untouched <canvas> exports
        rgba = np.zeros((*a.shape, 4), np.uint8)
        rgba[..., 3] = a
        img = Image.fromarray(rgba, "RGBA")
    else:
        img = Image.fromarray(255 - a, "L")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def draw_on_canvas(digit: np.ndarray, label: int, rng: np.random.Generator) -> CanvasDigit:
    """A uint8 28x28 MNIST digit redrawn on a canvas, white or (a quarter of them) transparent, as PNG bytes."""
    ink, height, pen = draw_digit(digit, rng)
    transparent = bool(rng.random() < 0.25)
    return CanvasDigit(_to_png(ink, transparent), label, height, pen, transparent)


def build_canvas_set(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, mnist_dir=None) -> list[CanvasDigit]:
    """``count`` MNIST test digits redrawn on canvases, deterministic in (count, seed)."""
    x, y = datasets.load_mnist("test", mnist_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))[:count]
    return [draw_on_canvas(x[i], int(y[i]), rng) for i in order]


@functools.lru_cache(maxsize=4)
def canvas_inputs(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """The canvas set through both pipelines: {"mnist": (N,28,28), "naive": (N,28,28), "y", "small"}.

    "small" marks the hard case: a digit under 100 px drawn with a pen over a fifth of its height.
    """
    digits = build_canvas_set(count, seed)
    return {
        "mnist": np.stack([preprocess.to_model_input(d.png) for d in digits]),
        "naive": np.stack([preprocess.naive_model_input(d.png) for d in digits]),
        "y": np.array([d.label for d in digits], np.uint8),
        "small": np.array([d.height < 100 and d.pen > d.height / 5 for d in digits]),
    }


def evaluate_canvas(
    predict_fns: dict[str, Callable[[np.ndarray], np.ndarray]],
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    naive: bool = True,
) -> dict[str, dict[str, float]]:
    """Accuracy (percent) per model on the canvas set.

    ``predict_fns`` map a name to a function from (N, 28, 28) float32 inputs to (N,) digits.
    Returns {name: {"mnist_preprocessing": acc, "small_thick": acc, "naive_resize": acc}}.
    """
    data = canvas_inputs(count, seed)
    y, small = data["y"], data["small"]
    results = {}
    for name, fn in predict_fns.items():
        pred = np.asarray(fn(data["mnist"]))
        row = {
            "mnist_preprocessing": 100.0 * float(np.mean(pred == y)),
            "small_thick": 100.0 * float(np.mean(pred[small] == y[small])) if small.any() else float("nan"),
        }
        if naive:
            row["naive_resize"] = 100.0 * float(np.mean(np.asarray(fn(data["naive"])) == y))
        results[name] = row
    return results

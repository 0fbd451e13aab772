"""Augmentation: MNIST digits varied the way canvas drawings vary, and the per-epoch training data.

Augmentation turns MNIST digits into the kind of variation canvas drawings have, then puts
every augmented digit through :func:`recognizer.ml.preprocess.normalize_ink`, the same crop /
20 px box / centre-of-mass step the live drawings go through:

* shape: rotation, shear, aspect ratio, scale and an elastic distortion, applied in one
  resampling pass onto a 2x grid (so strokes can then be thickened in half-pixel steps);
* stroke: grey dilation (thick pen) or erosion (thin pen) with disc footprints; a thick pen
  on a small digit -- the hard case -- is a big dilation on a small scale;
* ink: a random contrast curve (canvas strokes are solid, MNIST strokes soft).

Each epoch's augmented data depends only on (seed, epoch), so the run is reproducible and
both models can share the same epochs (:class:`EpochData` caches them, and builds many at once
on several processes).  Extra examples (e.g. staff-labeled drawings, already 28x28 model
inputs) can be mixed in with a weight, and so can real pen digits (:class:`PenSet`): strokes
drawn afresh every epoch through the page's pen (:mod:`recognizer.ml.strokes`).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from recognizer.ml import strokes, styles
from recognizer.ml.preprocess import EmptyDrawing, normalize_ink
from recognizer.ml.strokes import StrokeAugment
from recognizer.ml.styles import StyleAugment
from recognizer.ml.thinning import thin

GRID = 64  # augmentation canvas: 2x resolution, room for rotation and scale-up


@dataclass
class Extra:
    """Additional training examples: x uint8 (N, 28, 28) model inputs, y (N,), weight each."""

    x: np.ndarray
    y: np.ndarray
    weight: float = 1.0

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.uint8).reshape(-1, 28, 28)
        self.y = np.asarray(self.y, dtype=np.uint8).reshape(-1)
        if len(self.x) != len(self.y):
            raise ValueError(f"extra examples: {len(self.x)} images but {len(self.y)} labels")


# ---------------------------------------------------------------------------------------------
# Augmentation


@dataclass(frozen=True)
class AugmentConfig:
    clean_fraction: float = 0.15  # left exactly as in MNIST
    rotation_deg: float = 15.0
    shear: float = 0.3
    aspect: float = 0.25  # log of the x/y stretch, uniform in +-
    scale: tuple[float, float] = (0.75, 1.25)  # on the 2x grid; smaller digit = relatively thicker pen
    elastic_px: float = 1.5  # displacement amplitude in source pixels
    elastic_cells: int = 4  # coarseness of the displacement field
    # stroke: disc radius on the 2x grid (negative = erosion), drawn with these weights
    stroke_radius: tuple[int, ...] = (-2, -1, 0, 1, 2, 3, 4, 5, 6)
    stroke_weights: tuple[float, ...] = (0.06, 0.1, 0.2, 0.17, 0.15, 0.12, 0.09, 0.07, 0.04)
    gamma: tuple[float, float] = (0.3, 1.3)  # ink ** gamma: < 1 solid canvas-like strokes, > 1 soft
    # pen redraw: thin the (transformed) digit to its skeleton and redraw it with a round pen of
    # this radius on the 2x grid -- uniform strokes like a canvas pen, thin ones included
    restroke_fraction: float = 0.3
    restroke_radius: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    restroke_weights: tuple[float, ...] = (0.22, 0.24, 0.2, 0.14, 0.1, 0.1)


def _disc(radius: int) -> np.ndarray:
    r = abs(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy * yy + xx * xx) <= r * r + r  # a slightly full disc looks rounder at small r


def _smooth_basis(cells: int) -> np.ndarray:
    """(GRID, cells) weights interpolating ``cells`` control values smoothly across the grid."""
    pos = np.linspace(0, cells - 1, GRID)[:, None]
    w = np.exp(-0.5 * (pos - np.arange(cells)[None, :]) ** 2 / 0.6**2)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _sample_coords(n: int, rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates (y, x), each (n, GRID, GRID), into the 28x28 digits."""
    angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg, n))
    shear = rng.uniform(-cfg.shear, cfg.shear, n)
    aspect = np.exp(rng.uniform(-cfg.aspect, cfg.aspect, n))
    scale = rng.uniform(*cfg.scale, n) * 2.0  # 2x grid
    sx, sy = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    cos, sin = np.cos(angle), np.sin(angle)
    # forward map A = R @ Shear @ S (source -> grid); we need its inverse for sampling
    a11, a12 = cos * sx, (cos * shear - sin) * sy
    a21, a22 = sin * sx, (sin * shear + cos) * sy
    det = a11 * a22 - a12 * a21
    inv = np.stack([a22, -a12, -a21, a11], axis=1).astype(np.float32) / det[:, None].astype(np.float32)
    g = np.arange(GRID, dtype=np.float32) - (GRID - 1) / 2
    gy, gx = g[None, :, None], g[None, None, :]
    src_y = inv[:, 0, None, None] * gy + inv[:, 1, None, None] * gx + np.float32(13.5)
    src_x = inv[:, 2, None, None] * gy + inv[:, 3, None, None] * gx + np.float32(13.5)
    # elastic: a smooth random displacement field = coarse noise through a Gaussian basis
    if cfg.elastic_px > 0:
        c = cfg.elastic_cells + 1
        noise = rng.uniform(-1, 1, (2, n, c, c)).astype(np.float32) * np.float32(cfg.elastic_px)
        basis = _smooth_basis(c)  # (GRID, c)
        field_ = basis @ noise @ basis.T  # (2, n, GRID, GRID)
        src_y += field_[0]
        src_x += field_[1]
    return src_y, src_x


def _bilinear(images: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Sample each image (n, H, W) at its own float coordinates (bilinear, zero outside)."""
    n, h, w = images.shape
    padded = np.zeros((n, h + 2, w + 2), np.float32)
    padded[:, 1:-1, 1:-1] = images
    flat = padded.ravel()
    y = np.clip(src_y + 1, 0, h + 0.999)
    x = np.clip(src_x + 1, 0, w + 0.999)
    y0f, x0f = np.floor(y), np.floor(x)
    wy, wx = y - y0f, x - x0f  # float32 throughout
    base = y0f.astype(np.intp) * (w + 2) + x0f.astype(np.intp)
    base += (np.arange(n, dtype=np.intp) * ((h + 2) * (w + 2)))[:, None, None]
    v00, v01 = np.take(flat, base), np.take(flat, base + 1)
    v10, v11 = np.take(flat, base + (w + 2)), np.take(flat, base + (w + 3))
    top = v00 + (v01 - v00) * wx
    bottom = v10 + (v11 - v10) * wx
    return top + (bottom - top) * wy


def augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig(), chunk: int = 1000):
    """uint8 (N, 28, 28) MNIST-style digits -> augmented, re-normalised uint8 (N, 28, 28)."""
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        out[start : start + chunk] = _augment_chunk(x[start : start + chunk], rng, cfg)
    return out


def _augment_chunk(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    n = len(x)
    src = x.astype(np.float32) / 255.0
    big = _bilinear(src, *_sample_coords(n, rng, cfg))
    # stroke thickness: group the images by the chosen disc radius
    weights = np.asarray(cfg.stroke_weights) / np.sum(cfg.stroke_weights)
    radius = rng.choice(np.asarray(cfg.stroke_radius), size=n, p=weights)
    restroke = rng.random(n) < cfg.restroke_fraction
    pen_weights = np.asarray(cfg.restroke_weights) / np.sum(cfg.restroke_weights)
    pen = rng.choice(np.asarray(cfg.restroke_radius), size=n, p=pen_weights)
    if restroke.any():
        sel = np.flatnonzero(restroke)
        skeleton = thin(big[sel] > 0.35).astype(np.float32)
        for r in np.unique(pen[sel]):
            group = pen[sel] == r
            if r > 0:
                skeleton[group] = ndimage.grey_dilation(skeleton[group], footprint=_disc(int(r))[None])
        big[sel] = skeleton
        radius[sel] = 0  # already has its pen
    for r in np.unique(radius):
        if r == 0:
            continue
        sel = np.flatnonzero(radius == r)
        footprint = _disc(int(r))[None]
        op = ndimage.grey_dilation if r > 0 else ndimage.grey_erosion
        changed = op(big[sel], footprint=footprint)
        if r < 0:  # never erase a thin digit: keep the erosion only where enough ink survives
            keep = changed.sum(axis=(1, 2)) > 0.5 * big[sel].sum(axis=(1, 2))
            sel, changed = sel[keep], changed[keep]
        big[sel] = changed
    # ink profile: solid canvas strokes vs. soft MNIST strokes
    gamma = np.exp(rng.uniform(np.log(cfg.gamma[0]), np.log(cfg.gamma[1]), n)).astype(np.float32)
    np.clip(big, 0.0, 1.0, out=big)
    big **= gamma[:, None, None]
    out = np.empty((n, 28, 28), np.uint8)
    for i in range(n):
        try:
            out[i] = np.rint(normalize_ink(big[i]) * 255)
        except EmptyDrawing:  # cannot happen for real digits; keep the original to be safe
            out[i] = x[i]
    clean = rng.random(n) < cfg.clean_fraction
    out[clean] = x[clean]
    return out


@dataclass
class PenSet:
    """Real pen digits (strokes), drawn afresh every epoch through the page's pen with stroke augmentation.

    Each epoch draws every digit ``renders_per_epoch`` times (a different writer's hand and pen each
    time, :func:`recognizer.ml.strokes.augment_strokes`), each with sample weight ``weight``; some
    renders of 1s, 0s and 7s get a style the writers show too rarely (:mod:`recognizer.ml.styles`).
    """

    strokes: list
    y: np.ndarray
    renders_per_epoch: int = 2
    weight: float = 1.0
    cfg: StrokeAugment = field(default_factory=StrokeAugment)
    styles: StyleAugment | None = field(default_factory=StyleAugment)

    def __post_init__(self):
        self.y = np.asarray(self.y, dtype=np.uint8).reshape(-1)
        if len(self.strokes) != len(self.y):
            raise ValueError(f"pen digits: {len(self.strokes)} drawings but {len(self.y)} labels")

    def describe(self) -> dict:
        return {
            "renders_per_epoch": self.renders_per_epoch,
            "weight": self.weight,
            "stroke_augmentation": self.cfg.as_dict(),
            "styles": None if self.styles is None else self.styles.as_dict(),
        }

    def render(self, rng: np.random.Generator) -> np.ndarray:
        """Every digit drawn once, afresh: uint8 (N, 28, 28), in the order of ``y``."""
        # Each digit's style and hand from generators of its own: the same hand and pen with or without the styles.
        pairs = [child.spawn(2) for child in rng.spawn(len(self.y))]
        style_rngs, draw_rngs = [p[0] for p in pairs], [p[1] for p in pairs]
        items = self.strokes
        if self.styles is not None:
            items = [
                styles.add_style(strokes.as_strokes(s), int(label), style_rng, self.styles)
                for s, label, style_rng in zip(self.strokes, self.y, style_rngs, strict=True)
            ]
        return strokes.render_many(items, draw_rngs, self.cfg)


# The EpochData a forked worker builds epochs from (inherited, never pickled).
_WORKER_DATA: EpochData | None = None


def _build_in_worker(epoch: int):
    return epoch, _WORKER_DATA.build(epoch)


class EpochData:
    """Augmented training epochs, a pure function of (seed, epoch), cached for reuse.

    An epoch is the MNIST training digits augmented, plus ``extra`` (staff-labeled drawings: one
    clean copy and one augmented) and ``pen`` (real pen strokes, rendered afresh), shuffled.
    :meth:`prepare` builds many epochs at once on several processes.
    """

    def __init__(
        self,
        x,
        y,
        seed: int,
        cfg: AugmentConfig = AugmentConfig(),
        extra: Extra | None = None,
        pen: PenSet | None = None,
    ):
        self.x, self.y, self.seed, self.cfg, self.extra, self.pen = x, y, seed, cfg, extra, pen
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.seconds = 0.0  # wall time spent building epochs

    def build(self, epoch: int):
        """(x uint8, y uint8, sample weight float32) for this epoch, shuffled (not cached)."""
        rng = np.random.default_rng([self.seed, epoch])
        xs, ys, ws = [self.mnist_inputs(epoch, rng)], [self.y], [np.ones(len(self.y), np.float32)]
        if self.extra is not None and len(self.extra.x):
            # staff-labeled drawings are already model inputs: one clean copy, one augmented
            ex = self.extra
            xs += [ex.x, augment(ex.x, rng, self.cfg)]
            ys += [ex.y, ex.y]
            ws += [np.full(2 * len(ex.y), ex.weight, np.float32)]
        if self.pen is not None and len(self.pen.y):
            for k in range(self.pen.renders_per_epoch):
                pen_rng = np.random.default_rng([self.seed, epoch, 1000 + k])
                xs.append(self.pen.render(pen_rng))
                ys.append(self.pen.y)
                ws.append(np.full(len(self.pen.y), self.pen.weight, np.float32))
        xa, ya, wa = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        order = rng.permutation(len(xa))
        return xa[order], ya[order], wa[order]

    def mnist_inputs(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """This epoch's MNIST digits, uint8 (N, 28, 28), in their order: augmented with ``rng`` (the epoch's own)."""
        return augment(self.x, rng, self.cfg)

    def get(self, epoch: int):
        """(x uint8, y uint8, sample weight float32) for this epoch, shuffled."""
        if epoch not in self.cache:
            t0 = time.perf_counter()
            self.cache[epoch] = self.build(epoch)
            self.seconds += time.perf_counter() - t0
        return self.cache[epoch]

    def prepare(self, epochs: int, workers: int | None = None) -> None:
        """Build epochs ``0..epochs-1`` now, on ``workers`` processes (default: one per CPU).

        The same arrays as :meth:`get` would build one by one (each epoch is a function of the
        seed and its number only).  Worker processes are forked: call this before TensorFlow
        has started threads in this process.
        """
        global _WORKER_DATA
        todo = [e for e in range(epochs) if e not in self.cache]
        workers = min(workers or os.cpu_count() or 1, len(todo))
        t0 = time.perf_counter()
        if workers <= 1:
            for e in todo:
                self.cache[e] = self.build(e)
        else:
            _WORKER_DATA = self
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for e, built in pool.imap_unordered(_build_in_worker, todo):
                        self.cache[e] = built
            finally:
                _WORKER_DATA = None
        self.seconds += time.perf_counter() - t0

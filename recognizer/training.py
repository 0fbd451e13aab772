"""Data -> augmentation -> training -> evaluation, for both models.  No Django here.

Augmentation turns MNIST digits into the kind of variation canvas drawings have, then puts
every augmented digit through :func:`recognizer.preprocess.normalize_ink`, the same crop /
20 px box / centre-of-mass step the live drawings go through:

* shape: rotation, shear, aspect ratio, scale and an elastic distortion, applied in one
  resampling pass onto a 2x grid (so strokes can then be thickened in half-pixel steps);
* stroke: grey dilation (thick pen) or erosion (thin pen) with disc footprints; a thick pen
  on a small digit -- the hard case -- is a big dilation on a small scale;
* ink: a random contrast curve (canvas strokes are solid, MNIST strokes soft).

Each epoch's augmented data depends only on (seed, epoch), so the run is reproducible and
both models can share the same epochs (:class:`EpochData` caches them).  Extra examples
(e.g. staff-labeled drawings, already 28x28 model inputs) can be mixed in with a weight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from recognizer import mnist
from recognizer.network import Network
from recognizer.preprocess import EmptyDrawing, normalize_ink

Progress = Callable[[str], None]

GRID = 64  # augmentation canvas: 2x resolution, room for rotation and scale-up


# ---------------------------------------------------------------------------------------------
# Data


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


def load_data(mnist_dir=None):
    """(x_train, y_train, x_test, y_test) as uint8."""
    x, y = mnist.load_mnist("train", mnist_dir)
    xt, yt = mnist.load_mnist("test", mnist_dir)
    return x, y, xt, yt


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


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang-Suen deletion rules for both sub-iterations, indexed by the 8-neighbour code."""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # P2, P3, ..., P9 (clockwise from north)
        b = sum(p)
        a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
        ok = 2 <= b <= 6 and a == 1
        first[code] = ok and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        second[code] = ok and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return first, second


_THIN_TABLES = _thinning_tables()
_CODE_KERNEL = np.array([[[128, 1, 2], [64, 0, 4], [32, 16, 8]]], np.uint8)


def thin(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a stack of boolean images (n, H, W) to one-pixel-wide lines."""
    img = np.ascontiguousarray(masks, dtype=np.uint8)
    while True:
        changed = False
        for table in _THIN_TABLES:
            code = ndimage.correlate(img, _CODE_KERNEL, mode="constant")
            delete = table[code]
            delete &= img == 1
            if delete.any():
                img[delete] = 0
                changed = True
        if not changed:
            return img.astype(bool)


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


class EpochData:
    """Augmented training epochs, a pure function of (seed, epoch), cached for reuse."""

    def __init__(self, x, y, seed: int, cfg: AugmentConfig = AugmentConfig(), extra: Extra | None = None):
        self.x, self.y, self.seed, self.cfg, self.extra = x, y, seed, cfg, extra
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.seconds = 0.0  # time spent augmenting

    def get(self, epoch: int):
        """(x uint8, y uint8, sample weight float32) for this epoch, shuffled."""
        if epoch not in self.cache:
            t0 = time.perf_counter()
            rng = np.random.default_rng([self.seed, epoch])
            xs, ys, ws = [augment(self.x, rng, self.cfg)], [self.y], [np.ones(len(self.y), np.float32)]
            if self.extra is not None and len(self.extra.x):
                # staff-labeled drawings are already model inputs: one clean copy, one augmented
                ex = self.extra
                xs += [ex.x, augment(ex.x, rng, self.cfg)]
                ys += [ex.y, ex.y]
                ws += [np.full(2 * len(ex.y), ex.weight, np.float32)]
            xa, ya, wa = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
            order = rng.permutation(len(xa))
            self.cache[epoch] = (xa[order], ya[order], wa[order])
            self.seconds += time.perf_counter() - t0
        return self.cache[epoch]


# ---------------------------------------------------------------------------------------------
# Learning-rate schedule


def lr_schedule(step: int, total_steps: int, peak: float, warmup_fraction: float = 0.03, final: float = 0.01):
    """Linear warm-up to ``peak``, then cosine decay to ``final * peak``."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * progress)))


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_predictions(pred: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy (percent), per-class accuracy (percent) and the confusion matrix (rows = truth)."""
    pred, y = np.asarray(pred).astype(int), np.asarray(y).astype(int)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y, pred), 1)
    per_class = 100.0 * np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return {
        "accuracy": 100.0 * float(np.mean(pred == y)) if len(y) else 0.0,
        "per_class": [float(v) for v in per_class],
        "confusion": confusion.tolist(),
        "count": int(len(y)),
    }


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    model: object
    epochs: int
    seed: int
    seconds: float  # wall clock, augmentation of new epochs included
    history: list[dict] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU time of the process (all threads) over the same span
    config: dict = field(default_factory=dict)


def _print(msg: str) -> None:
    print(msg, flush=True)


def train_custom(
    data: EpochData,
    epochs: int = 20,
    seed: int = 0,
    batch_size: int = 128,
    peak_lr: float = 2e-3,
    weight_decay: float = 5e-5,
    eval_set: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress = _print,
    **net_kwargs,
) -> TrainResult:
    """Train the numpy network on ``epochs`` augmented epochs from ``data``."""
    t0, c0 = time.perf_counter(), time.process_time()
    net = Network(seed=seed, **net_kwargs)
    rng = np.random.default_rng([seed, 1])
    net.layers[6].rng = rng  # dropout masks
    n = len(data.get(0)[0])
    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    history = []
    for epoch in range(epochs):
        xe, ye, we = data.get(epoch)
        losses = []
        for b in range(steps_per_epoch):
            sl = slice(b * batch_size, (b + 1) * batch_size)
            lr = lr_schedule(epoch * steps_per_epoch + b, total, peak_lr)
            losses.append(net.train_batch(xe[sl], ye[sl], lr, weight_decay, weights=we[sl]))
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": float(lr)}
        if eval_set is not None:
            entry["test_accuracy"] = evaluate_predictions(net.predict(eval_set[0]), eval_set[1])["accuracy"]
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        progress(
            f"[custom] epoch {epoch + 1}/{epochs} loss {entry['loss']:.4f} lr {lr:.2e}"
            + (f" test {entry['test_accuracy']:.2f}%" if "test_accuracy" in entry else "")
            + f" ({entry['seconds']:.0f}s)"
        )
    config = {"batch_size": batch_size, "peak_lr": peak_lr, "weight_decay": weight_decay, **net.config}
    return TrainResult(
        net, epochs, seed, time.perf_counter() - t0, history, cpu_seconds=time.process_time() - c0, config=config
    )


def train_keras(
    data: EpochData,
    epochs: int = 15,
    seed: int = 0,
    batch_size: int = 128,
    peak_lr: float = 3e-3,
    weight_decay: float = 1e-4,
    label_smoothing: float = 0.0,
    eval_set: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress = _print,
) -> TrainResult:
    """Train the Keras CNN on ``epochs`` augmented epochs from ``data``."""
    import keras

    from recognizer import keras_model

    t0, c0 = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)
    model = keras_model.build_model()
    n = len(data.get(0)[0])
    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, int(0.03 * total))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr / 10,
        decay_steps=total - warmup,
        alpha=0.01,
        warmup_target=peak_lr,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )
    history = []
    for epoch in range(epochs):
        xe, ye, we = data.get(epoch)
        h = model.fit(
            keras_model.to_batch(xe),
            keras.utils.to_categorical(ye, 10),
            sample_weight=we,
            batch_size=batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        entry = {"epoch": epoch + 1, "loss": float(h.history["loss"][-1])}
        if eval_set is not None:
            pred = keras_model.predict_proba(model, eval_set[0]).argmax(1)
            entry["test_accuracy"] = evaluate_predictions(pred, eval_set[1])["accuracy"]
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        progress(
            f"[keras] epoch {epoch + 1}/{epochs} loss {entry['loss']:.4f}"
            + (f" test {entry['test_accuracy']:.2f}%" if "test_accuracy" in entry else "")
            + f" ({entry['seconds']:.0f}s)"
        )
    config = {
        "batch_size": batch_size,
        "peak_lr": peak_lr,
        "weight_decay": weight_decay,
        "label_smoothing": label_smoothing,
        "optimizer": "AdamW, warm-up + cosine decay",
    }
    return TrainResult(
        model, epochs, seed, time.perf_counter() - t0, history, cpu_seconds=time.process_time() - c0, config=config
    )


# ---------------------------------------------------------------------------------------------
# Publishing: weights + manifest in models/


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(models_dir) -> dict:
    import json
    from pathlib import Path

    path = Path(models_dir) / "manifest.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"models": {}}


def publish(models_dir, name: str, result: TrainResult, info: dict) -> dict:
    """Save ``result.model`` as ``models/<name>-<version>.<ext>`` and record it in the manifest.

    The version is one more than the manifest's current one; the previous file is removed so
    that models/ holds only current weights.  ``info`` adds fields (accuracies, data, ...).
    """
    import datetime
    import json
    import os
    from pathlib import Path

    from recognizer.preprocess import PREPROCESS_VERSION

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(models_dir)
    previous = manifest.setdefault("models", {}).get(name)
    version = int(previous["version"]) + 1 if previous else 1
    filename = f"{name}-{version}.{'keras' if name == 'keras' else 'npz'}"
    path = models_dir / filename
    if name == "keras":
        from recognizer import keras_model

        keras_model.save_model(result.model, path)
        parameters = int(result.model.count_params())
        architecture = keras_model.ARCHITECTURE
    else:
        result.model.save(path, metadata={"version": str(version), "seed": result.seed})
        parameters = int(result.model.num_params())
        architecture = "conv5x5x32-maxpool-relu-dense256-relu-dropout-dense10 (numpy)"
    entry = {
        "name": name,
        "version": str(version),
        "file": filename,
        "sha256": _sha256(path),
        "trained_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "architecture": architecture,
        "parameters": parameters,
        "epochs": result.epochs,
        "seed": result.seed,
        "hyperparameters": result.config,
        "preprocess_version": PREPROCESS_VERSION,
        "training_seconds": round(result.seconds, 1),
        "training_cpu_seconds": round(result.cpu_seconds, 1),
        **info,
        "history": result.history,
    }
    manifest["models"][name] = entry
    manifest["preprocess_version"] = PREPROCESS_VERSION
    tmp = models_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, models_dir / "manifest.json")
    if previous and previous.get("file") != filename and (models_dir / previous["file"]).exists():
        (models_dir / previous["file"]).unlink()
    return entry


def predict_fn(name: str, model) -> Callable[[np.ndarray], np.ndarray]:
    """(N, 28, 28) float/uint8 -> (N,) digits, batched, for evaluation."""
    if name == "keras":
        from recognizer import keras_model

        return lambda x: keras_model.predict_proba(model, x).argmax(axis=1)
    return lambda x: model.predict(x)


def load_published(models_dir, name: str):
    """The model object as committed (no checksum check; inference does that)."""
    from pathlib import Path

    entry = read_manifest(models_dir)["models"][name]
    path = Path(models_dir) / entry["file"]
    if name == "keras":
        from recognizer import keras_model

        return keras_model.load_model(path)
    return Network.load(path)


DEFAULT_EPOCHS = {"keras": 15, "custom": 15}


def train_models(
    names=("custom", "keras"),
    epochs: int | None = None,
    seed: int = 0,
    models_dir=None,
    extra: Extra | None = None,
    canvas_count: int = 10_000,
    mnist_dir=None,
    progress: Progress = _print,
) -> dict[str, dict]:
    """Train, evaluate and publish the named models; returns their manifest entries.

    Both models share the same augmented epochs (a function of the seed only), so the
    augmentation cost is paid once.  The numpy model goes first: once TensorFlow's thread
    pools exist in the process they compete with numpy's BLAS threads.
    """
    from recognizer import canvas_eval

    t_start = time.perf_counter()
    x, y, xt, yt = load_data(mnist_dir)
    cfg = AugmentConfig()
    data = EpochData(x, y, seed, cfg, extra)
    entries = {}
    for name in names:
        n_epochs = epochs or DEFAULT_EPOCHS[name]
        progress(f"training {name}: {n_epochs} epochs, seed {seed}")
        aug_before = data.seconds
        trainer = train_keras if name == "keras" else train_custom
        monitor = (xt[::5], yt[::5])  # 2,000 test digits, only to print progress
        result = trainer(data, epochs=n_epochs, seed=seed, eval_set=monitor, progress=progress)
        fn = predict_fn(name, result.model)
        test = evaluate_predictions(fn(xt), yt)
        progress(f"{name}: evaluating on the canvas set ({canvas_count} drawings)")
        canvas = canvas_eval.evaluate_canvas({name: fn}, count=canvas_count)[name]
        info = {
            "mnist_test_accuracy": round(test["accuracy"], 2),
            "mnist_test_per_class": [round(v, 2) for v in test["per_class"]],
            "canvas_accuracy": round(canvas["mnist_preprocessing"], 2),
            "canvas_small_thick_accuracy": round(canvas["small_thick"], 2),
            "canvas_naive_resize_accuracy": round(canvas["naive_resize"], 2),
            "canvas_set": {"count": canvas_count, "seed": canvas_eval.DEFAULT_SEED},
            "augmentation_seconds": round(data.seconds - aug_before, 1),
            "data": {
                "mnist_train": int(len(x)),
                "mnist_dir": "MNIST IDX (train-images-idx3-ubyte / train-labels-idx1-ubyte)",
                "augmentation": {k: v for k, v in cfg.__dict__.items()},
                "labeled_drawings": 0 if extra is None else int(len(extra.x)),
                "labeled_weight": None if extra is None else extra.weight,
            },
        }
        entry = publish(models_dir, name, result, info)
        entries[name] = entry
        progress(
            f"{name}-{entry['version']}: MNIST test {info['mnist_test_accuracy']:.2f}%, "
            f"canvas {info['canvas_accuracy']:.2f}% (naive resize {info['canvas_naive_resize_accuracy']:.2f}%), "
            f"trained in {entry['training_seconds']:.0f}s -> {entry['file']}"
        )
    progress(f"total {time.perf_counter() - t_start:.0f}s")
    return entries

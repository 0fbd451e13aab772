"""Compare Keras training recipes on the same epochs: validation writers, MNIST test and the canvas set.

    .venv/bin/python -m experiments.keras_recipe_experiment --epochs 5 \\
        --variant base '{}' --variant smooth '{"label_smoothing": 0.1}' \\
        --variant wide '{"architecture": {"widths": [32, 64, 128], "dense": 256}}' \\
        --variant deeper '{"architecture": {"stem": 2}}'

Each variant is a dict of keyword arguments for ``training.train_keras``; every variant trains on
the same epochs (built once, seed ``--seed``) and is scored the way ``manage.py train`` scores a
model.  Nothing in ``models/`` changes; a JSON line per variant goes to stdout.

Two variants live here, not in the ML core:

* ``"architecture": {"stem": K}``: K more 3x3 convolutions (as wide as the first) before the first
  pooling, at full resolution (:func:`build_stem_model`);
* ``--redraw F``: that fraction of each epoch's MNIST digits is drawn on a 280x280 page canvas the way
  the canvas set draws them and put through the live preprocessing, instead of augmented
  (:class:`RedrawnEpochData`).
"""

import argparse
import dataclasses
import json
import time

import numpy as np

from recognizer.ml import canvas_eval, preprocess, training
from recognizer.ml.augmentation import AugmentConfig, EpochData
from recognizer.ml.styles import StyleAugment


def build_stem_model(stem: int, **architecture):
    """The shipped network (``keras_model.build_model``) with ``stem`` more 3x3 convolutions before the first pooling.

    ``architecture``: ``widths``, ``dense``, ``dropout`` as ``build_model`` takes them (its defaults otherwise)."""
    import keras
    from keras import layers

    from recognizer.ml import keras_model

    found = {**keras_model.DEFAULT_ARCHITECTURE, **architecture}
    widths, dense, dropout = found["widths"], found["dense"], found["dropout"]

    def conv_bn_relu(h, filters: int, kernel: int = 3):
        h = layers.Conv2D(filters, kernel, use_bias=False)(h)
        h = layers.BatchNormalization()(h)
        return layers.ReLU()(h)

    inputs = keras.Input((28, 28, 1), name="image")
    h = conv_bn_relu(inputs, widths[0], kernel=5)
    for _ in range(stem):
        h = conv_bn_relu(h, widths[0])
    h = layers.MaxPooling2D()(h)
    h = conv_bn_relu(h, widths[1])
    h = conv_bn_relu(h, widths[2])
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dense(dense, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Dropout(dropout)(h)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name="digits_cnn")


def redrawn_inputs(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 28, 28) digits drawn on canvases as the canvas set's are, then through the live preprocessing."""
    out = np.empty_like(x)
    for i, digit in enumerate(x):
        out[i] = np.rint(preprocess.to_model_input(canvas_eval.draw_on_canvas(digit, -1, rng).png) * 255)
    return out


class RedrawnEpochData(EpochData):
    """Epochs in which ``fraction`` of the MNIST digits are drawn on the page's canvas instead of augmented.

    The chosen digits and their drawing come from a generator of their own, so the rest of each epoch (the other
    digits, the pen digits, the order) is the same as :class:`EpochData`'s with the same seed.
    """

    def __init__(self, *args, fraction: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.fraction = fraction

    def mnist_inputs(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        x = super().mnist_inputs(epoch, rng)
        if self.fraction > 0:
            redraw_rng = np.random.default_rng([self.seed, epoch, 2000])
            chosen = np.flatnonzero(redraw_rng.random(len(self.x)) < self.fraction)
            x[chosen] = redrawn_inputs(self.x[chosen], redraw_rng)
        return x


def train(data: EpochData, epochs: int, seed: int, **kwargs):
    """``training.train_keras``; with ``architecture["stem"]``, the same recipe on :func:`build_stem_model`."""
    architecture = dict(kwargs.pop("architecture", None) or {})
    stem = architecture.pop("stem", 0)
    if not stem:
        return training.train_keras(data, epochs=epochs, seed=seed, architecture=architecture, **kwargs)
    import keras

    keras.utils.set_random_seed(seed)  # before the model is built, as train_keras does
    model = build_stem_model(stem, **architecture)
    return training.fit_keras(model, data, epochs, seed, **kwargs)


def top_confusions(pred, y, k: int = 4) -> list[str]:
    c = np.array(training.evaluate_predictions(pred, y)["confusion"])
    np.fill_diagonal(c, 0)
    order = np.argsort(c, axis=None)[::-1][:k]
    return [f"{i}->{j}:{c[i, j]}" for i, j in zip(*np.unravel_index(order, c.shape), strict=True) if c[i, j]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--renders", type=int, default=training.PEN_RENDERS_PER_EPOCH)
    ap.add_argument("--canvas", type=int, default=10_000)
    ap.add_argument("--augment", default="{}", help="AugmentConfig fields to change, as JSON")
    ap.add_argument("--styles", default="{}", help="StyleAugment fields to change, as JSON")
    ap.add_argument("--redraw", type=float, default=0.0, help="fraction of MNIST digits drawn on the page canvas")
    ap.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), required=True)
    args = ap.parse_args()

    x, y, xt, yt = training.load_data()
    pen = training.pen_training_set(args.renders)
    pen.styles = dataclasses.replace(
        StyleAugment(), **{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.styles).items()}
    )
    print(f"# styles {pen.styles}", flush=True)
    cfg = dataclasses.replace(
        AugmentConfig(), **{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.augment).items()}
    )
    print(f"# augmentation {cfg}, redraw {args.redraw}", flush=True)
    data = RedrawnEpochData(x, y, args.seed, cfg, None, pen, fraction=args.redraw)
    data.prepare(args.epochs)  # forked workers: before TensorFlow starts
    print(f"# {args.epochs} epochs built in {data.seconds:.0f}s", flush=True)
    val = training.pen_validation_set()
    for name, spec in args.variant:
        kwargs = json.loads(spec)
        if "architecture" in kwargs and "widths" in kwargs["architecture"]:
            kwargs["architecture"]["widths"] = tuple(kwargs["architecture"]["widths"])
        t0 = time.perf_counter()
        result = train(data, args.epochs, args.seed, progress=lambda m: None, **kwargs)
        seconds = time.perf_counter() - t0
        fn = training.predict_fn("keras", result.model)
        pen = training.evaluate_pen({"keras": fn})["keras"]
        wrong = np.flatnonzero(np.asarray(fn(val["x"])) != val["y"])
        canvas = canvas_eval.evaluate_canvas({"keras": fn}, count=args.canvas, naive=False)["keras"]
        mnist_pred = np.asarray(fn(xt))
        row = {
            "variant": name,
            "kwargs": kwargs,
            "val": round(pen["accuracy"], 2),
            "val_worst": round(min(pen["per_class"]), 1),
            "val_per_class": [round(v, 1) for v in pen["per_class"]],
            "val_misses": len(wrong),
            "mnist": round(training.evaluate_predictions(mnist_pred, yt)["accuracy"], 2),
            "mnist_confusions": top_confusions(mnist_pred, yt),
            "canvas": round(canvas["mnist_preprocessing"], 2),
            "train_seconds": round(seconds),
            "params": int(result.model.count_params()),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

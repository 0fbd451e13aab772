"""Compare Keras training recipes on the same epochs: validation writers, MNIST test and the canvas set.

    .venv/bin/python bench/keras_recipe_experiment.py --epochs 5 \\
        --variant base '{}' --variant smooth '{"label_smoothing": 0.1}' \\
        --variant wide '{"architecture": {"widths": [32, 64, 128], "dense": 256}}'

Each variant is a dict of keyword arguments for ``training.train_keras``; every variant trains on
the same epochs (built once, seed ``--seed``) and is scored the way ``manage.py train`` scores a
model.  Nothing in ``models/`` changes; a JSON line per variant goes to stdout.
"""

import argparse
import dataclasses
import json
import time

import numpy as np

from recognizer.ml import canvas_eval, training
from recognizer.ml.augmentation import AugmentConfig, EpochData
from recognizer.ml.styles import StyleAugment


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
    print(f"# augmentation {cfg}", flush=True)
    data = EpochData(x, y, args.seed, cfg, None, pen)
    data.prepare(args.epochs)  # forked workers: before TensorFlow starts
    print(f"# {args.epochs} epochs built in {data.seconds:.0f}s", flush=True)
    val = training.pen_validation_set()
    for name, spec in args.variant:
        kwargs = json.loads(spec)
        if "architecture" in kwargs and "widths" in kwargs["architecture"]:
            kwargs["architecture"]["widths"] = tuple(kwargs["architecture"]["widths"])
        t0 = time.perf_counter()
        result = training.train_keras(data, epochs=args.epochs, seed=args.seed, progress=lambda m: None, **kwargs)
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

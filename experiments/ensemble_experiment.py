"""Is an average of short training runs better than one long run, for the same training epochs?

    .venv/bin/python -m experiments.ensemble_experiment --model keras --members 0:0:8 1:8:8 2:0:8

Each member is ``SEED:FIRST_EPOCH:EPOCHS``: a network (``--model keras`` or ``custom``)
initialised with SEED and trained on the built epochs FIRST_EPOCH .. FIRST_EPOCH+EPOCHS-1
(epochs are a function of ``--data-seed`` and their number only, as in ``manage.py train``).
Every member, and the average of the members' probabilities for every prefix of the list (2, 3,
... members), is scored the way ``manage.py train`` scores a model: UNIPEN validation writers,
MNIST test, the canvas set.  Nothing in ``models/`` changes; a JSON line per row goes to stdout.
"""

import argparse
import json
import time

import numpy as np

from recognizer.ml import canvas_eval, registry, training
from recognizer.ml.augmentation import AugmentConfig, EpochData


class EpochsFrom:
    """The epochs of ``data`` from ``first`` on, numbered from 0 (what a trainer asks for)."""

    def __init__(self, data: EpochData, first: int):
        self.data, self.first = data, first

    def get(self, epoch: int):
        return self.data.get(self.first + epoch)


def score(name: str, probabilities: dict[str, np.ndarray], truth: dict[str, np.ndarray], **extra) -> dict:
    """One row from (N, 10) probabilities on each set: accuracy as ``manage.py train`` reports it."""
    found = {key: training.evaluate_predictions(p.argmax(1), truth[key]) for key, p in probabilities.items()}
    return {
        "row": name,
        "val": round(found["val"]["accuracy"], 2),
        "val_misses": int(found["val"]["count"] - np.trace(found["val"]["confusion"])),
        "val_per_class": [round(v, 1) for v in found["val"]["per_class"]],
        "mnist": round(found["mnist"]["accuracy"], 2),
        "mnist_per_class": [round(v, 2) for v in found["mnist"]["per_class"]],
        "canvas": round(found["canvas"]["accuracy"], 2),
        **extra,
    }


def probabilities_of(name: str, model, x: np.ndarray) -> np.ndarray:
    if name == "keras":
        from recognizer.ml import keras_model

        return keras_model.predict_proba(model, x)
    return np.concatenate([model.predict_proba(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=registry.NAMES, default="keras")
    ap.add_argument("--members", nargs="+", required=True, metavar="SEED:FIRST:EPOCHS")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--canvas", type=int, default=10_000)
    args = ap.parse_args()
    members = [tuple(int(v) for v in m.split(":")) for m in args.members]

    x, y, xt, yt = training.load_data()
    data = EpochData(x, y, args.data_seed, AugmentConfig(), None, training.pen_training_set())
    data.prepare(max(first + epochs for _, first, epochs in members))  # forked workers: before TensorFlow
    print(f"# epochs built in {data.seconds:.0f}s", flush=True)
    val = training.pen_validation_set()

    canvas = canvas_eval.canvas_inputs(args.canvas, canvas_eval.DEFAULT_SEED)
    inputs = {"val": val["x"], "mnist": xt, "canvas": canvas["mnist"]}
    truth = {"val": val["y"], "mnist": yt, "canvas": canvas["y"]}
    trainer = registry.get(args.model).resolve("trainer")
    runs = []  # each member's probabilities on each set
    for seed, first, epochs in members:
        t0 = time.perf_counter()
        result = trainer(data=EpochsFrom(data, first), epochs=epochs, seed=seed, progress=lambda m: None)
        seconds = round(time.perf_counter() - t0)
        runs.append({key: probabilities_of(args.model, result.model, images) for key, images in inputs.items()})
        print(json.dumps(score(f"member {seed}:{first}:{epochs}", runs[-1], truth, train_seconds=seconds)), flush=True)
        if len(runs) > 1:
            average = {key: np.mean([run[key] for run in runs], axis=0) for key in inputs}
            print(json.dumps(score(f"average of {len(runs)}", average, truth)), flush=True)


if __name__ == "__main__":
    main()

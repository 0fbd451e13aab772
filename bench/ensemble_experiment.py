"""Is an average of short training runs better than one long run, for the same training epochs?

    .venv/bin/python bench/ensemble_experiment.py --model keras --members 0:0:8 1:8:8 2:0:8

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


def score(name: str, classify, val, xt, yt, canvas_count: int, **extra) -> dict:
    val_pred = np.asarray(classify(val["x"]))
    pen = training.evaluate_predictions(val_pred, val["y"])
    canvas = canvas_eval.evaluate_canvas({name: classify}, count=canvas_count, naive=False)[name]
    mnist = training.evaluate_predictions(np.asarray(classify(xt)), yt)
    return {
        "row": name,
        "val": round(pen["accuracy"], 2),
        "val_misses": int((val_pred != val["y"]).sum()),
        "val_per_class": [round(v, 1) for v in pen["per_class"]],
        "mnist": round(mnist["accuracy"], 2),
        "mnist_per_class": [round(v, 2) for v in mnist["per_class"]],
        "canvas": round(canvas["mnist_preprocessing"], 2),
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

    probabilities = {"val": [], "mnist": [], "canvas": []}
    canvas_x = canvas_eval.canvas_inputs(args.canvas, canvas_eval.DEFAULT_SEED)["mnist"]
    for i, (seed, first, epochs) in enumerate(members):
        t0 = time.perf_counter()
        trainer = registry.get(args.model).resolve("trainer")
        result = trainer(data=EpochsFrom(data, first), epochs=epochs, seed=seed, progress=lambda m: None)
        seconds = round(time.perf_counter() - t0)
        for key, inputs in (("val", val["x"]), ("mnist", xt), ("canvas", canvas_x)):
            probabilities[key].append(probabilities_of(args.model, result.model, inputs))
        classify = training.predict_fn(args.model, result.model)
        print(
            json.dumps(
                score(f"member {seed}:{first}:{epochs}", classify, val, xt, yt, args.canvas, train_seconds=seconds)
            ),
            flush=True,
        )
        if i:
            # The average over the first i+1 members, looked up by input (each set is scored whole).
            lookup = {
                id_: np.mean(probabilities[key], axis=0).argmax(1)
                for key, id_ in (("val", id(val["x"])), ("mnist", id(xt)), ("canvas", id(canvas_x)))
            }
            print(
                json.dumps(
                    score(f"average of {i + 1}", lambda a, found=lookup: found[id(a)], val, xt, yt, args.canvas)
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()

"""The evaluation sets every version is scored on, with Wilson intervals and per-class figures.

- ``mnist_test``: MNIST's 10,000 test digits;
- ``unipen_validation``: the UNIPEN validation writers' pen digits, drawn with the page's pen;
- ``canvas``: MNIST test digits redrawn as canvas drawings (``recognizer.ml.canvas_eval``);
- ``production_holdout``: the staff-labelled drawings never trained on, split by drawer (a hash of ``drawer_key``;
  a drawing with no drawer falls back to its id), so one person's drawings are all on one side.
"""

from __future__ import annotations

import hashlib

import numpy as np

from recognizer.lifecycle import stats
from recognizer.ml import canvas_eval, training
from recognizer.models import Drawing
from recognizer.staff import export

HOLDOUT_BUCKETS = 5  # one drawer in five is held out


def held_out(drawer_key: str, pk: int) -> bool:
    seed = drawer_key or f"drawing:{pk}"
    return int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) % HOLDOUT_BUCKETS == 0


def production_split(split: str):
    """``(x uint8 N×28×28, y uint8 N)`` of the staff-labelled drawings on one side ("train" or "holdout")."""
    x, y, _ = production_split_with_ids(split)
    return x, y


def production_split_with_ids(split: str, limit: int | None = None):
    """``(x, y, ids)`` of the staff-labelled drawings on one side, at most ``limit`` of them (the newest ids)."""
    selection = export.select()
    if not len(selection):
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.int64)
    keys = {}
    ids = selection.ids.tolist()
    for start in range(0, len(ids), 5000):
        keys.update(Drawing.objects.filter(pk__in=ids[start : start + 5000]).values_list("pk", "drawer_key"))
    mask = np.array([held_out(keys.get(pk, ""), pk) for pk in ids], dtype=bool)
    if split == "train":
        mask = ~mask
    ids_kept, labels_kept = selection.ids[mask], selection.labels[mask]
    if limit is not None:
        ids_kept, labels_kept = ids_kept[-limit:], labels_kept[-limit:]
    part = export.Selection(ids=ids_kept, labels=labels_kept, filters=selection.filters)
    return export.arrays(part, "all")


def score_predictions(pred, y) -> dict:
    res = training.evaluate_predictions(pred, y)
    correct = int(np.sum(np.asarray(pred).astype(int) == np.asarray(y).astype(int)))
    return stats.score(res["accuracy"], res["count"], res["per_class"], correct=correct)


def evaluate(classify, *, canvas_count: int = 2000, mnist_limit: int | None = None, holdout=None) -> dict:
    """Every set's score for ``classify`` ((N, 28, 28) -> (N,) digits)."""
    _, _, xt, yt = training.load_data()
    if mnist_limit:
        xt, yt = xt[:mnist_limit], yt[:mnist_limit]
    sets = {"mnist_test": score_predictions(classify(xt), yt)}
    pen = training.pen_validation_set()
    sets["unipen_validation"] = score_predictions(classify(pen["x"]), pen["y"])
    data = canvas_eval.canvas_inputs(canvas_count, canvas_eval.DEFAULT_SEED)
    sets["canvas"] = score_predictions(classify(data["mnist"]), data["y"])
    x, y = holdout if holdout is not None else production_split("holdout")
    if len(y):
        sets["production_holdout"] = score_predictions(classify(x), y)
    return sets

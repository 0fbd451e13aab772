"""Train candidates: the data (MNIST, the UNIPEN training writers, the staff labels of the training side), the
existing trainers (``recognizer.ml.training``), the evaluation beside the live version, and the version written last.

Used by the queue's job (``jobs.run``) and by ``manage.py train --candidate``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.utils import timezone

from recognizer.lifecycle import evaluation, store
from recognizer.lifecycle.models import ModelChange, ModelVersion
from recognizer.ml import publishing, registry, training
from recognizer.ml.augmentation import AugmentConfig, EpochData, Extra, PenSet

DEFAULTS = {
    "epochs": None,  # each model's default (registry)
    "limit": None,  # at most this many MNIST digits (pen digits: a fifth of it)
    "include_labeled": True,
    "labeled_weight": 1.0,
    "pen": True,
    "seed": 0,
    "canvas_count": 2000,
    "mnist_eval_limit": None,
}
EPOCH = re.compile(r"epoch (\d+)/(\d+) loss ([0-9.]+)")


def options_with_defaults(options: dict) -> dict:
    return {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}


def train_candidates(
    options: dict, *, who: str = "", user=None, report: Callable[[dict], None] = lambda progress: None
) -> list[ModelVersion]:
    """Train, evaluate and register one candidate per model in ``options["models"]``; returns the versions.

    ``report`` gets the progress (stage, model, epoch, loss, seconds left) and may raise to stop the run (a
    cancelled job); nothing is registered for a model whose run was stopped."""
    o = options_with_defaults(options)
    store.ensure_registered()  # the committed versions are the live ones to compare with
    names = list(o["models"])
    started = time.perf_counter()
    x, y, _, _ = training.load_data()
    if o["limit"]:
        x, y = x[: o["limit"]], y[: o["limit"]]
    pen = None
    if o["pen"]:
        pen = training.pen_training_set()
        if o["limit"]:
            keep = max(1, o["limit"] // 5)
            pen = PenSet(pen.strokes[:keep], pen.y[:keep], pen.renders_per_epoch, pen.weight)
    report({"stage": "data", "message": "reading the staff-labelled drawings"})
    extra = None
    if o["include_labeled"]:
        lx, ly = evaluation.production_split("train")
        extra = Extra(lx, ly, float(o["labeled_weight"])) if len(ly) else None
    holdout = evaluation.production_split("holdout")
    data = EpochData(x, y, o["seed"], AugmentConfig(), extra, pen)
    counts = {
        "mnist": int(len(y)),
        "unipen_training_writers": 0 if pen is None else int(len(pen.y)),
        "production_labels": 0 if extra is None else int(len(extra.y)),
        "production_holdout": int(len(holdout[1])),
    }
    made = []
    for index, name in enumerate(names):
        spec = registry.get(name)
        epochs = o["epochs"] or spec.epochs
        t0 = time.perf_counter()

        def progress(message: str, _name=name, _epochs=epochs, _t0=t0, _index=index):
            found = EPOCH.search(message)
            state = {"stage": "training", "model": _name, "model_index": _index + 1, "models": len(names)}
            state["message"] = message
            if found:
                epoch, total, loss = int(found[1]), int(found[2]), float(found[3])
                elapsed = time.perf_counter() - _t0
                state.update(
                    epoch=epoch, epochs=total, loss=loss, seconds_left=round(elapsed / epoch * (total - epoch))
                )
            report(state)

        report({"stage": "training", "model": name, "epoch": 0, "epochs": epochs, "message": f"training {name}"})
        result = spec.resolve("trainer")(data=data, epochs=epochs, seed=o["seed"], progress=progress)
        report({"stage": "evaluating", "model": name, "message": f"evaluating {name} beside the live version"})
        classify = publishing.predict_fn(name, result.model)
        eval_kwargs = {"canvas_count": o["canvas_count"], "mnist_limit": o["mnist_eval_limit"], "holdout": holdout}
        sets = evaluation.evaluate(classify, **eval_kwargs)
        metrics = {"sets": sets}
        live = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.LIVE).first()
        if live is not None:
            live_model = spec.resolve("load")(store.local_file(live))
            baseline = evaluation.evaluate(publishing.predict_fn(name, live_model), **eval_kwargs)
            metrics["baseline"] = {"version": live.version, "sets": baseline}
        architecture, parameters = spec.resolve("describe")(result.model)
        trained = {
            "data": counts,
            "epochs": result.epochs,
            "seed": result.seed,
            "duration_seconds": round(result.seconds, 1),
            "cpu_seconds": round(result.cpu_seconds, 1),
            "who": who,
            "when": timezone.now().isoformat(timespec="seconds"),
            "options": {k: v for k, v in o.items() if k != "models"},
            "architecture": architecture,
            "parameters": parameters,
            "history": result.history,
        }
        version = store.write_version(name, result.model, metrics=metrics, training=trained, seed=result.seed)
        ModelChange.objects.create(
            user=user if getattr(user, "pk", None) else None,
            who=who,
            name=name,
            to_version=version.version,
            action=ModelChange.Action.CANDIDATE,
            reason=f"trained: {result.epochs} epochs on {counts}",
        )
        made.append(version)
        report({"stage": "registered", "model": name, "version": version.label, "message": f"{version.label} made"})
    report({"stage": "done", "seconds": round(time.perf_counter() - started, 1), "message": "done"})
    return made

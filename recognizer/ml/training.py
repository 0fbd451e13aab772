"""Data -> training -> evaluation -> publishing, for both models.  No Django here.

Augmentation (:mod:`recognizer.ml.augmentation`) varies MNIST digits the way canvas drawings
vary and draws real pen strokes (UNIPEN, :mod:`recognizer.ml.datasets`) through the page's pen
(:mod:`recognizer.ml.strokes`); each epoch's data depends only on (seed, epoch), so both models
share the same epochs.  Publishing (:mod:`recognizer.ml.publishing`) writes the weights and the
manifest.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from recognizer.ml import datasets, registry, strokes
from recognizer.ml.augmentation import AugmentConfig, EpochData, Extra, PenSet
from recognizer.ml.network import Network
from recognizer.ml.publishing import TrainResult, predict_fn, publish, record_run

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# Data


def load_data(mnist_dir=None):
    """(x_train, y_train, x_test, y_test) as uint8, from wherever :mod:`datasets` finds MNIST."""
    x, y = datasets.load_mnist("train", mnist_dir)
    xt, yt = datasets.load_mnist("test", mnist_dir)
    return x, y, xt, yt


# The recipe: every UNIPEN training writer's digit drawn three times an epoch (afresh each time, some with a
# style, ml/styles.py), each with weight 1.5.  Validation writers, Keras, 5 epochs: 2 renders 98.57 %,
# 3 renders 98.93 %.
PEN_RENDERS_PER_EPOCH = 3
PEN_WEIGHT = 1.5


def pen_training_set_digits() -> list[datasets.PenDigit]:
    """The UNIPEN training writers' digits (the validation writers left out)."""
    return datasets.split_writers(datasets.load_unipen())[0]


def pen_training_set(renders_per_epoch: int = PEN_RENDERS_PER_EPOCH, weight: float = PEN_WEIGHT) -> PenSet:
    """The UNIPEN training writers' digits, to be drawn ``renders_per_epoch`` times an epoch."""
    train = pen_training_set_digits()
    return PenSet([d.strokes for d in train], [d.label for d in train], renders_per_epoch, weight)


@functools.lru_cache(maxsize=2)
def pen_validation_set(seed: int = 0) -> dict[str, np.ndarray]:
    """The UNIPEN validation writers' digits drawn once with the page's pen: {"x", "y", "site", "writer"}."""
    _, val = datasets.split_writers(datasets.load_unipen())
    return {
        "x": strokes.render_validation([d.strokes for d in val], seed=seed),
        "y": np.array([d.label for d in val], np.uint8),
        "site": np.array([d.site for d in val]),
        "writer": np.array([d.writer for d in val]),
    }


def evaluate_pen(predict_fns: dict[str, Callable[[np.ndarray], np.ndarray]], seed: int = 0) -> dict[str, dict]:
    """Accuracy on the UNIPEN validation writers: overall, by class and by site (percent)."""
    data = pen_validation_set(seed)
    y, site = data["y"], data["site"]
    results = {}
    for name, fn in predict_fns.items():
        pred = np.asarray(fn(data["x"]))
        res = evaluate_predictions(pred, y)
        res["per_site"] = {
            s: {"count": int((site == s).sum()), "accuracy": 100.0 * float(np.mean(pred[site == s] == y[site == s]))}
            for s in sorted(set(site.tolist()))
        }
        res["writers"] = len(set(data["writer"].tolist()))
        results[name] = res
    return results


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


def _print(msg: str) -> None:
    print(msg, flush=True)


def train_custom(
    data: EpochData,
    epochs: int = 15,
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
    rng = np.random.default_rng([seed, 1])  # the dropout masks
    net = Network(seed=seed, dropout_rng=rng, **net_kwargs)
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
    architecture: dict | None = None,
) -> TrainResult:
    """Train the Keras CNN (``keras_model.build_model``, ``architecture`` changing its defaults) on ``epochs``
    augmented epochs from ``data``."""
    import keras

    from recognizer.ml import keras_model

    keras.utils.set_random_seed(seed)
    architecture = {**keras_model.DEFAULT_ARCHITECTURE, **(architecture or {})}
    model = keras_model.build_model(**architecture)
    result = fit_keras(
        model,
        data,
        epochs,
        seed,
        batch_size=batch_size,
        peak_lr=peak_lr,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        eval_set=eval_set,
        progress=progress,
    )
    result.config.update(architecture)
    return result


def fit_keras(
    model,
    data: EpochData,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    peak_lr: float = 3e-3,
    weight_decay: float = 1e-4,
    label_smoothing: float = 0.0,
    eval_set: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress = _print,
) -> TrainResult:
    """Compile an untrained Keras ``model`` (28x28x1 -> 10 probabilities) with the shipped recipe and train it.

    :func:`train_keras` builds the shipped network and calls this; the random seed is set before the model is built,
    so a caller with a model of its own calls ``keras.utils.set_random_seed(seed)`` first, as it does.
    """
    import keras

    from recognizer.ml import keras_model

    t0, c0 = time.perf_counter(), time.process_time()
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


DEFAULT_EPOCHS = {spec.name: spec.epochs for spec in registry.MODELS}


class ForkedTraining:
    """A trainer run in a forked process on one CPU thread, while this process trains another model.

    Fork, so the child shares the built epochs instead of copying them; one BLAS thread, because
    two processes each spinning OpenBLAS's two threads on two cores run 4x slower (measured).
    """

    def __init__(self, trainer: Callable[..., TrainResult], **kwargs):
        ctx = multiprocessing.get_context("fork")
        self.conn, child_conn = ctx.Pipe(duplex=False)

        def run():
            from threadpoolctl import threadpool_limits

            try:
                with threadpool_limits(limits=1):
                    child_conn.send(("ok", trainer(**kwargs)))
            except BaseException as exc:  # reported to the parent, which raises
                child_conn.send(("error", f"{type(exc).__name__}: {exc}"))

        self.process = ctx.Process(target=run, daemon=True)
        self.process.start()
        child_conn.close()

    def result(self) -> TrainResult:
        while not self.conn.poll(1.0):
            if not self.process.is_alive():
                raise RuntimeError(f"training process died (exit code {self.process.exitcode})")
        status, value = self.conn.recv()
        self.process.join()
        if status != "ok":
            raise RuntimeError(f"training process failed: {value}")
        return value


def trains_in_parallel(names) -> bool:
    """Both kinds of model on 2+ CPUs, and TensorFlow not started yet in this process (forking it is unsafe)."""
    platforms = {registry.get(n).platform.startswith("tensorflow") for n in names}
    return platforms == {True, False} and (os.cpu_count() or 1) >= 2 and "tensorflow" not in sys.modules


def _rounded(res: dict) -> dict:
    return {
        "accuracy": round(res["accuracy"], 2),
        "count": res["count"],
        "writers": res["writers"],
        "per_class": [round(v, 2) for v in res["per_class"]],
        "per_site": {k: {"count": v["count"], "accuracy": round(v["accuracy"], 2)} for k, v in res["per_site"].items()},
    }


def datasets_used(x_train, pen: PenSet | None, extra: Extra | None, mnist_source: str) -> list[dict]:
    """The manifest's list of every data set a model was trained on: name, count, license or attribution."""
    used = [{**datasets.MNIST_INFO, "count": int(len(x_train)), "split": "train", "source": mnist_source}]
    if pen is not None:
        train, val = datasets.split_writers(datasets.load_unipen())
        used.append(
            {
                **datasets.UNIPEN_INFO,
                "count": len(pen.y),
                "writers": len({d.writer for d in train}),
                "held_out": {"count": len(val), "writers": len({d.writer for d in val}), "use": "validation"},
                "split": "by writer: in every site, the 18 % of writers with the lowest sha256 are held out",
                "source": "data/unipen/train-strokes.jsonl.gz",
                **pen.describe(),
            }
        )
    if extra is not None and len(extra.x):
        used.append(
            {
                "name": "staff-labeled drawings",
                "count": int(len(extra.x)),
                "weight": extra.weight,
                "license": "this site's own data",
            }
        )
    return used


def train_models(
    names=None,
    epochs: int | None = None,
    seed: int = 0,
    models_dir=None,
    extra: Extra | None = None,
    canvas_count: int = 10_000,
    mnist_dir=None,
    progress: Progress = _print,
    pen: PenSet | None | bool = True,
    workers: int | None = None,
    parallel: bool | None = None,
) -> dict[str, dict]:
    """Train, evaluate and publish the named models; returns their manifest entries.

    The data: MNIST augmented, plus the UNIPEN training writers' pen digits (``pen=True``: the
    default recipe, :func:`pen_training_set`; ``False``/``None``: MNIST only) and ``extra``.
    Both models share the same epochs (a function of the seed only), built up front on
    ``workers`` processes, so that cost is paid once.  Then, with ``parallel`` (default: when
    :func:`trains_in_parallel`), the numpy model trains in a forked process on one thread while
    the Keras one trains here (on all the CPUs TensorFlow wants); otherwise one after the other, the numpy model
    first (once TensorFlow's thread pools exist in the process they compete with numpy's BLAS).
    """
    from recognizer.ml import canvas_eval

    if names is None:  # every model, the ones that don't run on TensorFlow first (see above)
        names = sorted(registry.NAMES, key=lambda n: registry.get(n).platform.startswith("tensorflow"))
    t_start = time.perf_counter()
    x, y, xt, yt = load_data(mnist_dir)
    mnist_source = datasets.find_mnist(mnist_dir).source
    if pen is True:
        pen = pen_training_set()
    pen = pen or None
    cfg = AugmentConfig()
    data = EpochData(x, y, seed, cfg, extra, pen)
    max_epochs = max(epochs or DEFAULT_EPOCHS[name] for name in names)
    progress(
        f"building {max_epochs} epochs: {len(x)} MNIST digits augmented"
        + (f" + {pen.renders_per_epoch} x {len(pen.y)} pen digits drawn" if pen else "")
        + (f" + 2 x {len(extra.y)} labeled drawings" if extra is not None else "")
        + f", on {workers or os.cpu_count()} processes"
    )
    data.prepare(max_epochs, workers)
    progress(f"data ready ({data.seconds:.0f}s)")
    monitor = (xt[::5], yt[::5])  # 2,000 test digits, only to print progress

    def train_kwargs(name):
        return {"data": data, "epochs": epochs or DEFAULT_EPOCHS[name], "seed": seed, "eval_set": monitor}

    results: dict[str, TrainResult] = {}
    if parallel is None:
        parallel = trains_in_parallel(names)
    if parallel:
        # The numpy models each in a forked process on one thread, the TensorFlow ones here.
        forked = {
            n: ForkedTraining(registry.get(n).resolve("trainer"), progress=progress, **train_kwargs(n))
            for n in names
            if not registry.get(n).platform.startswith("tensorflow")
        }
        progress(f"training {', '.join(names)} at once: {', '.join(forked)} in a forked process on one thread")
        # TensorFlow keeps all its threads: beside the numpy model an epoch takes ~85 s either way (measured with
        # one thread and with all), and once the numpy model is done, ~30 s on both CPUs.
        for name in names:
            if name not in forked:
                results[name] = registry.get(name).resolve("trainer")(progress=progress, **train_kwargs(name))
        results.update({n: f.result() for n, f in forked.items()})
    entries = {}
    for name in names:
        if name in results:
            result = results[name]
        else:
            progress(f"training {name}: {train_kwargs(name)['epochs']} epochs, seed {seed}")
            result = registry.get(name).resolve("trainer")(progress=progress, **train_kwargs(name))
        t_eval = time.perf_counter()
        fn = predict_fn(name, result.model)
        test = evaluate_predictions(fn(xt), yt)
        pen_res = evaluate_pen({name: fn})[name]
        progress(f"{name}: evaluating on the canvas set ({canvas_count} drawings)")
        canvas = canvas_eval.evaluate_canvas({name: fn}, count=canvas_count)[name]
        info = {
            "mnist_test_accuracy": round(test["accuracy"], 2),
            "mnist_test_per_class": [round(v, 2) for v in test["per_class"]],
            "unipen_validation_accuracy": round(pen_res["accuracy"], 2),
            "unipen_validation": {
                **_rounded(pen_res),
                "render": "the page's pen (20 px, round), 90-240 px tall at a random place, live preprocessing",
            },
            "canvas_accuracy": round(canvas["mnist_preprocessing"], 2),
            "canvas_small_thick_accuracy": round(canvas["small_thick"], 2),
            "canvas_naive_resize_accuracy": round(canvas["naive_resize"], 2),
            "canvas_set": {"count": canvas_count, "seed": canvas_eval.DEFAULT_SEED},
            "augmentation_seconds": round(data.seconds, 1),
            "evaluation_seconds": round(time.perf_counter() - t_eval, 1),
            "datasets": datasets_used(x, pen, extra, mnist_source),
            "data": {
                "mnist_train": int(len(x)),
                "mnist_dir": "MNIST IDX (train-images-idx3-ubyte / train-labels-idx1-ubyte)",
                "augmentation": {k: v for k, v in cfg.__dict__.items()},
                "pen_digits": 0 if pen is None else len(pen.y),
                "labeled_drawings": 0 if extra is None else int(len(extra.x)),
                "labeled_weight": None if extra is None else extra.weight,
            },
        }
        entry = publish(models_dir, name, result, info)
        entries[name] = entry
        progress(
            f"{name}-{entry['version']}: UNIPEN validation writers {info['unipen_validation_accuracy']:.2f}%, "
            f"MNIST test {info['mnist_test_accuracy']:.2f}%, "
            f"canvas {info['canvas_accuracy']:.2f}% (naive resize {info['canvas_naive_resize_accuracy']:.2f}%), "
            f"trained in {entry['training_seconds']:.0f}s -> {entry['file']}"
        )
    total = time.perf_counter() - t_start
    record_run(
        models_dir,
        {
            "models": [f"{e['name']}-{e['version']}" for e in entries.values()],
            "wall_seconds": round(total, 1),
            "data_seconds": round(data.seconds, 1),
            "cpus": os.cpu_count(),
            "note": "one run of train_models: data, training, evaluation and publishing of these models",
        },
    )
    progress(f"total {total:.0f}s")
    return entries

"""Data -> training -> evaluation -> publishing, for both models.  No Django here.

Augmentation (:mod:`recognizer.ml.augmentation`) varies MNIST digits the way canvas drawings
vary; each epoch's data depends only on (seed, epoch), so both models share the same epochs.
Publishing (:mod:`recognizer.ml.publishing`) writes the weights and the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from recognizer.ml import mnist
from recognizer.ml.augmentation import AugmentConfig, EpochData, Extra
from recognizer.ml.network import Network
from recognizer.ml.publishing import TrainResult, predict_fn, publish

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# Data


def load_data(mnist_dir=None):
    """(x_train, y_train, x_test, y_test) as uint8."""
    x, y = mnist.load_mnist("train", mnist_dir)
    xt, yt = mnist.load_mnist("test", mnist_dir)
    return x, y, xt, yt


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

    from recognizer.ml import keras_model

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
    from recognizer.ml import canvas_eval

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

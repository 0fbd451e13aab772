"""recognizer.ml (augmentation, training, publishing), schedule, evaluation helpers and publishing (tiny, fast)."""

import json

import numpy as np
import pytest

from recognizer.ml import augmentation, publishing, training
from recognizer.ml import network as N
from recognizer.ml.datasets import load_mnist


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:300], y[:300]


def test_augment_is_reproducible_and_normalised(digits):
    x, _ = digits
    a = augmentation.augment(x, np.random.default_rng([5, 0]))
    b = augmentation.augment(x, np.random.default_rng([5, 0]))
    c = augmentation.augment(x, np.random.default_rng([5, 1]))
    assert a.dtype == np.uint8 and a.shape == x.shape
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    changed = np.flatnonzero((a != x).any(axis=(1, 2)))
    assert 0.7 * len(x) < len(changed) < len(x)  # a clean fraction is left as it was
    ys, xs = np.mgrid[0:28, 0:28]
    for img in a[changed].astype(np.float64):
        rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20)  # the 20 px box (edge rows may round to 0)
        m = img.sum()
        assert abs((img * ys).sum() / m - 14) <= 1.0 and abs((img * xs).sum() / m - 14) <= 1.0


def test_augment_covers_stroke_thickness(digits):
    x, _ = digits
    cfg = augmentation.AugmentConfig(clean_fraction=0.0)
    thick = augmentation.augment(x, np.random.default_rng(0), augmentation.AugmentConfig(
        clean_fraction=0.0, stroke_radius=(5,), stroke_weights=(1.0,)))  # fmt: skip
    thin = augmentation.augment(x, np.random.default_rng(0), augmentation.AugmentConfig(
        clean_fraction=0.0, stroke_radius=(-1,), stroke_weights=(1.0,)))  # fmt: skip
    normal = augmentation.augment(x, np.random.default_rng(0), cfg)
    ink = [float((v > 127).mean()) for v in (thin, normal, thick)]
    assert ink[0] < ink[1] < ink[2]
    assert ink[2] > 1.5 * float((x > 127).mean())


def test_epoch_data_mixes_extra_examples(digits):
    x, y = digits
    extra = augmentation.Extra(x[:10], np.full(10, 3, np.uint8), weight=4.0)
    data = augmentation.EpochData(x[:50], y[:50], seed=1, extra=extra)
    xe, ye, we = data.get(0)
    assert len(xe) == 50 + 2 * 10 and set(np.unique(we)) == {1.0, 4.0}
    assert (we == 4.0).sum() == 20 and np.all(ye[we == 4.0] == 3)
    assert data.get(0)[0] is xe  # cached
    again = augmentation.EpochData(x[:50], y[:50], seed=1, extra=extra).get(0)
    assert np.array_equal(again[0], xe)
    with pytest.raises(ValueError):
        augmentation.Extra(x[:3], y[:2])


def test_lr_schedule():
    lrs = [training.lr_schedule(s, 1000, 1e-3) for s in range(1000)]
    peak = int(np.argmax(lrs))
    assert lrs[peak] == pytest.approx(1e-3) and peak < 50
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :], strict=False))
    assert lrs[-1] == pytest.approx(1e-5, rel=0.05)


def test_evaluate_predictions():
    res = training.evaluate_predictions(np.array([1, 1, 2, 3]), np.array([1, 2, 2, 3]))
    assert res["accuracy"] == 75.0 and res["count"] == 4
    assert res["confusion"][2][1] == 1 and res["per_class"][2] == 50.0


def test_train_and_publish_tiny_custom(digits, tmp_path):
    x, y = digits
    data = augmentation.EpochData(x, y, seed=0)
    messages = []
    result = training.train_custom(
        data, epochs=2, seed=0, filters=4, hidden=16, eval_set=(x[:50], y[:50]), progress=messages.append
    )
    assert len(messages) == 2 and "epoch 2/2" in messages[-1]
    assert result.history[-1]["loss"] < result.history[0]["loss"] * 1.2
    first = publishing.publish(tmp_path, "custom", result, {"mnist_test_accuracy": 1.0})
    second = publishing.publish(tmp_path, "custom", result, {"mnist_test_accuracy": 2.0})
    assert (first["version"], second["version"]) == ("1", "2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom-2.npz", "manifest.json"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["models"]["custom"]["sha256"] == publishing.sha256_file(tmp_path / "custom-2.npz")
    net = publishing.load_published(tmp_path, "custom")
    assert np.array_equal(net.predict(x[:20]), result.model.predict(x[:20]))


def test_epoch_data_draws_pen_digits_afresh_each_epoch(digits, pen_digits):
    x, y = digits
    pen_digits = pen_digits[:30]
    pen = augmentation.PenSet([d.strokes for d in pen_digits], [d.label for d in pen_digits], 2, weight=1.5)
    data = augmentation.EpochData(x[:50], y[:50], seed=1, pen=pen)
    xe, ye, we = data.get(0)
    assert len(xe) == 50 + 2 * 30 and (we == 1.5).sum() == 60
    assert sorted(ye[we == 1.5].tolist()) == sorted(2 * [d.label for d in pen_digits])
    drawn = xe[we == 1.5]
    assert drawn.dtype == np.uint8 and (drawn.max(axis=(1, 2)) == 255).all()  # real drawings, normalised
    x1 = data.get(1)[0]
    assert not np.array_equal(np.sort(x1[data.get(1)[2] == 1.5], axis=0), np.sort(drawn, axis=0))
    with pytest.raises(ValueError):
        augmentation.PenSet([d.strokes for d in pen_digits], [1, 2])


def test_prepare_on_processes_builds_the_same_epochs(digits, pen_digits):
    x, y = digits
    pen_digits = pen_digits[:20]
    pen = augmentation.PenSet([d.strokes for d in pen_digits], [d.label for d in pen_digits], 1)
    parallel = augmentation.EpochData(x[:40], y[:40], seed=3, pen=pen)
    parallel.prepare(3, workers=2)
    assert sorted(parallel.cache) == [0, 1, 2]
    serial = augmentation.EpochData(x[:40], y[:40], seed=3, pen=pen)
    for epoch in range(3):
        for a, b in zip(parallel.get(epoch), serial.get(epoch), strict=True):
            assert np.array_equal(a, b)


def test_pen_validation_is_by_held_out_writers_and_reports_sites(pen_digits):
    from recognizer.ml import datasets

    val = training.pen_validation_set()
    _, held = datasets.split_writers(pen_digits)
    assert len(val["y"]) == len(held) and set(val["writer"].tolist()) == {d.writer for d in held}
    assert not set(val["writer"].tolist()) & {d.writer for d in training.pen_training_set_digits()}
    res = training.evaluate_pen({"truth": lambda x: val["y"], "sevens": lambda x: np.full(len(x), 7)})
    assert res["truth"]["accuracy"] == 100.0 and all(r["accuracy"] == 100.0 for r in res["truth"]["per_site"].values())
    assert res["sevens"]["per_class"][7] == 100.0 and res["sevens"]["per_class"][1] == 0.0
    assert sum(r["count"] for r in res["truth"]["per_site"].values()) == len(held)


def _failing_trainer(**kwargs):
    raise ValueError("no data for this model")


def test_forked_training_gives_the_same_network_as_training_here(digits):
    x, y = digits
    data = augmentation.EpochData(x[:200], y[:200], seed=0)
    data.prepare(2, workers=1)
    kwargs = {"data": data, "epochs": 2, "seed": 0, "filters": 4, "hidden": 16, "progress": lambda msg: None}
    forked = training.ForkedTraining(training.train_custom, **kwargs)
    here = training.train_custom(**kwargs)
    result = forked.result()
    assert result.epochs == 2 and len(result.history) == 2
    assert forked.process.exitcode == 0
    for a, b in zip(result.model.layers, here.model.layers, strict=True):
        for name in a.params:  # one BLAS thread there, maybe two here: the same up to float32 rounding
            assert np.allclose(a.params[name], b.params[name], rtol=1e-4, atol=1e-4)
    assert np.array_equal(result.model.predict(x[:100]), here.model.predict(x[:100]))


def test_forked_training_reports_the_childs_error():
    forked = training.ForkedTraining(_failing_trainer)
    with pytest.raises(RuntimeError, match="ValueError: no data for this model"):
        forked.result()


def test_both_kinds_of_model_train_at_once_only_when_safe(monkeypatch):
    import sys

    monkeypatch.setattr(training.os, "cpu_count", lambda: 2)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert training.trains_in_parallel(["custom", "keras"])
    assert not training.trains_in_parallel(["custom"]) and not training.trains_in_parallel(["keras"])
    monkeypatch.setattr(training.os, "cpu_count", lambda: 1)
    assert not training.trains_in_parallel(["custom", "keras"])
    monkeypatch.setattr(training.os, "cpu_count", lambda: 2)
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # forking a process that runs TensorFlow is unsafe
    assert not training.trains_in_parallel(["custom", "keras"])


def test_train_models_trains_both_at_once_and_publishes_both(monkeypatch, tmp_path, capfd):
    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    monkeypatch.setattr(training, "load_data", lambda mnist_dir=None: (x[:600], y[:600], xt[:300], yt[:300]))
    entries = training.train_models(
        ["custom", "keras"], epochs=1, models_dir=tmp_path, pen=None, canvas_count=50, parallel=True, workers=1
    )
    out = capfd.readouterr().out  # the default progress prints, the forked child's lines too
    assert "at once: custom in a forked process on one thread" in out
    assert "[custom] epoch 1/1" in out and "[keras] epoch 1/1" in out
    assert sorted(entries) == ["custom", "keras"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    lite = manifest["models"]["keras"]["companions"]
    assert lite == [{"file": "keras-1.tflite", "sha256": publishing.sha256_file(tmp_path / "keras-1.tflite")}]
    for name in ("custom", "keras"):
        assert manifest["models"][name]["epochs"] == 1
        assert 0 < manifest["models"][name]["unipen_validation"]["count"]
        model = publishing.load_published(tmp_path, name)
        pred = publishing.predict_fn(name, model)(xt[:300])
        assert np.mean(pred == yt[:300]) > 0.5  # one epoch on 600 digits already reads most of them


def test_network_learns_a_small_subset(mnist_test):
    """The numpy network (recognizer.ml.network) learns: four passes over 512 digits halve the loss."""
    x, y = mnist_test
    x, y = x[:512], y[:512]
    net = N.Network(filters=8, hidden=64, seed=0)
    first = net.train_batch(x[:128], y[:128], 2e-3)
    for _ in range(4):
        for b in range(0, 512, 128):
            last = net.train_batch(x[b : b + 128], y[b : b + 128], 2e-3)
    assert last < first * 0.5
    assert (net.predict(x) == y).mean() > 0.8

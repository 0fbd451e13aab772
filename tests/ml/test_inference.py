"""recognizer.inference: models loaded once, both answers for one input. What is loaded is what is live in the
database (a fresh database registers models/manifest.json's entries: tests/lifecycle/ covers the rest)."""

import json
import shutil
import threading
import time

import numpy as np
import pytest

from recognizer import inference
from recognizer.ml import publishing

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_versions():
    """A database whose versions are not registered yet: the first load registers MODELS_DIR's manifest."""
    from recognizer.lifecycle.models import ModelVersion

    ModelVersion.objects.all().delete()


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:20].astype(np.float32) / 255, y[:20]


def test_predict_both(digits):
    x, y = digits
    manifest = inference.read_manifest()
    for xi in x:
        answers = inference.predict_both(xi)
        assert list(answers) == ["keras", "custom"]
        for name, a in answers.items():
            assert isinstance(a, inference.ModelAnswer)
            assert type(a.digit) is int and 0 <= a.digit <= 9
            assert len(a.probabilities) == 10 and all(type(p) is float for p in a.probabilities)
            assert sum(a.probabilities) == pytest.approx(1.0, abs=1e-9)
            assert a.digit == int(np.argmax(a.probabilities)) and a.confidence == max(a.probabilities)
            assert a.model_version == f"{name}-{manifest['models'][name]['version']}"
            assert a.time_ms > 0
    hits = [inference.predict_both(xi)["keras"].digit == yi for xi, yi in zip(x, y, strict=True)]
    assert sum(hits) >= 19


def test_model_versions_and_warm_up():
    inference.warm_up()
    manifest = inference.read_manifest()
    assert inference.model_versions() == {n: f"{n}-{manifest['models'][n]['version']}" for n in inference.MODEL_NAMES}
    assert inference.get_models() is inference.get_models()


def test_rejects_wrong_shape():
    with pytest.raises(ValueError):
        inference.predict_both(np.zeros((1, 28, 28), np.float32))


def test_never_calls_model_predict(digits, monkeypatch):
    import keras

    def forbidden(*args, **kwargs):
        raise AssertionError("model.predict must not be used per request")

    monkeypatch.setattr(keras.Model, "predict", forbidden)
    inference.predict_both(digits[0][0])


def test_loads_once_across_threads(monkeypatch):
    calls = []

    def slow_load():
        calls.append(1)
        time.sleep(0.05)
        return inference.ServedSet({"fake": object()})

    monkeypatch.setattr(inference, "_current", None)
    monkeypatch.setattr(inference, "_load_all", slow_load)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(inference.get_models())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(s is seen[0] for s in seen)


def test_missing_manifest(tmp_path, settings, monkeypatch, no_versions):
    settings.MODELS_DIR = tmp_path
    monkeypatch.setattr(inference, "_current", None)
    with pytest.raises(inference.ModelsUnavailable, match="no live version"):
        inference.get_models()


def test_checksum_mismatch(tmp_path, settings, monkeypatch, no_versions):
    src = inference.models_dir()
    manifest = json.loads((src / "manifest.json").read_text())
    for entry in manifest["models"].values():
        for name in publishing.files_of(entry):
            shutil.copy(src / name, tmp_path / name)
    manifest["models"]["custom"]["sha256"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings.MODELS_DIR = tmp_path
    monkeypatch.setattr(inference, "_current", None)
    with pytest.raises(inference.ModelsUnavailable, match="sha256"):
        inference.get_models()


def test_a_changed_or_missing_companion_file_is_refused(tmp_path, settings, monkeypatch, no_versions):
    src = inference.models_dir()
    manifest = json.loads((src / "manifest.json").read_text())
    keras = manifest["models"]["keras"]
    for entry in manifest["models"].values():
        for name in publishing.files_of(entry):
            shutil.copy(src / name, tmp_path / name)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    settings.MODELS_DIR = tmp_path
    monkeypatch.setattr(inference, "_current", None)
    assert [c["file"] for c in keras["companions"]] == [keras["file"].replace(".keras", ".tflite")]
    lite = tmp_path / keras["companions"][0]["file"]
    lite.write_bytes(lite.read_bytes()[:-1] + b"x")
    with pytest.raises(inference.ModelsUnavailable, match="tflite"):
        inference.get_models()
    lite.unlink()
    with pytest.raises(inference.ModelsUnavailable, match="missing"):
        inference.get_models()

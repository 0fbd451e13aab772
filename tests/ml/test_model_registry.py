"""The one list of the models (recognizer/ml/registry.py): everything iterates over it, and reading it is cheap."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recognizer.ml import registry

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_unique_and_every_model_is_described():
    assert len(set(registry.NAMES)) == len(registry.NAMES) >= 2
    for spec in registry.MODELS:
        assert spec.title and spec.extension and spec.platform and spec.colour.startswith("#")
        assert registry.get(spec.name) is spec
    with pytest.raises(KeyError, match="models: keras, custom"):
        registry.get("nope")


def test_the_django_side_reads_the_names_from_the_registry():
    from recognizer import inference, models, views
    from recognizer.admin import DrawingAdmin
    from recognizer.staff import charts

    assert models.MODEL_NAMES == inference.MODEL_NAMES == registry.NAMES
    assert [c for c, _ in models.Prediction._meta.get_field("model_name").choices] == list(registry.NAMES)
    assert views.MODEL_TITLES == tuple((s.name, s.title) for s in registry.MODELS)
    assert charts.MODEL_COLOURS == {s.name: s.colour for s in registry.MODELS}
    for name in registry.NAMES:
        assert f"{name}_answer" in DrawingAdmin.list_display
        assert callable(getattr(DrawingAdmin, f"{name}_answer"))


def test_the_committed_files_are_named_by_the_registry():
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    for spec in registry.MODELS:
        entry = manifest["models"][spec.name]
        assert entry["file"] == spec.filename(entry["version"])
        assert spec.version_of(entry) == f"{spec.name}-{entry['version']}"


def test_the_numpy_model_is_served_and_loaded_through_the_registry():
    spec = registry.get("custom")
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    path = ROOT / "models" / manifest["models"]["custom"]["file"]
    predict, predict_many = spec.resolve("serve")(path)
    assert predict(np.zeros((28, 28), np.float32)).shape == (10,)
    assert predict_many(np.zeros((3, 28, 28), np.float32)).shape == (3, 10)
    net = spec.resolve("load")(path)
    assert net.predict_proba(np.zeros((1, 28, 28), np.float32)).shape == (1, 10)


def test_reading_the_registry_imports_neither_tensorflow_nor_training():
    script = (
        "import sys\n"
        "from recognizer.ml import registry\n"
        "[(s.name, s.title, s.filename(1)) for s in registry.MODELS]\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'django')\n"
        "                or m in ('recognizer.ml.training', 'recognizer.ml.network'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_training_and_publishing_read_the_registry(tmp_path):
    """Every model's trainer, save, classify and describe resolve; a model published through them loads back."""
    from recognizer.ml import publishing, training

    for spec in registry.MODELS:
        assert training.DEFAULT_EPOCHS[spec.name] == spec.epochs
        for field in ("serve", "load", "save", "classify", "describe", "trainer"):
            assert callable(spec.resolve(field)), (spec.name, field)
    path = ROOT / "models" / json.loads((ROOT / "models" / "manifest.json").read_text())["models"]["custom"]["file"]
    net = registry.get("custom").resolve("load")(path)
    result = publishing.TrainResult(model=net, epochs=1, seed=3, seconds=1.0)
    entry = publishing.publish(tmp_path, "custom", result, {})
    assert entry["file"] == "custom-1.npz" and entry["parameters"] == net.num_params()
    again = publishing.load_published(tmp_path, "custom")
    x = np.random.default_rng(0).random((5, 28, 28), np.float32)
    assert (publishing.predict_fn("custom", again)(x) == net.predict(x)).all()

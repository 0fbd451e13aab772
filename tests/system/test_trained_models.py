"""The committed weights in models/: manifest, MNIST test, canvas-style and UNIPEN validation-writer accuracy.

No database needed.  The canvas set is the first 2,000 drawings of the full 10,000 one
(`manage.py evaluate` prints the full numbers); the UNIPEN validation writers are all of them.
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recognizer.ml import canvas_eval, datasets, preprocess, publishing, strokes, styles, training

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
# Floors that keep the committed models (keras-5, custom-5) from regressing.  The canvas set checked here is its
# first 2,000 drawings; the full set's numbers are in the manifest.
TARGET_MNIST = {"keras": 99.4, "custom": 99.25}
TARGET_CANVAS = {"keras": 98.0, "custom": 97.5}
TARGET_PEN = {"keras": 98.5, "custom": 98.2}  # real pen digits by UNIPEN writers never trained on
TARGET_PEN_DIGIT = {"keras": 95.5, "custom": 96.5}  # the weakest digit (keras: 0, a slashed zero read as 8; custom: 8)

# Issue 14's targets, which the committed models do not meet yet (see test_issue_14_targets).
ISSUE_14 = {
    "mnist": {"keras": 99.6, "custom": 99.3},
    "canvas": {"keras": 99.0, "custom": 98.5},
    "pen": {"keras": 99.0, "custom": 98.5},
    "pen_digit": 97.0,
}
CANVAS_COUNT = 2000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest():
    return json.loads((MODELS_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def predictors():
    return {
        name: publishing.predict_fn(name, publishing.load_published(MODELS_DIR, name)) for name in ("keras", "custom")
    }


def test_manifest_describes_the_files(manifest):
    files = {"manifest.json"}
    for name in ("keras", "custom"):
        entry = manifest["models"][name]
        for key in (
            "name", "version", "file", "sha256", "trained_at", "data", "parameters", "epochs", "seed",
            "mnist_test_accuracy", "canvas_accuracy", "training_seconds", "preprocess_version",
        ):  # fmt: skip
            assert key in entry, (name, key)
        assert entry["name"] == name
        assert entry["file"] == f"{name}-{entry['version']}.{'keras' if name == 'keras' else 'npz'}"
        assert publishing.sha256_file(MODELS_DIR / entry["file"]) == entry["sha256"]
        assert entry["preprocess_version"] == preprocess.PREPROCESS_VERSION
        for companion in entry.get("companions", []):
            assert publishing.sha256_file(MODELS_DIR / companion["file"]) == companion["sha256"]
        files.update(publishing.files_of(entry))
    assert [c["file"] for c in manifest["models"]["keras"]["companions"]] == [
        manifest["models"]["keras"]["file"].replace(".keras", ".tflite")
    ]  # what requests run
    present = {p.name for p in MODELS_DIR.iterdir() if not p.name.startswith(".")}
    assert present == files  # only current weights, no code
    assert sum((MODELS_DIR / f).stat().st_size for f in files) < 10_000_000


@pytest.mark.parametrize("name", ["keras", "custom"])
def test_mnist_accuracy_matches_manifest_and_target(name, manifest, predictors, mnist_test):
    x, y = mnist_test
    acc = training.evaluate_predictions(predictors[name](x), y)["accuracy"]
    assert abs(acc - manifest["models"][name]["mnist_test_accuracy"]) <= 0.05
    assert acc >= TARGET_MNIST[name]


@pytest.mark.parametrize("name", ["keras", "custom"])
def test_unipen_validation_writers(name, manifest, predictors):
    """Digits drawn with a real pen by UNIPEN writers the models never saw, through the page's pen."""
    res = training.evaluate_pen({name: predictors[name]})[name]
    entry = manifest["models"][name]
    print(name, round(res["accuracy"], 2), [round(v, 1) for v in res["per_class"]])
    assert abs(res["accuracy"] - entry["unipen_validation_accuracy"]) <= 0.05
    assert res["accuracy"] >= TARGET_PEN[name]
    assert min(res["per_class"]) >= TARGET_PEN_DIGIT[name], res["per_class"]
    assert set(res["per_site"]) == set(entry["unipen_validation"]["per_site"])
    names = {d["name"].split(" ")[0] for d in entry["datasets"]}
    assert {"MNIST", "UNIPEN"} <= names and all(d["license"] and d["count"] > 0 for d in entry["datasets"])


# keras-5 / custom-5 read these European 1s at 94.1 / 91.2 %, slashed zeros 96.9 / 95.9 %, crossed 7s 100 %
# (keras-4 / custom-4: 66.7 / 66.7 %, 93.8 / 91.8 %, 100 %).
STYLE_FLOOR = {"keras": 93.0, "custom": 90.0}


def test_models_read_the_styles_on_writers_they_never_saw(predictors, pen_digits):
    """The validation writers' own 1s given a European up-stroke, 0s a slash and 7s a bar, drawn like the page."""
    _, held_out = datasets.split_writers(pen_digits)
    rng = np.random.default_rng(0)
    styled = {
        1: [
            styles.european_one(strokes.as_strokes(d.strokes), rng, styles.StyleAugment())
            for d in held_out
            if d.label == 1
        ],
        0: [styles.slashed_zero(strokes.as_strokes(d.strokes), rng) for d in held_out if d.label == 0],
        7: [styles.crossed_seven(strokes.as_strokes(d.strokes), rng) for d in held_out if d.label == 7],
    }
    assert sum(len(s) > 1 for s in styled[1]) > 30  # most of their 1s were plain bars and got the up-stroke
    for label, items in styled.items():
        x = strokes.render_validation(items, seed=1)
        for name, fn in predictors.items():
            accuracy = 100.0 * float(np.mean(fn(x) == label))
            print(name, label, round(accuracy, 1))
            assert accuracy >= STYLE_FLOOR[name], (name, label, accuracy)


def test_canvas_set_accuracy(predictors, manifest):
    results = canvas_eval.evaluate_canvas(predictors, count=CANVAS_COUNT)
    for name, row in results.items():
        print(name, row)
        assert row["mnist_preprocessing"] >= TARGET_CANVAS[name], (name, row)
        assert row["naive_resize"] < 60  # the old pipeline really was that bad on such drawings
        assert row["small_thick"] >= TARGET_CANVAS[name] - 3, (name, row)


def test_canvas_set_is_deterministic():
    a = canvas_eval.build_canvas_set(5, seed=7)
    b = canvas_eval.build_canvas_set(5, seed=7)
    assert [d.png for d in a] == [d.png for d in b]
    assert [d.png for d in a] != [d.png for d in canvas_eval.build_canvas_set(5, seed=8)]
    big = canvas_eval.build_canvas_set(8, seed=7)
    assert [d.png for d in big[:5]] == [d.png for d in a]  # a subset is a prefix of the full set


def test_canvas_drawings_look_like_canvas_drawings():
    for d in canvas_eval.build_canvas_set(20, seed=3):
        img = Image.open(io.BytesIO(d.png))
        assert img.size == (280, 280)
        ink = preprocess.grey_to_ink(np.asarray(preprocess.decode_image(d.png)))
        # not centred and not filling the canvas: that is what preprocessing is for
        assert ink.shape[0] <= d.height + 2 and ink.shape[0] >= min(d.height - 2, 50)


def test_upscaled_shifted_digits_keep_their_class(predictors, mnist_test):
    """An MNIST digit scaled up 10x, moved, and re-preprocessed is still classified as before."""
    x, _ = mnist_test
    rng = np.random.default_rng(0)
    idx = rng.choice(len(x), 100, replace=False)
    redrawn = []
    for i in idx:
        canvas = Image.new("L", (400, 400), 255)
        big = Image.fromarray(255 - x[i]).resize((280, 280), Image.Resampling.BILINEAR)
        canvas.paste(big, tuple(int(v) for v in rng.integers(0, 120, 2)))
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        redrawn.append(preprocess.to_model_input(buf.getvalue()))
    redrawn = np.stack(redrawn)
    for name, fn in predictors.items():
        before, after = fn(x[idx].astype(np.float32) / 255), fn(redrawn)
        assert (before == after).mean() >= 0.98, name


@pytest.mark.xfail(strict=True, reason="issue 14's targets are not met by keras-5 / custom-5 (see the manifest)")
@pytest.mark.parametrize("name", ["keras", "custom"])
def test_issue_14_targets(name, manifest):
    """Strict: turns into a failure (XPASS) the day a model meets them, so these floors get raised."""
    entry = manifest["models"][name]
    assert entry["mnist_test_accuracy"] >= ISSUE_14["mnist"][name]
    assert entry["canvas_accuracy"] >= ISSUE_14["canvas"][name]
    assert entry["unipen_validation_accuracy"] >= ISSUE_14["pen"][name]
    assert min(entry["unipen_validation"]["per_class"]) >= ISSUE_14["pen_digit"]

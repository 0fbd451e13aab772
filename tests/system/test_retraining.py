"""Labeled drawings fed back into training: the held-out split, `train --with-labeled`, `evaluate`."""

import io
import json
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from recognizer import inference
from recognizer.ml import datasets, training
from recognizer.models import Drawing
from recognizer.staff import export
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


def labeled_fixture(count=12):
    """Drawings whose model input encodes their own label, so pixels can be checked against labels."""
    drawings = []
    for i in range(count):
        label = i % 10
        drawings.append(make_drawing(model_input=bytes([label * 20]) * 784, label=label))
    return drawings


def test_holdout_split_is_every_fifth_id_and_disjoint():
    drawings = labeled_fixture(12)
    make_drawing()  # unlabeled: in no split
    selection = export.select()
    x_train, y_train, ids_train = export.arrays(selection, "train")
    x_hold, y_hold, ids_hold = export.arrays(selection, "holdout")
    all_ids = sorted(d.pk for d in drawings)
    assert sorted([*ids_train.tolist(), *ids_hold.tolist()]) == all_ids
    assert set(ids_train.tolist()).isdisjoint(ids_hold.tolist())
    assert all(pk % export.HOLDOUT_EVERY == 0 for pk in ids_hold.tolist())
    assert all(pk % export.HOLDOUT_EVERY != 0 for pk in ids_train.tolist())
    for x, y in ((x_train, y_train), (x_hold, y_hold)):
        assert x.dtype == np.uint8 and x.shape == (len(y), 28, 28)
        assert (x[:, 0, 0] == y * 20).all()  # pixels line up with labels


def test_a_drawing_keeps_its_side_as_more_are_labeled():
    labeled_fixture(6)
    before = set(export.arrays(export.select(), "holdout")[2].tolist())
    labeled_fixture(9)
    after = set(export.arrays(export.select(), "holdout")[2].tolist())
    assert before <= after


def test_user_labels_only_when_asked():
    make_drawing(label=3)
    make_drawing(label=4, label_source="user")
    assert len(export.arrays(export.select(), "all")[1]) == 1
    assert sorted(export.arrays(export.select(include_user_labels=True), "all")[1].tolist()) == [3, 4]


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        export.arrays(export.select(), "test")


@pytest.fixture
def tiny_mnist(monkeypatch, mnist_test):
    """Train and evaluate on the first 600 training and 200 test digits of MNIST: seconds, not minutes."""
    x, y = datasets.load_mnist("train")
    xt, yt = mnist_test
    monkeypatch.setattr(training, "load_data", lambda mnist_dir=None: (x[:600], y[:600], xt[:200], yt[:200]))
    return xt[200:260], yt[200:260]  # digits the tiny run never sees: the labeled drawings


@pytest.fixture
def models_copy(tmp_path, settings):
    """A copy of the committed models, so retraining never touches models/."""
    directory = tmp_path / "models"
    shutil.copytree(settings.MODELS_DIR, directory)
    settings.MODELS_DIR = directory
    inference.reset()
    yield directory
    inference.reset()


def test_train_with_labeled_publishes_a_new_version_the_app_records(tiny_mnist, models_copy):
    digits, labels = tiny_mnist
    for image, label in zip(digits, labels, strict=True):
        make_drawing(model_input=image.tobytes(), label=int(label))
    trained_on = len(export.arrays(export.select(), "train")[1])
    before = json.loads((models_copy / "manifest.json").read_text())["models"]

    out = io.StringIO()
    call_command(
        "train",
        "--model",
        "custom",
        "--epochs",
        "1",
        "--with-labeled",
        "--weight",
        "2",
        "--canvas-count",
        "20",
        "--no-pen",  # MNIST only: seconds, not minutes
        stdout=out,
    )
    after = json.loads((models_copy / "manifest.json").read_text())["models"]

    assert f"adding {trained_on} labeled drawings (weight 2.0); {60 - trained_on} held out" in out.getvalue()
    assert int(after["custom"]["version"]) == int(before["custom"]["version"]) + 1
    assert after["custom"]["data"]["labeled_drawings"] == trained_on
    assert (models_copy / after["custom"]["file"]).exists()
    assert after["keras"] == before["keras"]  # only the model asked for was retrained

    # A freshly loaded app answers with the new version and stores it on the prediction.
    inference.reset()
    answers = inference.predict_both(digits[0].astype(np.float32) / 255)
    drawing = Drawing.objects.record(
        image=b"png", model_input=digits[0].tobytes(), preprocess_version="test", answers=answers
    )
    assert drawing.prediction_for("custom").model_version == f"custom-{after['custom']['version']}"
    assert drawing.prediction_for("keras").model_version == f"keras-{before['keras']['version']}"

    report = io.StringIO()
    call_command("evaluate", "--canvas-count", "20", stdout=report)
    text = report.getvalue()
    assert "Staff-labeled drawings: 60" in text
    assert f"holdout  n={60 - trained_on}" in text
    assert "(seen in training)" in text


def test_train_with_labeled_refuses_a_bad_weight():
    with pytest.raises(CommandError, match="weight"):
        call_command("train", "--with-labeled", "--weight", "0")

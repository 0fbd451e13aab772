"""manage.py import_drawings: folders of images, Kaggle CSV, IDX pairs and strokes JSONL -> staff-labeled drawings."""

import gzip
import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from recognizer.ml import datasets, mnist, preprocess, strokes
from recognizer.models import Drawing
from recognizer.staff import accuracy, importing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:12], y[:12]


def run(*args):
    out = io.StringIO()
    call_command("import_drawings", *map(str, args), stdout=out)
    return out.getvalue()


def imported():
    return list(Drawing.objects.filter(source="import").order_by("id"))


def check_stored(drawings, labels):
    assert [d.label for d in drawings] == list(labels)
    for d in drawings:
        assert d.label_source == "staff" and d.labeled_at is not None
        assert d.preprocess_version == preprocess.PREPROCESS_VERSION
        assert len(d.predictions.all()) == 2
        # the stored model input is what the live preprocessing makes of the stored image
        assert bytes(d.model_input) == preprocess.input_to_bytes(preprocess.to_model_input(bytes(d.image)))


def test_idx_pair_and_csv(digits, tmp_path):
    x, y = digits
    mnist.write_idx_images(tmp_path / "my-images-idx3-ubyte.gz", x[:5])
    mnist.write_idx_labels(tmp_path / "my-labels-idx1-ubyte.gz", y[:5])
    out = run(tmp_path / "my-images-idx3-ubyte.gz")
    assert "Imported 5 drawings" in out and "by label:" in out
    check_stored(imported(), y[:5])
    img = Image.open(io.BytesIO(bytes(imported()[0].image)))
    assert img.size == (280, 280)  # drawn on the page's canvas, not stored as a 28x28 thumbnail

    csv_path = tmp_path / "train.csv"
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    rows += [f"{y[i]}," + ",".join(map(str, x[i].ravel())) for i in range(5, 9)]
    rows.append("3,1,2")  # a broken row is skipped, not fatal
    csv_path.write_text("\n".join(rows) + "\n")
    out = run(csv_path, "--limit", "10")
    assert "Imported 4 drawings" in out and "skipped 1: bad CSV row" in out
    check_stored(imported()[5:], y[5:9])
    # what the models saw is close to MNIST's own 28x28 picture
    got = preprocess.input_from_bytes(bytes(imported()[5].model_input))
    assert np.abs(got - x[5] / 255.0).mean() < 0.1


def test_image_folder_by_folder_and_by_name(digits, tmp_path):
    x, y = digits
    for i in range(3):
        folder = tmp_path / str(int(y[i]))
        folder.mkdir(exist_ok=True)
        Image.fromarray(255 - x[i]).resize((200, 200)).save(folder / f"scan{i}.png")
    Image.fromarray(255 - x[3]).save(tmp_path / f"{y[3]}_0001.png")
    Image.fromarray(255 - x[4]).convert("RGB").save(tmp_path / f"img_label_{y[4]}.jpg")
    Image.fromarray(255 - x[5]).save(tmp_path / "unlabeled.png")
    out = run(tmp_path, "--batch-size", "2")
    assert "Imported 5 drawings" in out and "skipped 1: no label in the folder or file name" in out
    assert "imported 2" in out  # progress
    assert sorted(d.label for d in imported()) == sorted(int(v) for v in y[:5])
    assert {d.image_type for d in imported()} == {"image/png", "image/jpeg"}
    assert importing.label_from_path(tmp_path / "7" / "x3.png", tmp_path) == 7
    assert importing.label_from_path(tmp_path / "train" / "4-b.png", tmp_path) == 4
    assert importing.label_from_path(tmp_path / "2024_scan.png", tmp_path) is None


def test_strokes_jsonl_drawn_like_the_page(tmp_path, pen_digits):
    pen = pen_digits
    held = datasets.validation_writers(pen)
    chosen = [d for d in pen if d.writer in held][:2] + [d for d in pen if d.writer not in held][:3]
    path = tmp_path / "pen.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for d in chosen:
            f.write(json.dumps({"label": d.label, "writer": d.writer, "strokes": d.strokes}) + "\n")
    out = run(path, "--skip-validation-writers")
    assert "Imported 3 drawings" in out and "skipped 2: UNIPEN validation writer" in out
    check_stored(imported(), [d.label for d in chosen[2:]])
    expected = strokes.to_model_input(
        strokes.draw(strokes.place(strokes.clean(strokes.as_strokes(chosen[2].strokes)), 200, 20), 20)
    )
    assert bytes(imported()[0].model_input) == preprocess.input_to_bytes(expected)


def test_imported_drawings_stay_out_of_production_accuracy(digits, tmp_path):
    x, y = digits
    make_drawing(keras=1, custom=1, label=1)
    mnist.write_idx_images(tmp_path / "a-images-idx3-ubyte", x[:4])
    mnist.write_idx_labels(tmp_path / "a-labels-idx1-ubyte", y[:4])
    run(tmp_path / "a-images-idx3-ubyte")
    production = accuracy.compute()
    assert production["drawings"] == 1 and production["labeled"] == 1
    everything = accuracy.compute(include_imported=True)
    assert everything["drawings"] == 5 and everything["labeled"] == 5
    out = io.StringIO()
    call_command("accuracy", "--include-imported", "--json", stdout=out)
    assert json.loads(out.getvalue())["drawings"] == 5


def test_errors(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="Kaggle-style CSV"):
        run(tmp_path / "x.csv")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CommandError, match="cannot tell its format"):
        run(tmp_path / "notes.txt")
    with pytest.raises(CommandError, match="no staff user"):
        run(tmp_path / "x.csv", "--user", "nobody")
    assert not imported()

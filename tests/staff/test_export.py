"""recognizer/export.py: every format read back gives the same pixels, labels and ids."""

import csv
import io
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

from recognizer.ml.mnist import read_idx_images, read_idx_labels
from recognizer.models import Drawing
from recognizer.staff import export
from tests import api_images as im
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixture_drawings():
    """Staff-labeled, user-labeled and unlabeled drawings, each with its own random 28×28 input."""
    rng = np.random.default_rng(8)
    rows = []
    plan = [(3, "staff", 3, 3), (7, "staff", 1, 7), (0, "user", 0, 0), (9, "staff", 9, 4), (None, "", 5, 5)]
    plan += [(d % 10, "staff", d % 10, d % 10) for d in range(5)]
    for i, (label, source, keras, custom) in enumerate(plan):
        pixels = rng.integers(0, 256, size=784, dtype=np.uint8).tobytes()
        original = im.encode(im.canvas(im.SEVEN), "JPEG") if i == 1 else im.png(im.ONE, width=10 + i)
        drawing = make_drawing(
            keras=keras,
            custom=custom,
            model_input=pixels,
            image=original,
            image_type="image/jpeg" if i == 1 else "image/png",
            keras_version="keras-1",
            custom_version="custom-1",
        )
        if label is not None:
            drawing.set_label(label, source=source)
        rows.append(drawing)
    return rows


def expected(drawings, include_user_labels=False, only_disagreements=False):
    keep = [
        d
        for d in sorted(drawings, key=lambda d: d.pk)
        if d.label is not None
        and (include_user_labels or d.label_source == "staff")
        and (not only_disagreements or d.agree is False)
    ]
    return keep


def as_array(drawing):
    return np.frombuffer(bytes(drawing.model_input), dtype=np.uint8).reshape(28, 28)


def collect(chunks):
    return b"".join(chunks)


def test_selection_filters(fixture_drawings):
    staff_only = export.select()
    assert staff_only.ids.tolist() == [d.pk for d in expected(fixture_drawings)]
    with_users = export.select(include_user_labels=True)
    assert with_users.ids.tolist() == [d.pk for d in expected(fixture_drawings, include_user_labels=True)]
    disagreements = export.select(only_disagreements=True)
    assert disagreements.ids.tolist() == [d.pk for d in expected(fixture_drawings, only_disagreements=True)]
    assert len(disagreements) == 2
    old = fixture_drawings[0]
    Drawing.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=10))
    cutoff = timezone.now() - timedelta(days=1)
    assert export.select(created_before=cutoff).ids.tolist() == [old.pk]
    assert old.pk not in export.select(created_after=cutoff).ids.tolist()
    # An admin selection is narrowed to its labeled drawings.
    picked = Drawing.objects.filter(pk__in=[fixture_drawings[4].pk, fixture_drawings[5].pk])
    assert export.select(picked).ids.tolist() == [fixture_drawings[5].pk]


def test_csv_round_trip(fixture_drawings):
    want = expected(fixture_drawings)
    text = collect(export.stream("csv", export.select())).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["label"] + [f"pixel{i}" for i in range(784)]
    assert len(rows) == len(want) + 1
    for drawing, row in zip(want, rows[1:], strict=True):
        assert int(row[0]) == drawing.label
        assert bytes(int(v) for v in row[1:]) == bytes(drawing.model_input)


def test_idx_files_round_trip_through_the_mnist_reader(fixture_drawings, tmp_path):
    want = expected(fixture_drawings, include_user_labels=True)
    paths = export.write("idx", export.select(include_user_labels=True), tmp_path / "labeled")
    assert [p.name for p in paths] == ["labeled-images-idx3-ubyte.gz", "labeled-labels-idx1-ubyte.gz"]
    x, y = read_idx_images(paths[0]), read_idx_labels(paths[1])
    assert x.shape == (len(want), 28, 28) and x.dtype == np.uint8
    assert y.tolist() == [d.label for d in want]
    for drawing, image in zip(want, x, strict=True):
        assert np.array_equal(image, as_array(drawing))
    # Big-endian magic numbers as in MNIST.
    import gzip

    assert gzip.decompress(paths[0].read_bytes())[:4] == (2051).to_bytes(4, "big")
    assert gzip.decompress(paths[1].read_bytes())[:4] == (2049).to_bytes(4, "big")


def test_idx_zip_round_trip(fixture_drawings, tmp_path):
    want = expected(fixture_drawings)
    data = collect(export.stream("idx", export.select(), name="prod"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["prod-images-idx3-ubyte.gz", "prod-labels-idx1-ubyte.gz"]
        zf.extractall(tmp_path)
    x = read_idx_images(tmp_path / "prod-images-idx3-ubyte.gz")
    y = read_idx_labels(tmp_path / "prod-labels-idx1-ubyte.gz")
    assert y.tolist() == [d.label for d in want]
    assert np.array_equal(x, np.stack([as_array(d) for d in want]))


def test_npz_round_trip(fixture_drawings):
    want = expected(fixture_drawings)
    data = collect(export.stream("npz", export.select()))
    with np.load(io.BytesIO(data)) as npz:
        assert set(npz.files) == {"x", "y", "ids"}
        x, y, ids = npz["x"], npz["y"], npz["ids"]
    assert x.dtype == np.uint8 and x.shape == (len(want), 28, 28)
    assert y.dtype == np.uint8 and y.tolist() == [d.label for d in want]
    assert ids.tolist() == [d.pk for d in want]
    assert np.array_equal(x, np.stack([as_array(d) for d in want]))


def test_png_zip_round_trip(fixture_drawings):
    want = expected(fixture_drawings)
    data = collect(export.stream("png", export.select()))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert [int(row["id"]) for row in manifest] == [d.pk for d in want]
        for drawing, row in zip(want, manifest, strict=True):
            ext = "jpg" if drawing.image_type == "image/jpeg" else "png"
            assert row["image"] == f"{drawing.label}/{drawing.pk}.{ext}"
            assert row["input"] == f"{drawing.label}/{drawing.pk}-28.png"
            assert zf.read(row["image"]) == bytes(drawing.image)
            small = Image.open(io.BytesIO(zf.read(row["input"])))
            assert small.size == (28, 28) and small.mode == "L"
            assert small.tobytes() == bytes(drawing.model_input)
            assert int(row["label"]) == drawing.label and row["label_source"] == "staff"
            keras, custom = drawing.prediction_for("keras"), drawing.prediction_for("custom")
            assert (int(row["keras_digit"]), int(row["custom_digit"])) == (keras.digit, custom.digit)
            assert float(row["keras_confidence"]) == pytest.approx(keras.confidence)
            assert (row["keras_version"], row["custom_version"]) == ("keras-1", "custom-1")
            assert row["agree"] == str(drawing.agree).lower()
        names = set(zf.namelist())
    assert len(names) == 2 * len(want) + 1


def test_batches_keep_ids_and_labels_in_line(fixture_drawings, monkeypatch):
    """Smaller batches than drawings: the rows still pair up across batch boundaries."""
    monkeypatch.setattr(export, "BATCH", 3)
    want = expected(fixture_drawings)
    rows = list(export.iter_rows(export.select(), "picture__model_input", batch=3))
    assert [(pk, label) for _, pk, label, _ in rows] == [(d.pk, d.label) for d in want]
    assert [bytes(m) for *_, m in rows] == [bytes(d.model_input) for d in want]
    data = collect(export.stream("png", export.select()))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    keras = [int(row["keras_digit"]) for row in manifest]
    assert keras == [d.prediction_for("keras").digit for d in want]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_empty_selection_gives_a_valid_empty_file(fmt, tmp_path):
    make_drawing()  # unlabeled: not exported
    data = collect(export.stream(fmt, export.select()))
    if fmt == "csv":
        assert data.decode().splitlines() == ["label," + ",".join(f"pixel{i}" for i in range(784))]
    elif fmt == "npz":
        with np.load(io.BytesIO(data)) as npz:
            assert npz["x"].shape == (0, 28, 28) and npz["y"].shape == (0,) and npz["ids"].shape == (0,)
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp_path)
            names = zf.namelist()
        if fmt == "idx":
            assert read_idx_images(tmp_path / "drawings-images-idx3-ubyte.gz").shape == (0, 28, 28)
            assert read_idx_labels(tmp_path / "drawings-labels-idx1-ubyte.gz").shape == (0,)
        else:
            assert names == ["manifest.csv"]
            assert (tmp_path / "manifest.csv").read_text().strip() == ",".join(export.MANIFEST_FIELDS)


def test_write_reports_progress_and_leaves_no_partial_file(fixture_drawings, tmp_path):
    seen = []
    paths = export.write("npz", export.select(), tmp_path / "out.npz", progress=lambda done, total: seen.append(done))
    assert paths == [tmp_path / "out.npz"] and paths[0].exists()
    assert seen[-1] == len(expected(fixture_drawings))
    assert not list(tmp_path.glob("*.part"))


def test_flat_zip_with_more_entries_than_plain_zip_allows(tmp_path):
    """65,535+ entries need the zip64 end records; zipfile must read every name and CRC back."""
    path = tmp_path / "many.zip"
    with open(path, "wb") as out:
        writer = export.FlatZip(out)
        for i in range(70_000):
            writer.add(f"{i % 10}/{i}.txt", str(i).encode())
        big = io.BytesIO(bytes(range(256)) * 1000)
        list(writer.add_file("big.bin", big))
        list(writer.finish())
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert len(infos) == 70_001
        assert zf.testzip() is None
        assert zf.read("7/69997.txt") == b"69997"
        assert zf.read("big.bin") == bytes(range(256)) * 1000
        assert infos[0].filename == "0/0.txt" and infos[0].compress_type == zipfile.ZIP_STORED

"""A drawing deleted while an export runs (a drawer deleting theirs, ``purge``) is left out; the file is never
cut off, and the export says how many it skipped."""

import csv
import io
import zipfile

import numpy as np
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from recognizer.ml.mnist import read_idx_images, read_idx_labels
from recognizer.models import Drawing
from recognizer.staff import export
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture
def drawings():
    return [
        make_drawing(keras=i, custom=i, label=i, model_input=bytes([i * 20]) * 784, image=b"\x89PNG %d" % i)
        for i in range(6)
    ]


def selection_then_delete(*doomed):
    """The selection, then the doomed drawings deleted (as if while the file was being written)."""
    selection = export.select()
    Drawing.objects.filter(pk__in=[d.pk for d in doomed]).delete()
    return selection


def kept(drawings, *doomed):
    return [d for d in drawings if d not in doomed]


def collect(chunks):
    return b"".join(chunks)


def skipped_note(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.comment.decode()


def test_csv_leaves_out_what_was_deleted(drawings):
    selection = selection_then_delete(drawings[0], drawings[3])
    rows = list(csv.reader(io.StringIO(collect(export.stream("csv", selection)).decode())))
    assert [int(row[0]) for row in rows[1:]] == [d.label for d in kept(drawings, drawings[0], drawings[3])]
    assert all(len(row) == 785 for row in rows)
    assert selection.skipped == 2


def test_npz_counts_only_what_it_holds(drawings):
    gone = drawings[2]
    data = collect(export.stream("npz", selection_then_delete(gone)))
    with np.load(io.BytesIO(data)) as npz:
        assert npz["ids"].tolist() == [d.pk for d in kept(drawings, gone)]
        assert npz["y"].tolist() == [d.label for d in kept(drawings, gone)]
        assert npz["x"][:, 0, 0].tolist() == [d.label * 20 for d in kept(drawings, gone)]
    assert "1 selected drawing was deleted during the export and left out" in skipped_note(data)


def test_idx_images_and_labels_stay_in_line(drawings, tmp_path):
    gone = drawings[-1]
    data = collect(export.stream("idx", selection_then_delete(gone), name="d"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    x, y = read_idx_images(tmp_path / "d-images-idx3-ubyte.gz"), read_idx_labels(tmp_path / "d-labels-idx1-ubyte.gz")
    assert y.tolist() == [d.label for d in kept(drawings, gone)]
    assert x[:, 0, 0].tolist() == [d.label * 20 for d in kept(drawings, gone)]
    assert "1 selected drawing was deleted" in skipped_note(data)


def test_png_zip_keeps_every_other_drawing_and_its_answers(drawings):
    gone = drawings[0]  # the first of a batch: the answers of the rest are still found
    data = collect(export.stream("png", selection_then_delete(gone)))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert zf.testzip() is None
    assert [int(row["id"]) for row in manifest] == [d.pk for d in kept(drawings, gone)]
    assert all(row["keras_digit"] == row["label"] for row in manifest)
    assert "1 selected drawing was deleted" in skipped_note(data)


def test_an_export_without_deletions_has_no_note(drawings):
    assert skipped_note(collect(export.stream("npz", export.select()))) == ""


def test_training_arrays_leave_out_what_was_deleted(drawings):
    x, y, ids = export.arrays(selection_then_delete(drawings[1]))
    assert ids.tolist() == [d.pk for d in kept(drawings, drawings[1])]
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 2, 3, 4, 5]


def test_http_export_with_a_drawing_deleted_mid_stream_is_complete(drawings, admin_user, monkeypatch):
    monkeypatch.setattr(export, "BATCH", 2)
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.get("/api/drawings/export/", {"format": "csv"})
    chunks = iter(response.streaming_content)
    first = next(chunks)  # the header line is out: the status and headers have been sent
    drawings[4].delete()
    rows = list(csv.reader(io.StringIO((first + b"".join(chunks)).decode())))
    assert response.status_code == 200 and response["X-Drawing-Count"] == "6"
    assert [int(row[0]) for row in rows[1:]] == [0, 1, 2, 3, 5]


def test_command_says_how_many_it_skipped(drawings, tmp_path, monkeypatch):
    select = export.select

    def select_then_delete(**filters):
        selection = select(**filters)
        drawings[2].delete()
        return selection

    monkeypatch.setattr(export, "select", select_then_delete)
    out = io.StringIO()
    call_command("export", "--format", "csv", "--out", str(tmp_path / "d.csv"), stdout=out)
    assert "Exported 5 drawings" in out.getvalue()
    assert "1 selected drawing was deleted during the export and left out" in out.getvalue()
    assert len((tmp_path / "d.csv").read_text().splitlines()) == 6

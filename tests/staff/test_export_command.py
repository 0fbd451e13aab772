"""manage.py export: writes the file, shows progress, prints a summary; bad options are clear errors."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recognizer.ml.mnist import read_idx_images, read_idx_labels
from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled():
    rows = []
    for i in range(4):
        pixels = bytes((i * 37 + j) % 256 for j in range(784))
        rows.append(make_drawing(keras=i, custom=i if i % 2 else 9, model_input=pixels, label=i))
    make_drawing(label=8, label_source="user")
    return rows


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_npz_with_progress_and_summary(labeled, tmp_path):
    out, err = run("--format", "npz", "--out", str(tmp_path / "d.npz"), "--progress")
    assert "Exported 4 drawings (staff labels) as npz" in out
    assert "4/4 100%" in err and "[" in err
    with np.load(tmp_path / "d.npz") as npz:
        assert npz["ids"].tolist() == [d.pk for d in labeled]
        assert npz["y"].tolist() == [0, 1, 2, 3]
        assert npz["x"][2].tobytes() == bytes(labeled[2].model_input)


def test_idx_into_a_directory_with_filters(labeled, tmp_path):
    Drawing.objects.filter(pk=labeled[0].pk).update(created=timezone.now() - timedelta(days=5))
    after = (timezone.now() - timedelta(days=1)).date().isoformat()
    out, _ = run(
        "--format", "idx", "--out", str(tmp_path), "--name", "prod", "--include-user-labels", "--created-after", after
    )
    assert "Exported 4 drawings (staff and user labels)" in out
    assert read_idx_labels(tmp_path / "prod-labels-idx1-ubyte.gz").tolist() == [1, 2, 3, 8]
    assert read_idx_images(tmp_path / "prod-images-idx3-ubyte.gz").shape == (4, 28, 28)


def test_only_disagreements_csv(labeled, tmp_path):
    run("--format", "csv", "--out", str(tmp_path / "x.csv"), "--only-disagreements")
    lines = (tmp_path / "x.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "2"]


def test_png_zip(labeled, tmp_path):
    out, _ = run("--format", "png", "--out", str(tmp_path / "p.zip"))
    assert "Exported 4 drawings" in out and (tmp_path / "p.zip").stat().st_size > 0


def test_bad_options_are_command_errors(tmp_path):
    with pytest.raises(CommandError, match="not a date"):
        run("--format", "csv", "--out", str(tmp_path / "x.csv"), "--created-after", "last tuesday")
    with pytest.raises(CommandError, match="export failed"):
        run("--format", "csv", "--out", str(tmp_path / "missing-dir" / "x.csv"))
    with pytest.raises(CommandError):
        run("--format", "xls", "--out", str(tmp_path / "x.xls"))

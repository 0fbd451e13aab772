"""manage.py import_drawings with hostile files (issue 27, item 14): a clean error that names the line, and nothing
stored -- all or nothing across batches (``--batch-size 2``, so earlier batches were written before the bad line).
Links out of an image folder are not followed."""

import gzip
import io
import json
import os

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from recognizer.models import Drawing
from recognizer.staff import importing

pytestmark = pytest.mark.django_db

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def bar(width=2):
    """A 28x28 MNIST-style 1 (ink bright on black)."""
    x = np.zeros((28, 28), np.uint8)
    x[4:24, 14 - width // 2 : 14 + width // 2 + 1] = 255
    return x


def csv_row(label=1):
    return f"{label}," + ",".join(map(str, bar().ravel()))


def good_csv(rows=6):
    return [HEADER] + [csv_row() for _ in range(rows)]


def run(*args):
    out = io.StringIO()
    call_command("import_drawings", *map(str, args), stdout=out)
    return out.getvalue()


def refused(path, *match, fmt=None):
    args = [path, "--batch-size", "2"] + (["--format", fmt] if fmt else [])
    with pytest.raises(CommandError) as error:
        run(*args)
    message = str(error.value)
    for needle in match:
        assert needle in message, message
    assert "(nothing was imported)" in message
    assert Drawing.objects.count() == 0
    return message


def test_a_csv_field_over_the_csv_modules_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("\n".join([*good_csv(6), "1," + "9" * 131_073 + ",0", csv_row()]) + "\n")
    refused(path, "big.csv:8", "field larger than field limit")


def test_a_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(("\n".join(good_csv(6)) + "\n").encode() + b"1,\xe9t\xe9\n")
    refused(path, "latin.csv:8: not UTF-8 text", "0xe9")


def test_a_gzipped_csv_is_read_and_a_broken_one_is_a_clean_error(tmp_path):
    good = tmp_path / "train.csv.gz"
    good.write_bytes(gzip.compress(("\n".join(good_csv(3)) + "\n").encode()))
    assert "Imported 3 drawings" in run(good, "--batch-size", "2")
    Drawing.objects.all().delete()
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(("\n".join(good_csv(40)) + "\n").encode())[:-200])
    refused(broken, "broken.csv.gz:", "cannot be read")
    latin = tmp_path / "latin.csv.gz"
    latin.write_bytes(gzip.compress(("\n".join(good_csv(4)) + "\n").encode() + b"\xff\n"))
    refused(latin, "latin.csv.gz:6: not UTF-8 text")


def test_a_csv_line_that_never_ends(tmp_path):
    path = tmp_path / "endless.csv"
    path.write_text("\n".join(good_csv(4)) + "\n" + "1," * (importing.MAX_LINE_BYTES // 2 + 10))
    refused(path, "endless.csv:6: a line longer than 1,048,576 bytes")


def strokes_line(points=((0, 0), (0, 100)), label=1, **extra):
    return json.dumps({"label": label, "strokes": [[list(p) for p in points]], **extra})


STROKES_GOOD = [strokes_line() for _ in range(4)]


@pytest.mark.parametrize(
    "bad, why",
    [
        ('{"label": 1, "strokes": [[[0, 0], [Infinity, 100]]]}', "Infinity is not valid JSON"),
        ('{"label": 1, "strokes": [[[0, 0], [NaN, 100]]]}', "NaN is not valid JSON"),
        (strokes_line([(0, 0), (1e308, 100)]), "finite numbers within ±1e+06"),
        ('{"label": 1, "strokes": [[[0, 0], [1e400, 100]]]}', "finite numbers within"),
        (strokes_line([(0, 0), (0, 1, 2)]), "a point must be [x, y]"),
        ('{"label": 1, "strokes": [[[0, 0], ["0", "100"]]]}', "a point must be [x, y]"),
        ('{"label": 1, "strokes": [[[0, 0], [true, 100]]]}', "a point must be [x, y]"),
        ('{"label": 1, "strokes": [[0, 0, 0, 100]]}', "a point must be [x, y]"),
        ('{"label": 1, "strokes": [[[0, 0]], "stroke"]}', "a stroke must be a list"),
        ('{"label": 1, "strokes": [[]]}', "no points"),
        ('{"label": 1, "strokes": []}', "'strokes' must be a list"),
        ('{"label": "1", "strokes": [[[0, 0], [0, 100]]]}', "'label' must be a digit"),
        ('{"label": 12, "strokes": [[[0, 0], [0, 100]]]}', "'label' must be a digit"),
        ("[1, 2]", "a JSON object"),
        ('{"label": 1, "strokes": [[[0, 0], [0, 1', "JSON parse error"),
        (strokes_line([(i % 2, 0) for i in range(10_001)]), "more than 10,000 points"),
        (strokes_line([(i % 2 * 10, i % 3) for i in range(9_000)]), "over 200 times the digit's size"),
    ],
)
def test_strokes_that_cannot_be_drawn(tmp_path, bad, why):
    path = tmp_path / "pen.jsonl"
    path.write_text("\n".join([*STROKES_GOOD, bad, *STROKES_GOOD]) + "\n")
    refused(path, "pen.jsonl:5: ", why)


def test_a_strokes_line_with_a_million_points_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "million.jsonl"
    million = strokes_line([(i % 200, i % 199) for i in range(1_000_000)])
    assert len(million) > importing.MAX_LINE_BYTES
    path.write_text("\n".join([*STROKES_GOOD, million]) + "\n")
    refused(path, "million.jsonl:5: a line longer than 1,048,576 bytes")


def test_good_strokes_still_import(tmp_path):
    path = tmp_path / "pen.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(STROKES_GOOD) + "\n\n").encode()))
    assert "Imported 4 drawings" in run(path, "--batch-size", "2")
    assert Drawing.objects.filter(source="import", label=1).count() == 4


def test_links_that_leave_the_import_folder_are_not_followed(tmp_path):
    inside, outside = tmp_path / "import", tmp_path / "elsewhere"
    (inside / "7").mkdir(parents=True)
    (outside / "3").mkdir(parents=True)
    picture = Image.fromarray(255 - bar()).resize((200, 200))
    picture.save(inside / "7" / "a.png")
    picture.save(outside / "3" / "secret.png")
    (outside / "5_secret.png").write_bytes((inside / "7" / "a.png").read_bytes())
    os.symlink("/etc/passwd", inside / "1_passwd.png")  # a file outside
    os.symlink(outside / "5_secret.png", inside / "5_link.png")  # another file outside
    os.symlink(outside / "3", inside / "3")  # a folder outside: never entered
    os.symlink(inside / "7" / "a.png", inside / "7_again.png")  # a link that stays inside is read
    out = run(inside, "--batch-size", "2")
    assert "Imported 2 drawings" in out
    assert "skipped 2: a link that leads out of the import folder (not followed)" in out
    assert sorted(d.label for d in Drawing.objects.all()) == [7, 7]


def test_an_image_over_the_upload_limit_is_skipped(tmp_path, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    Image.fromarray(255 - bar()).resize((200, 200)).save(tmp_path / "7_small.png")
    Image.effect_noise((600, 600), 64).save(tmp_path / "7_big.png")
    out = run(tmp_path)
    assert "Imported 1 drawings" in out and "skipped 1: larger than MAX_UPLOAD_BYTES (1000 bytes)" in out

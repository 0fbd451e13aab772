"""Labeled data a team already has -> staff-labeled drawings (source "import"), drawn the way the page draws.

Four forms are read:

* a folder of images (PNG, JPEG or WebP), labeled by a folder named after the digit (``7/any.png``) or by the file
  name (``7_0001.png``, ``7-a.png``, ``label7.png``, ``img_label_7.png``);
* a Kaggle-style CSV (``label,pixel0,...,pixel783``: 28x28, 0 = background, ink bright; a column ``label``);
* an IDX pair (MNIST format: an images file and its labels file);
* a strokes JSONL (``{"label", "strokes", "writer"?}`` per line, as ``data/unipen``).

Every item goes through the page's path: strokes are drawn on a 280x280 canvas with the page's pen
(:mod:`recognizer.ml.strokes`), a 28x28 picture is scaled up onto that canvas (dark on white, like a drawing), and an
image file is taken as it is; then the live preprocessing makes the model input, both models answer, and the drawing
is stored with its answers and a staff label, in batches, all in one transaction: an import stores every item or none.

The files are untrusted input: a reader refuses what it cannot read with :class:`ImportFormatError` (the line and
why: not UTF-8, a line or field too long, a number that is not finite, too many points...) before anything is drawn,
and the whole import is rolled back. Links that lead out of an image folder are not followed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from PIL import Image

from recognizer import limits
from recognizer.domain import images, predicting
from recognizer.domain.errors import ImageRejected
from recognizer.domain.predicting import Context
from recognizer.ml import datasets, mnist, strokes
from recognizer.models import Drawing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
FORMATS = ("auto", "png", "csv", "idx", "strokes")
# Bounds on what a file may make the reader hold or draw. UNIPEN's largest digit has 693 points on a 6,500-byte
# line, coordinates under 1,000 and a pen path 20 times its size; a Kaggle CSV line is about 3,000 bytes.
MAX_LINE_BYTES = 1 << 20
MAX_POINTS = 10_000
MAX_COORDINATE = 1e6
MAX_PATH_PER_SIZE = 200  # the pen's path over the digit's size: the drawing resamples it, so this bounds the work
_NAME_LABEL = re.compile(r"(?:^|[^a-z0-9])label[_-]?([0-9])(?![0-9])|^([0-9])(?:[_\-. ]|$)", re.IGNORECASE)


class ImportFormatError(ValueError):
    """The input is not in the form it claims (or no form could be recognised)."""


@dataclass
class Item:
    """One labeled digit on its way in: the canvas image (PNG bytes or a file's bytes) and its label."""

    name: str
    label: int
    image: bytes
    image_type: str = "image/png"


@dataclass
class Summary:
    imported: int = 0
    by_label: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    seconds: float = 0.0
    first_id: int | None = None
    last_id: int | None = None


# ---------------------------------------------------------------------------------------------
# The page's canvas


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def canvas_from_array(x: np.ndarray) -> bytes:
    """A 28x28 picture (uint8, ink bright, MNIST style) as a 280x280 canvas drawing: dark ink on white, PNG."""
    x = np.asarray(x, dtype=np.uint8).reshape(28, 28)
    return _png(Image.fromarray(255 - x, "L").resize((strokes.CANVAS, strokes.CANVAS), Image.Resampling.BILINEAR))


def canvas_from_strokes(digit_strokes) -> bytes:
    """Pen strokes drawn the way the page draws them (20 px round pen, 200 px tall, centred), PNG."""
    placed = strokes.place(strokes.clean(strokes.as_strokes(digit_strokes)), 200.0, strokes.LINE_WIDTH)
    return _png(strokes.draw(placed, strokes.LINE_WIDTH))


# ---------------------------------------------------------------------------------------------
# Readers


def label_from_path(path: Path, root: Path) -> int | None:
    """The digit a file stands for: a folder named after it, else its file name; None when neither says."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        if len(part) == 1 and part.isdigit():
            return int(part)
    m = _NAME_LABEL.search(path.stem)
    if m:
        return int(m.group(1) or m.group(2))
    return None


def image_files(root: Path) -> list[Path]:
    """The folder's image files, sorted; links to folders are not entered (os.walk without followlinks)."""
    found = []
    for folder, _, names in os.walk(root):
        found += [Path(folder, name) for name in names if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def read_image_folder(root: Path, skipped: Counter) -> Iterator[Item]:
    files = image_files(root)
    if not files:
        raise ImportFormatError(f"{root}: no PNG, JPEG or WebP files")
    inside = root.resolve()
    largest = settings.MAX_UPLOAD_BYTES
    for path in files:
        real = path.resolve()
        if not real.is_relative_to(inside):
            skipped["a link that leads out of the import folder (not followed)"] += 1
            continue
        if not real.is_file():
            skipped["not a regular file"] += 1
            continue
        label = label_from_path(path, root)
        if label is None:
            skipped["no label in the folder or file name"] += 1
            continue
        try:
            if real.stat().st_size > largest:
                skipped[f"larger than MAX_UPLOAD_BYTES ({largest} bytes)"] += 1
                continue
            data = real.read_bytes()
        except OSError as exc:
            raise ImportFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        kind = {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")
        yield Item(str(path.relative_to(root)), label, data, kind)


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file, plain or gzip (by its first bytes, whatever its name).

    A byte that is not UTF-8, a broken gzip stream or a line over ``MAX_LINE_BYTES`` is an :class:`ImportFormatError`
    naming the line; a line is never read whole before its length is known.
    """
    try:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        raw = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with raw:
        n = 0
        while True:
            n += 1
            try:
                data = raw.readline(MAX_LINE_BYTES + 1)
            except (OSError, EOFError) as exc:  # gzip.BadGzipFile, a truncated stream
                raise ImportFormatError(f"{path}:{n}: cannot be read ({exc})") from None
            if not data:
                return
            if len(data) > MAX_LINE_BYTES:
                raise ImportFormatError(f"{path}:{n}: a line longer than {MAX_LINE_BYTES:,} bytes")
            try:
                yield n, data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ImportFormatError(
                    f"{path}:{n}: not UTF-8 text ({exc.reason}, byte 0x{data[exc.start]:02x})"
                ) from None


def read_csv(path: Path, skipped: Counter) -> Iterator[Item]:
    """Rows of a Kaggle-style CSV (plain or gzip). A row with wrong values is skipped; a file the reader cannot read
    (not UTF-8, a field over csv's 131,072 characters, a line over ``MAX_LINE_BYTES``) is an ImportFormatError."""
    reader = csv.reader(line for _, line in text_lines(path))
    try:
        header = next(reader, None)
        if not header or "label" not in [h.strip().lower() for h in header] or len(header) != 785:
            raise ImportFormatError(f"{path}: not a Kaggle-style CSV (a 'label' column and 784 pixel columns)")
        at = [h.strip().lower() for h in header].index("label")
        for n, row in enumerate(reader, 2):
            try:
                values = [int(v) for v in row]
                if len(values) != 785:
                    raise ValueError(f"{len(values)} columns")
                label = values.pop(at)
                if not 0 <= label <= 9 or min(values) < 0 or max(values) > 255:
                    raise ValueError("label or pixel out of range")
            except ValueError:
                skipped["bad CSV row"] += 1
                continue
            yield Item(f"{path.name}:{n}", label, canvas_from_array(np.array(values, np.uint8)))
    except csv.Error as exc:
        raise ImportFormatError(f"{path}:{reader.line_num}: not a CSV this reads ({exc})") from None


def idx_labels_path(images: Path) -> Path:
    name = images.name
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"), ("images", "labels")):
        if a in name:
            return images.with_name(name.replace(a, b))
    raise ImportFormatError(f"{images}: cannot tell its labels file; pass --labels")


def read_idx(images: Path, labels: Path | None, skipped: Counter) -> Iterator[Item]:
    labels = labels or idx_labels_path(images)
    try:
        x, y = mnist.read_idx_images(images), mnist.read_idx_labels(labels)
    except mnist.MnistError as exc:
        raise ImportFormatError(str(exc)) from exc
    if len(x) != len(y) or x.shape[1:] != (28, 28):
        raise ImportFormatError(f"{images}: {x.shape} images but {len(y)} labels in {labels}")
    for i in range(len(x)):
        if y[i] > 9:
            skipped["label out of range"] += 1
            continue
        yield Item(f"{images.name}[{i}]", int(y[i]), canvas_from_array(x[i]))


def read_strokes(path: Path, skipped: Counter, skip_writers: set[str] = frozenset()) -> Iterator[Item]:
    """Digits of a strokes JSONL (``{"label", "strokes", "site"?, "writer"?}`` a line, plain or gzip), read a line at a
    time; a line that is not such a digit is an ImportFormatError naming it, checked before anything is drawn."""
    for n, line in text_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = limits.loads(line)
        except limits.BadInput as exc:
            raise ImportFormatError(f"{where}: {exc.detail}") from None
        if not isinstance(row, dict):
            raise ImportFormatError(f"{where}: a line must be a JSON object with 'label' and 'strokes'")
        label = row.get("label")
        if type(label) is not int or not 0 <= label <= 9:
            raise ImportFormatError(f"{where}: 'label' must be a digit from 0 to 9")
        digit_strokes = checked_strokes(row.get("strokes"), where)
        site = row.get("site", "")
        writer = str(row.get("writer", site))[:200]
        if writer and writer in skip_writers:
            skipped["UNIPEN validation writer (kept out of training data)"] += 1
            continue
        yield Item(f"{path.name}:{n}" + (f" ({writer})" if writer else ""), label, canvas_from_strokes(digit_strokes))


def checked_strokes(value, where: str) -> list[list[tuple[float, float]]]:
    """``[[[x, y], ...], ...]`` with finite coordinates within ``MAX_COORDINATE``, at most ``MAX_POINTS`` points and a
    pen path at most ``MAX_PATH_PER_SIZE`` times the digit's size; else an ImportFormatError saying which."""
    if not isinstance(value, list) or not value:
        raise ImportFormatError(f"{where}: 'strokes' must be a list of strokes, each a list of [x, y] points")
    out, points, path_length = [], 0, 0.0
    low, high = [math.inf, math.inf], [-math.inf, -math.inf]
    for stroke in value:
        if not isinstance(stroke, list):
            raise ImportFormatError(f"{where}: a stroke must be a list of [x, y] points")
        points += len(stroke)
        if points > MAX_POINTS:
            raise ImportFormatError(f"{where}: more than {MAX_POINTS:,} points")
        pairs = []
        for point in stroke:
            if not (isinstance(point, list) and len(point) == 2 and all(type(v) in (int, float) for v in point)):
                raise ImportFormatError(f"{where}: a point must be [x, y], two numbers")
            x, y = float(point[0]), float(point[1])
            if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > MAX_COORDINATE:
                raise ImportFormatError(f"{where}: coordinates must be finite numbers within ±{MAX_COORDINATE:g}")
            if pairs:
                path_length += math.hypot(x - pairs[-1][0], y - pairs[-1][1])
            pairs.append((x, y))
            low = [min(low[0], x), min(low[1], y)]
            high = [max(high[0], x), max(high[1], y)]
        if pairs:
            out.append(pairs)
    if not out:
        raise ImportFormatError(f"{where}: no points")
    size = max(high[0] - low[0], high[1] - low[1])
    if path_length > MAX_PATH_PER_SIZE * max(size, 1e-6) and path_length > 1e-6:
        raise ImportFormatError(f"{where}: the pen's path is over {MAX_PATH_PER_SIZE} times the digit's size")
    return out


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "png"
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "strokes"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if "idx3" in name or name.endswith(("-ubyte", "-ubyte.gz", ".idx")):
        return "idx"
    raise ImportFormatError(f"{path}: cannot tell its format; pass --format {'|'.join(FORMATS[1:])}")


def read_items(
    path: Path, fmt: str, skipped: Counter, labels: Path | None = None, skip_validation_writers: bool = False
) -> Iterator[Item]:
    path = Path(path)
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "png":
        if not path.is_dir():
            raise ImportFormatError(f"{path}: --format png needs a folder")
        return read_image_folder(path, skipped)
    if fmt == "csv":
        return read_csv(path, skipped)
    if fmt == "idx":
        return read_idx(path, labels, skipped)
    if fmt == "strokes":
        held = datasets.validation_writers(datasets.load_unipen()) if skip_validation_writers else set()
        return read_strokes(path, skipped, held)
    raise ImportFormatError(f"unknown format {fmt!r}")


# ---------------------------------------------------------------------------------------------
# Storing


def _store(batch: list[Item], labeled_by, summary: Summary) -> None:
    kept, prepared = [], []
    for item in batch:
        try:
            prepared.append(images.prepare(item.image, item.image_type))
            kept.append(item)
        except ImageRejected as exc:
            summary.skipped[f"{exc.code}: {exc}"[:80]] += 1
    if not kept:
        return
    context = Context(source=Drawing.Source.IMPORT, labels=[item.label for item in kept], labeled_by=labeled_by)
    drawings = predicting.predict_and_store(prepared, context).drawings
    summary.imported += len(drawings)
    summary.by_label.update(item.label for item in kept)
    summary.first_id = drawings[0].pk if summary.first_id is None else summary.first_id
    summary.last_id = drawings[-1].pk


def import_items(
    items: Iterable[Item],
    labeled_by=None,
    limit: int | None = None,
    batch_size: int = 256,
    progress: Callable[[Summary], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Store every item as a staff-labeled drawing with both models' answers; returns the summary.

    All of it in one transaction: a file that turns out unreadable half-way (an ImportFormatError from its reader)
    leaves nothing behind, whatever the batch size. Batches bound how many images are in memory and go to the
    models at once.
    """
    summary = summary or Summary()
    t0 = time.perf_counter()
    batch: list[Item] = []
    taken = 0
    with transaction.atomic():
        for item in items:
            if limit is not None and taken >= limit:
                break
            batch.append(item)
            taken += 1
            if len(batch) >= batch_size:
                _store(batch, labeled_by, summary)
                batch = []
                summary.seconds = time.perf_counter() - t0
                if progress:
                    progress(summary)
        if batch:
            _store(batch, labeled_by, summary)
    summary.seconds = time.perf_counter() - t0
    if progress:
        progress(summary)
    return summary

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
is stored with its answers and a staff label, in batches (one transaction per batch).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from recognizer.domain import images, predicting
from recognizer.domain.errors import ImageRejected
from recognizer.domain.predicting import Context
from recognizer.ml import datasets, mnist, strokes
from recognizer.models import Drawing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
FORMATS = ("auto", "png", "csv", "idx", "strokes")
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


def read_image_folder(root: Path, skipped: Counter) -> Iterator[Item]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImportFormatError(f"{root}: no PNG, JPEG or WebP files")
    for path in files:
        label = label_from_path(path, root)
        if label is None:
            skipped["no label in the folder or file name"] += 1
            continue
        kind = {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")
        yield Item(str(path.relative_to(root)), label, path.read_bytes(), kind)


def read_csv(path: Path, skipped: Counter) -> Iterator[Item]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
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
    try:
        digits = datasets.read_strokes_jsonl(path)
    except (ValueError, OSError) as exc:
        raise ImportFormatError(str(exc)) from exc
    for n, d in enumerate(digits, 1):
        if d.writer and d.writer in skip_writers:
            skipped["UNIPEN validation writer (kept out of training data)"] += 1
            continue
        yield Item(f"{path.name}:{n}" + (f" ({d.writer})" if d.writer else ""), d.label, canvas_from_strokes(d.strokes))


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
    """Store every item as a staff-labeled drawing with both models' answers; returns the summary."""
    summary = summary or Summary()
    t0 = time.perf_counter()
    batch: list[Item] = []
    taken = 0
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

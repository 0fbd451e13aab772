"""Labeled drawings as training data: CSV, MNIST IDX, NumPy NPZ and a zip of PNGs.

Exports stream. A first query takes the selection (ids and labels only, about 9 bytes a
drawing); the pixels are then read in batches of ids and written straight out, so memory does
not grow with the number of drawings. Labels come from that first query, so a label changed
mid-export cannot put a file in two places or make the images and labels disagree.

A drawing deleted after the selection was taken (a drawer deleting theirs, ``purge``) is left out, never the
end of the file: the export goes on and counts it (``Selection.skipped``). IDX and NPZ state the number of
drawings in their header, so their model inputs first go to a temporary file (784 bytes a drawing, on disk) and
the file starts once the count of drawings still there is known. The zip formats (idx, npz, png) say in their
archive comment how many were left out; ``manage.py export`` prints it. Over HTTP the headers are sent before
that is known, so ``X-Drawing-Count`` is the number selected and the file may hold fewer.

Used by ``manage.py export``, ``GET /api/drawings/export/`` and the admin's "Export selected".
"""

from __future__ import annotations

import csv
import gzip
import io
import struct
import tempfile
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.lib import format as npy_format

from recognizer.ml import preprocess
from recognizer.ml.mnist import IMAGES_MAGIC, LABELS_MAGIC
from recognizer.models import MODEL_NAMES, Drawing, Prediction

FORMATS = ("csv", "idx", "npz", "png")
# Over HTTP, and for --out ending in .zip, the two IDX files travel in one zip.
EXTENSIONS = {"csv": "csv", "idx": "zip", "npz": "npz", "png": "zip"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "idx": "application/zip",
    "npz": "application/octet-stream",
    "png": "application/zip",
}
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
SIDE = 28
PIXELS = SIDE * SIDE
BATCH = 500
MANIFEST_FIELDS = [
    "id",
    "label",
    "label_source",
    *(f"{name}_{what}" for name in MODEL_NAMES for what in ("digit", "confidence", "version")),
    "agree",
    "created",
    "image",
    "input",
]


class ExportError(RuntimeError):
    pass


@dataclass
class Selection:
    """Which drawings, in id order, and the label each is exported with."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    filters: dict = field(default_factory=dict)
    # Ids found deleted while the export read them; filled as the rows are read.
    skipped_ids: set = field(default_factory=set)

    def __len__(self):
        return len(self.ids)

    @property
    def skipped(self):
        return len(self.skipped_ids)

    def present(self):
        """The selection less the drawings found deleted so far."""
        if not self.skipped_ids:
            return self
        keep = ~np.isin(self.ids, np.fromiter(self.skipped_ids, dtype=np.int64))
        return Selection(self.ids[keep], self.labels[keep], self.filters, self.skipped_ids)


def skipped_note(selection):
    """What the export left out, in words ("" when nothing)."""
    n = selection.skipped
    if not n:
        return ""
    drawings, were = ("drawing", "was") if n == 1 else ("drawings", "were")
    return f"{n} selected {drawings} {were} deleted during the export and left out"


def labeled_drawings(
    queryset=None, *, include_user_labels=False, created_after=None, created_before=None, only_disagreements=False
):
    """The labeled drawings to export: staff labels only unless ``include_user_labels``."""
    qs = Drawing.objects.all() if queryset is None else queryset
    qs = qs.labeled(include_user_labels=include_user_labels)
    if created_after is not None:
        qs = qs.filter(created__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created__lt=created_before)
    if only_disagreements:
        qs = qs.filter(agree=False)
    return qs


def select(queryset=None, **filters) -> Selection:
    """Take the selection: one query, ids and labels only (filters as in :func:`labeled_drawings`)."""
    ids, labels = array("q"), array("B")
    rows = labeled_drawings(queryset, **filters).order_by("pk").values_list("pk", "label")
    for pk, label in rows.iterator(chunk_size=5000):
        ids.append(pk)
        labels.append(label)
    return Selection(
        ids=np.frombuffer(ids, dtype=np.int64).copy() if ids else np.zeros(0, dtype=np.int64),
        labels=np.frombuffer(labels, dtype=np.uint8).copy() if labels else np.zeros(0, dtype=np.uint8),
        filters=filters,
    )


def iter_rows(selection, *fields, batch=None, progress=None):
    """``(index, id, label, *fields)`` for every selected drawing still there, in order, ``batch`` ids a query.

    ``index`` is the drawing's place in the selection; one deleted since the selection was taken is skipped
    and remembered in ``selection.skipped_ids``."""
    batch = batch or BATCH
    total = len(selection)
    for start in range(0, total, batch):
        chunk = selection.ids[start : start + batch].tolist()
        found = {row[0]: row[1:] for row in Drawing.objects.order_by().filter(pk__in=chunk).values_list("pk", *fields)}
        for offset, pk in enumerate(chunk):
            if pk not in found:
                selection.skipped_ids.add(pk)
                continue
            index = start + offset
            yield (index, pk, int(selection.labels[index]), *found[pk])
        if progress:
            progress(min(start + batch, total), total)
    if progress and total == 0:
        progress(0, 0)


# Retraining: every HOLDOUT_EVERY-th labeled drawing (by id) is never trained on, so
# `evaluate` scores a retrained model only on drawings it has not seen. The split is a property
# of the id, so a drawing stays on its side as more drawings get labeled.
HOLDOUT_EVERY = 5
SPLITS = ("all", "train", "holdout")


def split_selection(selection, split):
    """The part of a selection that is trained on ("train"), held out ("holdout") or "all"."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return selection
    holdout = selection.ids % HOLDOUT_EVERY == 0
    keep = holdout if split == "holdout" else ~holdout
    return Selection(ids=selection.ids[keep], labels=selection.labels[keep], filters=selection.filters)


def _spool_inputs(selection, progress=None):
    """The model inputs of the drawings still there, in a temporary file (784 bytes each), read from the start.

    For the formats whose header states the count: it is known only once every row has been read."""
    spool = tempfile.TemporaryFile()
    for _, _, _, model_input in iter_rows(selection, "picture__model_input", progress=progress):
        spool.write(pixels(model_input))
    spool.seek(0)
    return spool


def _copy_blocks(spool, out):
    """Copy the spooled inputs to ``out`` a batch at a time; yields after each batch."""
    while block := spool.read(BATCH * PIXELS):
        out.write(block)
        yield


def arrays(selection, split="all"):
    """``(x uint8 N×28×28, y uint8 N, ids int64 N)`` of a selection's model inputs, in memory."""
    part = split_selection(selection, split)
    x = np.empty((len(part), SIDE, SIDE), dtype=np.uint8)
    found = np.zeros(len(part), dtype=bool)
    for index, _, _, model_input in iter_rows(part, "picture__model_input"):
        x[index] = np.frombuffer(pixels(model_input), dtype=np.uint8).reshape(SIDE, SIDE)
        found[index] = True
    selection.skipped_ids.update(part.skipped_ids)
    return x[found], part.labels[found], part.ids[found]


def pixels(model_input):
    data = bytes(model_input)
    if len(data) != PIXELS:
        raise ExportError(f"model input is {len(data)} bytes, expected {PIXELS}")
    return data


class _Sink(io.RawIOBase):
    """A write-only, unseekable file whose bytes are collected and handed out in chunks."""

    def __init__(self):
        self.chunks, self.position = [], 0

    def writable(self):
        return True

    def write(self, data):
        data = bytes(data)
        self.chunks.append(data)
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def drain(self):
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class FlatZip:
    """A stored (uncompressed) zip written front to back, for archives of very many small files.

    ``zipfile`` keeps a ZipInfo object per entry until it writes the central directory (about 1 KB each: 280 MB
    for 100,000 drawings' two PNGs). Here each central-directory record goes to a temporary file the moment its
    entry is written, so memory stays the same however many entries there are. Zip64 end records are added when
    there are 65,535+ entries or 4 GB+ of data (every entry itself is under 4 GB). ``add_file`` and ``finish`` are
    generators that yield after each block, so the caller can pass the bytes on as they come.
    """

    BLOCK = 1 << 16

    def __init__(self, out):
        self.out, self.offset, self.count = out, 0, 0
        self.directory = tempfile.TemporaryFile()
        now = datetime.now(UTC)
        self.time = (now.hour << 11) | (now.minute << 5) | (now.second // 2)
        self.date = ((now.year - 1980) << 9) | (now.month << 5) | now.day

    def _header(self, name, crc, size):
        if size >= 0xFFFFFFFF:
            raise ExportError(f"{name} is too large for this zip writer")
        raw_name = name.encode("utf-8")
        utf8 = 0x800
        header = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, utf8, 0, self.time, self.date, crc, size, size, len(raw_name), 0
        )
        extra, offset, version = b"", self.offset, 20
        if self.offset >= 0xFFFFFFFF:
            extra, offset, version = struct.pack("<HHQ", 1, 8, self.offset), 0xFFFFFFFF, 45
        self.directory.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                version,
                version,
                utf8,
                0,
                self.time,
                self.date,
                crc,
                size,
                size,
                len(raw_name),
                len(extra),
                0,
                0,
                0,
                0,
                offset,
            )  # fmt: skip
            + raw_name
            + extra
        )
        self.out.write(header + raw_name)
        self.offset += len(header) + len(raw_name) + size
        self.count += 1

    def add(self, name, data):
        """Add a small file given as bytes."""
        self._header(name, zlib.crc32(data), len(data))
        self.out.write(data)

    def add_file(self, name, fileobj):
        """Add a binary file (read twice: for its CRC, then for its bytes)."""
        crc, size = 0, 0
        fileobj.seek(0)
        while block := fileobj.read(self.BLOCK):
            crc, size = zlib.crc32(block, crc), size + len(block)
        fileobj.seek(0)
        self._header(name, crc, size)
        while block := fileobj.read(self.BLOCK):
            self.out.write(block)
            yield

    def finish(self, comment=""):
        """Write the central directory and the end records (with the archive ``comment``)."""
        start, size = self.offset, self.directory.tell()
        self.directory.seek(0)
        while block := self.directory.read(self.BLOCK):
            self.out.write(block)
            yield
        self.directory.close()
        if self.count >= 0xFFFF or start >= 0xFFFFFFFF or size >= 0xFFFFFFFF:
            end = start + size
            self.out.write(
                struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, self.count, self.count, size, start)
            )
            self.out.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
        raw_comment = comment.encode("utf-8")[:0xFFFF]
        self.out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(self.count, 0xFFFF),
                min(self.count, 0xFFFF),
                min(size, 0xFFFFFFFF),
                min(start, 0xFFFFFFFF),
                len(raw_comment),
            )  # fmt: skip
            + raw_comment
        )
        yield


# --- CSV ----------------------------------------------------------------------------------------

_DECIMAL = [str(i) for i in range(256)]


def stream_csv(selection, progress=None):
    """Kaggle "Digit Recognizer" layout: ``label,pixel0,...,pixel783``."""
    yield ("label," + ",".join(f"pixel{i}" for i in range(PIXELS)) + "\n").encode()
    lines = []
    for _, _, label, model_input in iter_rows(selection, "picture__model_input", progress=progress):
        lines.append(f"{label},{','.join(map(_DECIMAL.__getitem__, pixels(model_input)))}\n")
        if len(lines) == 200:
            yield "".join(lines).encode()
            lines.clear()
    if lines:
        yield "".join(lines).encode()


# --- IDX ----------------------------------------------------------------------------------------


def stream_idx_images(selection, progress=None):
    """Gzip-compressed IDX3 (magic 2051), N×28×28, N the drawings still there."""
    sink = _Sink()
    with _spool_inputs(selection, progress) as spool:
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, compresslevel=6) as gz:
            gz.write(struct.pack(">IIII", IMAGES_MAGIC, len(selection.present()), SIDE, SIDE))
            for _ in _copy_blocks(spool, gz):
                yield sink.drain()
    yield sink.drain()


def idx_labels(selection):
    """Gzip-compressed IDX1 (magic 2049), N labels (of the drawings the images were written for)."""
    present = selection.present()
    payload = struct.pack(">II", LABELS_MAGIC, len(present)) + present.labels.tobytes()
    return gzip.compress(payload, compresslevel=6, mtime=0)


def idx_names(name):
    return f"{name}-images-idx3-ubyte.gz", f"{name}-labels-idx1-ubyte.gz"


def stream_idx_zip(selection, name="drawings", progress=None):
    images_name, labels_name = idx_names(name)
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as zf:
        with zf.open(_entry(images_name), "w", force_zip64=True) as out:
            for chunk in stream_idx_images(selection, progress):
                out.write(chunk)
                yield sink.drain()
        zf.writestr(_entry(labels_name), idx_labels(selection))
        zf.comment = skipped_note(selection).encode()
    yield sink.drain()


def _entry(name):
    return zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])


# --- NPZ ----------------------------------------------------------------------------------------


def _npy_header(dtype, shape):
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def stream_npz(selection, progress=None):
    """``np.load``-able archive: ``x`` uint8 N×28×28, ``y`` uint8 N, ``ids`` int64 N (the drawings still there)."""
    sink = _Sink()
    with _spool_inputs(selection, progress) as spool, zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as zf:
        present = selection.present()
        n = len(present)
        with zf.open(_entry("x.npy"), "w", force_zip64=True) as out:
            out.write(_npy_header(np.uint8, (n, SIDE, SIDE)))
            for _ in _copy_blocks(spool, out):
                yield sink.drain()
        for name, values in (("y", present.labels), ("ids", present.ids)):
            with zf.open(_entry(f"{name}.npy"), "w", force_zip64=True) as out:
                out.write(_npy_header(values.dtype, (n,)))
                out.write(np.ascontiguousarray(values).tobytes())
        zf.comment = skipped_note(selection).encode()
    yield sink.drain()


# --- PNG zip ------------------------------------------------------------------------------------


def stream_png(selection, progress=None):
    """Zip of ``<label>/<id>.png`` (the drawing as received) and ``<label>/<id>-28.png`` (the model input),
    plus ``manifest.csv``. A drawing received as JPEG or WebP keeps its bytes and its extension."""
    sink = _Sink()
    zf = FlatZip(sink)
    # The manifest grows with the export: it waits on disk, not in memory.
    with tempfile.TemporaryFile("w+b") as manifest_file:
        manifest_text = io.TextIOWrapper(manifest_file, encoding="utf-8", newline="")
        manifest = csv.writer(manifest_text)
        manifest.writerow(MANIFEST_FIELDS)
        rows = iter_rows(
            selection,
            "picture__image",
            "image_type",
            "picture__model_input",
            "label_source",
            "agree",
            "created",
            progress=progress,
        )
        predictions, batch_start = {}, None
        for index, pk, label, image, image_type, model_input, label_source, agree, created in rows:
            if batch_start != index - index % BATCH:  # by position: the batch's first drawing may be gone
                batch_start = index - index % BATCH
                predictions = _predictions(selection.ids[batch_start : batch_start + BATCH].tolist())
            image_name = f"{label}/{pk}.{IMAGE_EXTENSIONS.get(image_type, 'png')}"
            input_name = f"{label}/{pk}-28.png"
            zf.add(image_name, bytes(image))
            zf.add(input_name, preprocess.stored_input_to_png(pixels(model_input)))
            answers = []
            for name in MODEL_NAMES:
                p = predictions.get((pk, name))
                answers += [p[0], f"{p[1]:.6f}", p[2]] if p else ["", "", ""]
            agree_text = "" if agree is None else str(bool(agree)).lower()
            manifest.writerow(
                [pk, label, label_source, *answers, agree_text, created.isoformat(), image_name, input_name]
            )
            if index % 50 == 49:
                yield sink.drain()
        manifest_text.flush()
        for _ in zf.add_file("manifest.csv", manifest_file):
            yield sink.drain()
        manifest_text.detach()  # the file is closed by the with block, not by the wrapper
    for _ in zf.finish(skipped_note(selection)):
        yield sink.drain()


def _predictions(ids):
    rows = Prediction.objects.order_by().filter(drawing_id__in=ids)
    values = rows.values_list("drawing_id", "model_name", "digit", "confidence", "model_version")
    return {(pk, name): (digit, confidence, version) for pk, name, digit, confidence, version in values}


# --- entry points -------------------------------------------------------------------------------


def stream(fmt, selection, progress=None, name="drawings"):
    """The export as an iterator of byte chunks (one file; IDX comes as a zip of its two files)."""
    if fmt == "csv":
        return stream_csv(selection, progress)
    if fmt == "idx":
        return stream_idx_zip(selection, name, progress)
    if fmt == "npz":
        return stream_npz(selection, progress)
    if fmt == "png":
        return stream_png(selection, progress)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def write(fmt, selection, out, progress=None, name=None):
    """Write the export to ``out`` (a path). IDX to a path not ending in .zip writes two files
    ``<out>-images-idx3-ubyte.gz`` and ``<out>-labels-idx1-ubyte.gz`` (``<out>/<name>-...`` when
    ``out`` is a directory). Returns the paths written."""
    from pathlib import Path

    out = Path(out)
    if fmt == "idx" and out.suffix != ".zip":
        if out.is_dir():
            prefix = out / (name or "drawings")
        else:
            prefix = out.with_name(out.name.removesuffix(".gz"))
        images_name, labels_name = idx_names(prefix.name)
        images_path, labels_path = prefix.with_name(images_name), prefix.with_name(labels_name)
        _write_chunks(images_path, stream_idx_images(selection, progress))
        labels_path.write_bytes(idx_labels(selection))
        return [images_path, labels_path]
    _write_chunks(out, stream(fmt, selection, progress, name=name or out.stem))
    return [out]


def _write_chunks(path, chunks):
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

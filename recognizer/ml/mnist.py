"""Read and write MNIST IDX files (the original LeCun format), plain or gzip-compressed.

IDX layout (all integers big-endian): a 4-byte magic number -- two zero bytes, the element
type (0x08 = unsigned byte) and the number of dimensions -- then one uint32 per dimension,
then the data in C order.  Images are ``0x00000803`` (N, 28, 28); labels ``0x00000801`` (N,).

No Django here: this module is used by training, tests and the export feature alike.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051  # 0x00000803
LABELS_MAGIC = 2049  # 0x00000801

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}

_REPO_ROOT = Path(__file__).resolve().parents[2]


class MnistError(RuntimeError):
    """A missing or corrupt MNIST file; the message names the path."""


def default_mnist_dir() -> Path:
    """``$MNIST_DIR`` if set, else ``<repo>/../shared/data/mnist``."""
    env = os.environ.get("MNIST_DIR")
    return Path(env) if env else _REPO_ROOT.parent / "shared" / "data" / "mnist"


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise MnistError(f"MNIST file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistError(f"cannot read MNIST file {path}: {exc}") from exc
    return raw


def _parse(raw: bytes, path: Path, magic: int) -> np.ndarray:
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistError(f"corrupt IDX file {path}: only {len(raw)} bytes, header needs {header}")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise MnistError(f"corrupt IDX file {path}: magic number {found}, expected {magic}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise MnistError(
            f"corrupt IDX file {path}: header says {dims} = {expected} bytes of data, file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """uint8 array (N, rows, cols) from an IDX3 file (``.gz`` or plain)."""
    path = Path(path)
    return _parse(_read_bytes(path), path, IMAGES_MAGIC)


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """uint8 array (N,) from an IDX1 file (``.gz`` or plain)."""
    path = Path(path)
    return _parse(_read_bytes(path), path, LABELS_MAGIC)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).exists():
            return directory / name
    raise MnistError(f"MNIST file not found: {directory / (stem + '.gz')} (nor {directory / stem})")


def load_mnist(split: str, mnist_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8 (N, 28, 28), y uint8 (N,))`` for ``split`` "train" or "test"."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    directory = Path(mnist_dir) if mnist_dir is not None else default_mnist_dir()
    images_stem, labels_stem, count = SPLITS[split]
    images_path, labels_path = _find(directory, images_stem), _find(directory, labels_stem)
    x, y = read_idx_images(images_path), read_idx_labels(labels_path)
    if x.shape != (count, 28, 28):
        raise MnistError(f"corrupt IDX file {images_path}: shape {x.shape}, expected {(count, 28, 28)}")
    if y.shape != (count,):
        raise MnistError(f"corrupt IDX file {labels_path}: shape {y.shape}, expected {(count,)}")
    if y.max(initial=0) > 9:
        raise MnistError(f"corrupt IDX file {labels_path}: label {int(y.max())} out of range 0-9")
    return x, y


def _write(path: str | os.PathLike, magic: int, data: np.ndarray) -> None:
    data = np.ascontiguousarray(data, dtype=np.uint8)
    payload = struct.pack(f">I{data.ndim}I", magic, *data.shape) + data.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        # mtime=0 keeps the bytes reproducible for identical data.
        with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_idx_images(path: str | os.PathLike, images: np.ndarray) -> None:
    """Write uint8 (N, rows, cols) as IDX3; gzip-compressed when ``path`` ends in ``.gz``."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, rows, cols), got {images.dtype} {images.shape}")
    _write(path, IMAGES_MAGIC, images)


def write_idx_labels(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write uint8 (N,) as IDX1; gzip-compressed when ``path`` ends in ``.gz``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8 (N,), got {labels.dtype} {labels.shape}")
    _write(path, LABELS_MAGIC, labels)

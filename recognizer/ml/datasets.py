"""The training and evaluation data, in one place: MNIST and the UNIPEN pen strokes.  No Django.

**MNIST** (60,000 training and 10,000 test digits) is looked for, in this order:

1. ``$MNIST_DIR`` (the four IDX files, ``.gz`` or plain);
2. ``<repo>/../shared/data/mnist`` (same);
3. the Keras dataset cache, ``$KERAS_HOME/datasets/mnist.npz`` (``KERAS_HOME`` defaults to
   ``~/.keras``) -- what ``keras.datasets.mnist.load_data()`` writes;
4. otherwise it is downloaded from ``$MNIST_URL`` (default: the URL Keras uses) into that cache.

An ``mnist.npz`` (cached or downloaded) is checked by the sha256 of its *decoded arrays*, not of
the file, so any faithful copy passes and a corrupt one fails.  When MNIST is found nowhere,
:class:`MnistNotFound` names every place tried and why each failed.

**UNIPEN** isolated digits (``data/unipen/train-strokes.jsonl.gz``, CC BY 4.0): real pen
trajectories from 314 writers.  :func:`split_writers` holds some writers out for validation --
by writer, never by digit, since one writer's digits are far more alike than different writers'.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognizer.ml import mnist as idx

MnistError = idx.MnistError

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

# sha256 of each decoded array's bytes (uint8, C order), as in the original IDX files.
MNIST_ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
MNIST_SHAPES = {"x_train": (60_000, 28, 28), "y_train": (60_000,), "x_test": (10_000, 28, 28), "y_test": (10_000,)}

MNIST_INFO = {
    "name": "MNIST",
    "license": "CC BY-SA 3.0",
    "attribution": "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits",
}
UNIPEN_INFO = {
    "name": "UNIPEN isolated digits (category 1a), train_r01_v07, training writers",
    "license": "CC BY 4.0",
    "attribution": (
        "International Unipen Foundation, 1999; I. Guyon, L. Schomaker, R. Plamondon, M. Liberman, S. Janet, "
        '"UNIPEN project of on-line data exchange and recognizer benchmarks", ICPR 1994; '
        "Zenodo doi:10.5281/zenodo.1195803"
    ),
}


class MnistNotFound(MnistError):
    """MNIST is in none of the places looked at; the message names each one."""


# ---------------------------------------------------------------------------------------------
# MNIST


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def keras_cache_path() -> Path:
    return keras_home() / "datasets" / "mnist.npz"


def mnist_url() -> str:
    return os.environ.get("MNIST_URL") or KERAS_MNIST_URL


def _check_arrays(arrays: dict[str, np.ndarray], where) -> dict[str, np.ndarray]:
    out = {}
    for key, digest in MNIST_ARRAY_SHA256.items():
        if key not in arrays:
            raise MnistError(f"{where}: no array {key!r}")
        a = np.ascontiguousarray(arrays[key])
        if a.dtype != np.uint8 or a.shape != MNIST_SHAPES[key]:
            raise MnistError(f"{where}: {key} is {a.dtype} {a.shape}, expected uint8 {MNIST_SHAPES[key]}")
        if hashlib.sha256(a.tobytes()).hexdigest() != digest:
            raise MnistError(f"{where}: {key} does not match MNIST (sha256 of the decoded array differs)")
        out[key] = a
    return out


def read_npz(path) -> dict[str, np.ndarray]:
    """The four arrays of a Keras-style ``mnist.npz``, checked against MNIST's digests."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in MNIST_ARRAY_SHA256 if key in data.files}
    except FileNotFoundError:
        raise MnistError(f"{path}: not found") from None
    except Exception as exc:  # zip/npz errors of every kind: a corrupt file
        raise MnistError(f"{path}: not a readable npz ({exc.__class__.__name__}: {exc})") from exc
    return _check_arrays(arrays, path)


def download_mnist(url: str | None = None, dest=None, timeout: float = 60.0) -> Path:
    """Download ``mnist.npz`` from ``url`` to ``dest`` (the Keras cache), checked before it is kept."""
    url = url or mnist_url()
    dest = Path(dest) if dest is not None else keras_cache_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mnist-", suffix=".npz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 20):
                f.write(block)
        read_npz(tmp)  # raises if the download is not MNIST
        os.replace(tmp, dest)
    except MnistError as exc:
        raise MnistError(f"download from {url}: {exc}") from exc
    except OSError as exc:  # URLError, HTTPError, timeouts, disk
        raise MnistError(f"download from {url}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _from_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    x, y = idx.load_mnist("train", directory)
    xt, yt = idx.load_mnist("test", directory)
    return {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}


@dataclass
class Mnist:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was found


_CACHE: dict[tuple, Mnist] = {}


def find_mnist(mnist_dir=None, download: bool = True) -> Mnist:
    """MNIST from the first place that has it (see the module doc); ``mnist_dir`` overrides 1-2.

    Raises :class:`MnistNotFound` naming every place tried.
    """
    places: list[tuple[str, object]] = []
    if mnist_dir is not None:
        places.append(("dir", Path(mnist_dir)))
    else:
        if os.environ.get("MNIST_DIR"):
            places.append(("dir", Path(os.environ["MNIST_DIR"])))
        places.append(("dir", SHARED_MNIST_DIR))
    cache = keras_cache_path()
    places.append(("npz", cache))
    if download:
        places.append(("url", mnist_url()))
    key = (tuple((k, str(p)) for k, p in places),)
    if key in _CACHE:
        return _CACHE[key]
    tried = []
    for kind, place in places:
        try:
            if kind == "dir":
                if not Path(place).is_dir():
                    raise MnistError(f"{place}: no such directory")
                arrays, source = _from_idx_dir(Path(place)), f"IDX files in {place}"
            elif kind == "npz":
                if not Path(place).exists():
                    raise MnistError(f"{place}: not found")
                arrays, source = read_npz(place), f"Keras cache {place}"
            else:
                path = download_mnist(str(place), cache)
                arrays, source = read_npz(path), f"downloaded from {place} into {path}"
        except MnistError as exc:
            tried.append(str(exc))
            continue
        found = Mnist(**arrays, source=source)
        _CACHE[key] = found
        return found
    raise MnistNotFound("MNIST not found; tried:\n  " + "\n  ".join(tried))


def load_mnist(split: str, mnist_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8 (N, 28, 28), y uint8 (N,))`` for "train" or "test", from :func:`find_mnist`."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    m = find_mnist(mnist_dir)
    return (m.x_train, m.y_train) if split == "train" else (m.x_test, m.y_test)


def mnist_npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    """A Keras-style ``mnist.npz`` of these arrays (for tests and mirrors)."""
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# UNIPEN


UNIPEN_DIR = REPO_ROOT / "data" / "unipen"
UNIPEN_FILE = "train-strokes.jsonl.gz"
VALIDATION_FRACTION = 0.18


@dataclass(frozen=True)
class PenDigit:
    label: int
    site: str
    writer: str
    strokes: tuple  # ((x, y), ...) per stroke, as in the file


def unipen_path() -> Path:
    return Path(os.environ.get("UNIPEN_PATH") or UNIPEN_DIR / UNIPEN_FILE)


def read_strokes_jsonl(path) -> list[PenDigit]:
    """Digits from a strokes JSONL file (gzip or plain): ``{"label", "strokes", "site"?, "writer"?}``."""
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = int(row["label"])
                strokes = row["strokes"]
                if not 0 <= label <= 9 or not strokes:
                    raise ValueError("label out of 0-9 or no strokes")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: bad digit ({exc})") from exc
            site = str(row.get("site", ""))
            out.append(PenDigit(label, site, str(row.get("writer", site)), tuple(map(tuple, strokes))))
    return out


def load_unipen(path=None) -> list[PenDigit]:
    return read_strokes_jsonl(path or unipen_path())


def _rank(writer: str) -> str:
    return hashlib.sha256(writer.encode()).hexdigest()


def validation_writers(digits, fraction: float = VALIDATION_FRACTION) -> set[str]:
    """The writers held out for validation: in every site, the ``fraction`` whose sha256 is lowest.

    Deterministic (a function of the writer names only) and stratified by site, so that every
    site with at least two writers has at least one in validation and per-site numbers exist.
    """
    by_site: dict[str, set[str]] = {}
    for d in digits:
        by_site.setdefault(d.site, set()).add(d.writer)
    held = set()
    for writers in by_site.values():
        if len(writers) < 2:
            continue
        k = max(1, round(fraction * len(writers)))
        held.update(sorted(writers, key=_rank)[:k])
    return held


def split_writers(digits, fraction: float = VALIDATION_FRACTION) -> tuple[list[PenDigit], list[PenDigit]]:
    """(train, validation) digits, split by writer (see :func:`validation_writers`)."""
    held = validation_writers(digits, fraction)
    return [d for d in digits if d.writer not in held], [d for d in digits if d.writer in held]

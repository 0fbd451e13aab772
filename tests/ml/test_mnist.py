"""recognizer.ml.mnist: reading the original IDX files, clear errors, and writing IDX for export."""

import gzip
import struct

import numpy as np
import pytest

from recognizer.ml import mnist
from recognizer.ml.mnist import MnistError


def test_load_test_split(mnist_test):
    x, y = mnist_test
    assert x.shape == (10_000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10_000,) and y.dtype == np.uint8
    # label counts published with the data set
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x.max() == 255


def test_load_from_env_dir(monkeypatch, tmp_path, mnist_test):
    x, y = mnist_test
    mnist.write_idx_images(tmp_path / "t10k-images-idx3-ubyte", x)  # plain, not gzipped
    mnist.write_idx_labels(tmp_path / "t10k-labels-idx1-ubyte.gz", y)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert mnist.default_mnist_dir() == tmp_path
    x2, y2 = mnist.load_mnist("test")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        mnist.load_mnist("validation")


def test_missing_file_names_path(tmp_path):
    with pytest.raises(MnistError) as err:
        mnist.load_mnist("test", tmp_path)
    assert str(tmp_path) in str(err.value) and "not found" in str(err.value)
    with pytest.raises(MnistError, match="not found"):
        mnist.read_idx_images(tmp_path / "nope.gz")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_roundtrip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    mnist.write_idx_images(tmp_path / f"i{suffix}", images)
    mnist.write_idx_labels(tmp_path / f"l{suffix}", labels)
    raw = (tmp_path / f"i{suffix}").read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert struct.unpack(">4I", raw[:16]) == (2051, 7, 28, 28)
    assert np.array_equal(mnist.read_idx_images(tmp_path / f"i{suffix}"), images)
    assert np.array_equal(mnist.read_idx_labels(tmp_path / f"l{suffix}"), labels)


def test_write_is_reproducible(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    mnist.write_idx_labels(tmp_path / "a.gz", labels)
    mnist.write_idx_labels(tmp_path / "b.gz", labels)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_rejects_wrong_dtype_or_shape(tmp_path):
    with pytest.raises(ValueError):
        mnist.write_idx_images(tmp_path / "x", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError):
        mnist.write_idx_labels(tmp_path / "y", np.zeros((2, 2), np.uint8))


def test_wrong_magic(tmp_path):
    path = tmp_path / "labels"
    mnist.write_idx_labels(path, np.arange(5, dtype=np.uint8))
    with pytest.raises(MnistError, match="magic") as err:
        mnist.read_idx_images(path)  # a labels file where images are expected
    assert str(path) in str(err.value)


def test_size_mismatch(tmp_path):
    path = tmp_path / "images"
    mnist.write_idx_images(path, np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(MnistError, match="header says") as err:
        mnist.read_idx_images(path)
    assert str(path) in str(err.value)


def test_short_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(MnistError, match="header"):
        mnist.read_idx_images(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    with pytest.raises(MnistError) as err:
        mnist.read_idx_images(path)
    assert str(path) in str(err.value)


def test_wrong_count_for_split(tmp_path):
    mnist.write_idx_images(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    mnist.write_idx_labels(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(MnistError, match="expected"):
        mnist.load_mnist("test", tmp_path)

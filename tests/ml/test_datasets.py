"""recognizer.ml.datasets: where MNIST is found (directories, Keras cache, download) and the UNIPEN writer split.

The download is tested against a local HTTP server serving an ``mnist.npz`` made from the MNIST arrays; no test
uses the internet.
"""

import collections
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from recognizer.ml import datasets, mnist


@pytest.fixture(scope="module")
def arrays():
    m = datasets.find_mnist()  # as the rest of the suite finds it: a new clone may have to download it
    return {"x_train": m.x_train, "y_train": m.y_train, "x_test": m.x_test, "y_test": m.y_test}


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """No MNIST_DIR, no ../shared, an empty KERAS_HOME, a fresh lookup cache."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(datasets, "SHARED_MNIST_DIR", tmp_path / "no-shared")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(datasets, "_CACHE", {})
    return tmp_path


class Server:
    """A local HTTP server for one file; counts the requests."""

    def __init__(self, body: bytes | None):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests += 1
                if server.body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args):
                pass

        self.body, self.requests = body, 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist.npz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(body):
        servers.append(Server(body))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_mnist_arrays_match_the_published_digests(arrays, tmp_path):
    assert {k: v.shape for k, v in arrays.items()} == datasets.MNIST_SHAPES
    assert np.bincount(arrays["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    np.savez(tmp_path / "mnist.npz", **arrays)
    datasets.read_npz(tmp_path / "mnist.npz")  # checks the sha256 of each decoded array


def test_mnist_dir_comes_first(nowhere, arrays, monkeypatch):
    d = nowhere / "idx"
    d.mkdir()
    mnist.write_idx_images(d / "train-images-idx3-ubyte", arrays["x_train"])
    mnist.write_idx_labels(d / "train-labels-idx1-ubyte.gz", arrays["y_train"])  # gzip or plain
    mnist.write_idx_images(d / "t10k-images-idx3-ubyte", arrays["x_test"])
    mnist.write_idx_labels(d / "t10k-labels-idx1-ubyte", arrays["y_test"])
    monkeypatch.setenv("MNIST_DIR", str(d))
    found = datasets.find_mnist()
    assert found.source == f"IDX files in {d}"
    assert np.array_equal(datasets.load_mnist("test")[0], arrays["x_test"])


def test_shared_dir_then_keras_cache(nowhere, arrays, monkeypatch):
    shared = nowhere / "shared"
    shared.mkdir()
    for split, (images, labels, _) in mnist.SPLITS.items():
        key = "train" if split == "train" else "test"
        mnist.write_idx_images(shared / images, arrays[f"x_{key}"])
        mnist.write_idx_labels(shared / labels, arrays[f"y_{key}"])
    monkeypatch.setattr(datasets, "SHARED_MNIST_DIR", shared)
    assert datasets.find_mnist().source == f"IDX files in {shared}"
    # with no directories, a Keras-style cache file: any faithful copy passes, however it was compressed
    monkeypatch.setattr(datasets, "SHARED_MNIST_DIR", nowhere / "gone")
    monkeypatch.setattr(datasets, "_CACHE", {})
    cache = datasets.keras_cache_path()
    cache.parent.mkdir(parents=True)
    np.savez(cache, **arrays)  # uncompressed: not the bytes Keras serves, the same arrays
    found = datasets.find_mnist(download=False)
    assert found.source == f"Keras cache {cache}" and np.array_equal(found.y_train, arrays["y_train"])
    assert cache == nowhere / "keras" / "datasets" / "mnist.npz"


def test_keras_home_defaults_to_dot_keras(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.keras_cache_path() == tmp_path / ".keras" / "datasets" / "mnist.npz"
    monkeypatch.delenv("MNIST_URL", raising=False)
    assert datasets.mnist_url() == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def test_download_into_the_keras_cache(nowhere, arrays, serve, monkeypatch):
    server = serve(datasets.mnist_npz_bytes(arrays))
    monkeypatch.setenv("MNIST_URL", server.url)
    found = datasets.find_mnist()
    cache = nowhere / "keras" / "datasets" / "mnist.npz"
    assert found.source == f"downloaded from {server.url} into {cache}"
    assert server.requests == 1 and cache.exists()
    assert np.array_equal(found.x_test, arrays["x_test"])
    assert not [p for p in cache.parent.iterdir() if p.name != "mnist.npz"]  # no temporary file left
    # the next lookup finds the cache and does not download again
    monkeypatch.setattr(datasets, "_CACHE", {})
    assert datasets.find_mnist().source == f"Keras cache {cache}" and server.requests == 1
    x, y = datasets.load_mnist("train")
    assert x.shape == (60_000, 28, 28) and y.shape == (60_000,)


def test_a_corrupt_download_is_refused_and_not_kept(nowhere, arrays, serve, monkeypatch):
    bad = dict(arrays)
    bad["x_test"] = arrays["x_test"].copy()
    bad["x_test"][123, 14, 14] ^= 1  # one pixel
    server = serve(datasets.mnist_npz_bytes(bad))
    monkeypatch.setenv("MNIST_URL", server.url)
    with pytest.raises(datasets.MnistNotFound) as err:
        datasets.find_mnist()
    assert "x_test does not match MNIST" in str(err.value) and server.url in str(err.value)
    assert not (nowhere / "keras" / "datasets" / "mnist.npz").exists()
    assert list((nowhere / "keras" / "datasets").iterdir()) == []
    # not an npz at all
    server.body = b"<html>captive portal</html>"
    with pytest.raises(datasets.MnistNotFound, match="not a readable npz"):
        datasets.find_mnist()


def test_a_corrupt_cache_is_skipped(nowhere, arrays, serve, monkeypatch):
    cache = datasets.keras_cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"truncated")
    server = serve(datasets.mnist_npz_bytes(arrays))
    monkeypatch.setenv("MNIST_URL", server.url)
    found = datasets.find_mnist()
    assert found.source.startswith("downloaded") and server.requests == 1
    assert datasets.read_npz(cache)["y_test"].shape == (10_000,)  # replaced by the good download


def test_not_found_names_every_place(nowhere, serve, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(nowhere / "my-mnist"))
    server = serve(None)  # 404
    monkeypatch.setenv("MNIST_URL", server.url)
    with pytest.raises(datasets.MnistNotFound) as err:
        datasets.load_mnist("test")
    message = str(err.value)
    for place in (nowhere / "my-mnist", nowhere / "no-shared", datasets.keras_cache_path(), server.url):
        assert str(place) in message, (place, message)
    assert "404" in message
    assert isinstance(err.value, mnist.MnistError)


# ---------------------------------------------------------------------------------------------
# UNIPEN


def test_unipen_copy_in_the_repo(pen_digits):
    assert datasets.unipen_path() == Path(datasets.REPO_ROOT) / "data" / "unipen" / "train-strokes.jsonl.gz"
    assert (
        "CC BY 4.0" in (datasets.UNIPEN_DIR / "README.md").read_text()
        or "Creative Commons Attribution 4.0" in (datasets.UNIPEN_DIR / "README.md").read_text()
    )
    assert len(pen_digits) == 6889
    assert len({d.writer for d in pen_digits}) == 314
    counts = collections.Counter(d.label for d in pen_digits)
    assert min(counts.values()) == 580 and max(counts.values()) == 777 and counts[4] == 777
    d = pen_digits[0]
    assert d.writer.startswith(d.site + "/") and all(len(p) == 2 for s in d.strokes for p in s)


def test_split_is_by_writer_deterministic_and_per_site(pen_digits):
    train, val = datasets.split_writers(pen_digits)
    assert len(train) + len(val) == len(pen_digits)
    train_writers, val_writers = {d.writer for d in train}, {d.writer for d in val}
    assert not train_writers & val_writers  # never the same writer on both sides
    assert 0.15 <= len(val_writers) / (len(train_writers) + len(val_writers)) <= 0.2
    assert 0.1 <= len(val) / len(pen_digits) <= 0.25
    assert datasets.validation_writers(pen_digits) == val_writers
    assert datasets.validation_writers(list(reversed(pen_digits))) == val_writers  # order does not matter
    sites = collections.defaultdict(set)
    for d in pen_digits:
        sites[d.site].add(d.writer)
    for site, writers in sites.items():
        if len(writers) >= 2:
            assert writers & val_writers and writers - val_writers, site
    assert set(collections.Counter(d.label for d in val)) == set(range(10))


def test_read_strokes_jsonl_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"label": 3, "strokes": [[[0, 0], [5, 9]]]}\n\n{"label": 12, "strokes": [[[0, 0]]]}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:3"):
        datasets.read_strokes_jsonl(path)
    path.write_text('{"label": 3, "strokes": [[[0, 0], [5, 9]]]}\n')
    (digit,) = datasets.read_strokes_jsonl(path)
    assert digit.label == 3 and digit.writer == "" and [list(map(list, s)) for s in digit.strokes] == [[[0, 0], [5, 9]]]

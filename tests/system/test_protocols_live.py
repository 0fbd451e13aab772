"""The standard doors against a live gunicorn (the repo's gunicorn.conf.py, 2 workers, a fresh PostgreSQL database):
tritonclient (PyPI) speaks Open Inference Protocol v2 to it, and /metrics sums over both workers.

Every image answered must be stored with both models' answers, source "v2".
"""

import base64
import http.client
import json
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import psycopg
import pytest

from bench import harness
from tests.conftest import POSTGRES_URL, require_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 2


@pytest.fixture(scope="module")
def drawings():
    pngs, labels, _ = harness.canvas_drawings(48)
    return pngs, labels


@pytest.fixture(scope="module")
def mnist_inputs(mnist_test):
    images, labels = mnist_test
    return (images[:48].astype(np.float32) / 255.0), [int(y) for y in labels[:48]]


@pytest.fixture(scope="module")
def served(drawings):
    require_service("PostgreSQL", 5432)
    with tempfile.TemporaryDirectory(prefix="protocols-test-") as tmp:
        metrics_dir = Path(tmp) / "metrics"
        metrics_dir.mkdir()
        with harness.fresh_postgres_database(POSTGRES_URL, "digits_protocols") as url:
            env = harness.production_env(
                url, harness.free_port(), WEB_CONCURRENCY=WORKERS, PROMETHEUS_MULTIPROC_DIR=metrics_dir
            )
            with harness.Server(env, Path(tmp) / "gunicorn.log") as server:
                body = harness.predict_body(drawings[0][0])
                assert harness.wait_until_answering(server, body, timeout=240) is not None, server.log()[-4000:]
                assert server.wait_for_workers(WORKERS, 60), server.log()[-4000:]
                yield server, url, metrics_dir


@pytest.fixture(scope="module")
def triton(served):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(f"127.0.0.1:{served[0].port}", network_timeout=120.0)
    yield client
    client.close()


def stored(url, ids=None):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT d.id, d.source, count(p.id), min(p.model_name), max(p.model_name) FROM recognizer_drawing d "
            "LEFT JOIN recognizer_prediction p ON p.drawing_id = d.id GROUP BY d.id ORDER BY d.id"
        ).fetchall()
    return rows


def v2_count(url):
    return sum(1 for row in stored(url) if row[1] == "v2")


def test_health_and_metadata(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    meta = triton.get_server_metadata()
    assert meta["name"] == "digit-recognizer" and "binary_tensor_data" in meta["extensions"]
    for name in ("keras", "custom"):
        assert triton.is_model_ready(name)
        model = triton.get_model_metadata(name)
        assert model["name"] == name and model["versions"]
        assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in model["inputs"]} == {
            ("image", "BYTES", (-1,)),
            ("input", "FP32", (-1, 28, 28)),
        }
        assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in model["outputs"]} == {
            ("probabilities", "FP32", (-1, 10)),
            ("digit", "INT64", (-1,)),
        }
    assert not triton.is_model_ready("nope")


def check_outputs(result, n, labels, min_right):
    probabilities = result.as_numpy("probabilities")
    digits = result.as_numpy("digit")
    assert probabilities.shape == (n, 10) and probabilities.dtype == np.float32
    assert digits.shape == (n,) and digits.dtype == np.int64
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert (digits == probabilities.argmax(axis=1)).all()
    assert sum(int(d) == y for d, y in zip(digits, labels, strict=True)) >= min_right
    return digits


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_a_batch_of_48_images_as_bytes(triton, served, drawings, binary):
    import tritonclient.http as httpclient

    _, url, _ = served
    pngs, labels = drawings
    before = v2_count(url)
    # The binary extension carries raw bytes; the JSON encoding carries text, so images go as base64 there.
    values = pngs if binary else [base64.b64encode(p) for p in pngs]
    tensor = httpclient.InferInput("image", [len(pngs)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_), binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("probabilities", "digit")]
    result = triton.infer("keras", [tensor], outputs=outputs)
    check_outputs(result, len(pngs), labels, min_right=40)
    assert result.get_response()["model_name"] == "keras"
    assert v2_count(url) == before + len(pngs)  # every image stored


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_a_batch_of_48_fp32_inputs(triton, served, mnist_inputs, binary):
    import tritonclient.http as httpclient

    _, url, _ = served
    x, labels = mnist_inputs
    before = len(stored(url))
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    result = triton.infer("custom", [tensor])  # no outputs named: all of them, binary
    check_outputs(result, len(x), labels, min_right=45)
    rows = stored(url)
    assert len(rows) == before + len(x)
    new = rows[before:]
    assert all(source == "v2" and n == 2 and (lo, hi) == ("custom", "keras") for _, source, n, lo, hi in new)


def test_a_bad_image_refuses_the_whole_batch_and_names_it(triton, served, drawings):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    _, url, _ = served
    pngs = list(drawings[0][:5])
    pngs[3] = b"not an image"
    before = len(stored(url))
    tensor = httpclient.InferInput("image", [5], "BYTES")
    tensor.set_data_from_numpy(np.array(pngs, dtype=np.object_))
    with pytest.raises(InferenceServerException) as err:
        triton.infer("keras", [tensor])
    assert "input 'image'[3]" in err.value.message()
    assert err.value.status() == "400"
    assert len(stored(url)) == before


def worker_totals(metrics_dir, name):
    """{pid: total of ``name``} read from each worker's own files, through prometheus_client's collector."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    totals = {}
    for path in Path(metrics_dir).glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as one:
            shutil.copy(path, one)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=one)
            total = sum(s.value for m in registry.collect() for s in m.samples if s.name == name)
        totals[path.stem.split("_", 1)[1]] = total
    return totals


def scrape(port):
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    assert response.status == 200
    return {f.name: f for f in text_string_to_metric_families(text)}


def total(families, family, sample, **labels):
    return sum(
        s.value
        for s in families[family].samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_sum_the_predictions_of_both_workers(served, drawings):
    server, url, metrics_dir = served
    before = scrape(server.port)
    before_workers = worker_totals(metrics_dir, "digits_predictions_total")
    bodies = [harness.predict_body(p) for p in drawings[0]]
    sent = 0
    # New connections until both workers have answered some (each connection is accepted by one worker).
    while sent < 200:
        client = harness.Client(server.port)
        status, _ = client.post(harness.PREDICT_PATH, bodies[sent % len(bodies)])
        client.close()
        assert status == 201
        sent += 1
        if sent >= 20:
            grown = worker_totals(metrics_dir, "digits_predictions_total")
            if sum(1 for pid, v in grown.items() if v > before_workers.get(pid, 0)) >= WORKERS:
                break
    after = scrape(server.port)
    for model in ("keras", "custom"):
        grew = total(after, "digits_predictions", "digits_predictions_total", model=model) - total(
            before, "digits_predictions", "digits_predictions_total", model=model
        )
        assert grew == sent
        conf = total(after, "digits_prediction_confidence", "digits_prediction_confidence_count", model=model) - total(
            before, "digits_prediction_confidence", "digits_prediction_confidence_count", model=model
        )
        assert conf == sent
    agreement = total(after, "digits_model_agreement", "digits_model_agreement_total") - total(
        before, "digits_model_agreement", "digits_model_agreement_total"
    )
    assert agreement == sent
    requests = total(
        after, "digits_http_requests", "digits_http_requests_total", endpoint="api:predict", status="201"
    ) - total(before, "digits_http_requests", "digits_http_requests_total", endpoint="api:predict", status="201")
    assert requests == sent
    grown = worker_totals(metrics_dir, "digits_predictions_total")
    assert sum(1 for pid, v in grown.items() if v > before_workers.get(pid, 0)) == WORKERS, grown
    assert "digits_labels_stored" in after and "digits_http_request_duration_seconds" in after


def test_metrics_refuse_a_request_that_came_through_a_proxy_from_outside(served):
    conn = http.client.HTTPConnection("127.0.0.1", served[0].port, timeout=30)
    conn.request("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    response = conn.getresponse()
    assert response.status == 403
    assert json.loads(response.read())["error"] == "permission_denied"
    conn.close()


def test_tritonclient_example_in_the_readme_runs(served):
    """The README's example, as written, against this server."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```python\n *# tritonclient example\n(.*?)\n *```", readme, re.S)
    code = textwrap.dedent(block[1]).replace("127.0.0.1:8000", f"127.0.0.1:{served[0].port}")
    namespace = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["digits"].shape == (1,)

"""No lost writes under load: gunicorn (the production config) against a fresh PostgreSQL database, on loopback.

A small version of the benchmark's load test, bounded in count and time. Every 201 must name exactly one drawing with
exactly one keras and one custom prediction and nothing else may be written; with one worker SIGKILLed mid-run and
the clients retrying on connection errors, still no drawing may lack a prediction. The first check runs again through
nginx (`make serve`'s stack), as production runs it.
"""

import tempfile
from pathlib import Path

import pytest

from bench import harness
from tests.conftest import POSTGRES_URL, require_service
from tests.nginx_stack import Stack, stack_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REQUESTS = 60
THREADS = 8
WORKERS = 2


@pytest.fixture(scope="module")
def bodies():
    pngs, _labels, _source = harness.canvas_drawings(20)
    return [harness.predict_body(p) for p in pngs]


@pytest.fixture(scope="module")
def served(bodies):
    """A production-like server on a free loopback port, on its own database `digits_load_<pid>`."""
    require_service("PostgreSQL", 5432)
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        with harness.fresh_postgres_database(POSTGRES_URL, "digits_load") as url:
            env = harness.production_env(url, harness.free_port(), WEB_CONCURRENCY=WORKERS)
            with harness.Server(env, Path(tmp) / "gunicorn.log") as server:
                cold = harness.wait_until_answering(server, bodies[0], timeout=240)
                assert cold is not None, server.log()[-4000:]
                assert server.wait_for_workers(WORKERS, 60), server.log()[-4000:]
                yield server, url


@pytest.fixture(scope="module")
def served_through_nginx(bodies):
    """nginx in front of the same gunicorn config (scripts/serve.sh), on its own database `digits_load_nginx_<pid>`."""
    require_service("PostgreSQL", 5432)
    with tempfile.TemporaryDirectory(prefix="load-test-nginx-") as tmp:
        with harness.fresh_postgres_database(POSTGRES_URL, "digits_load_nginx") as url:
            env = stack_env(url, Path(tmp) / "run", Path(tmp), WEB_CONCURRENCY=WORKERS, SERVE_MIGRATE=0)
            stack = Stack(env, Path(tmp) / "serve.log").start()
            try:
                assert harness.wait_until_answering(stack, bodies[0], timeout=240) is not None, stack.log()[-4000:]
                assert stack.wait_for_workers(WORKERS, 60), stack.log()[-4000:]
                yield stack, url
            finally:
                assert stack.stop(), stack.log()[-4000:]


@pytest.mark.parametrize("front", ["gunicorn", "nginx"])
def test_every_answer_is_one_drawing_with_two_predictions(request, bodies, front):
    server, url = request.getfixturevalue("served" if front == "gunicorn" else "served_through_nginx")
    harness.clear_drawings(url)

    run = harness.run_load(server.port, bodies, total=REQUESTS, concurrency=THREADS, deadline_s=120)
    problems, summary = harness.check_writes(url, run)

    assert not run.timed_out
    assert [(r.status, r.error) for r in run.errors] == []
    assert problems == {k: [] for k in problems}
    assert summary["stored"] == summary["answered"] == REQUESTS
    assert summary["drawer_keys"] == THREADS  # each client's drawings under the one drawer cookie it was given


@pytest.mark.parametrize("keys", [False, True], ids=["plain-retries", "idempotency-keys"])
def test_a_worker_killed_mid_run_leaves_no_half_written_drawing(served, bodies, keys):
    server, url = served
    harness.clear_drawings(url)
    before = {p.pid for p in server.workers()}

    run = harness.run_load(
        server.port,
        bodies,
        total=REQUESTS,
        concurrency=THREADS,
        deadline_s=180,
        max_attempts=20,
        kill_after=REQUESTS // 3,
        server=server,
        idempotency_keys=keys,
    )
    problems, summary = harness.check_writes(url, run)

    assert run.killed_pid in before
    assert not run.timed_out
    # Clients retried through the other worker and the replacement: every request got its answer.
    assert [(r.status, r.error) for r in run.errors] == []
    assert problems == {k: [] for k in problems}
    assert summary["answered"] == REQUESTS
    if keys:  # a retry whose first attempt was stored got that drawing back: exactly once
        assert summary["stored"] == REQUESTS
        assert summary["replayed"] <= run.retried
    else:  # a retry whose first attempt was stored stores it again (complete, never half)
        assert REQUESTS <= summary["stored"] <= REQUESTS + run.retried
    # The master replaced the killed worker (ready for the next test).
    assert server.wait_for_workers(WORKERS, 60)
    assert run.killed_pid not in {p.pid for p in server.workers()}

"""A real training job through the real queue and worker (django-tasks' database backend, `manage.py train_worker`),
on SQLite and on PostgreSQL: a few hundred samples, one epoch. And a worker killed mid-job leaves it failed, with no
version made."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench import harness
from recognizer.ml import publishing
from tests.conftest import POSTGRES_URL, require_service

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def env(request, tmp_path):
    if request.param == "postgres":
        require_service("PostgreSQL", 5432)
        admin_url = POSTGRES_URL
    else:
        admin_url = "sqlite://"
    with harness.scratch_database(admin_url, "digits_lifecycle") as url:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CACHE_"))},
            "DJANGO_SETTINGS_MODULE": "digitsite.settings",
            "DATABASE_URL": url,
            "MODEL_STORE_DIR": str(tmp_path / "store"),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        manage(environment, "migrate", "--noinput", "-v", "0")
        yield environment


def manage(env, *args, timeout=600):
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def query(env, sql):
    url = env["DATABASE_URL"]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///").replace("sqlite://", "")) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def queue(env, *options):
    out = manage(env, "train", "--candidate", "--model", "custom", "--no-wait", *options)
    return int(out.split("training job ")[1].split()[0])


def test_a_job_runs_end_to_end_through_the_real_worker(env):
    job = queue(env, "--epochs", "1", "--limit", "300", "--canvas-count", "100")
    assert query(env, f"select status from lifecycle_trainingjob where id = {job}") == [("queued",)]
    started = time.perf_counter()
    manage(env, "train_worker", "--batch", "--no-startup-delay")
    seconds = time.perf_counter() - started
    [(status, versions, error, options)] = query(
        env, f"select status, versions, error, options from lifecycle_trainingjob where id = {job}"
    )
    versions = json.loads(versions) if isinstance(versions, str) else versions
    assert (status, versions, error) == ("succeeded", ["custom-6"], ""), (status, versions, error)
    [(state, files, metrics, training)] = query(
        env, "select status, files, metrics, training from lifecycle_modelversion where name = 'custom' and version = 6"
    )
    files, metrics, training = (json.loads(v) if isinstance(v, str) else v for v in (files, metrics, training))
    assert state == "candidate"
    path = Path(env["MODEL_STORE_DIR"]) / files["file"]
    assert publishing.sha256_file(path) == files["sha256"]
    assert set(metrics["sets"]) == {"mnist_test", "unipen_validation", "canvas"}  # no labelled drawings yet
    assert metrics["sets"]["mnist_test"]["count"] == 10_000 and len(metrics["sets"]["mnist_test"]["per_class"]) == 10
    assert metrics["baseline"]["version"] == 5 and metrics["baseline"]["sets"]["mnist_test"]["accuracy"] > 95
    assert training["epochs"] == 1 and training["data"]["mnist"] == 300 and training["duration_seconds"] > 0
    assert query(env, "select status from django_tasks_database_dbtaskresult") == [("SUCCESSFUL",)]
    print(f"\none job (custom, 300 digits, 1 epoch, evaluation on every set): {seconds:.1f}s in the worker")


def test_a_worker_killed_mid_job_leaves_it_failed_and_no_version(env):
    job = queue(env, "--epochs", "30", "--limit", "20000", "--canvas-count", "100")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "train_worker", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while query(env, f"select status from lifecycle_trainingjob where id = {job}") != [("running",)]:
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert query(env, f"select status from lifecycle_trainingjob where id = {job}") == [("running",)]
    out = manage(env, "train_worker", "--batch", "--no-startup-delay")
    assert "marked 1 training job(s) failed" in out
    [(status, error, active)] = query(env, f"select status, error, active from lifecycle_trainingjob where id = {job}")
    assert status == "failed" and "stopped" in error and active is None
    assert query(env, "select count(*) from lifecycle_modelversion where version > 5") == [(0,)]
    store = Path(env["MODEL_STORE_DIR"])
    assert not store.exists() or not [p for p in store.iterdir() if not p.name.startswith(".writing-")]
    assert queue(env, "--epochs", "1", "--limit", "300") > job  # the slot is free again

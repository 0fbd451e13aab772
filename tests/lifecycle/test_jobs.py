"""Training jobs: queued on the database task queue (django-tasks), one at a time, cancelled, failed when their worker
died, versions written last. The job's body runs here with the trainer stubbed; test_worker.py runs the real one."""

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from recognizer.lifecycle import jobs, store, trainer
from recognizer.lifecycle.models import ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db

TRAIN = "/api/models/train/"
BODY = {"models": ["custom"], "epochs": 1, "limit": 3000, "include_labeled": True}


def test_a_job_is_queued_in_the_database_and_one_at_a_time(staff_api):
    response = staff_api.post(TRAIN, BODY, format="json")
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["id"] and job["options"]["models"] == ["custom"]
    task = DBTaskResult.objects.get(id=TrainingJob.objects.get(pk=job["id"]).task_id)
    assert task.status == "READY" and task.task_path == "recognizer.lifecycle.jobs.train"
    assert task.queue_name == "training" and task.args_kwargs["args"] == [job["id"]]

    second = staff_api.post(TRAIN, BODY, format="json")
    assert second.status_code == 409
    assert second.json()["error"] == "training_busy" and "one training runs at a time" in second.json()["detail"]
    assert second.json()["job"]["id"] == job["id"]

    got = staff_api.get(f"{TRAIN}{job['id']}/").json()
    assert got["status"] == "queued" and got["versions"] == [] and got["error"] is None

    cancelled = staff_api.delete(f"{TRAIN}{job['id']}/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert staff_api.delete(f"{TRAIN}{job['id']}/").status_code == 409
    jobs.run(job["id"])  # the worker reaching the cancelled job does nothing
    assert TrainingJob.objects.get(pk=job["id"]).status == "cancelled"
    assert staff_api.post(TRAIN, BODY, format="json").status_code == 202  # the slot is free again


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"models": []},
        {"models": ["nope"]},
        {"models": ["custom", "custom"]},
        {"models": "custom"},
        {"models": ["custom"], "epochs": 0},
        {"models": ["custom"], "limit": "many"},
        {"models": ["custom"], "include_labeled": "perhaps"},
    ],
)
def test_bad_training_requests_are_json_400(staff_api, body):
    response = staff_api.post(TRAIN, body, format="json")
    assert response.status_code == 400 and response.json()["error"]
    assert not TrainingJob.objects.exists()


def test_training_needs_staff(plain_user):
    assert APIClient().post(TRAIN, BODY, format="json").status_code == 401
    client = APIClient()
    client.force_authenticate(plain_user)
    assert client.post(TRAIN, BODY, format="json").status_code == 403
    assert client.get(f"{TRAIN}1/").status_code == 403


def test_unknown_job_is_404(staff_api):
    assert staff_api.get(f"{TRAIN}999/").status_code == 404
    assert staff_api.delete(f"{TRAIN}999/").status_code == 404


def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def running_job(worker, heartbeat):
    return TrainingJob.objects.create(
        status="running", options=BODY, worker=worker, heartbeat=heartbeat, started=timezone.now()
    )


def test_a_job_whose_worker_died_is_marked_failed_and_frees_the_slot(staff_api):
    job = running_job(f"{socket.gethostname()}:{dead_pid()}", timezone.now())
    assert jobs.reap(at_worker_start=True) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "stopped" in job.error and job.active is None and job.finished
    assert staff_api.post(TRAIN, BODY, format="json").status_code == 202


def test_a_job_with_no_heartbeat_for_a_minute_is_failed_on_any_host():
    alive = running_job(f"{socket.gethostname()}:{os.getpid()}", timezone.now())
    stale = TrainingJob.objects.create(
        status="running",
        options=BODY,
        worker="elsewhere:1",
        heartbeat=timezone.now() - timedelta(seconds=jobs.STALE_SECONDS + 5),
        active=None,
    )
    assert jobs.reap() == 1
    alive.refresh_from_db()
    stale.refresh_from_db()
    assert (alive.status, stale.status) == ("running", "failed")


def queued(options=None):
    return TrainingJob.objects.create(options=options or BODY)


def test_the_job_body_records_progress_and_the_versions_made(monkeypatch, make_version):
    job = queued()
    seen = []

    def fake(options, *, who, user, report):
        report({"stage": "training", "model": "custom", "epoch": 1, "epochs": 1, "loss": 0.5})
        seen.append(TrainingJob.objects.get(pk=job.pk).status)
        return [make_version("custom", 6)]

    monkeypatch.setattr(trainer, "train_candidates", fake)
    assert jobs.run(job.pk)["status"] == "succeeded"
    job.refresh_from_db()
    assert seen == ["running"] and job.status == "succeeded" and job.versions == ["custom-6"]
    assert job.progress["loss"] == 0.5 and job.worker.endswith(f":{os.getpid()}") and job.active is None


def test_a_failing_job_is_failed_with_its_error(monkeypatch):
    job = queued()

    def broken(options, **kwargs):
        raise ValueError("no data")

    monkeypatch.setattr(trainer, "train_candidates", broken)
    with pytest.raises(ValueError):
        jobs.run(job.pk)  # the queue records its own failure too
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "ValueError: no data"


def test_a_running_job_stops_at_its_next_progress_report_when_cancelled(monkeypatch):
    job = queued()

    def long(options, *, who, user, report):
        report({"stage": "data"})
        jobs.cancel(TrainingJob.objects.get(pk=job.pk))  # DELETE while it runs
        report({"stage": "training", "epoch": 1})
        raise AssertionError("not reached")

    monkeypatch.setattr(trainer, "train_candidates", long)
    assert jobs.run(job.pk)["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.cancel_requested


def test_a_version_is_registered_only_after_its_files_are_written(monkeypatch, make_version):
    from recognizer.ml import registry

    spec = registry.get("custom")

    def save_then_crash(model, path, metadata):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(type(spec), "resolve", lambda self, what: save_then_crash if what == "save" else None)
    before = ModelVersion.objects.count()
    with pytest.raises(OSError):
        store.write_version("custom", object(), metrics={}, training={})
    assert ModelVersion.objects.count() == before
    assert list(store.store_dir().iterdir()) == []  # the temporary folder went with the crash

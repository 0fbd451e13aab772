"""Training jobs on the task queue (django-tasks with its database backend: jobs live in the database, so they
survive restarts of the web servers and the worker, on SQLite and PostgreSQL alike).

- :func:`start` records a :class:`TrainingJob` and enqueues the task :data:`train` on the "training" queue. One job at a
  time: a unique constraint on ``active`` (True while queued or running) refuses a second one (:class:`Busy`, 409).
- :func:`run` is the task's body, in the worker: at low priority (nice), with a heartbeat every few seconds, checking
  for a cancel at each progress report. Versions are written last, each in a transaction (``store.write_version``).
- :func:`cancel` cancels a queued job at once and asks a running one to stop.
- :func:`reap` marks failed the running jobs whose worker is gone: at a worker's start (its own host's dead pids) and
  whenever jobs are read (any host, no heartbeat for ``STALE_SECONDS``).
"""

from __future__ import annotations

import datetime
import os
import socket
import threading

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks import task

from recognizer.lifecycle.models import TrainingJob

Status = TrainingJob.Status
HEARTBEAT_SECONDS = 5
STALE_SECONDS = 60
NICE = 10


class Busy(Exception):
    def __init__(self, job: TrainingJob):
        super().__init__(f"training job {job.pk} is {job.status}: one training at a time")
        self.job = job


class Cancelled(Exception):
    pass


def _who(user) -> str:
    return user.get_username() if getattr(user, "pk", None) else ""


def start(options: dict, user=None) -> TrainingJob:
    reap()
    try:
        with transaction.atomic():
            job = TrainingJob.objects.create(
                options=options, user=user if getattr(user, "pk", None) else None, who=_who(user)
            )
    except IntegrityError:
        active = TrainingJob.objects.filter(active=True).first()
        if active is None:  # it finished in between: try once more
            return start(options, user)
        raise Busy(active) from None
    try:
        result = train.enqueue(job.pk)
    except Exception as exc:
        finish(job.pk, Status.FAILED, error=f"could not enqueue: {exc}")
        raise
    TrainingJob.objects.filter(pk=job.pk).update(task_id=str(result.id))
    job.refresh_from_db()
    return job


def finish(job_id: int, status: str, error: str = "", versions=None) -> None:
    fields = {"status": status, "active": None, "finished": timezone.now(), "error": error[:10_000]}
    if versions is not None:
        fields["versions"] = versions
    TrainingJob.objects.filter(pk=job_id, status__in=TrainingJob.ACTIVE).update(**fields)


def cancel(job: TrainingJob) -> TrainingJob:
    if job.status == Status.QUEUED:
        finish(job.pk, Status.CANCELLED, error="cancelled before it started")
    elif job.status == Status.RUNNING:
        TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(at_worker_start: bool = False) -> int:
    """Mark failed the running jobs whose worker is gone; returns how many."""
    now = timezone.now()
    gone = []
    for job in TrainingJob.objects.filter(status=Status.RUNNING):
        host, _, pid = job.worker.rpartition(":")
        dead_here = host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))
        stale = job.heartbeat is None or now - job.heartbeat > datetime.timedelta(seconds=STALE_SECONDS)
        if (at_worker_start and dead_here) or stale or dead_here:
            gone.append(job)
    for job in gone:
        finish(job.pk, Status.FAILED, error=f"the worker {job.worker or '?'} stopped while the job ran")
        _fail_task(job.task_id)
    return len(gone)


def _fail_task(task_id: str) -> None:
    if not task_id:
        return
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(id=task_id, status="RUNNING").update(status="FAILED", finished_at=timezone.now())


def lower_priority() -> None:
    """Training yields to serving: nice, and one BLAS/OpenMP thread (the worker's environment also sets them)."""
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < NICE:
            os.nice(NICE - current)
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl is a requirement
        pass


def run(job_id: int) -> dict:
    """The task's body: claim the job, train, record the outcome."""
    from recognizer.lifecycle import trainer

    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Status.QUEUED:
            return {"job": job_id, "skipped": job.status if job else "missing"}
        job.status, job.started, job.heartbeat, job.worker = (
            Status.RUNNING,
            timezone.now(),
            timezone.now(),
            worker_name(),
        )
        job.save(update_fields=["status", "started", "heartbeat", "worker"])
    lower_priority()
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                close_old_connections()
                TrainingJob.objects.filter(pk=job_id).update(heartbeat=timezone.now())
        finally:
            connection.close()

    beater = threading.Thread(target=beat, name=f"training-job-{job_id}-heartbeat", daemon=True)
    beater.start()

    def report(progress: dict) -> None:
        TrainingJob.objects.filter(pk=job_id).update(progress=progress, heartbeat=timezone.now())
        if TrainingJob.objects.filter(pk=job_id, cancel_requested=True).exists():
            raise Cancelled()

    made = []
    try:
        made = trainer.train_candidates(job.options, who=job.who, user=job.user, report=report)
    except Cancelled:
        finish(job_id, Status.CANCELLED, error="cancelled while it ran", versions=[v.label for v in made])
        return {"job": job_id, "status": "cancelled"}
    except Exception as exc:
        finish(job_id, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        stop.set()
        beater.join()
    finish(job_id, Status.SUCCEEDED, versions=[v.label for v in made])
    return {"job": job_id, "status": "succeeded", "versions": [v.label for v in made]}


def describe(job: TrainingJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "options": job.options,
        "progress": job.progress,
        "versions": job.versions,
        "error": job.error or None,
        "cancel_requested": job.cancel_requested,
        "who": job.who,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "worker": job.worker or None,
    }


@task(queue_name="training")
def train(job_id: int) -> dict:
    """The queue's task: run training job ``job_id`` (:func:`run`) in the worker."""
    return run(job_id)

"""python manage.py train_worker: the task queue's worker (django-tasks' database worker, ``db_worker``), every queue,
after marking failed the training jobs a dead worker of this host left running. Beside the queue it counts the
drawings stored since the last count into the accuracy rollup every ``FOLD_SECONDS`` (``Rollup.fold``, what
``refresh_stats --follow`` does), so the one worker that ``make run`` and ``make serve`` start keeps the dashboard
within a minute of the traffic."""

import logging
import threading

from django.db import close_old_connections
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from recognizer.lifecycle import jobs
from recognizer.models import Rollup

logger = logging.getLogger(__name__)
FOLD_SECONDS = 30


def count_new_drawings(stop, every=FOLD_SECONDS):
    """Fold new drawings into the rollup every ``every`` seconds until ``stop`` is set; a failure (the database
    restarting) is logged and tried again next time."""
    while not stop.wait(every):
        close_old_connections()  # a connection the database dropped is replaced, not reused
        try:
            Rollup.fold()
        except Exception as exc:  # never stop counting for good
            logger.warning("could not count new drawings into the rollup (%s: %s)", type(exc).__name__, exc)


class Command(DBWorkerCommand):
    help = "Run the task queue's worker (training jobs); marks failed the jobs a killed worker left running."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(queue_name="*", reload=False)

    def handle(self, *args, **options):
        threading.Thread(target=count_new_drawings, args=(threading.Event(),), daemon=True).start()
        reaped = jobs.reap(at_worker_start=True)
        if reaped:
            self.stdout.write(f"marked {reaped} training job(s) failed: their worker had stopped")
        return super().handle(*args, **options)

"""python manage.py train_worker: the task queue's worker (django-tasks' database worker, ``db_worker``), every queue,
after marking failed the training jobs a dead worker of this host left running."""

from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from recognizer.lifecycle import jobs


class Command(DBWorkerCommand):
    help = "Run the task queue's worker (training jobs); marks failed the jobs a killed worker left running."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(queue_name="*", reload=False)

    def handle(self, *args, **options):
        reaped = jobs.reap(at_worker_start=True)
        if reaped:
            self.stdout.write(f"marked {reaped} training job(s) failed: their worker had stopped")
        return super().handle(*args, **options)

"""`manage.py bench`: the benchmark in bench/run.py (see its docstring and the README)."""

import argparse

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Benchmark in-process and over HTTP (gunicorn, PostgreSQL) against the baseline; writes bench/RESULTS.md."

    def add_arguments(self, parser):
        from bench import run

        run.add_arguments(parser)

    def handle(self, *args, **options):
        from bench import run

        status = run.run(argparse.Namespace(**options), say=lambda msg="": self.stdout.write(str(msg)))
        if status:
            raise CommandError("the no-lost-writes check failed (see the table above)")

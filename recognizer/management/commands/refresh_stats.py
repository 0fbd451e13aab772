"""Rebuild every table derived from the drawings: the answer columns on each drawing and the accuracy rollup."""

import time

from django.core.management.base import BaseCommand, CommandError

from recognizer.models import Rollup, fill_derived


class Command(BaseCommand):
    help = (
        "Rebuild the tables derived from the drawings (idempotent, safe while traffic runs): fill each drawing's "
        "answer columns where missing, then recount the accuracy rollup from every drawing. With --pending, only "
        "count the drawings stored since the last count; with --follow SECONDS, keep doing that (the worker that "
        "keeps the dashboard within a minute of the traffic). Bulk loads and restores run it once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pending", action="store_true", help="Only count drawings not counted yet.")
        parser.add_argument(
            "--follow",
            type=float,
            metavar="SECONDS",
            help="Count new drawings every SECONDS (e.g. 30) until interrupted; implies --pending.",
        )

    def handle(self, *args, pending, follow, **options):
        if follow is not None and follow <= 0:
            raise CommandError("--follow takes a positive number of seconds.")
        if follow is not None:
            self.stdout.write(f"Counting new drawings every {follow:g} s (Ctrl-C stops).")
            try:
                while True:
                    counted = Rollup.fold()
                    if counted:
                        self.stdout.write(f"counted {counted} drawing(s)")
                    time.sleep(follow)
            except KeyboardInterrupt:
                return
        t0 = time.perf_counter()
        if pending:
            counted = Rollup.fold()
            self.stdout.write(f"Counted {counted} new drawing(s) in {time.perf_counter() - t0:.1f} s.")
            return
        filled = fill_derived()
        Rollup.rebuild()
        counted = Rollup.fold()  # any stored while the rebuild ran
        self.stdout.write(
            f"Filled the answer columns of {filled} drawing(s), rebuilt the accuracy rollup"
            f"{f' and counted {counted} more' if counted else ''} in {time.perf_counter() - t0:.1f} s."
        )

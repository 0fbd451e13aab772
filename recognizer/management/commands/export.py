"""manage.py export: labeled drawings as training data (CSV, IDX, NPZ or a zip of PNGs)."""

import time

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from recognizer.fields import FlexibleDateTimeField
from recognizer.staff import export


def when(text):
    """ISO date or date-time; a date means its midnight in the server's time zone. Read by the API's field for
    ``created_after``/``created_before`` (``FlexibleDateTimeField``), so both accept and refuse the same dates."""
    try:
        return FlexibleDateTimeField().run_validation(text)
    except ValidationError:
        raise CommandError(f"not a date or date-time: {text!r} (use 2026-01-31 or 2026-01-31T12:00)") from None


class Progress:
    """A one-line progress bar on the command's stderr (when it is a terminal, or when asked)."""

    def __init__(self, stream, enabled):
        self.stream, self.enabled, self.last = stream, enabled, 0.0

    def __call__(self, done, total):
        now = time.monotonic()
        if not self.enabled or (done < total and now - self.last < 0.2):
            return
        self.last = now
        width = 30
        filled = width if not total else width * done // total
        percent = 100 if not total else 100 * done // total
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {percent:3d}%", ending="")
        if done >= total:
            self.stream.write("")
        self.stream.flush()


class Command(BaseCommand):
    help = "Export labeled drawings as training data (staff labels unless --include-user-labels)."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=export.FORMATS)
        parser.add_argument(
            "--out",
            required=True,
            help="File to write. For idx: a path prefix (or a directory) for the two .gz files, or a .zip.",
        )
        parser.add_argument("--name", default=None, help="idx only: file name prefix inside a directory or zip.")
        parser.add_argument("--include-user-labels", action="store_true", help="Also labels from the person who drew.")
        parser.add_argument("--only-disagreements", action="store_true", help="Only where the two models disagreed.")
        parser.add_argument("--created-after", type=when, help="Drawings created at or after this date/time.")
        parser.add_argument("--created-before", type=when, help="Drawings created before this date/time.")
        parser.add_argument("--progress", action="store_true", help="Show the progress bar even when not a terminal.")

    def handle(self, *args, **options):
        started = time.perf_counter()
        selection = export.select(
            include_user_labels=options["include_user_labels"],
            only_disagreements=options["only_disagreements"],
            created_after=options["created_after"],
            created_before=options["created_before"],
        )
        progress = Progress(self.stderr, options["progress"] or self.stderr.isatty())
        try:
            paths = export.write(options["format"], selection, options["out"], progress=progress, name=options["name"])
        except (OSError, export.ExportError) as exc:
            raise CommandError(f"export failed: {exc}") from exc
        size = sum(p.stat().st_size for p in paths)
        labels = "staff and user labels" if options["include_user_labels"] else "staff labels"
        skipped = export.skipped_note(selection)
        self.stdout.write(
            f"Exported {len(selection) - selection.skipped} drawings ({labels}) as {options['format']} to "
            f"{', '.join(str(p) for p in paths)}: {size / 1e6:.2f} MB in {time.perf_counter() - started:.1f} s"
            + (f"; {skipped}" if skipped else "")
        )

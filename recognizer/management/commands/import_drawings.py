"""manage.py import_drawings PATH [--format auto|png|csv|idx|strokes] [--labels PATH] [--limit N] [--user NAME]"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognizer.staff import importing


class Command(BaseCommand):
    help = (
        "Import labeled digits a team already has -- a folder of images named or foldered by label, a Kaggle-style "
        "CSV, an IDX pair or a strokes JSONL -- as staff-labeled drawings (source 'import'), drawn the way the page "
        "draws and answered by both models."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="folder of images, .csv, IDX images file, or .jsonl(.gz) of strokes")
        parser.add_argument("--format", choices=importing.FORMATS, default="auto")
        parser.add_argument("--labels", help="IDX labels file (default: the images file's name with 'labels')")
        parser.add_argument("--limit", type=int, default=None, help="import at most N digits")
        parser.add_argument("--user", help="staff user recorded as the labeler (default: none)")
        parser.add_argument(
            "--skip-validation-writers",
            action="store_true",
            help="strokes: leave out the UNIPEN writers held out for validation, so training never sees them",
        )
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, **opts):
        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        user = None
        if opts["user"]:
            try:
                user = get_user_model().objects.get(username=opts["user"], is_staff=True)
            except get_user_model().DoesNotExist:
                raise CommandError(f"no staff user {opts['user']!r}") from None
        summary = importing.Summary()
        try:
            items = importing.read_items(
                Path(opts["path"]),
                opts["format"],
                summary.skipped,
                labels=Path(opts["labels"]) if opts["labels"] else None,
                skip_validation_writers=opts["skip_validation_writers"],
            )
            importing.import_items(
                items,
                labeled_by=user,
                limit=opts["limit"],
                batch_size=max(1, opts["batch_size"]),
                progress=lambda s: self.stdout.write(
                    f"  imported {s.imported} ({s.imported / max(s.seconds, 1e-9):.0f}/s)"
                    + (f", skipped {sum(s.skipped.values())}" if s.skipped else "")
                ),
                summary=summary,
            )
        except importing.ImportFormatError as exc:  # raised inside the import's transaction: nothing was stored
            raise CommandError(f"{exc} (nothing was imported)") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {summary.imported} drawings in {summary.seconds:.1f}s "
                "(source 'import', labeled by staff"
                + (f" as {user.get_username()}" if user else "")
                + ")"
                + (f", ids {summary.first_id}-{summary.last_id}" if summary.imported else "")
            )
        )
        self.stdout.write("  by label: " + "  ".join(f"{d}:{summary.by_label.get(d, 0)}" for d in range(10)))
        for reason, count in summary.skipped.most_common():
            self.stdout.write(f"  skipped {count}: {reason}")

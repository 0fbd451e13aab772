"""Delete old unlabeled drawings (and their predictions): a dry run unless --yes, in batches, with a summary."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from recognizer.models import Drawing, Prediction


class Command(BaseCommand):
    help = "Delete unlabeled drawings older than DAYS days, with their predictions. Dry run unless --yes."

    def add_arguments(self, parser):
        parser.add_argument("--unlabeled-older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--yes", "--delete", action="store_true", dest="delete", help="Really delete.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Drawings deleted per transaction.")

    def handle(self, *args, unlabeled_older_than, delete, batch_size, **options):
        if unlabeled_older_than < 0 or batch_size < 1:
            raise CommandError("DAYS must be >= 0 and --batch-size >= 1.")
        now = timezone.now()
        try:
            cutoff = now - timedelta(days=unlabeled_older_than)
        except OverflowError:  # before the year 1 (or past timedelta's own limit): no date to compare with
            most = (now - datetime.min.replace(tzinfo=UTC)).days
            raise CommandError(
                f"--unlabeled-older-than {unlabeled_older_than} days reaches back before the year 1; "
                f"give at most {most} days."
            ) from None
        old = Drawing.objects.unlabeled().filter(created__lt=cutoff)
        drawings = old.count()
        predictions = Prediction.objects.filter(drawing__in=old).count()
        what = f"{drawings} unlabeled drawings created before {cutoff:%Y-%m-%d %H:%M} UTC ({predictions} predictions)"
        if not delete:
            self.stdout.write(f"Dry run: would delete {what}. Add --yes to delete them.")
            return
        deleted_drawings = deleted_predictions = batches = 0
        while True:
            # Small transactions: never one long lock over the table, and an interrupted run keeps what it did.
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                _, counts = Drawing.objects.filter(pk__in=ids, label__isnull=True).delete()
            deleted_drawings += counts.get("recognizer.Drawing", 0)
            deleted_predictions += counts.get("recognizer.Prediction", 0)
            batches += 1
        self.stdout.write(
            f"Deleted {deleted_drawings} unlabeled drawings created before {cutoff:%Y-%m-%d %H:%M} UTC "
            f"and {deleted_predictions} predictions in {batches} batches."
        )

import json

from django.core.management.base import BaseCommand

from recognizer.staff import accuracy


class Command(BaseCommand):
    help = "Print production accuracy of both models over labeled drawings (the dashboard's numbers)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--include-user-labels",
            action="store_true",
            help="Also count labels people gave their own drawings (default: staff labels only).",
        )
        parser.add_argument(
            "--include-imported",
            action="store_true",
            help="Also count drawings brought in by import_drawings (default: production drawings only).",
        )
        parser.add_argument(
            "--days",
            choices=["7", "30", "90", "all"],
            default="all",
            help="Only drawings made in the last 7, 30 or 90 days, today included (default: all time).",
        )
        parser.add_argument("--json", action="store_true", help="Print the numbers as JSON (same as /api/accuracy/).")

    def handle(self, *args, **options):
        numbers = accuracy.compute(
            include_user_labels=options["include_user_labels"],
            include_imported=options["include_imported"],
            days=options["days"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(numbers, indent=2))
        else:
            self.stdout.write(accuracy.format_table(numbers))

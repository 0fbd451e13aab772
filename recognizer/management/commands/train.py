"""python manage.py train [--model keras|custom|all] [--epochs N] [--seed S] [--no-pen | --pen-renders K --pen-weight W]
[--with-labeled [--weight W]]

``--candidate [--limit N] [--no-wait]``: the product's way (issue 26): a training job on the task queue (a worker,
``make worker``, runs it), which registers candidate versions in the database with their evaluation; models/ is left
as it is."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognizer.ml import registry
from recognizer.staff import export


def labeled_examples(weight: float, include_user_labels: bool = False):
    """Labeled drawings' 28x28 model inputs as extra examples, minus the held-out split."""
    from recognizer.ml.augmentation import Extra

    selection = export.select(include_user_labels=include_user_labels)
    x, y, _ = export.arrays(selection, "train")
    held_out = len(selection) - len(y)
    return (Extra(x, y, weight) if len(y) else None), held_out


class Command(BaseCommand):
    help = (
        "Train the digit models from scratch on augmented MNIST plus the UNIPEN training writers' pen digits "
        "and publish them to models/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=[*registry.NAMES, "all"], default="all")
        parser.add_argument("--epochs", type=int, default=None, help="default: 15 for each model")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--canvas-count", type=int, default=10_000, help="canvas-set size for the manifest")
        parser.add_argument("--no-pen", action="store_true", help="MNIST only: leave out the UNIPEN pen digits")
        parser.add_argument(
            "--pen-renders", type=int, default=None, help="times each pen digit is drawn per epoch (default 3)"
        )
        parser.add_argument("--pen-weight", type=float, default=None, help="sample weight of pen digits (default 1.5)")
        parser.add_argument("--workers", type=int, default=None, help="processes building the epochs (default: CPUs)")
        parser.add_argument("--with-labeled", action="store_true", help="add staff-labeled drawings to the data")
        parser.add_argument("--weight", type=float, default=1.0, help="sample weight of labeled drawings")
        parser.add_argument(
            "--include-user-labels", action="store_true", help="with --with-labeled: also labels given by drawers"
        )
        parser.add_argument(
            "--candidate", action="store_true", help="queue a training job that registers candidate versions"
        )
        parser.add_argument("--limit", type=int, default=None, help="with --candidate: at most N MNIST digits")
        parser.add_argument("--no-wait", action="store_true", help="with --candidate: print the job's id and return")

    def handle(self, *args, **opts):
        from recognizer.ml import training

        if opts["epochs"] is not None and opts["epochs"] < 1:
            raise CommandError("--epochs must be at least 1")
        names = None if opts["model"] == "all" else (opts["model"],)
        if opts["candidate"]:
            return self.candidate(list(names or registry.NAMES), opts)
        extra = None
        if opts["with_labeled"]:
            if opts["weight"] <= 0:
                raise CommandError("--weight must be positive")
            extra, held_out = labeled_examples(opts["weight"], opts["include_user_labels"])
            count = 0 if extra is None else len(extra.x)
            self.stdout.write(
                f"adding {count} labeled drawings (weight {opts['weight']}); "
                f"{held_out} held out for `evaluate` (every {export.HOLDOUT_EVERY}th id)"
            )
        pen = not opts["no_pen"]
        if pen and (opts["pen_renders"] is not None or opts["pen_weight"] is not None):
            renders = training.PEN_RENDERS_PER_EPOCH if opts["pen_renders"] is None else opts["pen_renders"]
            weight = training.PEN_WEIGHT if opts["pen_weight"] is None else opts["pen_weight"]
            if renders < 1 or weight <= 0:
                raise CommandError("--pen-renders must be at least 1 and --pen-weight positive")
            pen = training.pen_training_set(renders, weight)
        started = time.perf_counter()
        entries = training.train_models(
            names,
            epochs=opts["epochs"],
            seed=opts["seed"],
            models_dir=settings.MODELS_DIR,
            extra=extra,
            canvas_count=opts["canvas_count"],
            progress=lambda msg: self.stdout.write(msg),
            pen=pen,
            workers=opts["workers"],
        )
        self.stdout.write(self.style.SUCCESS("\nSummary"))
        for e in entries.values():
            self.stdout.write(
                f"  {e['file']:<18} UNIPEN validation {e['unipen_validation_accuracy']:6.2f}%"
                f"   MNIST test {e['mnist_test_accuracy']:6.2f}%   canvas {e['canvas_accuracy']:6.2f}%"
                f"   {e['parameters']:,} parameters, {e['epochs']} epochs, seed {e['seed']},"
                f" {e['training_seconds']:.0f}s"
            )
        self.stdout.write(
            f"  total {time.perf_counter() - started:.0f}s; manifest: {settings.MODELS_DIR}/manifest.json"
        )
        from recognizer.lifecycle import store  # what is served is what the database says: register what was published

        for version in store.ensure_registered():
            self.stdout.write(f"  registered {version.name}-{version.version} as {version.status}")

    def candidate(self, names, opts):
        """Queue a training job (``recognizer.lifecycle.jobs``) and follow it until it ends (unless --no-wait)."""
        from recognizer.lifecycle import jobs
        from recognizer.lifecycle.models import TrainingJob

        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        options = {
            "models": names,
            "epochs": opts["epochs"],
            "limit": opts["limit"],
            "include_labeled": opts["with_labeled"],
            "labeled_weight": opts["weight"],
            "pen": not opts["no_pen"],
            "seed": opts["seed"],
            "canvas_count": min(opts["canvas_count"], 10_000),
        }
        try:
            job = jobs.start(options)
        except jobs.Busy as exc:
            raise CommandError(f"{exc}; follow it with GET /api/models/train/{exc.job.pk}/") from None
        self.stdout.write(f"training job {job.pk} queued (a worker runs it: `make worker`)")
        if opts["no_wait"]:
            return
        last = None
        while True:
            job.refresh_from_db()
            message = job.progress.get("message")
            if message and message != last:
                self.stdout.write(f"  [{job.status}] {message}")
                last = message
            if job.status not in TrainingJob.ACTIVE:
                break
            jobs.reap()
            time.sleep(1)
        if job.status != TrainingJob.Status.SUCCEEDED:
            raise CommandError(f"training job {job.pk} {job.status}: {job.error}")
        self.stdout.write(self.style.SUCCESS(f"training job {job.pk} succeeded: {', '.join(job.versions)}"))

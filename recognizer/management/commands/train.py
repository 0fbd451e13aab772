"""python manage.py train [--model keras|custom|all] [--epochs N] [--seed S] [--no-pen | --pen-renders K --pen-weight W]
[--with-labeled [--weight W]]"""

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

    def handle(self, *args, **opts):
        from recognizer.ml import training

        if opts["epochs"] is not None and opts["epochs"] < 1:
            raise CommandError("--epochs must be at least 1")
        names = None if opts["model"] == "all" else (opts["model"],)
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

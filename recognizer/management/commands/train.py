"""python manage.py train [--model keras|custom|all] [--epochs N] [--seed S] [--with-labeled [--weight W]]"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def labeled_examples(weight: float):
    """Staff-labeled drawings as extra training examples (their stored 28x28 model inputs)."""
    import numpy as np

    from recognizer.models import Drawing
    from recognizer.training import Extra

    rows = list(Drawing.objects.labeled().values_list("model_input", "label"))
    if not rows:
        return None
    x = np.stack([np.frombuffer(bytes(b), np.uint8).reshape(28, 28) for b, _ in rows])
    y = np.array([label for _, label in rows], np.uint8)
    return Extra(x, y, weight)


class Command(BaseCommand):
    help = "Train the digit models from scratch on augmented MNIST and publish them to models/."

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=["keras", "custom", "all"], default="all")
        parser.add_argument("--epochs", type=int, default=None, help="default: keras 15, custom 20")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--canvas-count", type=int, default=10_000, help="canvas-set size for the manifest")
        parser.add_argument("--with-labeled", action="store_true", help="add staff-labeled drawings to the data")
        parser.add_argument("--weight", type=float, default=1.0, help="sample weight of labeled drawings")

    def handle(self, *args, **opts):
        from recognizer import training

        if opts["epochs"] is not None and opts["epochs"] < 1:
            raise CommandError("--epochs must be at least 1")
        names = ("keras", "custom") if opts["model"] == "all" else (opts["model"],)
        extra = None
        if opts["with_labeled"]:
            extra = labeled_examples(opts["weight"])
            count = 0 if extra is None else len(extra.x)
            self.stdout.write(f"adding {count} staff-labeled drawings (weight {opts['weight']})")
        started = time.perf_counter()
        entries = training.train_models(
            names,
            epochs=opts["epochs"],
            seed=opts["seed"],
            models_dir=settings.MODELS_DIR,
            extra=extra,
            canvas_count=opts["canvas_count"],
            progress=lambda msg: self.stdout.write(msg),
        )
        self.stdout.write(self.style.SUCCESS("\nSummary"))
        for e in entries.values():
            self.stdout.write(
                f"  {e['file']:<18} MNIST test {e['mnist_test_accuracy']:6.2f}%   canvas {e['canvas_accuracy']:6.2f}%"
                f"   {e['parameters']:,} parameters, {e['epochs']} epochs, seed {e['seed']},"
                f" {e['training_seconds']:.0f}s"
            )
        self.stdout.write(
            f"  total {time.perf_counter() - started:.0f}s; manifest: {settings.MODELS_DIR}/manifest.json"
        )

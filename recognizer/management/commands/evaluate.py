"""python manage.py evaluate: MNIST test, the canvas-style set and the UNIPEN validation writers."""

from __future__ import annotations

import time

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand

from recognizer.ml import registry


def format_confusion(confusion) -> str:
    confusion = np.asarray(confusion)
    lines = ["      pred " + "".join(f"{d:>6}" for d in range(10))]
    for true, row in enumerate(confusion):
        lines.append(f"  true {true}  " + "".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Evaluate the committed models: MNIST test (per class, confusion), the canvas-style set and real pen digits "
        "by the UNIPEN validation writers (by class and by site)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=[*registry.NAMES, "all"], default="all")
        parser.add_argument("--canvas-count", type=int, default=10_000, help="canvas-style drawings (max 10000)")
        parser.add_argument("--canvas-seed", type=int, default=None)

    def handle(self, *args, **opts):
        from recognizer.ml import canvas_eval, publishing, training

        names = registry.NAMES if opts["model"] == "all" else (opts["model"],)
        manifest = publishing.read_manifest(settings.MODELS_DIR)
        _, _, xt, yt = training.load_data()
        fns = {}
        for name in names:
            entry = manifest["models"][name]
            fn = publishing.predict_fn(name, publishing.load_published(settings.MODELS_DIR, name))
            fns[name] = fn
            t0 = time.perf_counter()
            res = training.evaluate_predictions(fn(xt), yt)
            self.stdout.write(self.style.MIGRATE_HEADING(f"\n{name}-{entry['version']} ({entry['file']})"))
            self.stdout.write(
                f"MNIST test accuracy: {res['accuracy']:.2f}%  (manifest {entry.get('mnist_test_accuracy')}%, "
                f"{res['count']} digits, {time.perf_counter() - t0:.1f}s)"
            )
            self.stdout.write("per class: " + "  ".join(f"{d}:{a:.1f}" for d, a in enumerate(res["per_class"])))
            self.stdout.write(format_confusion(res["confusion"]))

        count = min(opts["canvas_count"], 10_000)
        seed = opts["canvas_seed"] if opts["canvas_seed"] is not None else canvas_eval.DEFAULT_SEED
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"\nCanvas-style set: {count} MNIST test digits redrawn, seed {seed}")
        )
        t0 = time.perf_counter()
        canvas = canvas_eval.evaluate_canvas(fns, count=count, seed=seed)
        self.stdout.write(
            f"{'model':<8} {'MNIST-style preprocessing':>26} {'small+thick pen':>16} {'naive resize':>13}"
        )
        for name, row in canvas.items():
            mnist_style, small, naive = row["mnist_preprocessing"], row["small_thick"], row["naive_resize"]
            self.stdout.write(f"{name:<8} {mnist_style:>25.2f}% {small:>15.2f}% {naive:>12.2f}%")
        self.stdout.write(
            f"({time.perf_counter() - t0:.0f}s; naive resize = the old app's whole-canvas resize, same models)"
        )
        self.pen_report(fns, manifest)
        self.labeled_report(fns, manifest)

    def pen_report(self, fns, manifest):
        """Real pen digits by UNIPEN writers no model was trained on: overall, by class, by site."""
        from recognizer.ml import training

        t0 = time.perf_counter()
        results = training.evaluate_pen(fns)
        first = next(iter(results.values()))
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"\nUNIPEN validation writers: {first['count']} pen digits by {first['writers']} writers never trained"
                " on, drawn with the page's pen"
            )
        )
        names = list(results)
        self.stdout.write(f"{'':<10}" + "".join(f"{n:>10}" for n in names) + f"{'digits':>8}")
        self.stdout.write(
            f"{'all':<10}"
            + "".join(f"{results[n]['accuracy']:>9.2f}%" for n in names)
            + f"{first['count']:>8}"
            + "   (manifest: "
            + ", ".join(f"{n} {manifest['models'][n].get('unipen_validation_accuracy', '-')}%" for n in names)
            + ")"
        )
        counts = np.asarray(first["confusion"]).sum(axis=1)
        for d in range(10):
            self.stdout.write(
                f"{'digit ' + str(d):<10}"
                + "".join(f"{results[n]['per_class'][d]:>9.2f}%" for n in names)
                + f"{counts[d]:>8}"
            )
        for site, row in first["per_site"].items():
            self.stdout.write(
                f"{'site ' + site:<10}"
                + "".join(f"{results[n]['per_site'][site]['accuracy']:>9.2f}%" for n in names)
                + f"{row['count']:>8}"
            )
        for n in names:
            self.stdout.write(f"{n} confusion (rows = truth):")
            self.stdout.write(format_confusion(results[n]["confusion"]))
        self.stdout.write(f"({time.perf_counter() - t0:.0f}s)")

    def labeled_report(self, fns, manifest):
        """Accuracy on staff-labeled drawings; the held-out split was never trained on."""
        from django.db import DatabaseError

        from recognizer.ml import training
        from recognizer.staff import export

        try:
            selection = export.select()
        except DatabaseError as exc:
            self.stdout.write(f"\nLabeled drawings: no database ({exc.__class__.__name__}); run migrate first")
            return
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"\nStaff-labeled drawings: {len(selection)} "
                f"(held out: every {export.HOLDOUT_EVERY}th id, never used by train --with-labeled)"
            )
        )
        for split in ("holdout", "train"):
            x, y, _ = export.arrays(selection, split)
            cells = []
            for name, fn in fns.items():
                trained_on = manifest["models"][name].get("data", {}).get("labeled_drawings", 0)
                note = " (seen in training)" if split == "train" and trained_on else ""
                accuracy = training.evaluate_predictions(fn(x), y)["accuracy"] if len(y) else float("nan")
                cells.append(f"{name} {accuracy:6.2f}%{note}")
            self.stdout.write(f"  {split:<8} n={len(y):<6} " + "   ".join(cells))

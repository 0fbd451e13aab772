"""Before and after one retraining on labeled drawings.

    .venv/bin/python -m experiments.retrain_experiment [--drawings 3000] [--epochs 3] [--weight 2]

A scratch SQLite database is filled with ``--drawings`` canvas-style drawings (MNIST test digits
redrawn with a round pen, ``recognizer.ml.canvas_eval``, with a seed other than the evaluation set's),
each run through the real preprocessing and both committed models, stored with
``Drawing.objects.record`` and staff-labeled with its true digit. Then, into a scratch copy of
``models/``, the custom network is trained twice with the same seed and epochs:

1. control: ``train --model custom`` on MNIST alone;
2. retrained: the same with ``--with-labeled --weight W``.

Printed: accuracy on the held-out labeled drawings (every 5th id, never trained on) and on the MNIST
test set, for the committed model, the control and the retrained one. Nothing in the repo changes.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

POPULATE = r"""
import sys, django
django.setup()
from django.db import transaction
from recognizer import inference
from recognizer.ml import canvas_eval, preprocess
from recognizer.models import Drawing
count, seed = int(sys.argv[1]), int(sys.argv[2])
with transaction.atomic():
    for digit in canvas_eval.build_canvas_set(count, seed):
        x = preprocess.to_model_input(digit.png)
        drawing = Drawing.objects.record(
            image=digit.png, model_input=preprocess.input_to_bytes(x),
            preprocess_version=preprocess.PREPROCESS_VERSION, answers=inference.predict_both(x),
        )
        drawing.set_label(digit.label)
print(Drawing.objects.labeled().count())
"""

SCORE = r"""
import json, sys, django
django.setup()
from django.conf import settings
from recognizer.ml import publishing, training
from recognizer.staff import export
name = sys.argv[1]
fn = publishing.predict_fn(name, publishing.load_published(settings.MODELS_DIR, name))
x, y, _ = export.arrays(export.select(), "holdout")
_, _, xt, yt = training.load_data()
print(json.dumps({
    "holdout": training.evaluate_predictions(fn(x), y)["accuracy"], "holdout_n": int(len(y)),
    "mnist": training.evaluate_predictions(fn(xt), yt)["accuracy"],
}))
"""


def run(args, env, capture=True):
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, text=True, capture_output=capture)
    return result.stdout.strip().splitlines()[-1] if capture else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drawings", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--weight", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=777, help="canvas drawings' seed (evaluation uses another)")
    opts = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="retrain-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "digitsite.settings",
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
    }
    try:
        run(["manage.py", "migrate", "--noinput"], env)
        labeled = run(["-c", POPULATE, str(opts.drawings), str(opts.seed)], env)
        print(f"{labeled} labeled canvas-style drawings in a scratch database")
        rows = {"committed": json.loads(run(["-c", SCORE, "custom"], env))}
        for label, extra in (("control", []), ("retrained", ["--with-labeled", "--weight", str(opts.weight)])):
            models = scratch / f"models-{label}"
            shutil.copytree(ROOT / "models", models)
            child = {**env, "MODELS_DIR": str(models)}
            print(f"training {label} ({opts.epochs} epochs) ...", flush=True)
            run(
                [
                    "manage.py",
                    "train",
                    "--model",
                    "custom",
                    "--epochs",
                    str(opts.epochs),
                    "--canvas-count",
                    "500",
                    *extra,
                ],
                child,
            )
            rows[label] = json.loads(run(["-c", SCORE, "custom"], child))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    n = rows["committed"]["holdout_n"]
    print(f"\ncustom network, held-out labeled drawings (n={n}) and MNIST test (n=10000)")
    print(f"{'model':<44} {'held-out':>9} {'MNIST':>8}")
    names = {
        "committed": "committed (MNIST + augmentation)",
        "control": f"control: {opts.epochs} epochs, MNIST only",
        "retrained": f"retrained: {opts.epochs} epochs, + labeled x{opts.weight:g}",
    }
    for key, row in rows.items():
        print(f"{names[key]:<44} {row['holdout']:8.2f}% {row['mnist']:7.2f}%")


if __name__ == "__main__":
    main()

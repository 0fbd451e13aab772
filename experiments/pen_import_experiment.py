"""The product's own loop on real data: import pen digits by training writers, retrain, score on writers never seen.

    .venv/bin/python -m experiments.pen_import_experiment [--import 3000] [--epochs 3] [--weight 2] [--model custom]

In a scratch SQLite database and scratch copies of ``models/``, with the same seed and epochs:

1. control: ``train --no-pen`` (MNIST only);
2. ``import_drawings data/unipen/train-strokes.jsonl.gz --skip-validation-writers --limit N``: a slice of the UNIPEN
   training writers' digits becomes staff-labeled drawings, drawn the way the page draws;
3. retrained: ``train --no-pen --with-labeled --weight W`` (MNIST + those drawings, every 5th id held out);
4. both scored on the UNIPEN validation writers (never imported, never trained on) and on MNIST test.

Nothing in the repo changes.
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

SCORE = r"""
import json, sys, django
django.setup()
from django.conf import settings
from recognizer.ml import publishing, training
name = sys.argv[1]
fn = publishing.predict_fn(name, publishing.load_published(settings.MODELS_DIR, name))
pen = training.evaluate_pen({name: fn})[name]
_, _, xt, yt = training.load_data()
print(json.dumps({
    "pen": pen["accuracy"], "pen_n": pen["count"], "pen_per_class": pen["per_class"],
    "mnist": training.evaluate_predictions(fn(xt), yt)["accuracy"],
}))
"""


def run(args, env, capture=True):
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, text=True, capture_output=capture)
    return result.stdout.strip().splitlines()[-1] if capture else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--import", dest="count", type=int, default=3000, help="pen digits to import")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--weight", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=["custom", "keras"], default="custom")
    opts = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="pen-import-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "digitsite.settings",
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
    }
    train = ["manage.py", "train", "--model", opts.model, "--epochs", str(opts.epochs), "--seed", str(opts.seed)]
    train += ["--no-pen", "--canvas-count", "500"]
    rows = {}
    try:
        run(["manage.py", "migrate", "--noinput"], env)
        for label in ("control", "retrained"):
            models = scratch / f"models-{label}"
            shutil.copytree(ROOT / "models", models)
            child = {**env, "MODELS_DIR": str(models)}
            if label == "retrained":
                print(f"importing {opts.count} pen digits by UNIPEN training writers ...", flush=True)
                print(
                    run(
                        [
                            "manage.py",
                            "import_drawings",
                            str(ROOT / "data" / "unipen" / "train-strokes.jsonl.gz"),
                            "--skip-validation-writers",
                            "--limit",
                            str(opts.count),
                        ],
                        env,
                    )
                )
            extra = ["--with-labeled", "--weight", str(opts.weight)] if label == "retrained" else []
            print(f"training {label} ({opts.model}, {opts.epochs} epochs, seed {opts.seed}) ...", flush=True)
            run([*train, *extra], child)
            rows[label] = json.loads(run(["-c", SCORE, opts.model], child))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    n = rows["control"]["pen_n"]
    print(f"\n{opts.model}: UNIPEN validation writers (n={n}, never imported or trained on) and MNIST test")
    print(f"{'run':<52} {'pen':>7} {'MNIST':>7}   per digit (pen)")
    names = {
        "control": f"control: MNIST only, {opts.epochs} epochs",
        "retrained": f"retrained: + {opts.count} imported pen digits x{opts.weight:g}",
    }
    for key, row in rows.items():
        per = " ".join(f"{v:.0f}" for v in row["pen_per_class"])
        print(f"{names[key]:<52} {row['pen']:6.2f}% {row['mnist']:6.2f}%   {per}")


if __name__ == "__main__":
    main()

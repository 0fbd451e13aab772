"""Publishing: trained weights as ``models/<name>-<version>.<ext>`` plus their manifest entry."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recognizer.ml import registry
from recognizer.ml.preprocess import PREPROCESS_VERSION


@dataclass
class TrainResult:
    model: object
    epochs: int
    seed: int
    seconds: float  # wall clock, augmentation of new epochs included
    history: list[dict] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU time of the process (all threads) over the same span
    config: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Publishing: weights + manifest in models/


def sha256_file(path) -> str:

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(models_dir) -> dict:
    from pathlib import Path

    path = Path(models_dir) / "manifest.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"models": {}}


def publish(models_dir, name: str, result: TrainResult, info: dict) -> dict:
    """Save ``result.model`` as ``models/<name>-<version>.<ext>`` and record it in the manifest.

    The version is one more than the manifest's current one; the previous file is removed so
    that models/ holds only current weights.  ``info`` adds fields (accuracies, data, ...).
    """
    import json
    from pathlib import Path

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(models_dir)
    previous = manifest.setdefault("models", {}).get(name)
    version = int(previous["version"]) + 1 if previous else 1
    spec = registry.get(name)
    filename = spec.filename(version)
    path = models_dir / filename
    beside = spec.resolve("save")(result.model, path, {"version": str(version), "seed": result.seed}) or []
    architecture, parameters = spec.resolve("describe")(result.model)
    entry = {
        "name": name,
        "version": str(version),
        "file": filename,
        "sha256": sha256_file(path),
        **({"companions": companions(beside)} if beside else {}),
        "trained_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "architecture": architecture,
        "parameters": parameters,
        "epochs": result.epochs,
        "seed": result.seed,
        "hyperparameters": result.config,
        "preprocess_version": PREPROCESS_VERSION,
        "training_seconds": round(result.seconds, 1),
        "training_cpu_seconds": round(result.cpu_seconds, 1),
        **info,
        "history": result.history,
    }
    manifest["models"][name] = entry
    manifest["preprocess_version"] = PREPROCESS_VERSION
    tmp = models_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, models_dir / "manifest.json")
    if previous:
        for old in files_of(previous):
            if old not in files_of(entry) and (models_dir / old).exists():
                (models_dir / old).unlink()
    return entry


def companions(paths) -> list[dict]:
    """Manifest records of the files a model's save wrote beside its weights (e.g. the Keras model's .tflite)."""
    return [{"file": Path(p).name, "sha256": sha256_file(p)} for p in paths]


def checksums(entry: dict) -> dict[str, str | None]:
    """Every file of a manifest entry, the weights first, then their companions: {file name: sha256}."""
    return {entry["file"]: entry.get("sha256"), **{c["file"]: c["sha256"] for c in entry.get("companions", [])}}


def files_of(entry: dict) -> list[str]:
    """Every file of a manifest entry: the weights and their companions."""
    return list(checksums(entry))


def predict_fn(name: str, model) -> Callable[[np.ndarray], np.ndarray]:
    """(N, 28, 28) float/uint8 -> (N,) digits, batched, for evaluation."""
    classify = registry.get(name).resolve("classify")
    return lambda x: classify(model, x)


def load_published(models_dir, name: str):
    """The model object as committed (no checksum check; inference does that)."""
    entry = read_manifest(models_dir)["models"][name]
    return registry.get(name).resolve("load")(Path(models_dir) / entry["file"])


def record_run(models_dir, run: dict) -> None:
    """Note the last training run (its wall time for all the models it trained) in the manifest."""
    path = Path(models_dir) / "manifest.json"
    manifest = read_manifest(models_dir)
    manifest["training_run"] = run
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)

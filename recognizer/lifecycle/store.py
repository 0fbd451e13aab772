"""Where versions come from and where their files are: the registry in the database.

- :func:`ensure_registered` registers the weights committed in ``models/`` (``models/manifest.json``) as the first
  live versions, once, idempotently, so a fresh clone serves without training anything;
- :func:`served` is what a process should have loaded: the live and shadow versions, with their files and sha256s;
- :func:`write_version` writes a trained model's files under ``MODEL_STORE_DIR`` (temporary names first, renamed
  into place) and registers it, last, in one transaction: a killed job leaves no half-written version.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from recognizer.lifecycle.models import ModelChange, ModelFile, ModelVersion
from recognizer.ml import publishing, registry

SERVED = (ModelVersion.Status.LIVE, ModelVersion.Status.SHADOW)


@dataclass(frozen=True)
class Served:
    """A version a process serves: ``entry`` has the manifest entry's shape (file, sha256, companions, version)."""

    name: str
    version: int
    status: str
    directory: Path
    entry: dict
    pk: int | None = None

    @property
    def key(self) -> tuple:
        return (self.name, self.version, self.entry.get("sha256"), str(self.directory))


def store_dir() -> Path:
    return Path(settings.MODEL_STORE_DIR)


def directory_of(version: ModelVersion) -> Path:
    return Path(settings.MODELS_DIR) if version.location == ModelVersion.Location.CHECKOUT else store_dir()


def ensure_registered() -> list[ModelVersion]:
    """Register each model of ``models/manifest.json`` whose version is not registered yet; idempotent.

    A model with no live version gets it as its live version (a fresh database). A newer version published into
    ``models/`` by ``manage.py train`` replaces a live version that also came from ``models/`` (its files were
    replaced there), and the older one is retired. Anything else is registered as a candidate: a version promoted
    through the lifecycle is never replaced behind the staff's back."""
    made = []
    manifest_path = Path(settings.MODELS_DIR) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return made
    for name in registry.NAMES:
        entry = manifest.get("models", {}).get(name)
        if entry is None or ModelVersion.objects.filter(name=name, version=int(entry["version"])).exists():
            continue
        version = int(entry["version"])
        try:
            with transaction.atomic():
                live = ModelVersion.objects.select_for_update().filter(name=name, status=ModelVersion.Status.LIVE)
                live = live.first()
                republished = (
                    live is not None and live.location == ModelVersion.Location.CHECKOUT and live.version < version
                )
                if republished:
                    live.status = ModelVersion.Status.RETIRED
                    live.save(update_fields=["status"])
                status = ModelVersion.Status.LIVE if live is None or republished else ModelVersion.Status.CANDIDATE
                made.append(
                    ModelVersion.objects.create(
                        name=name,
                        version=version,
                        status=status,
                        location=ModelVersion.Location.CHECKOUT,
                        files=files_entry(entry),
                        metrics=metrics_from_manifest(entry),
                        training=training_from_manifest(entry),
                    )
                )
                ModelChange.objects.create(
                    name=name,
                    from_version=live.version if republished else None,
                    to_version=version,
                    action=ModelChange.Action.REGISTER,
                    who="models/manifest.json",
                    reason="a new version published into models/ by manage.py train"
                    if republished
                    else "the committed weights, registered as the first live version"
                    if status == ModelVersion.Status.LIVE
                    else "published into models/ while another version is live: a candidate",
                )
        except IntegrityError:  # another process registered it first
            pass
    return made


def files_entry(entry: dict) -> dict:
    return {"file": entry["file"], "sha256": entry.get("sha256"), "companions": list(entry.get("companions", []))}


def metrics_from_manifest(entry: dict) -> dict:
    """The committed version's scores as the lifecycle keeps them (counts, Wilson intervals, per class)."""
    from recognizer.lifecycle import stats

    sets = {}
    if "mnist_test_accuracy" in entry:
        sets["mnist_test"] = stats.score(entry["mnist_test_accuracy"], 10_000, entry.get("mnist_test_per_class"))
    pen = entry.get("unipen_validation")
    if pen:
        sets["unipen_validation"] = stats.score(pen["accuracy"], pen["count"], pen.get("per_class"))
    if "canvas_accuracy" in entry:
        sets["canvas"] = stats.score(entry["canvas_accuracy"], entry.get("canvas_set", {}).get("count", 10_000))
    return {"sets": sets, "source": "models/manifest.json"}


def training_from_manifest(entry: dict) -> dict:
    data = entry.get("data", {})
    return {
        "data": {
            "mnist": data.get("mnist_train"),
            "unipen_training_writers": data.get("pen_digits"),
            "production_labels": data.get("labeled_drawings", 0),
        },
        "epochs": entry.get("epochs"),
        "seed": entry.get("seed"),
        "duration_seconds": entry.get("training_seconds"),
        "who": "committed (models/)",
        "when": entry.get("trained_at"),
        "architecture": entry.get("architecture"),
        "parameters": entry.get("parameters"),
    }


def served() -> list[Served]:
    """The live and shadow versions, the ones every process serves; registers the committed ones when a model has
    none yet (a fresh database)."""
    rows = list(ModelVersion.objects.filter(status__in=SERVED))
    if {r.name for r in rows if r.status == ModelVersion.Status.LIVE} != set(registry.NAMES):
        if ensure_registered():
            rows = list(ModelVersion.objects.filter(status__in=SERVED))
    return [
        Served(
            r.name, r.version, r.status, directory_of(r), {**r.files, "name": r.name, "version": str(r.version)}, r.pk
        )
        for r in rows
    ]


def generation() -> tuple:
    """A cheap fingerprint of what should be served (a handful of rows on an index): a process reloads when it
    changes."""
    return tuple(
        sorted(ModelVersion.objects.filter(status__in=SERVED).values_list("name", "version", "status", "location"))
    )


def next_version(name: str) -> int:
    last = ModelVersion.objects.filter(name=name).order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def write_version(name: str, model, *, metrics: dict, training: dict, seed: int = 0) -> ModelVersion:
    """Save ``model`` under ``MODEL_STORE_DIR`` and register it as a candidate, last, in one transaction.

    The files are written under a temporary directory of the store, checked, renamed into place; only then is the row
    created. A crash before the commit leaves at most unreferenced files, never a version without its files."""
    spec = registry.get(name)
    directory = store_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        version = next_version(name)
        # Lock by inserting first would hold the row half-made; instead the unique (name, version) guards races.
        with tempfile.TemporaryDirectory(dir=directory, prefix=".writing-") as tmp:
            tmp_path = Path(tmp) / spec.filename(version)
            beside = spec.resolve("save")(model, tmp_path, {"version": str(version), "seed": seed}) or []
            written = [tmp_path, *map(Path, beside)]
            entry = {
                "file": tmp_path.name,
                "sha256": publishing.sha256_file(tmp_path),
                "companions": publishing.companions(beside),
            }
            for path in written:
                os.replace(path, directory / path.name)
        made = ModelVersion.objects.create(
            name=name,
            version=version,
            status=ModelVersion.Status.CANDIDATE,
            location=ModelVersion.Location.STORE,
            files=entry,
            metrics=metrics,
            training=training,
        )
        for file, sha256 in publishing.checksums(entry).items():  # every server reads the same bytes
            ModelFile.objects.create(version=made, file=file, sha256=sha256, data=(directory / file).read_bytes())
        return made


def version_numbers(name: str) -> list[str]:
    """Every registered version of ``name``, newest first (``"6"``, ``"5"``, ...)."""
    return [
        str(v) for v in ModelVersion.objects.filter(name=name).order_by("-version").values_list("version", flat=True)
    ]


TF_SERVING_STATES = {"live": "AVAILABLE", "shadow": "AVAILABLE", "candidate": "END", "retired": "END"}


def version_states(name: str) -> list[tuple[str, str]]:
    """``(version, TF Serving state)`` of every registered version: served ones AVAILABLE, the others END."""
    rows = ModelVersion.objects.filter(name=name).order_by("-version").values_list("version", "status")
    return [(str(v), TF_SERVING_STATES[s]) for v, s in rows]


def materialize(served: Served) -> None:
    """Make sure this server has ``served``'s files on its local disk: a file missing (or not matching its sha256) in
    the store is written from the database's copy (temporary name, then renamed), if the database has one."""
    if served.pk is None or served.directory != store_dir():
        return
    wanted = publishing.checksums(served.entry)
    missing = [
        f
        for f, sha in wanted.items()
        if not (served.directory / f).exists() or (sha and publishing.sha256_file(served.directory / f) != sha)
    ]
    if not missing:
        return
    served.directory.mkdir(parents=True, exist_ok=True)
    for blob in ModelFile.objects.filter(version_id=served.pk, file__in=missing):
        with tempfile.NamedTemporaryFile(dir=served.directory, prefix=".fetching-", delete=False) as tmp:
            tmp.write(bytes(blob.data))
        os.replace(tmp.name, served.directory / blob.file)


def local_file(version: ModelVersion) -> Path:
    """The path of ``version``'s weights on this server, fetched from the database first if this disk lacks them."""
    entry = {**version.files, "name": version.name, "version": str(version.version)}
    materialize(Served(version.name, version.version, version.status, directory_of(version), entry, version.pk))
    return directory_of(version) / version.files["file"]

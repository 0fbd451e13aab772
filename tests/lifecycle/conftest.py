"""Fixtures for the lifecycle: versions whose files are copies of the committed weights, in a temporary store."""

import shutil
from pathlib import Path

import pytest

from recognizer import inference
from recognizer.lifecycle import stats, store
from recognizer.lifecycle.models import ModelVersion
from recognizer.ml import publishing, registry

COMMITTED = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(autouse=True)
def store_dir(tmp_path, settings):
    """Trained weights go to a temporary MODEL_STORE_DIR; the process's loaded models are forgotten afterwards when
    the test changed what is served (the next test's database has only the committed versions)."""
    settings.MODEL_STORE_DIR = tmp_path / "store"
    yield settings.MODEL_STORE_DIR
    current = inference.served_set() if inference.is_warm() else None
    manifest = inference.read_manifest(COMMITTED)
    expected = {n: f"{n}-{manifest['models'][n]['version']}" for n in registry.NAMES}
    if current is not None and (current.shadow or {n: m.version for n, m in current.live.items()} != expected):
        inference.reset()


def scores(accuracy, count=2000):
    return stats.score(accuracy, count)


@pytest.fixture
def make_version(settings):
    """``make_version(name, version, status="candidate", sets={"canvas": 99.0, ...})``: a version whose files are the
    committed weights copied under the store with the new version's names."""

    def make(name, version, status="candidate", sets=None, baseline=None):
        store.ensure_registered()
        live = ModelVersion.objects.get(name=name, location="checkout")
        directory = store.store_dir()
        directory.mkdir(parents=True, exist_ok=True)
        spec = registry.get(name)
        files = {"file": spec.filename(version), "sha256": live.files["sha256"], "companions": []}
        shutil.copy(store.directory_of(live) / live.files["file"], directory / files["file"])
        for companion in live.files.get("companions", []):
            new_name = companion["file"].replace(f"-{live.version}.", f"-{version}.")
            shutil.copy(store.directory_of(live) / companion["file"], directory / new_name)
            files["companions"].append({"file": new_name, "sha256": publishing.sha256_file(directory / new_name)})
        metrics = {"sets": {k: scores(v) for k, v in (sets or {}).items()}}
        if baseline is not None:
            metrics["baseline"] = {"version": live.version, "sets": {k: scores(v) for k, v in baseline.items()}}
        return ModelVersion.objects.create(
            name=name, version=version, status=status, location="store", files=files, metrics=metrics
        )

    return make


@pytest.fixture
def promoter(django_user_model):
    """A staff user with the lifecycle.promote_model permission, and an API client for them."""
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user(username="promoter", password="promoter-pass-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="promote_model"))
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client

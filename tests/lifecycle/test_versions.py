"""Versions in the database, served with no restart: registration of the committed weights, loading what is live
(sha256 checked), the swap of the whole set, Wilson intervals and the guardrail's rule."""

import threading
import time

import numpy as np
import pytest

from recognizer import inference
from recognizer.lifecycle import actions, stats, store
from recognizer.lifecycle.models import ModelChange, ModelVersion
from recognizer.ml import registry

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:8].astype(np.float32) / 255, y[:8]


def test_migrate_registers_the_committed_weights_as_live_and_only_once():
    manifest = inference.read_manifest()
    assert {v.label for v in ModelVersion.objects.filter(status="live")} == {
        f"{n}-{manifest['models'][n]['version']}" for n in registry.NAMES
    }  # by migrate's post_migrate signal
    ModelVersion.objects.all().delete()
    ModelChange.objects.all().delete()  # as a database that never saw them
    made = store.ensure_registered()
    assert sorted(v.name for v in made) == sorted(registry.NAMES)
    assert store.ensure_registered() == []  # idempotent
    for name in registry.NAMES:
        entry = manifest["models"][name]
        v = ModelVersion.objects.get(name=name)
        assert (v.version, v.status, v.location) == (int(entry["version"]), "live", "checkout")
        assert v.files["sha256"] == entry["sha256"] and v.files["file"] == entry["file"]
        assert v.metrics["sets"]["mnist_test"]["count"] == 10_000
        low, high = v.metrics["sets"]["mnist_test"]["wilson"]
        assert low < entry["mnist_test_accuracy"] < high
        assert v.training["epochs"] == entry["epochs"]
    assert ModelChange.objects.filter(action="register").count() == len(registry.NAMES)


def test_the_process_serves_what_is_live_and_follows_promote_and_rollback(make_version, digits):
    inference.refresh()
    manifest = inference.read_manifest()
    before = f"custom-{manifest['models']['custom']['version']}"
    assert inference.predict_both(digits[0][0])["custom"].model_version == before
    make_version("custom", 6, sets={"canvas": 99.0})
    assert inference.refresh() is False  # a candidate changes nothing served
    actions.promote("custom", 6, reason="test")
    assert inference.refresh() is True
    answers = inference.predict_batch(digits[0])
    assert {a["custom"].model_version for a in answers} == {"custom-6"}
    assert {a["keras"].model_version for a in answers} == {f"keras-{manifest['models']['keras']['version']}"}
    actions.rollback("custom", reason="back")
    inference.refresh()
    assert inference.predict_both(digits[0][0])["custom"].model_version == before
    assert inference.model_versions()["custom"] == before


def test_a_version_whose_file_does_not_match_its_sha256_is_refused_and_serving_goes_on(make_version, digits):
    inference.refresh()
    bad = make_version("custom", 7)
    bad.files = {**bad.files, "sha256": "0" * 64}
    bad.save()
    actions.promote("custom", 7)
    with pytest.raises(inference.ModelsUnavailable, match="sha256"):
        inference.refresh()
    assert inference.predict_both(digits[0][0])["custom"].model_version != "custom-7"  # the old set still answers


def test_a_missing_file_is_refused(make_version):
    inference.refresh()
    v = make_version("keras", 8)
    (store.store_dir() / v.files["companions"][0]["file"]).unlink()
    actions.promote("keras", 8)
    with pytest.raises(inference.ModelsUnavailable, match="missing"):
        inference.refresh()


def test_no_live_version_is_a_clear_error(settings, tmp_path):
    ModelVersion.objects.all().delete()
    settings.MODELS_DIR = tmp_path  # no manifest: nothing to register
    inference.reset()
    with pytest.raises(inference.ModelsUnavailable, match="no live version"):
        inference.get_models()
    inference.reset()


def wait_for(condition, rounds=1000):
    for _ in range(rounds):
        if condition():
            return
        time.sleep(0.01)


def test_every_batch_answers_from_one_set_while_the_set_swaps(make_version, digits):
    """Predicts on 4 threads while the main thread promotes and rolls back: no request fails, and every batch's
    answers come from one version of each model."""
    inference.refresh()
    make_version("custom", 6)
    make_version("keras", 6)
    stop, errors, seen = threading.Event(), [], set()

    def hammer():
        while not stop.is_set():
            try:
                answers = inference.predict_batch(digits[0][:4])
                versions = {(a["keras"].model_version, a["custom"].model_version) for a in answers}
                assert len(versions) == 1, versions
                seen.update(versions)
            except Exception as exc:  # noqa: BLE001 (recorded, fails the test below)
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            actions.promote("custom", 6)
            actions.promote("keras", 6)
            inference.refresh()
            wait_for(lambda: ("keras-6", "custom-6") in seen)  # the threads answer from the new set
            actions.rollback("custom")
            actions.rollback("keras")
            inference.refresh()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert ("keras-6", "custom-6") in seen


def test_a_rollback_swaps_back_to_the_version_still_loaded(make_version):
    inference.refresh()
    old = inference.get_models()["custom"]
    make_version("custom", 6)
    actions.promote("custom", 6)
    inference.refresh()
    actions.rollback("custom")
    inference.refresh()
    assert inference.get_models()["custom"] is old  # reused, not loaded again


def test_wilson_interval():
    low, high = stats.wilson(95, 100)
    assert (round(low, 1), round(high, 1)) == (88.8, 97.8)
    assert stats.wilson(0, 0) == (0.0, 100.0)
    assert stats.wilson(10, 10)[1] == 100.0


def test_worse_beyond_noise_needs_disjoint_intervals():
    live = stats.score(99.0, 2000)
    assert stats.worse_beyond_noise(stats.score(90.0, 2000), live)
    assert not stats.worse_beyond_noise(stats.score(98.8, 2000), live)  # within the noise
    assert not stats.worse_beyond_noise(stats.score(95.0, 20), live)  # 19 of 20: too few to tell
    assert not stats.worse_beyond_noise(stats.score(99.5, 2000), live)


def test_a_server_without_the_files_takes_them_from_the_database(settings, tmp_path, digits):
    """A version trained on one server is served by another: its files are kept as bytes in the database and written
    to the other server's local store on first use, sha256-checked."""
    from recognizer.lifecycle.models import ModelFile
    from recognizer.ml.network import Network

    inference.refresh()
    net = Network.load(store.directory_of(ModelVersion.objects.get(name="custom", status="live")) / "custom-5.npz")
    made = store.write_version("custom", net, metrics={}, training={})
    blob = ModelFile.objects.get(version=made)
    assert blob.file == made.files["file"] and len(bytes(blob.data)) > 100_000
    settings.MODEL_STORE_DIR = tmp_path / "another-server"  # nothing on this disk
    actions.promote("custom", made.version)
    assert inference.refresh() is True
    assert inference.predict_both(digits[0][0])["custom"].model_version == made.label
    local = tmp_path / "another-server" / made.files["file"]
    assert store.publishing.sha256_file(local) == made.files["sha256"]


def test_local_file_fetches_a_version_this_server_lacks(settings, tmp_path):
    from recognizer.ml.network import Network

    live = ModelVersion.objects.get(name="custom", status="live")
    assert store.local_file(live) == store.directory_of(live) / live.files["file"]  # committed: in the checkout
    made = store.write_version("custom", Network.load(store.local_file(live)), metrics={}, training={})
    settings.MODEL_STORE_DIR = tmp_path / "elsewhere"
    path = store.local_file(made)
    assert path.parent == tmp_path / "elsewhere" and store.publishing.sha256_file(path) == made.files["sha256"]


def republish(tmp_path, settings, name, version):
    """A copy of models/ whose manifest says ``name`` is now at ``version`` (as `manage.py train` leaves it)."""
    import json
    import shutil

    directory = tmp_path / "models"
    shutil.copytree(settings.MODELS_DIR, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["models"][name]["version"] = str(version)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    settings.MODELS_DIR = directory


def test_a_version_published_into_models_replaces_a_live_one_from_models(tmp_path, settings):
    live = ModelVersion.objects.get(name="custom", status="live")
    republish(tmp_path, settings, "custom", live.version + 1)
    [made] = store.ensure_registered()
    assert (made.name, made.version, made.status, made.location) == ("custom", live.version + 1, "live", "checkout")
    live.refresh_from_db()
    assert live.status == "retired"
    change = ModelChange.objects.filter(action="register").latest("pk")
    assert (change.from_version, change.to_version) == (live.version, live.version + 1)
    assert store.ensure_registered() == []


def test_a_publish_never_replaces_a_version_promoted_through_the_lifecycle(make_version, tmp_path, settings):
    make_version("custom", 40, sets={"canvas": 99.0})
    actions.promote("custom", 40, reason="test")
    republish(tmp_path, settings, "custom", 41)
    [made] = store.ensure_registered()
    assert (made.version, made.status) == (41, "candidate")
    assert ModelVersion.objects.get(name="custom", status="live").version == 40

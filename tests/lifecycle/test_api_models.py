"""The lifecycle over the API: GET /api/models/, shadow / promote / retire / rollback with the permission and the
guardrail, every change recorded; the v2 and TF Serving doors list the versions."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from recognizer import inference
from recognizer.lifecycle import store
from recognizer.lifecycle.models import ModelChange, ModelVersion

pytestmark = pytest.mark.django_db

LIVE_SETS = {"mnist_test": 99.0, "canvas": 98.0}


@pytest.fixture
def live():
    store.ensure_registered()
    return {v.name: v for v in ModelVersion.objects.filter(status="live")}


def action(client, name, version, what, **body):
    return client.post(f"/api/models/{name}/versions/{version}/{what}", body, format="json")


def test_versions_list_for_staff_only(staff_api, live):
    body = staff_api.get("/api/models/").json()
    rows = {(v["name"], v["version"]): v for v in body["versions"]}
    for name, v in live.items():
        row = rows[(name, str(v.version))]
        assert row["status"] == "live"
        assert set(row) >= {"name", "version", "status", "metrics", "created", "training"}
        assert "wilson" in row["metrics"]["sets"]["mnist_test"]
    assert APIClient().get("/api/models/").status_code == 401


def test_a_staff_user_without_the_permission_gets_403_json(staff_api, live, make_version):
    make_version("custom", 6)
    for response in (
        action(staff_api, "custom", 6, "promote"),
        action(staff_api, "custom", 6, "shadow"),
        action(staff_api, "custom", 6, "retire"),
        staff_api.post("/api/models/custom/rollback", {}, format="json"),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
    assert ModelVersion.objects.get(name="custom", version=6).status == "candidate"
    assert not ModelChange.objects.exclude(action="register").exists()


def test_promote_then_rollback_records_who_when_from_to_and_why(promoter, live, make_version):
    old = live["custom"].version
    make_version("custom", 6, sets={"mnist_test": 99.2}, baseline={"mnist_test": 99.0})
    response = action(promoter, "custom", 6, "promote", reason="better on canvas")
    assert response.status_code == 200, response.json()
    change = response.json()["change"]
    assert (change["action"], change["from_version"], change["to_version"]) == ("promote", old, 6)
    assert change["who"] == "promoter" and change["reason"] == "better on canvas" and change["when"]
    statuses = {v.version: v.status for v in ModelVersion.objects.filter(name="custom")}
    assert statuses == {old: "retired", 6: "live"}
    inference.refresh()
    assert inference.model_versions()["custom"] == "custom-6"

    response = promoter.post("/api/models/custom/rollback", {"reason": "complaints"}, format="json")
    assert response.status_code == 200
    assert (response.json()["change"]["from_version"], response.json()["change"]["to_version"]) == (6, old)
    assert ModelVersion.objects.get(name="custom", status="live").version == old
    inference.refresh()
    assert inference.model_versions()["custom"] == f"custom-{old}"
    actions = list(ModelChange.objects.filter(name="custom").order_by("id").values_list("action", "user__username"))
    assert actions == [("register", None), ("promote", "promoter"), ("rollback", "promoter")]


def test_the_guardrail_refuses_a_worse_candidate_naming_the_set_and_force_overrides_it(promoter, live, make_version):
    make_version("keras", 6, sets={"mnist_test": 99.1, "canvas": 90.0}, baseline=LIVE_SETS)
    response = action(promoter, "keras", 6, "promote")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "worse_than_live" and body["set"] == "canvas" and body["sets"] == ["canvas"]
    assert "canvas" in body["detail"] and body["comparison"]["canvas"]["worse_beyond_noise"] is True
    assert ModelVersion.objects.get(name="keras", version=6).status == "candidate"

    no_reason = action(promoter, "keras", 6, "promote", force=True)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["detail"]

    forced = action(promoter, "keras", 6, "promote", force=True, reason="canvas set is stale; accepted")
    assert forced.status_code == 200
    change = ModelChange.objects.get(action="promote", name="keras")
    assert change.forced and change.reason == "canvas set is stale; accepted"


def test_within_the_noise_is_not_refused(promoter, live, make_version):
    make_version("keras", 6, sets={"canvas": 97.9}, baseline={"canvas": 98.0})
    assert action(promoter, "keras", 6, "promote").status_code == 200


def test_shadow_retire_and_their_refusals(promoter, live, make_version):
    make_version("custom", 6)
    make_version("custom", 7)
    assert action(promoter, "custom", 6, "shadow").json()["change"]["action"] == "shadow"
    assert action(promoter, "custom", 6, "shadow").status_code == 409  # already
    moved = action(promoter, "custom", 7, "shadow").json()["change"]
    assert (moved["from_version"], moved["to_version"]) == (6, 7)  # one shadow per model: 6 back to candidate
    assert ModelVersion.objects.get(name="custom", version=6).status == "candidate"
    live_version = live["custom"].version
    assert action(promoter, "custom", live_version, "retire").status_code == 409  # the live one
    assert action(promoter, "custom", live_version, "shadow").status_code == 409
    assert action(promoter, "custom", 6, "retire").status_code == 200
    assert action(promoter, "custom", 6, "retire").status_code == 409
    inference.refresh()
    assert inference.served_set().shadow["custom"].version == "custom-7"


def test_bad_requests_are_json_4xx(promoter, live):
    assert action(promoter, "nope", 1, "promote").status_code == 404
    assert action(promoter, "custom", 999, "promote").status_code == 404
    assert action(promoter, "custom", "x", "promote").status_code == 404
    assert action(promoter, "custom", live["custom"].version, "promote").status_code == 409  # already live
    assert promoter.post("/api/models/custom/rollback", {}, format="json").status_code == 409  # nothing before
    bad = promoter.post("/api/models/custom/rollback", "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]
    assert bad["Content-Type"].startswith("application/json")
    not_a_bool = action(promoter, "custom", live["custom"].version, "promote", force="maybe")
    assert not_a_bool.status_code == 400 and not_a_bool.json()["error"]


def test_v2_lists_versions_and_answers_by_the_live_version(client, live, make_version, mnist_test):
    make_version("custom", 6)
    live_version = str(live["custom"].version)
    metadata = client.get("/v2/models/custom").json()
    assert metadata["versions"] == [live_version, "6"]
    x = (mnist_test[0][:2].astype(np.float32) / 255).tolist()
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 28, 28], "data": x}]}
    ok = client.post(f"/v2/models/custom/versions/{live_version}/infer", body, content_type="application/json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["model_version"] == live_version
    other = client.post("/v2/models/custom/versions/6/infer", body, content_type="application/json")
    assert other.status_code == 404 and "error" in other.json()


def test_tf_serving_gives_every_version_state(client, live, make_version):
    make_version("keras", 6)
    states = client.get("/v1/models/keras").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in states] == [(str(live["keras"].version), "AVAILABLE"), ("6", "END")]


def test_the_admin_shows_versions_and_changes_read_only(client, django_user_model, live, make_version):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    admin_client = client
    make_version("custom", 6)
    for url in ("/admin/lifecycle/modelversion/", "/admin/lifecycle/modelchange/", "/admin/lifecycle/trainingjob/"):
        page = admin_client.get(url)
        assert page.status_code == 200
    assert b"custom" in admin_client.get("/admin/lifecycle/modelversion/").content
    assert b"register" in admin_client.get("/admin/lifecycle/modelchange/").content
    assert admin_client.get("/admin/lifecycle/modelversion/add/").status_code == 403

"""The lifecycle's admin pages: train a candidate and follow the job, compare a version with the live one (sets and
the held-out production drawings on which they disagree, with thumbnails), and the buttons, behind the permission."""

import pytest

from recognizer.lifecycle import evaluation, store
from recognizer.lifecycle.models import ModelChange, ModelVersion, TrainingJob
from recognizer.ml.network import Network
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def admin_page(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(root, backend=BACKEND)
    return client


def held_out_drawers(count):
    keys = (f"drawer-{i}" for i in range(10_000))
    return [k for k in keys if evaluation.held_out(k, 0)][:count]


def test_train_page_queues_one_job_and_shows_its_progress(admin_page):
    url = "/admin/lifecycle/modelversion/train/"
    page = admin_page.get(url)
    assert page.status_code == 200 and b"No training job yet" in page.content
    assert b"Train a candidate" in admin_page.get("/admin/lifecycle/modelversion/").content
    form = {"model_custom": "1", "epochs": "1", "limit": "300", "include_labeled": "1", "labeled_weight": "2"}
    assert admin_page.post(url, form).status_code == 302
    job = TrainingJob.objects.get()
    assert job.status == "queued" and job.options["models"] == ["custom"] and job.options["labeled_weight"] == 2.0
    TrainingJob.objects.filter(pk=job.pk).update(
        progress={"stage": "training", "model": "custom", "epoch": 1, "epochs": 3, "loss": 0.25, "seconds_left": 40}
    )
    page = admin_page.get(url).content.decode()
    assert 'http-equiv="refresh"' in page and "1 / 3" in page and "0.2500" in page and "about 40 s" in page
    again = admin_page.post(url, form, follow=True)
    assert b"one training runs at a time" in again.content and TrainingJob.objects.count() == 1
    assert b"Choose at least one model" in admin_page.post(url, {"epochs": "1"}, follow=True).content


def test_compare_shows_sets_and_disagreements_and_the_buttons_act(admin_page, mnist_test):
    x, y = mnist_test
    for i, key in enumerate(held_out_drawers(6)):
        make_drawing(model_input=x[i].tobytes(), label=int(y[i]), drawer_key=key)
    random_net = Network(seed=3)  # untrained: it disagrees with the live version on most drawings
    metrics = {"sets": {"mnist_test": {"accuracy": 10.0, "correct": 1000, "count": 10000, "wilson": [9.4, 10.6]}}}
    candidate = store.write_version("custom", random_net, metrics=metrics, training={"epochs": 0})
    page = admin_page.get(f"/admin/lifecycle/modelversion/{candidate.pk}/compare/").content.decode()
    assert "mnist_test" in page and "<strong>yes</strong>" in page  # worse beyond the noise
    assert page.count("/input.png") >= 3 and "live" in page

    refused = admin_page.post(f"/admin/lifecycle/modelversion/{candidate.pk}/promote/", {"reason": ""}, follow=True)
    assert b"worse than the live" in refused.content
    assert ModelVersion.objects.get(pk=candidate.pk).status == "candidate"
    admin_page.post(f"/admin/lifecycle/modelversion/{candidate.pk}/shadow/", {"reason": "look"})
    assert ModelVersion.objects.get(pk=candidate.pk).status == "shadow"
    forced = {"reason": "accepted for the test", "force": "1"}
    admin_page.post(f"/admin/lifecycle/modelversion/{candidate.pk}/promote/", forced)
    assert ModelVersion.objects.get(pk=candidate.pk).status == "live"
    admin_page.post(f"/admin/lifecycle/modelversion/{candidate.pk}/rollback/", {"reason": "back"})
    assert ModelVersion.objects.get(pk=candidate.pk).status == "retired"
    actions = list(ModelChange.objects.filter(name="custom").order_by("id").values_list("action", "who", "forced"))
    assert actions[-3:] == [("shadow", "root", False), ("promote", "root", True), ("rollback", "root", False)]
    assert admin_page.get(f"/admin/lifecycle/modelversion/{candidate.pk}/change/").status_code == 200


def test_the_buttons_need_the_permission(client, staff_user):
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(staff_user, backend=BACKEND)
    live = ModelVersion.objects.get(name="custom", status="live")
    assert client.get(f"/admin/lifecycle/modelversion/{live.pk}/compare/").status_code == 200
    assert client.post(f"/admin/lifecycle/modelversion/{live.pk}/retire/").status_code == 403
    assert client.post("/admin/lifecycle/modelversion/train/", {"model_custom": "1"}).status_code == 403
    assert not TrainingJob.objects.exists()

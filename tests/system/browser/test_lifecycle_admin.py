"""The admin's lifecycle in a real Chromium: train a candidate (the real worker runs the job), compare it with the live
version, shadow it, promote it (refused as worse, then forced with a reason), roll back."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from recognizer import inference
from recognizer.lifecycle.models import ModelChange, ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def store_dir(tmp_path, settings):
    """Trained weights go to a temporary MODEL_STORE_DIR; what this process serves is forgotten afterwards."""
    settings.MODEL_STORE_DIR = tmp_path / "store"
    yield settings.MODEL_STORE_DIR
    inference.reset()


def worker_database_url():
    """The test database as a URL, so the worker (another process) reads the same one, on SQLite or PostgreSQL."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def run_worker(store):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CACHE_"))},
        "DATABASE_URL": worker_database_url(),
        "MODEL_STORE_DIR": str(store),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "train_worker", "--batch", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_train_compare_shadow_promote_rollback_in_the_admin(visit_factory, django_user_model, store_dir):
    from playwright.sync_api import expect

    django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123")
    visit = visit_factory()
    page = visit.page
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=b""))
    page.goto(visit.base + "/admin/login/?next=/admin/lifecycle/modelversion/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-pass-123")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Train a candidate").click()

    page.fill("input[name=limit]", "300")
    page.get_by_role("button", name="Train").click()
    expect(page.locator("#job-status")).to_have_text("queued")
    run_worker(store_dir)
    # The page refreshes itself every 3 s while the job is active (a reload of ours raced that refresh: ERR_ABORTED).
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#job-versions")).to_have_text("custom-6")

    page.goto(visit.base + "/admin/lifecycle/modelversion/")
    candidate = ModelVersion.objects.get(name="custom", version=6)
    page.locator(f"a[href='/admin/lifecycle/modelversion/{candidate.pk}/compare/']").click()
    expect(page.locator("#version-status")).to_have_text("candidate")
    expect(page.locator("#comparison")).to_contain_text("mnist_test")
    expect(page.locator("#comparison")).to_contain_text("canvas")

    page.get_by_role("button", name="Shadow").click()
    expect(page.locator("#version-status")).to_have_text("shadow")

    page.get_by_role("button", name="Promote").click()  # 300 digits, one epoch: worse beyond the noise
    expect(page.locator(".messagelist")).to_contain_text("worse than the live")
    expect(page.locator("#version-status")).to_have_text("shadow")

    page.fill("input[name=reason]", "the browser test promotes it anyway")
    page.check("input[name=force]")
    page.get_by_role("button", name="Promote").click()
    expect(page.locator("#version-status")).to_have_text("live")

    page.get_by_role("button", name="Roll custom back").click()
    expect(page.locator("#version-status")).to_have_text("retired")
    assert ModelVersion.objects.get(name="custom", status="live").version == 5
    changes = list(ModelChange.objects.filter(name="custom").order_by("id").values_list("action", "who", "reason"))
    assert changes[-4:] == [
        ("candidate", "root", changes[-4][2]),
        ("shadow", "root", ""),
        ("promote", "root", "the browser test promotes it anyway"),
        ("rollback", "root", ""),
    ]
    assert visit.console_errors == []

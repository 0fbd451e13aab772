"""The labeling queue in a real Chromium, driven from the keyboard only."""

import io
import time

import pytest
from django.contrib.auth.models import Permission
from PIL import Image, ImageDraw

from recognizer.models import Drawing
from recognizer.staff import queue as labeling_queue
from tests.factories import make_drawing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "/admin/recognizer/drawing/queue/"
DASHBOARD = "/admin/recognizer/drawing/dashboard/"


def png(seed):
    """A small canvas-like PNG with a stroke, so the queue shows a real picture."""
    image = Image.new("RGB", (140, 140), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(30 + seed % 50, 20), (70, 120), (110 - seed % 40, 40)], fill="black", width=12)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_drawings(count):
    drawings = []
    for i in range(count):
        keras = i % 10
        custom = keras if i % 3 else (keras + 1) % 10  # every third one a disagreement
        drawings.append(
            make_drawing(keras=keras, custom=custom, keras_conf=0.5 + (i % 50) / 100, custom_conf=0.97, image=png(i))
        )
    return drawings


@pytest.fixture
def reviewer(staff_user):
    staff_user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_drawing", "change_drawing"], content_type__app_label="recognizer"
        )
    )
    return staff_user


def log_in(visit, user, password="staff-pass-123"):
    page = visit.page
    # Django's own admin pages (login, list) link no icon, so Chromium asks for /favicon.ico and logs
    # the 404 as a console error; answer it here so the console check below is about our pages.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=b""))
    page.goto(visit.base + "/admin/login/?next=/admin/recognizer/drawing/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#result_list, #changelist")
    return page


def open_queue(visit):
    page = visit.page
    # From the drawing list to the queue by keyboard: focus the link, press Enter.
    page.focus("#queue-link")
    page.keyboard.press("Enter")
    page.wait_for_selector("#queue[data-state='ready']")
    return page


def current_id(page):
    value = page.get_attribute("#queue", "data-current-id")
    return int(value) if value else None


def press_and_wait(page, key):
    """Press a key on the current drawing and wait until the next one is shown."""
    before = page.get_attribute("#queue", "data-current-id")
    page.keyboard.press(key)
    page.wait_for_function(
        "before => { const q = document.getElementById('queue');"
        " return q.dataset.state === 'empty' || (q.dataset.state === 'ready' && q.dataset.currentId !== before); }",
        arg=before,
    )


def wait_until_saved(page, labeled):
    page.wait_for_function(
        "n => { const q = document.getElementById('queue');"
        " return q.dataset.pending === '0' && q.dataset.labeled === String(n); }",
        arg=labeled,
    )


def test_label_three_with_keys_and_undo_one(desktop, reviewer):
    make_drawings(8)
    expected_order = labeling_queue.queue_order(limit=3)
    page = log_in(desktop, reviewer)
    open_queue(desktop)
    assert page.inner_text("#queue-remaining") == "8"
    assert page.is_visible("#answer-keras") and page.is_visible("#answer-custom")

    seen = []
    for key in ("3", "5", "7"):
        seen.append(current_id(page))
        press_and_wait(page, key)
    assert seen == expected_order
    wait_until_saved(page, 3)

    page.keyboard.press("u")  # the third label is undone and that drawing comes back
    # A function, not an expression: Playwright evals an expression, which the page's CSP (no unsafe-eval) blocks.
    page.wait_for_function(f"() => document.getElementById('queue').dataset.currentId === '{seen[2]}'")
    wait_until_saved(page, 2)
    assert page.inner_text("#queue-remaining") == "6"

    labels = {d.pk: d for d in Drawing.objects.filter(pk__in=seen)}
    assert (labels[seen[0]].label, labels[seen[0]].label_source, labels[seen[0]].labeled_by_id) == (
        3,
        "staff",
        reviewer.pk,
    )
    assert (labels[seen[1]].label, labels[seen[1]].labeled_by_id) == (5, reviewer.pk)
    assert labels[seen[2]].label is None and labels[seen[2]].labeled_by is None
    assert Drawing.objects.filter(label__isnull=False).count() == 2

    # s skips without labeling; the buttons do the same as the keys
    skipped = current_id(page)
    press_and_wait(page, "s")
    assert Drawing.objects.get(pk=skipped).label is None
    clicked = current_id(page)
    page.click("#queue-keys button[data-label='4']")
    # A function, not an expression: Playwright evals an expression, which the page's CSP (no unsafe-eval) blocks.
    page.wait_for_function(f"() => document.getElementById('queue').dataset.currentId !== '{clicked}'")
    wait_until_saved(page, 3)
    assert Drawing.objects.get(pk=clicked).label == 4
    assert desktop.foreign_requests() == []
    assert desktop.console_errors == []


def test_fifty_drawings_from_the_keyboard_then_the_dashboard_changes(desktop, reviewer, output_dir):
    drawings = make_drawings(55)
    page = log_in(desktop, reviewer)
    page.goto(desktop.base + DASHBOARD)
    assert page.get_attribute("#dashboard", "data-labeled") == "0"
    assert page.inner_text("#dash-accuracy-keras") == "—"

    page.goto(desktop.base + "/admin/recognizer/drawing/")
    open_queue(desktop)
    answers = {d.pk: d.prediction_for("keras").digit for d in Drawing.objects.with_predictions()}
    pressed = {}
    started = time.perf_counter()
    for _ in range(50):
        pk = current_id(page)
        assert pk not in pressed, f"drawing {pk} was shown twice"
        # label most as keras said, every fourth one as something else, so accuracy is not trivial
        label = answers[pk] if len(pressed) % 4 else (answers[pk] + 1) % 10
        pressed[pk] = label
        press_and_wait(page, str(label))
    wait_until_saved(page, 50)
    elapsed = time.perf_counter() - started
    waits = int(page.get_attribute("#queue", "data-waits") or 0) - 1  # the first load is not a wait
    print(
        f"\nlabeled 50 drawings from the keyboard in {elapsed:.1f} s ({1000 * elapsed / 50:.0f} ms each; "
        f"{waits} time(s) the next drawing was not ready yet)"
    )
    page.screenshot(path=str(output_dir / "queue.png"))

    stored = dict(Drawing.objects.filter(label_source="staff").values_list("pk", "label"))
    assert stored == pressed
    assert len(stored) == 50
    assert page.inner_text("#queue-remaining") == str(len(drawings) - 50)

    page.goto(desktop.base + DASHBOARD)
    assert page.get_attribute("#dashboard", "data-labeled") == "50"
    right = sum(1 for pk, label in pressed.items() if answers[pk] == label)
    accuracy = page.locator("#dash-accuracy-keras")
    assert (accuracy.get_attribute("data-k"), accuracy.get_attribute("data-n")) == (str(right), "50")
    assert accuracy.inner_text() == f"{100 * right / 50:.1f}%"
    assert page.locator("svg.chart rect.cell").count() == 200  # two 10×10 confusion matrices
    assert page.locator("svg.chart circle.point").count() > 0
    page.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)
    assert desktop.foreign_requests() == []
    assert desktop.console_errors == []

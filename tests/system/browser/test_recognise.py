"""Recognise in Chromium against the real API and models: mouse on a desktop, touch on a phone, keys."""

import base64

import pytest
from playwright.sync_api import expect

from recognizer.models import Drawing

from .strokes import DIGITS, decode_data_url, draw_with_mouse, draw_with_touch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def is_predict(request):
    return request.method == "POST" and request.url.endswith("/api/predict/")


def shown_answers(page):
    page.locator("#results[data-state='answered']").wait_for()
    return {
        name: int(page.locator(f".answer[data-model='{name}'] [data-field='digit']").inner_text())
        for name in ("keras", "custom")
    }


def check_sent_image(request):
    """The image sent is the strokes alone: 280×280, black on white, no guide, no backing-store scale."""
    body = request.post_data_json
    assert body["source"] == "web"
    image = decode_data_url(body["image"])
    assert image.size == (280, 280)
    rgb = image.convert("RGB")
    colours = {pixel for pixel in rgb.get_flattened_data()}
    assert all(r == g == b for r, g, b in colours), "only greys: the blue dashed guide is not in the image"
    grey = rgb.convert("L")
    assert all(grey.getpixel(corner) == 255 for corner in [(0, 0), (279, 0), (0, 279), (279, 279)])
    assert sum(1 for v in grey.get_flattened_data() if v < 128) > 2000, "the strokes are there, thick enough for MNIST"
    return base64.b64decode(body["image"].partition(",")[2])


def check_answer_panel(page, answers):
    for name, digit in answers.items():
        panel = page.locator(f".answer[data-model='{name}']")
        expect(panel.locator(".bar")).to_have_count(10)
        expect(panel.locator(".bar.top")).to_have_count(1)
        expect(panel.locator(".bar.top")).to_have_attribute("data-digit", str(digit))
        expect(panel.locator("[data-field='confidence']")).to_contain_text("% sure")
        widths = panel.locator(".bar-fill").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
        assert max(widths) == widths[digit] > 0
    seen = page.locator("#seen")
    assert seen.get_attribute("src").startswith("data:image/png;base64,")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert seen.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    assert seen.evaluate("img => img.getBoundingClientRect().width") >= 112


def check_stored(visit, drawing_id, sent_png, answers):
    drawing = Drawing.objects.with_predictions().get(pk=drawing_id)
    assert {p.model_name: p.digit for p in drawing.predictions.all()} == answers
    assert drawing.source == "web"
    assert bytes(drawing.image) == sent_png
    cookie = next(c for c in visit.context.cookies() if c["name"] == "drawer")
    assert drawing.drawer_key and cookie["value"].startswith(drawing.drawer_key + ":")  # key:timestamp:signature
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    return drawing


@pytest.mark.parametrize("digit", ["7", "0"])
def test_mouse_drawn_digit_is_recognised_by_both_models(desktop, output_dir, digit):
    page = desktop.open()
    draw_with_mouse(page, DIGITS[digit])
    with page.expect_request(is_predict) as sent:
        page.locator("#recognise").click()
    sent_png = check_sent_image(sent.value)
    answers = shown_answers(page)
    assert answers == {"keras": int(digit), "custom": int(digit)}
    check_answer_panel(page, answers)
    expect(page.locator("#verdict")).to_have_text(f"✓ Both models say {digit}.")
    expect(page.locator("#announce")).to_contain_text(f"says {digit}")

    drawing_id = int(page.locator("#results").get_attribute("data-drawing-id"))
    assert Drawing.objects.count() == 1
    check_stored(desktop, drawing_id, sent_png, answers)
    expect(page.locator(f"#recent-list li[data-id='{drawing_id}']")).to_be_visible()
    expect(page.locator("#recognise")).to_be_enabled()
    page.screenshot(path=output_dir / f"answered-page-{digit}.png", full_page=True)
    if digit == "7":
        page.screenshot(path=output_dir / "answered-page.png", full_page=True)
    assert desktop.foreign_requests() == []
    assert desktop.console_errors == []


def test_touch_drawn_digit_is_recognised_on_a_phone(phone, output_dir):
    page = phone.open()
    draw_with_touch(page, DIGITS["7"])
    assert page.locator("#ink").get_attribute("data-last-pointer-type") == "touch"
    with page.expect_request(is_predict) as sent:
        page.locator("#recognise").tap()
    sent_png = check_sent_image(sent.value)
    answers = shown_answers(page)
    assert answers == {"keras": 7, "custom": 7}
    check_answer_panel(page, answers)
    # The answers are below the pad on a phone, so they are also said next to the button.
    expect(page.locator("#message")).to_contain_text("Keras CNN says 7, Numpy network says 7")
    drawing_id = int(page.locator("#results").get_attribute("data-drawing-id"))
    check_stored(phone, drawing_id, sent_png, answers)
    # The two answers sit side by side even on a 360 px phone, and nothing sticks out sideways.
    keras = page.locator(".answer[data-model='keras']").bounding_box()
    custom = page.locator(".answer[data-model='custom']").bounding_box()
    assert keras["y"] == custom["y"] and keras["x"] + keras["width"] <= custom["x"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator("#results").scroll_into_view_if_needed()
    page.screenshot(path=output_dir / "answered-phone.png", full_page=True)
    assert phone.foreign_requests() == []
    assert phone.console_errors == []


def test_enter_recognises_once_per_drawing_and_changes_make_the_answer_stale(desktop):
    page = desktop.open()
    predicts = []
    page.on("request", lambda r: is_predict(r) and predicts.append(r))
    draw_with_mouse(page, DIGITS["1"])
    page.keyboard.press("Enter")
    shown_answers(page)
    first_id = page.locator("#results").get_attribute("data-drawing-id")

    # The same drawing again: not sent twice.
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("already")
    assert len(predicts) == 1

    # Changing the drawing marks the shown answer as stale until it is recognised again.
    page.keyboard.press("Escape")
    expect(page.locator("#results")).to_have_class("panel results stale")
    expect(page.locator(".stale-note")).to_be_visible()
    draw_with_mouse(page, DIGITS["0"])
    page.keyboard.press("Enter")
    expect(page.locator("#results")).not_to_have_attribute("data-drawing-id", first_id)
    expect(page.locator(".stale-note")).to_have_count(0)
    assert len(predicts) == 2
    assert Drawing.objects.count() == 2
    expect(page.locator("#recent-list li")).to_have_count(2)
    assert desktop.foreign_requests() == []

"""The drawing pad in Chromium: high-DPI backing store, strokes, undo, clear, keys, the empty-canvas message."""

import pytest
from playwright.sync_api import expect

from .strokes import DIGITS, draw_with_mouse, draw_with_pen, draw_with_touch, ink_pixels

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_canvas_is_280_css_pixels_with_a_device_pixel_backing_store(phone):
    page = phone.open()
    size = page.evaluate(
        """() => { const c = document.getElementById('ink'); const r = c.getBoundingClientRect();
                   return [c.width, c.height, r.width, r.height, window.devicePixelRatio]; }"""
    )
    assert size == [560, 560, 280, 280, 2]
    assert page.evaluate("getComputedStyle(document.getElementById('ink')).touchAction") == "none"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "no sideways scrolling on a phone"


def test_mouse_strokes_draw_and_undo_removes_only_the_last_stroke(desktop):
    page = desktop.open()
    expect(page.locator("#undo")).to_be_disabled()
    expect(page.locator("#clear")).to_be_disabled()
    draw_with_mouse(page, DIGITS["1"])
    one = ink_pixels(page)
    assert one > 3000  # ~180 px long × 20 px wide
    draw_with_mouse(page, [[(60, 140), (220, 140)]])
    both = ink_pixels(page)
    assert both > one
    assert page.locator("#ink").get_attribute("data-last-pointer-type") == "mouse"
    expect(page.locator("#pad")).to_have_class("pad has-ink")

    page.locator("#undo").click()
    assert ink_pixels(page) == one
    page.locator("#undo").click()
    assert ink_pixels(page) == 0
    expect(page.locator("#undo")).to_be_disabled()
    expect(page.locator("#pad")).to_have_class("pad")


def test_clear_button_and_keyboard_shortcuts(desktop):
    page = desktop.open()
    draw_with_mouse(page, DIGITS["7"])
    draw_with_mouse(page, DIGITS["1"])
    page.locator("#clear").click()
    assert ink_pixels(page) == 0
    expect(page.locator("#clear")).to_be_disabled()

    draw_with_mouse(page, DIGITS["7"])
    first = ink_pixels(page)
    draw_with_mouse(page, DIGITS["1"])
    page.keyboard.press("Backspace")
    assert ink_pixels(page) == first
    draw_with_mouse(page, DIGITS["1"])
    page.keyboard.press("Control+z")
    assert ink_pixels(page) == first
    page.keyboard.press("Escape")
    assert ink_pixels(page) == 0


def test_touch_draws_without_scrolling_the_page(phone):
    page = phone.open()
    page.evaluate("window.scrollTo(0, 40)")
    scroll = page.evaluate("window.scrollY")
    assert scroll > 0, "the phone page is taller than the screen"
    # Downwards and upwards drags on the pad would scroll the page without touch-action: none.
    draw_with_touch(page, DIGITS["7"])
    draw_with_touch(page, [list(reversed(DIGITS["1"][0]))])
    assert page.locator("#ink").get_attribute("data-last-pointer-type") == "touch"
    assert ink_pixels(page) > 4 * 6000  # two strokes at 2× device pixels
    assert page.evaluate("window.scrollY") == scroll


def test_a_pen_draws_too(desktop):
    page = desktop.open()
    draw_with_pen(page, DIGITS["7"])
    assert page.locator("#ink").get_attribute("data-last-pointer-type") == "pen"
    assert ink_pixels(page) > 5000
    expect(page.locator("#undo")).to_be_enabled()


def test_empty_canvas_says_draw_a_digit_first_and_sends_nothing(desktop):
    page = desktop.open()
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("Draw a digit first")
    page.keyboard.press("Enter")
    expect(page.locator("#error")).to_contain_text("Draw a digit first")
    assert not [url for url in desktop.requests if "/api/predict/" in url]
    # Drawing something takes the message away.
    draw_with_mouse(page, DIGITS["1"])
    expect(page.locator("#error")).to_be_hidden()
    assert desktop.console_errors == []

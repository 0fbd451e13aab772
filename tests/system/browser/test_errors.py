"""Failures are shown in words, never silently: empty drawing, rate limit, server error, offline, in flight."""

import base64
import io
import json

import pytest
from PIL import Image
from playwright.sync_api import expect

from recognizer.models import Drawing

from .strokes import DIGITS, draw_with_mouse
from .test_recognise import is_predict, shown_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def blank_canvas_data_url():
    buffer = io.BytesIO()
    Image.new("RGB", (280, 280), "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_servers_empty_drawing_answer_is_shown(desktop):
    page = desktop.open()
    responses = []
    page.on("response", lambda r: is_predict(r.request) and responses.append(r.status))

    # The real server sees a blank canvas (as when every stroke lies outside the pad).
    def send_blank(route):
        body = route.request.post_data_json
        body["image"] = blank_canvas_data_url()
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/predict/", send_blank)
    draw_with_mouse(page, DIGITS["1"])
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_contain_text("Draw a digit first")
    assert responses == [422]
    assert Drawing.objects.count() == 0
    expect(page.locator("#recognise")).to_be_enabled()


@pytest.mark.parametrize(
    ("status", "headers", "body", "words"),
    [
        (429, {"Retry-After": "17"}, {"error": "throttled", "detail": "Request was throttled."}, "try again in 17"),
        (500, {}, "<h1>Server Error (500)</h1>", "server had a problem (error 500)"),
        (503, {}, "", "server had a problem (error 503)"),
    ],
    ids=["rate-limit", "server-error", "unavailable"],
)
def test_error_answers_are_shown_in_words(desktop, status, headers, body, words):
    page = desktop.open()
    page.route(
        "**/api/predict/",
        lambda route: route.fulfill(
            status=status,
            headers=headers,
            content_type="application/json" if isinstance(body, dict) else "text/html",
            body=json.dumps(body) if isinstance(body, dict) else body,
        ),
    )
    draw_with_mouse(page, DIGITS["7"])
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text(words)
    if status == 429:
        expect(page.locator("#error")).to_contain_text("rate limit")
    expect(page.locator("#recognise")).to_be_enabled()
    expect(page.locator("#results")).to_have_attribute("data-state", "empty")


def test_offline_is_shown_and_clears_when_back_online(desktop):
    page = desktop.open()
    draw_with_mouse(page, DIGITS["7"])
    desktop.context.set_offline(True)
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_contain_text("You are offline")
    desktop.context.set_offline(False)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#message")).to_have_text("Back online.")
    # And it works again.
    page.locator("#recognise").click()
    shown_answers(page)
    assert Drawing.objects.count() == 1


def test_unreachable_server_is_shown(desktop):
    page = desktop.open()
    page.route("**/api/predict/", lambda route: route.abort("connectionrefused"))
    draw_with_mouse(page, DIGITS["7"])
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_contain_text("Could not reach the server")
    expect(page.locator("#recognise")).to_be_enabled()


def test_recognise_is_disabled_while_a_request_is_in_flight(desktop):
    page = desktop.open()
    held = []
    page.route("**/api/predict/", lambda route: held.append(route))
    draw_with_mouse(page, DIGITS["7"])
    page.locator("#recognise").click()
    button = page.locator("#recognise")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button).to_have_text("Recognising…")
    page.keyboard.press("Enter")  # a second try while the first is in flight sends nothing
    for _ in range(500):  # the route handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(20)
    held[0].continue_()
    shown_answers(page)
    expect(button).to_be_enabled()
    expect(button).to_have_attribute("aria-busy", "false")
    assert len(held) == 1
    assert Drawing.objects.count() == 1


def test_an_answer_lost_on_the_way_back_is_retried_without_storing_twice(desktop):
    page = desktop.open()
    lost = []

    def store_then_drop(route):
        lost.append(route.fetch())  # the server stores the drawing and answers...
        route.abort("connectionreset")  # ...but the answer never reaches the page

    page.route("**/api/predict/", store_then_drop)
    draw_with_mouse(page, DIGITS["7"])
    page.locator("#recognise").click()
    expect(page.locator("#error")).to_contain_text("Could not reach the server")
    assert [r.status for r in lost] == [201] and Drawing.objects.count() == 1

    page.unroute("**/api/predict/")
    with page.expect_response(lambda r: is_predict(r.request)) as answer:
        page.locator("#recognise").click()  # the same drawing, sent again
    shown_answers(page)
    assert answer.value.status == 201
    assert answer.value.headers.get("idempotent-replayed") == "true"
    assert answer.value.json()["id"] == lost[0].json()["id"]
    assert Drawing.objects.count() == 1
    sent = answer.value.request.headers["idempotency-key"]
    assert sent.startswith("web-") and Drawing.objects.get().idempotency_key == sent

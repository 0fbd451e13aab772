"""'Was this right?' in Chromium: stored through the feedback endpoint as the user's label, and confirmed."""

import json

import pytest
from playwright.sync_api import expect

from recognizer.models import Drawing

from .strokes import DIGITS, draw_with_mouse
from .test_recognise import shown_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def recognise(page, digit):
    draw_with_mouse(page, DIGITS[digit])
    page.locator("#recognise").click()
    answers = shown_answers(page)
    return int(page.locator("#results").get_attribute("data-drawing-id")), answers


def test_it_was_n_stores_the_users_label(desktop):
    page = desktop.open()
    drawing_id, answers = recognise(page, "7")
    with page.expect_response(lambda r: r.url.endswith(f"/api/drawings/{drawing_id}/feedback/")) as done:
        page.get_by_role("button", name="It was 1", exact=True).click()
    assert done.value.status == 200
    expect(page.locator("#fb-status")).to_have_text("Thanks — saved: it was 1.")
    expect(page.get_by_role("button", name="It was 1", exact=True)).to_have_attribute("aria-pressed", "true")
    drawing = Drawing.objects.get(pk=drawing_id)
    assert (drawing.label, drawing.label_source) == (1, "user")

    # Changing one's mind overwrites one's own label; the recent list shows it.
    page.get_by_role("button", name="It was 7", exact=True).click()
    expect(page.locator("#fb-status")).to_have_text("Thanks — saved: it was 7.")
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source) == (7, "user")
    expect(page.locator(f"#recent-list li[data-id='{drawing_id}'] .recent-label")).to_have_text("it was 7")
    assert desktop.foreign_requests() == []


def test_yes_stores_the_answer_both_models_gave(desktop):
    page = desktop.open()
    drawing_id, answers = recognise(page, "0")
    assert answers["keras"] == answers["custom"]
    yes = page.locator("#fb-yes")
    expect(yes).to_have_text(f"Yes, it was {answers['keras']}")
    yes.click()
    expect(page.locator("#fb-status")).to_have_text(f"Thanks — saved: it was {answers['keras']}.")
    drawing = Drawing.objects.get(pk=drawing_id)
    assert (drawing.label, drawing.label_source) == (answers["keras"], "user")


def test_yes_asks_which_model_was_right_when_they_disagree(desktop, output_dir):
    page = desktop.open()

    # A real answer from the server, with the numpy network's answer moved to another digit, so the
    # page's disagreement path is exercised whatever the models make of this drawing.
    def disagree(route):
        response = route.fetch()
        data = response.json()
        custom = data["predictions"]["custom"]
        other = (data["predictions"]["keras"]["digit"] + 4) % 10
        probabilities = custom["probabilities"]
        probabilities[other], probabilities[custom["digit"]] = probabilities[custom["digit"]], probabilities[other]
        custom.update(digit=other, probabilities=probabilities)
        data["agree"] = False
        route.fulfill(response=response, body=json.dumps(data))

    page.route("**/api/predict/", disagree)
    drawing_id, answers = recognise(page, "7")
    assert answers["keras"] != answers["custom"]
    expect(page.locator("#verdict")).to_have_class("verdict disagree")
    expect(page.locator("#verdict")).to_contain_text("The models disagree")
    expect(page.locator(".disagree-badge")).to_have_count(2)
    expect(page.locator("#fb-which")).to_be_hidden()

    page.locator("#fb-yes").click()
    expect(page.locator("#fb-which")).to_be_visible()
    choices = page.locator("#fb-which-buttons button")
    expect(choices).to_have_count(2)
    page.screenshot(path=output_dir / "disagree-page.png", full_page=True)
    page.get_by_role("button", name=f"Numpy network: it was {answers['custom']}").click()
    expect(page.locator("#fb-status")).to_have_text(f"Thanks — saved: it was {answers['custom']}.")
    drawing = Drawing.objects.get(pk=drawing_id)
    assert (drawing.label, drawing.label_source) == (answers["custom"], "user")
    assert desktop.foreign_requests() == []


def test_delete_from_the_recent_drawings_removes_it_and_its_predictions(desktop):
    page = desktop.open()
    drawing_id, _answers = recognise(page, "7")
    item = page.locator(f"#recent-list li[data-id='{drawing_id}']")
    expect(item).to_be_visible()
    with page.expect_response(lambda r: r.request.method == "DELETE") as done:
        page.get_by_role("button", name=f"Delete drawing #{drawing_id}").click()
    assert done.value.status == 204
    expect(item).to_have_count(0)
    assert not Drawing.objects.filter(pk=drawing_id).exists()

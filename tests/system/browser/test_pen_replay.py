"""Real pen trajectories replayed on the drawing page (UNIPEN validation writers, never trained on).

1. The training renderer (recognizer.ml.strokes) and the page's canvas give nearly the same 28x28 input for the
   same strokes.
2. 30 digits by 30 different writers, drawn with pointer events: both models' answers and what was stored.
"""

import base64

import numpy as np
import pytest
from playwright.sync_api import expect

from recognizer.ml import datasets, preprocess, strokes
from recognizer.models import Drawing

from .strokes import decode_data_url, draw_with_mouse, draw_with_pen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def is_predict(request):
    return request.method == "POST" and request.url.endswith("/api/predict/")


def validation_digits(count):
    """``count`` digits by as many validation writers, the classes in turn (deterministic)."""
    digits = datasets.load_unipen()
    held = sorted(datasets.validation_writers(digits))
    by_writer = {}
    for d in digits:
        if d.writer in held:
            by_writer.setdefault(d.writer, []).append(d)
    chosen, used = [], set()
    while len(chosen) < count:
        label = len(chosen) % 10
        writer = next((w for w in held if w not in used and any(d.label == label for d in by_writer[w])), None)
        if writer is None:  # fewer writers than asked: any unused digit of this class
            used.clear()
            continue
        used.add(writer)
        chosen.append(next(d for d in by_writer[writer] if d.label == label))
    return chosen


def on_pad(digit, height=200.0):
    """The digit's strokes as CSS-pixel points on the 280x280 pad: cleaned, ``height`` px tall, centred."""
    placed = strokes.place(strokes.clean(strokes.as_strokes(digit.strokes)), height, strokes.LINE_WIDTH)
    return [[(float(x), float(y)) for x, y in s] for s in placed]


def recognise(page, previous_id=None):
    with page.expect_request(is_predict) as sent:
        page.locator("#recognise").click()
    if previous_id is not None:
        expect(page.locator("#results")).not_to_have_attribute("data-drawing-id", str(previous_id))
    page.locator("#results[data-state='answered']").wait_for()
    answers = {
        name: int(page.locator(f".answer[data-model='{name}'] [data-field='digit']").inner_text())
        for name in ("keras", "custom")
    }
    drawing_id = int(page.locator("#results").get_attribute("data-drawing-id"))
    return sent.value, answers, drawing_id


def test_the_training_renderer_draws_like_the_page(desktop):
    page = desktop.open()
    diffs, drawing_id = [], None
    for digit in validation_digits(10):
        pts = on_pad(digit)
        draw_with_mouse(page, pts, steps=1)  # exactly these points, as pointer events
        request, _, drawing_id = recognise(page, drawing_id)
        sent = decode_data_url(request.post_data_json["image"])
        page_input = preprocess.image_to_model_input(sent)
        ours = strokes.to_model_input(strokes.draw([np.array(s) for s in pts], strokes.LINE_WIDTH))
        diffs.append(float(np.abs(page_input - ours).mean()))
        page.keyboard.press("Escape")
    print("mean |page - renderer| per 28x28 pixel:", [round(d, 4) for d in diffs])
    # typically ~0.005; one digit in ten ~0.04 (anti-aliasing moves its ink box edge by a pixel)
    assert np.median(diffs) < 0.01 and max(diffs) < 0.06, diffs


def test_thirty_writers_replayed_with_a_pen(desktop):
    page = desktop.open()
    right, drawing_id = {"keras": 0, "custom": 0}, None
    digits = validation_digits(30)
    assert len({d.writer for d in digits}) == 30
    for n, digit in enumerate(digits, 1):
        draw_with_pen(page, on_pad(digit, height=120.0 + 4 * n), steps=1)
        request, answers, drawing_id = recognise(page, drawing_id)
        for name, answer in answers.items():
            right[name] += answer == digit.label
        drawing = Drawing.objects.with_predictions().get(pk=drawing_id)
        assert drawing.source == "web" and drawing.label is None
        assert {p.model_name: p.digit for p in drawing.predictions.all()} == answers
        sent_png = base64.b64decode(request.post_data_json["image"].partition(",")[2])
        assert bytes(drawing.image) == sent_png
        assert bytes(drawing.model_input) == preprocess.input_to_bytes(preprocess.to_model_input(sent_png))
        page.keyboard.press("Escape")
    print("right out of 30:", right)
    assert Drawing.objects.count() == 30
    assert right["keras"] >= 28 and right["custom"] >= 27, right
    assert desktop.console_errors == []

"""bench/floor_wsgi.py, the benchmark's floor: it must do the app's work and storage, or its figure means nothing."""

import io
import json

import pytest

from recognizer.models import Drawing
from tests.api_images import data_url, png


@pytest.mark.django_db(transaction=True)
def test_the_floor_stores_a_drawing_with_both_answers_like_the_app():
    from bench import floor_wsgi

    image = png()
    body = json.dumps({"image": data_url(image)}).encode()
    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
    statuses = []
    answer = json.loads(b"".join(floor_wsgi.application(environ, lambda status, headers: statuses.append(status))))
    assert statuses == ["201 Created"]
    drawing = Drawing.objects.get(pk=answer["id"])
    assert bytes(drawing.image) == image and len(bytes(drawing.model_input)) == 28 * 28
    stored = {p.model_name: p.digit for p in drawing.predictions.all()}
    assert stored == {name: a["digit"] for name, a in answer["predictions"].items()}
    assert set(stored) == {"keras", "custom"} and stored["keras"] == 1  # the test image is a vertical stroke


@pytest.mark.django_db
def test_the_floor_answers_a_bad_body_with_400_and_stores_nothing():
    from bench import floor_wsgi

    body = b'{"image": "data:image/png;base64,not a png"}'
    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    statuses = []
    floor_wsgi.application(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["400 Bad Request"] and Drawing.objects.count() == 0

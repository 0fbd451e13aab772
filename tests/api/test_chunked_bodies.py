"""recognizer/chunked.py: a chunked body reaches Django with a length; too big is a JSON 413; a server that does not
de-chunk gets a JSON 411. (Live, through gunicorn and nginx: tests/test_nginx_stack.py.)"""

import io
import json

from django.test import override_settings

from recognizer.chunked import accept_chunked_bodies


def call(environ):
    seen, started = {}, {}

    def app(env, start_response):
        seen.update(
            length=env.get("CONTENT_LENGTH"), body=env["wsgi.input"].read(), te=env.get("HTTP_TRANSFER_ENCODING")
        )
        start_response("200 OK", [])
        return [b"ok"]

    def start_response(status, headers):
        started.update(status=status, headers=dict(headers))

    body = b"".join(accept_chunked_bodies(app)(environ, start_response))
    return started, body, seen


def environ(body, **extra):
    return {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body), **extra}


def test_a_decoded_chunked_body_gets_a_length():
    started, _, seen = call(
        environ(b'{"image": 1}', HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True})
    )
    assert started["status"] == "200 OK"
    assert seen == {"length": "12", "body": b'{"image": 1}', "te": None}


def test_an_ordinary_body_passes_untouched():
    _, _, seen = call(environ(b"abc", CONTENT_LENGTH="3"))
    assert seen == {"length": "3", "body": b"abc", "te": None}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100, MAX_BATCH_BYTES=50, MAX_UPLOAD_BYTES=10)
def test_a_chunked_body_over_the_largest_limit_is_a_json_413():
    started, body, seen = call(environ(b"x" * 101, HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True}))
    assert started["status"].startswith("413") and started["headers"]["Content-Type"] == "application/json"
    assert json.loads(body)["error"] == "payload_too_large"
    assert seen == {}


def test_a_server_that_does_not_de_chunk_gets_a_json_411():
    started, body, seen = call(environ(b"5\r\nhello\r\n0\r\n\r\n", HTTP_TRANSFER_ENCODING="chunked"))
    assert started["status"].startswith("411")
    assert json.loads(body)["error"] == "length_required"
    assert seen == {}

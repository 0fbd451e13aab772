"""Chunked request bodies (``Transfer-Encoding: chunked``) reach Django like any other body (issue 15).

Django reads ``CONTENT_LENGTH`` bytes and, without one, sees an empty body, so a chunked predict used to answer
"image: This field is required". nginx de-chunks before gunicorn (deploy/nginx.conf.template); for gunicorn on its
own this WSGI wrapper (installed in digitsite/wsgi.py) reads the de-chunked stream up to the largest body any door
accepts and hands Django a body with a length. A server that does not decode chunks itself (no
``wsgi.input_terminated``, e.g. runserver) gets a JSON 411 asking for a Content-Length. Django's settings are read per
request, so importing this before setup is safe.
"""

import io
import json


def _json(start_response, status, code, detail):
    body = json.dumps({"error": code, "detail": detail}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def body_limit():
    from django.conf import settings

    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, settings.MAX_BATCH_BYTES, settings.MAX_UPLOAD_BYTES)


def accept_chunked_bodies(app):
    def application(environ, start_response):
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _json(start_response, "411 Length Required", "length_required", "Send a Content-Length header.")
        limit = body_limit()
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            return _json(
                start_response,
                "413 Request Entity Too Large",
                "payload_too_large",
                f"The request body is over the {limit}-byte limit.",
            )
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return app(environ, start_response)

    return application

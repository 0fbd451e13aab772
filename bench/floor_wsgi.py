"""The floor under predict-and-store: the app's work and storage with none of Django's request handling (issue 17).

It takes the same request as ``POST /api/predict/``, counts it in Redis the way the rate limit does (``cache.add``,
else ``cache.incr``), prepares the PNG (``domain.images.prepare``) and predicts and stores it through the domain's
use case, as every door does (``domain.predicting.predict_and_store``), and answers the same fields as JSON. There
is no validation, no middleware, no URL routing, no DRF, no drawer cookie and no Idempotency-Key: what it costs is
what the goal's stack costs before the app adds anything, so its CPU per request is a lower bound for the app's.

Served by gunicorn with the same config as the app: ``GUNICORN_APP=bench.floor_wsgi:application gunicorn -c
gunicorn.conf.py``.
"""

import base64
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digitsite.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402

from recognizer.domain import images, predicting  # noqa: E402 -- the models load on the first request
from recognizer.domain.predicting import Context  # noqa: E402
from recognizer.drawer import new_drawer_key  # noqa: E402


def _answer(status, payload):
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], [body]


def handle(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data_url = json.loads(environ["wsgi.input"].read(length))["image"]
        png = base64.b64decode(data_url.split(",", 1)[1], validate=True)
        item = images.prepare(png)
    except Exception as exc:  # noqa: BLE001 -- a floor, not an API: any bad body is a 400
        return _answer("400 Bad Request", {"error": "bad_request", "detail": str(exc)})
    key = f"floor:{environ.get('REMOTE_ADDR', '')}"
    if not cache.add(key, 1, timeout=61):
        cache.incr(key)
    drawing = predicting.predict_and_store([item], Context(source="api", drawer_key=new_drawer_key())).drawings[0]
    answers = {p.model_name: p for p in drawing.all_predictions()}
    return _answer(
        "201 Created",
        {
            "id": drawing.pk,
            "created": drawing.created.isoformat(),
            "predictions": {
                name: {"digit": a.digit, "confidence": a.confidence, "probabilities": list(a.probabilities)}
                for name, a in answers.items()
            },
        },
    )


def application(environ, start_response):
    status, headers, body = handle(environ)
    start_response(status, headers)
    return body

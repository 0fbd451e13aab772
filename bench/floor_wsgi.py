"""The floor under predict-and-store: the app's work and storage with none of Django's request handling (issue 17).

It takes the same request as ``POST /api/predict/``, counts it in Redis the way the rate limit does (``cache.add``,
else ``cache.incr``), preprocesses the PNG with the live preprocessing, runs both models as the app does
(``inference.predict_both``), stores the drawing and both answers with the app's one-statement INSERT
(``Drawing.objects.record``) and answers the same fields as JSON. There is no validation, no middleware, no URL
routing, no DRF, no drawer cookie and no idempotency: what it costs is what the goal's stack costs before the app
adds anything, so its CPU per request is a lower bound for the app's.

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

from recognizer import inference  # noqa: E402 -- the models load on the first request, in each worker
from recognizer.drawer import new_drawer_key  # noqa: E402
from recognizer.ml import preprocess  # noqa: E402
from recognizer.models import Drawing  # noqa: E402


def _answer(status, payload):
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], [body]


def handle(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        data_url = json.loads(environ["wsgi.input"].read(length))["image"]
        png = base64.b64decode(data_url.split(",", 1)[1], validate=True)
        x = preprocess.to_model_input(png)
    except Exception as exc:  # noqa: BLE001 -- a floor, not an API: any bad body is a 400
        return _answer("400 Bad Request", {"error": "bad_request", "detail": str(exc)})
    key = f"floor:{environ.get('REMOTE_ADDR', '')}"
    if not cache.add(key, 1, timeout=61):
        cache.incr(key)
    answers = inference.predict_both(x)
    drawing = Drawing.objects.record(
        image=png,
        model_input=preprocess.input_to_bytes(x),
        preprocess_version=preprocess.PREPROCESS_VERSION,
        answers=answers,
        drawer_key=new_drawer_key(),
    )
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

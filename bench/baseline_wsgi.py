"""The benchmark's baseline: what the replaced app did for each drawing, as a bare WSGI app.

It takes the same request as ``POST /api/predict/`` (JSON ``{"image": "data:image/png;base64,..."}``), resizes the
image naively (``preprocess.naive_model_input``) and calls Keras ``model.predict`` on a batch of one, then answers the
digit. It stores nothing (the old app overwrote one shared ``output.png``, which we do not reproduce) and has no
Django, no validation and no second model, so the comparison flatters the baseline, not us.

Served by gunicorn with the same config as the app: ``GUNICORN_APP=bench.baseline_wsgi:application
GUNICORN_PRELOAD=0 gunicorn -c gunicorn.conf.py`` (no preload: the model must load in each worker, after the fork).
"""

import base64
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from recognizer.ml import preprocess  # noqa: E402


def keras_model_path():
    """The Keras model the app serves: the manifest's entry, else the newest ``keras*.keras`` in MODELS_DIR."""
    models_dir = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
    if os.environ.get("BASELINE_KERAS_MODEL"):
        return Path(os.environ["BASELINE_KERAS_MODEL"])
    manifest = models_dir / "manifest.json"
    if manifest.exists():
        entry = json.loads(manifest.read_text()).get("models", {}).get("keras")
        name = entry.get("file") if isinstance(entry, dict) else None
        if name and (models_dir / name).exists():
            return models_dir / name
    candidates = sorted(models_dir.glob("keras*.keras"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"no keras*.keras model in {models_dir}")
    return candidates[-1]


def _load():
    from recognizer.ml import keras_model

    model = keras_model.load_model(keras_model_path())
    shape = (1, *model.input_shape[1:])
    model.predict(np.zeros(shape, "float32"), verbose=0)  # the old app was warm after its first request too
    return model, shape


MODEL, SHAPE = _load()


def application(environ, start_response):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data_url = json.loads(environ["wsgi.input"].read(length))["image"]
        png = base64.b64decode(data_url.split(",", 1)[1])
        x = preprocess.naive_model_input(png).reshape(SHAPE).astype("float32")
    except Exception as exc:  # the old app answered 500 here; 400 keeps the benchmark's error count honest
        body = json.dumps({"error": "bad_request", "detail": str(exc)}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    probabilities = MODEL.predict(x, verbose=0)[0]
    body = json.dumps({"digit": int(np.argmax(probabilities)), "id": None}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

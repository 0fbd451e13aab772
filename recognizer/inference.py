"""The loaded models and ``predict_batch()``, the one way they are asked (``predict_both()``: a batch of one).

What is served is what the database says (``recognizer.lifecycle``): the live version of every model, and any version
in shadow. A fresh database registers the weights committed in ``models/`` (``models/manifest.json``) as the first
live versions. Each file's sha256 (and its companions', e.g. the Keras model's ``.tflite``) is checked against the
version's record and each model gets a warm-up call. A single Keras answer runs the model's TensorFlow Lite flatbuffer
(``ml/keras_model.py``), batches a ``tf.function`` traced once -- never ``model.predict``.

Models are loaded once per process, under a lock: at start (gunicorn's ``post_worker_init``, ``runserver``) or on
first use. A process then follows promotions with no restart: :func:`watch` starts a thread that reads a cheap
fingerprint of the served versions (:func:`recognizer.lifecycle.store.generation`) every ``CHECK_SECONDS`` and, when
it changed, loads the new set beside the old one and swaps the whole set in one assignment. A request takes one
snapshot of the set, so no answer mixes versions and no request waits for a load.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recognizer.ml import publishing, registry

MODEL_NAMES = registry.NAMES
MANIFEST = "manifest.json"
CHECK_SECONDS = 2.0  # how often a process looks for a promotion: the switch takes this plus a load (~1-3 s)
CACHE_SIZE = 6  # loaded versions kept beside the served ones, so a rollback swaps back at once
_REPO_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


class ModelsUnavailable(RuntimeError):
    """A served version's file is missing or does not match its checksum, or the versions cannot be read."""


@dataclass(frozen=True)
class ModelAnswer:
    digit: int
    probabilities: list[float]
    confidence: float
    model_version: str  # "<name>-<version>", e.g. "keras-2"
    time_ms: float


@dataclass
class _Model:
    name: str
    version: str
    predict: Callable[[np.ndarray], np.ndarray]  # (28, 28) float32 -> (10,) probabilities
    entry: dict
    predict_many: Callable[[np.ndarray], np.ndarray] | None = None  # (N, 28, 28) float32 -> (N, 10), one call


@dataclass(frozen=True)
class ServedSet:
    """One consistent set: the live model of every name, the shadow ones, and the fingerprint they were loaded for."""

    live: dict[str, _Model]
    shadow: dict[str, _Model] = field(default_factory=dict)
    generation: tuple = ()


def models_dir() -> Path:
    try:
        from django.conf import settings

        if settings.configured and getattr(settings, "MODELS_DIR", None):
            return Path(settings.MODELS_DIR)
    except ImportError:  # pragma: no cover - Django is always installed here
        pass
    return _REPO_ROOT / "models"


def read_manifest(directory: Path | None = None) -> dict:
    """The committed manifest (what a fresh database registers as the first live versions)."""
    path = (directory or models_dir()) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelsUnavailable(f"no model manifest at {path}: run `python manage.py train`") from None
    except (OSError, ValueError) as exc:
        raise ModelsUnavailable(f"unreadable model manifest {path}: {exc}") from exc


def _model_file(directory: Path, entry: dict) -> Path:
    for name, sha256 in publishing.checksums(entry).items():  # the weights, then e.g. the .tflite requests run
        path = directory / name
        if not path.exists():
            raise ModelsUnavailable(f"model file missing: {path}")
        if sha256 and publishing.sha256_file(path) != sha256:
            raise ModelsUnavailable(
                f"model file {path} does not match the sha256 of {entry['name']}-{entry['version']}"
            )
    return directory / entry["file"]


_lock = threading.Lock()  # one load at a time
_current: ServedSet | None = None
_cache: dict[tuple, _Model] = {}
_last_check = 0.0


def _load_one(served) -> _Model:
    key = served.key
    if key in _cache:
        return _cache[key]
    spec = registry.get(served.name)
    predict, predict_many = spec.resolve("serve")(_model_file(served.directory, served.entry))
    model = _Model(spec.name, spec.version_of(served.entry), predict, served.entry, predict_many)
    blank = np.zeros((28, 28), np.float32)
    for _ in range(3):  # warm-up: trace the tf.function, touch every weight
        model.predict(blank)
    model.predict_many(np.zeros((2, 28, 28), np.float32))
    _cache[key] = model
    return model


def _read_served() -> tuple[list, tuple]:
    from django.db import DatabaseError

    from recognizer.lifecycle import store

    try:
        wanted, generation = store.served(), store.generation()
        for served in wanted:
            if served.key not in _cache:
                store.materialize(served)  # a version trained on another server: its files from the database
        return wanted, generation
    except DatabaseError as exc:
        raise ModelsUnavailable(f"cannot read the model versions from the database: {exc}") from exc


def _load_all() -> ServedSet:
    """Load what the database says is served (reusing versions already loaded) into a new set."""
    wanted, generation = _read_served()
    live = {s.name: _load_one(s) for s in wanted if s.status == "live"}
    missing = [n for n in MODEL_NAMES if n not in live]
    if missing:
        raise ModelsUnavailable(f"no live version of {', '.join(missing)}: promote one (or run `manage.py train`)")
    shadow = {}
    for s in wanted:
        if s.status == "shadow":
            try:
                shadow[s.name] = _load_one(s)
            except ModelsUnavailable as exc:  # a broken shadow never stops serving
                log.warning("shadow %s-%s not loaded: %s", s.name, s.version, exc)
    keep = {id(m) for m in (*live.values(), *shadow.values())}
    for key in [k for k, m in _cache.items() if id(m) not in keep][: max(0, len(_cache) - len(keep) - CACHE_SIZE)]:
        del _cache[key]
    return ServedSet({n: live[n] for n in MODEL_NAMES}, shadow, generation)


def served_set() -> ServedSet:
    """The set this process serves now (loaded on first use, once per process, thread-safe): one snapshot."""
    global _current
    current = _current
    if current is None:
        with _lock:
            if _current is None:
                _current = _load_all()
            current = _current
    return current


def get_models() -> dict[str, _Model]:
    """The live models (loaded on first use, once per process, thread-safe)."""
    return served_set().live


def refresh(force: bool = True) -> bool:
    """Look at the served versions' fingerprint (unless ``force``, at most every ``CHECK_SECONDS``); when it changed,
    load the new set and swap it in. Returns whether the set changed. Requests go on with the old set meanwhile."""
    global _current, _last_check
    if _current is None:
        served_set()
        return True
    now = time.monotonic()
    if not force and now - _last_check < CHECK_SECONDS:
        return False
    _last_check = now
    from django.db import DatabaseError

    from recognizer.lifecycle import store

    try:
        generation = store.generation()
    except DatabaseError as exc:
        log.warning("model versions unreadable, serving what is loaded: %s", exc)
        return False
    if generation == _current.generation:
        return False
    with _lock:
        if _current is not None and generation == _current.generation:
            return False
        new = _load_all()
        old = _current
        _current = new  # one assignment: a request sees the old set or the new one, never half of each
    log.info(
        "models now %s (were %s)",
        {n: m.version for n, m in new.live.items()},
        None if old is None else {n: m.version for n, m in old.live.items()},
    )
    return True


_watcher_pid = None


def watch(interval: float = CHECK_SECONDS) -> None:
    """Follow promotions in this process: a daemon thread calls :func:`refresh` every ``interval`` seconds."""
    global _watcher_pid
    if _watcher_pid == os.getpid():
        return
    _watcher_pid = os.getpid()

    def loop():
        from django.db import close_old_connections

        while True:
            time.sleep(interval)
            try:
                close_old_connections()
                refresh(force=True)
            except Exception:  # never let the watcher die: the next round tries again
                log.exception("refreshing the served models failed")

    threading.Thread(target=loop, name="model-watcher", daemon=True).start()


def start_in_background() -> None:
    """Load the models now in a thread (the first predict waits for it if needed), then follow promotions."""

    def load():
        from django.db import connection

        try:
            warm_up()
        except Exception:
            log.exception("loading the models at start failed; the first predict will try again")
        finally:
            connection.close()
        watch()

    threading.Thread(target=load, name="model-warm-up", daemon=True).start()


def warm_up() -> None:
    """Load the models now (e.g. at start-up) instead of on the first request."""
    get_models()


def is_warm() -> bool:
    """Whether this process has its models loaded (``/readyz``); never loads them."""
    return _current is not None


def reset() -> None:
    """Forget the loaded models (tests, or after new weights were written)."""
    global _current, _last_check
    with _lock:
        _current = None
        _cache.clear()
        _last_check = 0.0


def model_versions() -> dict[str, str]:
    return {name: model.version for name, model in get_models().items()}


def _answer(model: _Model, x: np.ndarray) -> ModelAnswer:
    t0 = time.perf_counter()
    p = np.asarray(model.predict(x), dtype=np.float64)
    elapsed = (time.perf_counter() - t0) * 1000.0
    p = np.clip(p, 0.0, None)
    p = p / p.sum()
    probabilities = [float(v) for v in p]
    digit = int(np.argmax(p))
    return ModelAnswer(digit, probabilities, probabilities[digit], model.version, round(elapsed, 3))


def _answers(model: _Model, x: np.ndarray) -> list[ModelAnswer]:
    t0 = time.perf_counter()
    p = np.asarray(model.predict_many(x), dtype=np.float64).reshape(len(x), 10)
    per_image = round((time.perf_counter() - t0) * 1000.0 / max(len(x), 1), 3)  # the batch's time, shared out
    p = np.clip(p, 0.0, None)
    p = p / p.sum(axis=1, keepdims=True)
    out = []
    for row in p:
        probabilities = [float(v) for v in row]
        digit = int(np.argmax(row))
        out.append(ModelAnswer(digit, probabilities, probabilities[digit], model.version, per_image))
    return out


def _ask(models: dict[str, _Model], x: np.ndarray) -> list[dict[str, ModelAnswer]]:
    if len(x) == 1:
        return [{name: _answer(model, x[0]) for name, model in models.items()}]
    per_model = {name: _answers(model, x) for name, model in models.items()}
    return [{name: per_model[name][i] for name in models} for i in range(len(x))]


def _checked(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected an (N, 28, 28) input, got {x.shape}")
    return x


def predict_batch(x: np.ndarray) -> list[dict[str, ModelAnswer]]:
    """Every model's answers for a batch, (N, 28, 28) float32 in [0, 1]: the one way the models are asked.

    One image runs each model's single-input path (Keras: its TensorFlow Lite interpreter, 0.08 ms against 0.41 ms for
    the batched ``tf.function``); more run each model once on the whole batch, and ``time_ms`` of each answer is the
    model's time for the batch divided by N. The answers all come from one snapshot of the served set. Nothing is
    counted here: the domain counts what it stores."""
    x = _checked(x)
    if len(x) == 0:
        return []
    models = get_models()  # one snapshot for the whole request
    return _ask({name: models[name] for name in MODEL_NAMES}, x)


def shadow_batch(x: np.ndarray) -> list[dict[str, ModelAnswer]]:
    """The shadow versions' answers for a batch (empty dicts when none is in shadow); as :func:`predict_batch`."""
    x = _checked(x)
    shadow = served_set().shadow
    if len(x) == 0 or not shadow:
        return [{} for _ in range(len(x))]
    return _ask(dict(shadow), x)


def predict_both(x: np.ndarray) -> dict[str, ModelAnswer]:
    """Both models' answers for one input, (28, 28): ``predict_batch`` on a batch of one (scripts and tests)."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape != (28, 28):
        raise ValueError(f"expected a (28, 28) input, got {x.shape}")
    return predict_batch(x[None])[0]

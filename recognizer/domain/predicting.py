"""Predict and store: the one use case behind every door.

The drawing page and ``/api/predict/``, ``/api/predict/batch/``, the v2 protocol, TF Serving, ``import_drawings`` and
the benchmark's floor each prepare their drawings (``domain.images``) and call :func:`predict_and_store`. A single
predict is a batch of one. Here, and only here:

- the models are asked, once per model for the whole batch (``inference.predict_batch``);
- every drawing and all its answers are stored in one transaction (``Drawing.objects.record_many``);
- an Idempotency-Key is honoured: a repeat answers the drawings stored the first time, a reuse for other drawings or
  by another drawer is an :class:`IdempotencyConflict`;
- the metrics count what was stored, so a replay or a conflict counts nothing.
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np
from django.db import IntegrityError, InterfaceError, OperationalError, transaction

from recognizer import metrics
from recognizer.domain.errors import DatabaseUnavailable, IdempotencyConflict, ModelsUnavailable
from recognizer.domain.images import Prepared
from recognizer.ml import preprocess
from recognizer.models import Drawing

__all__ = ["Context", "Prepared", "Result", "item_keys", "predict_and_store"]


@dataclass(frozen=True)
class Context:
    """Where the drawings come from and who drew them.

    ``drawer_key``: the drawer they are stored under. ``sent_drawer``: the drawer cookie the client sent, if any (a
    replay from another drawer is a conflict). ``idempotency_key``: the request's Idempotency-Key, if any.
    ``labels`` / ``labeled_by``: staff labels stored with the drawings in the same transaction (imports)."""

    source: str
    drawer_key: str = ""
    sent_drawer: str | None = None
    idempotency_key: str | None = None
    labels: list[int] | None = None
    labeled_by: object = None


@dataclass
class Result:
    drawings: list = field(default_factory=list)
    replayed: bool = False


def item_keys(idempotency_key, n):
    """One stored key per drawing. A single drawing keeps the client's key; a batch's drawings get keys derived from
    it ('#' never occurs in a client's key, so the two never collide)."""
    if not idempotency_key:
        return [None] * n
    if n == 1:
        return [idempotency_key]
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return [f"batch#{digest}#{i}" for i in range(n)]


def predict_and_store(items: list[Prepared], context: Context) -> Result:
    """Ask the models about every item, store each drawing with all its answers in one transaction, return them.

    Raises ``ModelsUnavailable``, ``DatabaseUnavailable`` or ``IdempotencyConflict``; nothing is stored then."""
    from recognizer import inference  # TensorFlow loads with the models, not when Django starts

    if not items:
        raise ValueError("predict_and_store needs at least one item")
    keys = item_keys(context.idempotency_key, len(items))
    x = np.stack([item.model_input for item in items])
    try:
        answers = inference.predict_batch(x)
    except inference.ModelsUnavailable as exc:
        if isinstance(exc.__cause__, OperationalError | InterfaceError):  # what is live is read from the database
            raise DatabaseUnavailable("The database is unreachable; nothing was stored.") from exc
        raise ModelsUnavailable(str(exc)) from exc
    rows = [
        {
            "image": item.image,
            "image_type": item.image_type,
            "model_input": preprocess.input_to_bytes(item.model_input),
            "answers": a,
            "idempotency_key": key,
        }
        for item, a, key in zip(items, answers, keys, strict=True)
    ]
    try:
        drawings = _store(rows, context)
    except IntegrityError:
        replayed = _replay(keys, items, context) if context.idempotency_key else None
        if replayed is None:  # some other constraint failed
            raise
        return Result(replayed, replayed=True)
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable("The database is unreachable; nothing was stored.") from exc
    for a in answers:  # counted once stored: a replay or a conflict is not a new prediction
        metrics.observe_answers(a)
    from recognizer.lifecycle import shadow  # versions in shadow answer too, stored apart; never fails a predict

    shadow.answer(drawings, x)
    return Result(drawings)


def _store(rows, context):
    fields = {
        "source": context.source,
        "drawer_key": context.drawer_key,
        "preprocess_version": preprocess.PREPROCESS_VERSION,
    }
    if context.labels is None:
        return Drawing.objects.record_many(rows, **fields)
    with transaction.atomic():
        drawings = Drawing.objects.record_many(rows, **fields)
        Drawing.objects.label_imported(drawings, context.labels, by=context.labeled_by)
    return drawings


def _replay(keys, items, context):
    """The drawings an earlier request with these keys stored (None: there are none), or a conflict."""
    try:
        stored = {
            d.idempotency_key: d
            for d in Drawing.objects.with_predictions().select_related("picture").filter(idempotency_key__in=keys)
        }
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable("The database is unreachable.") from exc
    if not stored:
        return None
    same = len(stored) == len(keys) and all(
        bytes(stored[k].image) == item.image for k, item in zip(keys, items, strict=True)
    )
    sent = context.sent_drawer
    if not same or (sent and any(d.drawer_key != sent for d in stored.values())):
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different drawing; send a new key for a new drawing."
        )
    return [stored[k] for k in keys]

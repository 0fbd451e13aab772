"""Shadow answers: a version in shadow answers every predict too, through every door, after the drawings are stored.

Its answers go to :class:`ShadowAnswer` (this app's table), never to ``recognizer.Prediction``: drawers and API
clients never see them and the accuracy rollup never counts them; staff see them on a drawing (``"shadow"``). A
shadow's failure is logged and never fails the predict.
"""

from __future__ import annotations

import logging

from django.db import transaction

from recognizer.lifecycle.models import ShadowAnswer

log = logging.getLogger(__name__)


def answer(drawings, x) -> int:
    """Ask the shadow versions about ``x`` (the stored ``drawings``' model inputs, (N, 28, 28)) and store their answers;
    returns how many were stored (0 when none is in shadow or anything failed)."""
    try:
        from recognizer import inference

        if not inference.is_warm() or not drawings:
            return 0
        answers = inference.shadow_batch(x)
        rows = [
            ShadowAnswer(
                drawing_id=drawing.pk,
                name=name,
                version=int(a.model_version.rsplit("-", 1)[1]),
                digit=a.digit,
                confidence=a.confidence,
                probabilities=a.probabilities,
            )
            for drawing, per_model in zip(drawings, answers, strict=True)
            for name, a in per_model.items()
        ]
        if rows:
            with transaction.atomic():  # a savepoint inside a caller's transaction: a failure here stays here
                ShadowAnswer.objects.bulk_create(rows)
        return len(rows)
    except Exception:
        log.exception("shadow answers not stored")
        return 0


def for_drawing(drawing) -> list[dict]:
    """A drawing's shadow answers, for staff."""
    return [
        {
            "model_name": s.name,
            "model_version": s.model_version,
            "digit": s.digit,
            "confidence": s.confidence,
            "probabilities": s.probabilities,
            "created": s.created,
        }
        for s in ShadowAnswer.objects.filter(drawing_id=drawing.pk).order_by("name", "version")
    ]


def scoreboard(name: str, version: int) -> dict | None:
    """The shadow version against the live answers on the drawings it answered that staff have labelled since: both
    accuracies with Wilson intervals on the same drawings (None when there are none)."""
    from recognizer.lifecycle import stats
    from recognizer.models import Drawing, Prediction

    rows = ShadowAnswer.objects.filter(
        name=name, version=version, drawing__label__isnull=False, drawing__label_source=Drawing.LabelSource.STAFF
    ).values_list("drawing_id", "digit", "drawing__label")
    shadow = {drawing: (digit, label) for drawing, digit, label in rows}
    if not shadow:
        return None
    live = dict(
        Prediction.objects.filter(drawing_id__in=list(shadow), model_name=name).values_list("drawing_id", "digit")
    )
    both = [d for d in shadow if d in live]
    if not both:
        return None
    shadow_right = sum(shadow[d][0] == shadow[d][1] for d in both)
    live_right = sum(live[d] == shadow[d][1] for d in both)
    return {
        "count": len(both),
        "shadow": stats.score(0, len(both), correct=shadow_right),
        "live": stats.score(0, len(both), correct=live_right),
    }


def scoreboards() -> list[dict]:
    """Every version now in shadow with its :func:`scoreboard` (None until staff label a drawing it answered): the
    accuracy dashboard's "In shadow" table."""
    from recognizer.lifecycle.models import ModelVersion

    versions = ModelVersion.objects.filter(status=ModelVersion.Status.SHADOW).order_by("name")
    return [{"version": v, "scores": scoreboard(v.name, v.version)} for v in versions]

"""The labeling queue's logic: which drawing each staff member gets next, leases, label, skip and undo. No HTTP:
the admin views that serve it are in ``staff/review.py``.

Queue order: drawings the models disagree on first, then the least confident (lower of the two confidences
under ``LOW_CONFIDENCE``), then the rest; within each group the least confident first. The order is kept on each
drawing at insert as one number (``Drawing.queue_rank``, see ``models.queue_rank``) with a partial index over the
drawings still waiting, so the next drawing is the first entry of that index however many wait.
A drawing handed to one staff member is leased to them for ``LEASE_SECONDS`` (``staff/leases.py``: in the cache,
taken with an atomic ``add``, released by a compare-and-delete), so two people labeling at once never get the same
drawing; once labeled it leaves the queue. Skips and the undo stack live in the session (any mapping here): they
are one person's, not shared.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime

from recognizer.models import LOW_CONFIDENCE, Drawing, LabelConflict
from recognizer.staff import leases

__all__ = ["LOW_CONFIDENCE"]  # re-exported: the groups' boundary lives with the drawing's queue_rank

LEASE_SECONDS = 120
REMAINING_CAP = 10000  # "drawings left" is counted exactly up to here, then shown as "10000+"
UNDO_DEPTH = 50
SKIP_LIMIT = 1000
LEASE_SCAN = 50  # candidates looked at per query when skipping ones leased to someone else
SKIPPED_KEY = "label_queue_skipped"
UNDO_KEY = "label_queue_undo"


class QueueError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail, *, status=None, code=None):
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.code = code or self.code


# --- leases and order ------------------------------------------------------------------------------------------


def lease_key(pk):
    return f"recognizer:queue:lease:{pk}"


def take_lease(pk, user_id):
    """Lease a drawing to a user; True if it is theirs now (new, or already theirs)."""
    return leases.take(lease_key(pk), user_id, LEASE_SECONDS)


def release_lease(pk, user_id):
    """Drop the user's lease on a drawing, atomically: never someone else's fresh lease."""
    leases.release(lease_key(pk), user_id)


def waiting():
    """The drawings still waiting for a staff label, in queue order (``drawing_queue_idx``). User-labeled drawings
    wait too: staff confirm them."""
    return Drawing.objects.exclude(label_source=Drawing.LabelSource.STAFF).order_by("queue_rank", "id")


def queue_order(limit=None):
    """Ids of the waiting drawings in queue order (leases aside)."""
    return list(waiting().values_list("pk", flat=True)[:limit])


def remaining(skipped=()):
    """(drawings waiting, this person's skips aside, counted up to ``REMAINING_CAP``; True when there are more)."""
    rows = waiting().order_by().exclude(pk__in=list(skipped))
    count = rows[: REMAINING_CAP + 1].count()
    return min(count, REMAINING_CAP), count > REMAINING_CAP


def next_drawings(user_id, *, exclude=(), skipped=(), count=1):
    """The next ``count`` drawings for this user, leased to them; never one leased to someone else."""
    queryset = waiting().exclude(pk__in=[*exclude, *skipped])
    taken, start = [], 0
    while len(taken) < count:
        chunk = list(queryset.values_list("pk", flat=True)[start : start + LEASE_SCAN])
        if not chunk:
            break
        holders = leases.holders([lease_key(pk) for pk in chunk])
        for pk in chunk:
            holder = holders.get(lease_key(pk))
            if (holder is None or holder == user_id) and take_lease(pk, user_id):
                taken.append(pk)
                if len(taken) == count:
                    break
        start += LEASE_SCAN
    by_pk = Drawing.objects.with_predictions().in_bulk(taken)
    return [by_pk[pk] for pk in taken if pk in by_pk]


def _snapshot(drawing):
    return {
        "label": drawing.label,
        "label_source": drawing.label_source,
        "labeled_by": drawing.labeled_by_id,
        "labeled_at": drawing.labeled_at.isoformat() if drawing.labeled_at else None,
    }


def label_drawing(user, pk, digit):
    """Set a staff label from the queue; returns the undo record. A staff label by someone else is kept."""
    with transaction.atomic():
        drawing = get_object_or_404(Drawing.objects.select_for_update(), pk=pk)
        if drawing.label_source == Drawing.LabelSource.STAFF and drawing.labeled_by_id not in (None, user.pk):
            raise QueueError(
                f"Drawing {pk} was labeled {drawing.label} by another staff member.",
                status=409,
                code="already_labeled",
            )
        before = _snapshot(drawing)
        try:
            drawing.set_label(digit, by=user, override=False)
        except LabelConflict:  # labeled by someone else between the read above and the write (PostgreSQL locks)
            raise QueueError(
                f"Drawing {pk} was labeled by another staff member.", status=409, code="already_labeled"
            ) from None
    release_lease(pk, user.pk)
    return {"id": pk, "label": digit, "before": before}


def undo_label(user, record):
    """Put a drawing back as it was before ``record`` — only if nobody changed it since."""
    pk = record["id"]
    take_lease(pk, user.pk)  # first, so nobody else is handed it between the restore and the reply
    with transaction.atomic():
        drawing = get_object_or_404(Drawing.objects.select_for_update(), pk=pk)
        before = record["before"]
        restored = drawing.restore_label(
            {
                "label": before["label"],
                "label_source": before["label_source"],
                "labeled_by": _existing_user_id(before["labeled_by"]),
                "labeled_at": parse_datetime(before["labeled_at"]) if before["labeled_at"] else None,
            },
            only_if=(record["label"], Drawing.LabelSource.STAFF, user.pk),
        )
        if not restored:
            release_lease(pk, user.pk)
            raise QueueError(f"Drawing {pk} changed since you labeled it; not undone.", status=409, code="changed")
    return Drawing.objects.with_predictions().get(pk=pk)


def _existing_user_id(pk):
    """``pk`` if that user still exists: the one who labeled before may have been deleted since."""
    if pk is None or not get_user_model().objects.filter(pk=pk).exists():
        return None
    return pk


# --- one person's skips and undo stack, kept in their session ---------------------------------------------


def skipped_ids(session):
    return session.get(SKIPPED_KEY, [])


def state(session):
    """What the queue page shows: drawings still waiting (this person's skips aside), skips, undo depth."""
    left, more = remaining(skipped_ids(session))
    return {
        "remaining": left,
        "remaining_more": more,
        "skipped": len(skipped_ids(session)),
        "undo": len(session.get(UNDO_KEY, [])),
    }


def label(session, user, pk, digit):
    """Label a drawing and remember how to undo it (the last ``UNDO_DEPTH`` labels)."""
    record = label_drawing(user, pk, digit)
    session[UNDO_KEY] = [*session.get(UNDO_KEY, []), record][-UNDO_DEPTH:]


def skip(session, user, pk):
    """Put a drawing aside for this person (the last ``SKIP_LIMIT``) and let others have it."""
    session[SKIPPED_KEY] = [*(s for s in skipped_ids(session) if s != pk), pk][-SKIP_LIMIT:]
    release_lease(pk, user.pk)


def reset_skips(session):
    session[SKIPPED_KEY] = []


def undo(session, user):
    """Undo this person's last label; the drawing as it is now."""
    stack = list(session.get(UNDO_KEY, []))
    if not stack:
        raise QueueError("Nothing to undo.", status=409, code="nothing_to_undo")
    record = stack.pop()
    session[UNDO_KEY] = stack  # popped even when it fails: that label can't be undone
    return undo_label(user, record)

"""Staff review: the one-key labeling queue and the accuracy dashboard, served inside the admin.

``ReviewAdminMixin`` adds the pages to ``DrawingAdmin`` (``get_urls``), so they live under
/admin/recognizer/drawing/ and go through ``admin_site.admin_view`` (staff only, CSRF, no caching).

Queue order: drawings the models disagree on first, then the least confident (lower of the two confidences
under ``LOW_CONFIDENCE``), then the rest; within each group the least confident first (``queue_groups``).
A drawing handed to one staff member is leased to them for ``LEASE_SECONDS`` (in the cache, taken with an
atomic ``add``), so two people labeling at once never get the same drawing; once labeled it leaves the
queue. Skips and the undo stack live in the session: they are one person's, not shared.
"""

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from recognizer import limits
from recognizer.image_responses import image_response
from recognizer.ml import preprocess
from recognizer.models import MODEL_NAMES, Drawing, Prediction
from recognizer.staff import accuracy, charts

LEASE_SECONDS = 120
LOW_CONFIDENCE = 0.9
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


# --- the queue --------------------------------------------------------------------------------------------


def _lease_key(pk):
    return f"recognizer:queue:lease:{pk}"


def take_lease(pk, user_id):
    """Lease a drawing to a user; True if it is theirs now (new, or already theirs)."""
    key = _lease_key(pk)
    if cache.add(key, user_id, LEASE_SECONDS):
        return True
    if cache.get(key) == user_id:
        cache.set(key, user_id, LEASE_SECONDS)
        return True
    return False


def release_lease(pk, user_id):
    key = _lease_key(pk)
    if cache.get(key) == user_id:
        cache.delete(key)


def queue_groups():
    """The drawings still waiting for a staff label, as three querysets in queue order: disagreements, then
    agreements with a confidence under ``LOW_CONFIDENCE``, then the rest; each least confident first.

    User-labeled drawings wait too: staff confirm them. Three small sorted queries instead of one big one, so
    handing out the next drawing reads only the first group while there are disagreements left.
    """
    waiting = Drawing.objects.exclude(label_source=Drawing.LabelSource.STAFF)
    unsure = Exists(Prediction.objects.filter(drawing=OuterRef("pk"), confidence__lt=LOW_CONFIDENCE))
    groups = [
        waiting.filter(Q(agree=False) | Q(agree__isnull=True)),
        waiting.filter(unsure, agree=True),
        waiting.filter(~unsure, agree=True),
    ]
    return [
        group.annotate(lowest_confidence=Min("predictions__confidence")).order_by(
            F("lowest_confidence").asc(nulls_first=True), "id"
        )
        for group in groups
    ]


def queue_order(limit=None):
    """Ids of the waiting drawings in queue order (leases aside)."""
    ids = []
    for group in queue_groups():
        ids += group.values_list("pk", flat=True)[: None if limit is None else limit - len(ids)]
        if limit is not None and len(ids) >= limit:
            break
    return ids


def remaining(skipped=()):
    return Drawing.objects.exclude(label_source=Drawing.LabelSource.STAFF).exclude(pk__in=list(skipped)).count()


def next_drawings(user_id, *, exclude=(), skipped=(), count=1):
    """The next ``count`` drawings for this user, leased to them; never one leased to someone else."""
    not_these = [*exclude, *skipped]
    taken = []
    for group in queue_groups():
        queryset, start = group.exclude(pk__in=not_these), 0
        while len(taken) < count:
            chunk = list(queryset.values_list("pk", flat=True)[start : start + LEASE_SCAN])
            if not chunk:
                break
            holders = cache.get_many([_lease_key(pk) for pk in chunk])
            for pk in chunk:
                holder = holders.get(_lease_key(pk))
                if (holder is None or holder == user_id) and take_lease(pk, user_id):
                    taken.append(pk)
                    if len(taken) == count:
                        break
            start += LEASE_SCAN
        if len(taken) == count:
            break
    by_pk = Drawing.objects.with_predictions().defer("image", "model_input").in_bulk(taken)
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
        drawing = get_object_or_404(Drawing.objects.select_for_update().defer("image", "model_input"), pk=pk)
        if drawing.label_source == Drawing.LabelSource.STAFF and drawing.labeled_by_id not in (None, user.pk):
            raise QueueError(
                f"Drawing {pk} was labeled {drawing.label} by another staff member.",
                status=409,
                code="already_labeled",
            )
        before = _snapshot(drawing)
        drawing.set_label(digit, by=user)
    release_lease(pk, user.pk)
    return {"id": pk, "label": digit, "before": before}


def undo_label(user, record):
    """Put a drawing back as it was before ``record`` — only if nobody changed it since."""
    pk = record["id"]
    take_lease(pk, user.pk)  # first, so nobody else is handed it between the restore and the reply
    with transaction.atomic():
        drawing = get_object_or_404(Drawing.objects.select_for_update().defer("image", "model_input"), pk=pk)
        if (
            drawing.label != record["label"]
            or drawing.label_source != Drawing.LabelSource.STAFF
            or drawing.labeled_by_id != user.pk
        ):
            release_lease(pk, user.pk)
            raise QueueError(f"Drawing {pk} changed since you labeled it; not undone.", status=409, code="changed")
        before = record["before"]
        drawing.label = before["label"]
        drawing.label_source = before["label_source"]
        drawing.labeled_by_id = _existing_user_id(before["labeled_by"])
        drawing.labeled_at = parse_datetime(before["labeled_at"]) if before["labeled_at"] else None
        drawing.save(update_fields=["label", "label_source", "labeled_by", "labeled_at"])
    return Drawing.objects.with_predictions().defer("image", "model_input").get(pk=pk)


def _existing_user_id(pk):
    """``pk`` if that user still exists: the one who labeled before may have been deleted since."""
    if pk is None or not get_user_model().objects.filter(pk=pk).exists():
        return None
    return pk


# --- views ------------------------------------------------------------------------------------------------


def _json_error(code, detail, status):
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _int(value, name, low=None, high=None):
    try:
        return limits.parse_int(value, low, high)  # bounded digits: never int()'s 4,300-digit ValueError
    except ValueError:
        if low is None or high is None:
            raise QueueError(f"{name} must be an integer.", code="invalid_" + name) from None
        raise QueueError(f"{name} must be an integer between {low} and {high}.", code="invalid_" + name) from None


def _id(value, name="id"):
    # Ids past the BigAutoField range would overflow the database driver (SQLite: OverflowError, a 500).
    return _int(value, name, 1, limits.MAX_ID)


def _body(request):
    try:
        data = limits.loads(request.body or b"{}")  # bounded depth: 5,000 brackets are a 400, not a RecursionError
    except limits.BadInput:
        raise QueueError(
            f"Body must be JSON (at most {limits.MAX_JSON_DEPTH} levels deep).", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise QueueError("Body must be a JSON object.", code="invalid_json")
    return data


class ReviewAdminMixin:
    """Labeling queue, dashboard and image views for ``DrawingAdmin``."""

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"

        def wrap(view):
            return self.admin_site.admin_view(view)

        urls = [
            path("queue/", wrap(self.queue_view), name=f"{prefix}_queue"),
            path("queue/next/", wrap(self.queue_next_view), name=f"{prefix}_queue_next"),
            path("queue/label/", wrap(self.queue_label_view), name=f"{prefix}_queue_label"),
            path("queue/skip/", wrap(self.queue_skip_view), name=f"{prefix}_queue_skip"),
            path("queue/undo/", wrap(self.queue_undo_view), name=f"{prefix}_queue_undo"),
            path("queue/reset-skips/", wrap(self.queue_reset_view), name=f"{prefix}_queue_reset"),
            path("dashboard/", wrap(self.dashboard_view), name=f"{prefix}_dashboard"),
            path("<int:pk>/image/", wrap(self.image_view), name=f"{prefix}_image"),
            path("<int:pk>/input.png", wrap(self.input_view), name=f"{prefix}_input"),
        ]
        return urls + super().get_urls()

    # -- helpers

    def _url(self, name, *args):
        return reverse(f"{self.admin_site.name}:recognizer_drawing_{name}", args=args)

    def drawing_payload(self, drawing):
        answers = []
        for name in MODEL_NAMES:
            p = drawing.prediction_for(name)
            if p is not None:
                answers.append(
                    {
                        "model": name,
                        "digit": p.digit,
                        "confidence": p.confidence,
                        "version": p.model_version,
                        "probabilities": p.probabilities,
                    }
                )
        return {
            "id": drawing.pk,
            "image_url": self._url("image", drawing.pk),
            "input_url": self._url("input", drawing.pk),
            "change_url": self._url("change", drawing.pk),
            "created": drawing.created.isoformat(),
            "agree": drawing.agree,
            "label": drawing.label,
            "label_source": drawing.label_source,
            "answers": answers,
        }

    def _queue_state(self, request):
        skipped = request.session.get(SKIPPED_KEY, [])
        return {
            "remaining": remaining(skipped),
            "skipped": len(skipped),
            "undo": len(request.session.get(UNDO_KEY, [])),
        }

    def _json_view(self, request, handler, permission):
        if not permission(request):
            return _json_error("permission_denied", "You may not label drawings.", 403)
        try:
            return JsonResponse(handler())
        except QueueError as e:
            return _json_error(e.code, e.detail, e.status)
        except Http404:
            return _json_error("not_found", "No such drawing.", 404)

    # -- queue

    def queue_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Labeling queue",
            "state": self._queue_state(request),
            "urls": {name: self._url(f"queue_{name}") for name in ("next", "label", "skip", "undo", "reset")},
            "dashboard_url": self._url("dashboard"),
            "models": MODEL_NAMES,
            "digits": range(10),
        }
        return TemplateResponse(request, "admin/recognizer/drawing/queue.html", context)

    def queue_next_view(self, request):
        @require_GET
        def handle(request):
            def handler():
                raw = [v for v in request.GET.get("exclude", "").split(",") if v.strip()]
                exclude = [_id(v, "exclude") for v in raw[:100]]
                count = _int(request.GET.get("count", "1"), "count", 1, 10)
                drawings = next_drawings(
                    request.user.pk, exclude=exclude, skipped=request.session.get(SKIPPED_KEY, []), count=count
                )
                return {"drawings": [self.drawing_payload(d) for d in drawings], **self._queue_state(request)}

            return self._json_view(request, handler, self.has_change_permission)

        return handle(request)

    def queue_label_view(self, request):
        @require_POST
        def handle(request):
            def handler():
                data = _body(request)
                pk = _id(data.get("id"))
                digit = _int(data.get("label"), "label", 0, 9)
                record = label_drawing(request.user, pk, digit)
                stack = request.session.get(UNDO_KEY, [])
                request.session[UNDO_KEY] = [*stack, record][-UNDO_DEPTH:]
                return {"id": pk, "label": digit, **self._queue_state(request)}

            return self._json_view(request, handler, self.has_change_permission)

        return handle(request)

    def queue_skip_view(self, request):
        @require_POST
        def handle(request):
            def handler():
                pk = _id(_body(request).get("id"))
                skipped = [s for s in request.session.get(SKIPPED_KEY, []) if s != pk]
                request.session[SKIPPED_KEY] = [*skipped, pk][-SKIP_LIMIT:]
                release_lease(pk, request.user.pk)
                return {"id": pk, **self._queue_state(request)}

            return self._json_view(request, handler, self.has_change_permission)

        return handle(request)

    def queue_undo_view(self, request):
        @require_POST
        def handle(request):
            def handler():
                stack = list(request.session.get(UNDO_KEY, []))
                if not stack:
                    raise QueueError("Nothing to undo.", status=409, code="nothing_to_undo")
                record = stack.pop()
                request.session[UNDO_KEY] = stack  # popped even when it fails: that label can't be undone
                drawing = undo_label(request.user, record)
                return {"drawing": self.drawing_payload(drawing), **self._queue_state(request)}

            return self._json_view(request, handler, self.has_change_permission)

        return handle(request)

    def queue_reset_view(self, request):
        @require_POST
        def handle(request):
            def handler():
                request.session[SKIPPED_KEY] = []
                return self._queue_state(request)

            return self._json_view(request, handler, self.has_change_permission)

        return handle(request)

    # -- dashboard

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        include_user_labels = request.GET.get("include_user_labels") in ("1", "true", "on")
        numbers = accuracy.compute(include_user_labels=include_user_labels)
        models = numbers["models"]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Accuracy dashboard",
            "n": numbers,
            "include_user_labels": include_user_labels,
            "queue_url": self._url("queue"),
            "api_url": "/api/accuracy/",
            "model_rows": [
                {
                    "name": name,
                    "colour": charts.colour(name, i),
                    "accuracy": numbers["per_model"][name]["accuracy"],
                    "when_agree": numbers["when_agree"][name],
                    "when_disagree": numbers["when_disagree"][name],
                    "per_class": numbers["per_model"][name]["per_class"],
                    "versions": numbers["by_version"][name],
                    "bands": numbers["confidence"][name],
                    "heatmap": charts.heatmap(numbers["per_model"][name]["confusion"], f"{name} confusion matrix"),
                }
                for i, name in enumerate(models)
            ],
            "per_class_rows": [
                {
                    "digit": d,
                    "support": numbers["per_model"][models[0]]["per_class"][d]["support"] if models else 0,
                    "cells": [numbers["per_model"][name]["per_class"][d] for name in models],
                }
                for d in range(10)
            ],
            "band_rows": [
                {"band": accuracy.band_label(i), "cells": [numbers["confidence"][name][i] for name in models]}
                for i in range(len(accuracy.BANDS))
            ],
            "time_chart": charts.accuracy_over_time(numbers["by_week"], models),
            "calibration_chart": charts.calibration(numbers["confidence"], models),
            "histogram_chart": charts.histogram(numbers["confidence"], models),
        }
        return TemplateResponse(request, "admin/recognizer/drawing/dashboard.html", context)

    # -- images

    def image_view(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        drawing = get_object_or_404(Drawing.objects.only("image", "image_type"), pk=pk)
        return image_response(bytes(drawing.image), drawing.image_type)

    def input_view(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        drawing = get_object_or_404(Drawing.objects.only("model_input"), pk=pk)
        return image_response(preprocess.stored_input_to_png(drawing.model_input))

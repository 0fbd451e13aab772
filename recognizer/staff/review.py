"""The labeling queue's and the accuracy dashboard's admin views (the queue itself is ``staff/queue.py``, the
dashboard's numbers ``staff/accuracy.py`` and its rows ``staff/dashboard.py``).

``ReviewAdminMixin`` adds the pages to ``DrawingAdmin`` (``get_urls``), so they live under
/admin/recognizer/drawing/ and go through ``admin_site.admin_view`` (staff only, CSRF, no caching).
The queue's JSON endpoints are ``json_view``s: staff who may change drawings only, one method each, and every
``QueueError`` or missing drawing answered as ``{"error", "detail"}`` JSON. Their input is checked by serializers
built on the API's fields (bounded integers, the digit field) and their JSON bodies parsed as the API's are
(``limits.loads``: bounded depth and digits).
"""

import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods
from rest_framework import serializers

from recognizer import limits
from recognizer.fields import BoundedIntField, DigitField, id_field
from recognizer.image_responses import image_response
from recognizer.lifecycle import shadow
from recognizer.ml import preprocess
from recognizer.models import MODEL_NAMES, DrawingImage
from recognizer.staff import accuracy, dashboard, queue
from recognizer.staff.queue import QueueError

MAX_EXCLUDE = 100  # ids the page may ask to leave out of the next drawings (the ones it already holds)


class NextQuery(serializers.Serializer):
    exclude = serializers.ListField(child=id_field(), required=False, default=list)
    count = BoundedIntField(1, 10, required=False, default=1)


class LabelBody(serializers.Serializer):
    id = id_field()
    label = DigitField()


class SkipBody(serializers.Serializer):
    id = id_field()


def _json_error(code, detail, status):
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _first_error(errors):
    """The first message of a serializer's errors (a list field's errors are keyed by index)."""
    while isinstance(errors, dict | list):
        errors = next(iter(errors.values())) if isinstance(errors, dict) else errors[0]
    return str(errors)


def validated(serializer_class, data):
    """``data`` checked by ``serializer_class``; the first bad field is a 400 ``invalid_<field>``."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        field = next(iter(serializer.errors))
        if field == "non_field_errors":  # not an object
            raise QueueError("Body must be a JSON object.", code="invalid_json")
        raise QueueError(_first_error(serializer.errors[field]), code=f"invalid_{field}")
    return serializer.validated_data


def json_body(request):
    try:
        return limits.loads(request.body or b"{}")  # bounded depth: 5,000 brackets are a 400, not a RecursionError
    except limits.BadInput:
        raise QueueError(
            f"Body must be JSON (at most {limits.MAX_JSON_DEPTH} levels deep).", code="invalid_json"
        ) from None


def json_view(method):
    """A queue endpoint of ``ReviewAdminMixin``: ``method`` only (else 405), staff who may change drawings only
    (else 403 JSON); the view returns a dict, answered as JSON, and raises ``QueueError``/``Http404`` for errors."""

    def decorator(view):
        @method_decorator(require_http_methods([method]))
        @functools.wraps(view)
        def wrapper(self, request, *args, **kwargs):
            if not self.has_change_permission(request):
                return _json_error("permission_denied", "You may not label drawings.", 403)
            try:
                return JsonResponse(view(self, request, *args, **kwargs))
            except QueueError as e:
                return _json_error(e.code, e.detail, e.status)
            except Http404:
                return _json_error("not_found", "No such drawing.", 404)

        return wrapper

    return decorator


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

    # -- queue

    def queue_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Labeling queue",
            "state": queue.state(request.session),
            "urls": {name: self._url(f"queue_{name}") for name in ("next", "label", "skip", "undo", "reset")},
            "dashboard_url": self._url("dashboard"),
            "models": MODEL_NAMES,
            "digits": range(10),
        }
        return TemplateResponse(request, "admin/recognizer/drawing/queue.html", context)

    @json_view("GET")
    def queue_next_view(self, request):
        exclude = [v for v in request.GET.get("exclude", "").split(",") if v.strip()][:MAX_EXCLUDE]
        query = validated(NextQuery, {"exclude": exclude, "count": request.GET.get("count", "1")})
        drawings = queue.next_drawings(
            request.user.pk, exclude=query["exclude"], skipped=queue.skipped_ids(request.session), count=query["count"]
        )
        return {"drawings": [self.drawing_payload(d) for d in drawings], **queue.state(request.session)}

    @json_view("POST")
    def queue_label_view(self, request):
        body = validated(LabelBody, json_body(request))
        queue.label(request.session, request.user, body["id"], body["label"])
        return {"id": body["id"], "label": body["label"], **queue.state(request.session)}

    @json_view("POST")
    def queue_skip_view(self, request):
        pk = validated(SkipBody, json_body(request))["id"]
        queue.skip(request.session, request.user, pk)
        return {"id": pk, **queue.state(request.session)}

    @json_view("POST")
    def queue_undo_view(self, request):
        drawing = queue.undo(request.session, request.user)
        return {"drawing": self.drawing_payload(drawing), **queue.state(request.session)}

    @json_view("POST")
    def queue_reset_view(self, request):
        queue.reset_skips(request.session)
        return queue.state(request.session)

    # -- dashboard

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        switches = {k: request.GET.get(k) in ("1", "true", "on") for k in ("include_user_labels", "include_imported")}
        days = request.GET.get("days") if request.GET.get("days") in {str(d) for d in accuracy.WINDOWS} else None
        numbers = accuracy.compute(**switches, days=days)

        def query(window=days, **flip):  # this page's query string, switches in ``flip`` turned over, ``window``
            on = {k: v != flip.get(k, False) for k, v in switches.items()}
            return "?" + urlencode({**{k: 1 for k, v in on.items() if v}, **({"days": window} if window else {})})

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Accuracy dashboard",
            "n": numbers,
            **switches,
            "toggle_user_labels": query(include_user_labels=True),
            "toggle_imported": query(include_imported=True),
            "windows": dashboard.windows(days, query),
            "queue_url": self._url("queue"),
            "api_url": reverse("api:accuracy") + query().rstrip("?"),  # under the site's URL prefix too
            "shadows": shadow.scoreboards(),
            **dashboard.view_model(numbers),
        }
        return TemplateResponse(request, "admin/recognizer/drawing/dashboard.html", context)

    # -- images

    def image_view(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        picture = get_object_or_404(
            DrawingImage.objects.select_related("drawing").only("image", "drawing__image_type"), pk=pk
        )
        return image_response(bytes(picture.image), picture.drawing.image_type)

    def input_view(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        picture = get_object_or_404(DrawingImage.objects.only("model_input"), pk=pk)
        return image_response(preprocess.stored_input_to_png(picture.model_input))

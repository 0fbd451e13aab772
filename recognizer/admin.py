"""Admin for drawings: review what people drew, label it, and reach the queue and the dashboard.

The changelist never loads image bytes or prediction rows: each model's digit and confidence are columns of the
drawing (set at insert, ``Drawing.columns_from_answers``), the filters read those columns' indexes, a page is
found by its ids first (``DrawingPaginator``) and the unfiltered count of a big table is PostgreSQL's estimate.
Thumbnails are separate, cacheable image requests (``review.image_view``).
"""

from functools import cached_property

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from recognizer import cached
from recognizer.models import DIGITS, MODEL_NAMES, Drawing, Prediction, band_q
from recognizer.staff import accuracy, counting
from recognizer.staff.admin_export import export_selected
from recognizer.staff.review import ReviewAdminMixin

VERSIONS_CACHE_KEY = "recognizer:admin:model_versions"

# --- filters ----------------------------------------------------------------------------------------------


class LabeledFilter(admin.SimpleListFilter):
    title = "labeled"
    parameter_name = "labeled"

    def lookups(self, request, model_admin):
        return [("staff", "By staff"), ("user", "By the person only"), ("no", "Not labeled")]

    def queryset(self, request, queryset):
        if self.value() == "staff":
            return queryset.labeled()
        if self.value() == "user":
            return queryset.labeled_by_user_only()
        if self.value() == "no":
            return queryset.unlabeled()
        return queryset


class LabelFilter(admin.SimpleListFilter):
    title = "label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        return [(str(d), str(d)) for d in DIGITS]

    def queryset(self, request, queryset):
        if self.value() in {str(d) for d in DIGITS}:
            return queryset.filter(label=int(self.value()))
        return queryset


def predicted_digit_filter(model_name):
    class PredictedDigitFilter(admin.SimpleListFilter):
        title = f"{model_name} says"
        parameter_name = f"{model_name}_digit"

        def lookups(self, request, model_admin):
            return [(str(d), str(d)) for d in DIGITS]

        def queryset(self, request, queryset):
            if self.value() in {str(d) for d in DIGITS}:
                return queryset.filter(**{f"{model_name}_digit": int(self.value())})  # drawing_<model>_digit_idx
            return queryset

    PredictedDigitFilter.__name__ = f"{model_name.title()}DigitFilter"
    return PredictedDigitFilter


class ModelVersionFilter(admin.SimpleListFilter):
    title = "model version"
    parameter_name = "version"

    def lookups(self, request, model_admin):
        # DISTINCT over every prediction costs ~0.1 s at 100k drawings; versions change only on retraining.
        pairs = cached.remembered(
            VERSIONS_CACHE_KEY,
            lambda: list(
                Prediction.objects.values_list("model_name", "model_version")
                .distinct()
                .order_by("model_name", "model_version")
            ),
            60,
        )
        return [(f"{name}:{version}", f"{name} {version}") for name, version in pairs]

    def queryset(self, request, queryset):
        if not self.value() or ":" not in self.value():
            return queryset
        name, version = self.value().split(":", 1)
        return queryset.filter(
            Exists(Prediction.objects.filter(drawing=OuterRef("pk"), model_name=name, model_version=version))
        )


class ConfidenceBandFilter(admin.SimpleListFilter):
    """Band of the lower of the two confidences: the same bands as the dashboard's calibration."""

    title = "confidence (the lower of the two)"
    parameter_name = "confidence"

    def lookups(self, request, model_admin):
        return [(str(i), accuracy.band_label(i)) for i in range(len(accuracy.BANDS))]

    def queryset(self, request, queryset):
        if self.value() not in {str(i) for i in range(len(accuracy.BANDS))}:
            return queryset
        return queryset.filter(band_q(int(self.value()), "lowest_confidence"))  # drawing_lowest_conf_idx


# --- the detail form --------------------------------------------------------------------------------------


class DrawingForm(forms.ModelForm):
    label = forms.TypedChoiceField(
        choices=[("", "— not labeled —"), *[(d, str(d)) for d in DIGITS]],
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Saving here records you as the labeler (staff label).",
    )

    class Meta:
        model = Drawing
        fields = ["label"]


# --- bulk actions -----------------------------------------------------------------------------------------
# Through ``Drawing.label_many``, as every label write: another staff member's label is kept unless the person
# confirms, on a page listing those drawings, that they mean to replace it (the queue's rule).

OVERRIDE_CHUNK = 1000  # drawings labeled per transaction


def _label_selected(modeladmin, request, queryset, digit, done):
    override = request.POST.get("override") == "1"
    pks = list(queryset.order_by().values_list("pk", flat=True))
    written, refused = [], []
    for start in range(0, len(pks), OVERRIDE_CHUNK):
        w, r = Drawing.label_many(pks[start : start + OVERRIDE_CHUNK], digit, by=request.user, override=override)
        written += w
        refused += r
    if written or not refused:
        modeladmin.message_user(request, done(len(written)), messages.SUCCESS)
    if not refused:
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Replace other staff members' labels?",
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action"),
        "digit": digit,
        "conflicts": Drawing.objects.filter(pk__in=refused[:100])
        .select_related("labeled_by")
        .only("pk", "label", "labeled_by__username", "labeled_at"),
        "refused": len(refused),
        "ids": refused,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/recognizer/drawing/confirm_override.html", context)


def set_label_action(digit):
    def action(modeladmin, request, queryset):
        return _label_selected(modeladmin, request, queryset, digit, lambda n: f"Labeled {n} drawing(s) as {digit}.")

    action.__name__ = f"set_label_{digit}"
    return admin.action(description=f"Set label to {digit}", permissions=["change"])(action)


@admin.action(description="Clear label", permissions=["change"])
def clear_label(modeladmin, request, queryset):
    return _label_selected(modeladmin, request, queryset, None, lambda n: f"Cleared the label of {n} drawing(s).")


# --- the changelist's pages -------------------------------------------------------------------------------

ESTIMATE_ABOVE = 10_000  # a count above this many rows is PostgreSQL's estimate


class DrawingPaginator(Paginator):
    """A page's ids first (an index-only scan of ``(created, id)``, from whichever end of the list is nearer, so the
    last page costs what the first does), then those rows only; and on PostgreSQL the unfiltered count of a big table
    from the planner's estimate (``pg_class.reltuples``) instead of a COUNT."""

    @cached_property
    def count(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return row[0]
        # filtered: exact up to ESTIMATE_ABOVE rows (a bounded COUNT), the planner's estimate beyond
        return counting.count_of(queryset, up_to=ESTIMATE_ABOVE)[0]

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if bottom > self.count // 2:  # the far half: read it from the other end of the index, and turn it round
            from_end = max(self.count - top, 0)
            rows_wanted = top - bottom
            ids = list(self.object_list.reverse().values_list("pk", flat=True)[from_end : from_end + rows_wanted])
            ids.reverse()
        else:
            ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in self.object_list.filter(pk__in=ids).order_by()}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


def _answer_column(model_name):
    def column(self, obj):
        digit = getattr(obj, f"{model_name}_digit", None)
        if digit is None:
            return "—"
        return format_html(
            "<b>{}</b> <small>{}%</small>", digit, f"{100 * getattr(obj, f'{model_name}_confidence'):.0f}"
        )

    column.__name__ = f"{model_name}_answer"
    return admin.display(description=model_name, ordering=f"{model_name}_confidence")(column)


@admin.register(Drawing)
class DrawingAdmin(ReviewAdminMixin, admin.ModelAdmin):
    form = DrawingForm
    list_display = [
        "id",
        "thumbnail",
        *[f"{name}_answer" for name in MODEL_NAMES],  # the columns are added below the class
        "agree",
        "label",
        "label_source",
        "created",
    ]
    list_display_links = ["id", "thumbnail"]
    list_filter = [
        LabeledFilter,
        LabelFilter,
        "agree",
        *[predicted_digit_filter(name) for name in MODEL_NAMES],
        ModelVersionFilter,
        ConfidenceBandFilter,
        "created",
        "source",
    ]
    search_fields = ["=id"]
    search_help_text = "Drawing id, e.g. 42 or #42"
    list_per_page = 50
    show_full_result_count = False  # one COUNT less per page on a large table
    actions = [*[set_label_action(d) for d in DIGITS], clear_label, export_selected]
    readonly_fields = [
        "large_image",
        "input_image",
        "answers",
        "agree",
        "label_source",
        "labeled_by",
        "labeled_at",
        "created",
        "source",
        "image_type",
        "preprocess_version",
        "drawer_key",
    ]
    fieldsets = [
        (None, {"fields": ["label", "label_source", "labeled_by", "labeled_at"]}),
        ("Drawing", {"fields": [("large_image", "input_image"), "answers", "agree"]}),
        ("Details", {"fields": ["created", "source", "image_type", "preprocess_version", "drawer_key"]}),
    ]

    class Media:
        css = {"all": ["recognizer/admin/admin.css"]}

    paginator = DrawingPaginator

    def get_queryset(self, request):
        # Each model's digit and confidence are the drawing's own columns: no subquery, no prediction rows.
        return super().get_queryset(request).select_related("labeled_by")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        if not term.isdigit():
            return queryset.none(), False
        return queryset.filter(pk=int(term)), False

    def has_add_permission(self, request):
        return False  # drawings come from people drawing, not from the admin

    def save_model(self, request, obj, form, change):
        # Only the label is editable; set_label records who and when (and writes nothing else). Saving this form is
        # an explicit edit of one drawing, shown with who labeled it: it replaces another staff member's label.
        if "label" in form.changed_data:
            obj.set_label(obj.label, by=request.user, override=True)

    # -- columns and read-only fields

    @admin.display(description="drawing")
    def thumbnail(self, obj):
        return format_html(
            '<img src="{}" width="48" height="48" loading="lazy" alt="drawing {}" class="drawing-thumb">',
            self._url("image", obj.pk),
            obj.pk,
        )

    @admin.display(description="drawing as received")
    def large_image(self, obj):
        return format_html(
            '<img src="{}" width="280" height="280" alt="drawing {}" class="drawing-large">',
            self._url("image", obj.pk),
            obj.pk,
        )

    @admin.display(description="28×28 model input")
    def input_image(self, obj):
        return format_html(
            '<img src="{}" width="168" height="168" alt="model input of drawing {}" class="drawing-input">',
            self._url("input", obj.pk),
            obj.pk,
        )

    @admin.display(description="answers")
    def answers(self, obj):
        predictions = {p.model_name: p for p in Prediction.objects.filter(drawing=obj)}
        header = format_html_join("", "<th>{}</th>", ((d,) for d in DIGITS))
        rows = []
        for name in MODEL_NAMES:
            p = predictions.get(name)
            if p is None:
                continue
            cells = format_html_join(
                "",
                '<td class="{}"><span class="prob-bar" style="height:{}px"></span>{}</td>',
                (
                    (
                        "predicted" if d == p.digit else "",
                        round(30 * float(prob)),
                        f"{float(prob):.3f}",
                    )
                    for d, prob in enumerate(p.probabilities)
                ),
            )
            rows.append(
                format_html(
                    "<tr><th>{} <small>{}</small><br>says <b>{}</b> ({}%)</th>{}</tr>",
                    name,
                    p.model_version,
                    p.digit,
                    f"{100 * p.confidence:.1f}",
                    cells,
                )
            )
        return format_html(
            '<table class="probabilities"><thead><tr><th>model</th>{}</tr></thead><tbody>{}</tbody></table>',
            header,
            format_html_join("", "{}", ((r,) for r in rows)),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "queue_url": reverse(f"{self.admin_site.name}:recognizer_drawing_queue"),
            "dashboard_url": reverse(f"{self.admin_site.name}:recognizer_drawing_dashboard"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "queue_url": reverse(f"{self.admin_site.name}:recognizer_drawing_queue"),
            "dashboard_url": reverse(f"{self.admin_site.name}:recognizer_drawing_dashboard"),
        }
        return super().change_view(request, object_id, form_url, extra_context)


for _name in MODEL_NAMES:  # keras_answer, custom_answer, ...: one column per model in the registry
    setattr(DrawingAdmin, f"{_name}_answer", _answer_column(_name))

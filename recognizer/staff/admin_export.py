"""The admin's "Export selected" action: pick a format on a confirmation page, download the labeled ones."""

from django import forms
from django.contrib import admin
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from recognizer.staff import counting, export


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[
            ("csv", "CSV — Kaggle layout: label, pixel0 … pixel783"),
            ("idx", "IDX — MNIST files (images + labels, gzip), in a zip"),
            ("npz", "NPZ — NumPy arrays x, y, ids"),
            ("png", "PNG — zip of <label>/<id>.png and <label>/<id>-28.png with manifest.csv"),
        ],
        initial="csv",
        widget=forms.RadioSelect,
    )
    include_user_labels = forms.BooleanField(
        required=False, label="Also export labels given by the person who drew it (not checked by staff)"
    )
    only_disagreements = forms.BooleanField(required=False, label="Only drawings the two models disagreed on")


@admin.action(description="Export selected drawings (labeled ones) as training data")
def export_selected(modeladmin, request, queryset):
    form = ExportForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        options = form.cleaned_data
        fmt = options["format"]
        selection = export.select(
            queryset,
            include_user_labels=options["include_user_labels"],
            only_disagreements=options["only_disagreements"],
        )
        response = StreamingHttpResponse(export.stream(fmt, selection), content_type=export.CONTENT_TYPES[fmt])
        filename = f"drawings-{timezone.now():%Y%m%d-%H%M%S}.{export.EXTENSIONS[fmt]}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    select_across = request.POST.get("select_across") == "1"
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Export drawings as training data",
        "opts": modeladmin.model._meta,
        "form": form,
        # bounded counts (exact up to 10,000, the planner's estimate above): "select all" may be millions of rows
        "selected": counting.count_of(queryset)[0],
        "staff_labeled": counting.count_of(queryset.labeled())[0],
        "any_labeled": counting.count_of(queryset.labeled(include_user_labels=True))[0],
        "select_across": select_across,
        # With "select all" the changelist's filters (in the URL) choose the rows, not a list of ids.
        "ids": [] if select_across else list(queryset.values_list("pk", flat=True)),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/recognizer/drawing/export_selected.html", context)

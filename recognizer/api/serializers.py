"""Serializers of the REST API: they validate requests and shape responses, nothing more.

Decoding the image's transport is ``image_field``; judging the image and predicting is the domain's
(``domain.images``, ``domain.predicting``); the fields the staff pages and commands share are ``recognizer.fields``.
"""

from datetime import datetime

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recognizer.api.image_field import ImageField, png_data_url
from recognizer.fields import FlexibleDateTimeField, LabelField, QuietChoiceField, finite
from recognizer.ml import preprocess
from recognizer.models import MODEL_NAMES, Drawing

# The sources a client of /api/predict/ may name: the page says "web", programs "api". The other doors set their own.
CLIENT_SOURCES = [(Drawing.Source.WEB, Drawing.Source.WEB.label), (Drawing.Source.API, Drawing.Source.API.label)]


class PredictSerializer(serializers.Serializer):
    image = ImageField(help_text="The drawing: PNG, JPEG or WebP.")
    source = QuietChoiceField(
        choices=CLIENT_SOURCES, default=Drawing.Source.API, help_text="Where it was drawn: the page, or a program."
    )


class LabelSerializer(serializers.Serializer):
    label = LabelField(allow_null=True, help_text="The digit it really is, 0-9 (null clears a staff label).")


class FeedbackSerializer(serializers.Serializer):
    label = LabelField(help_text="The digit you meant, 0-9.")


class PredictionSerializer(serializers.Serializer):
    digit = serializers.IntegerField()
    confidence = serializers.FloatField()
    probabilities = serializers.ListField(child=serializers.FloatField(), min_length=10, max_length=10)
    model_version = serializers.CharField()
    time_ms = serializers.FloatField()


# One field per model in the registry (keras, custom, ...): each model's answer, or null.
PredictionsSerializer = type(
    "PredictionsSerializer",
    (serializers.Serializer,),
    {"__module__": __name__, **{name: PredictionSerializer(allow_null=True) for name in MODEL_NAMES}},
)


PREDICTION_FIELDS = tuple(PredictionSerializer().fields)  # the names the schema documents

_DATETIME = serializers.DateTimeField()


class DrawingListSerializer(serializers.ModelSerializer):
    """One row of the staff list; uses prefetched predictions, no per-row queries."""

    predictions = serializers.SerializerMethodField()
    # "" while unlabeled (or after a staff label is cleared): the schema must allow it.
    label_source = serializers.ChoiceField(choices=Drawing.LabelSource.choices, allow_blank=True, read_only=True)
    labeled_by = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    input_url = serializers.SerializerMethodField()

    class Meta:
        model = Drawing
        fields = [
            "id",
            "created",
            "source",
            "image_type",
            "preprocess_version",
            "predictions",
            "agree",
            "label",
            "label_source",
            "labeled_by",
            "labeled_at",
            "url",
            "image_url",
            "input_url",
        ]
        read_only_fields = fields

    def to_representation(self, drawing):
        # Built by hand from the declared fields' names: DRF would build ~20 field objects per serializer
        # (and per prediction), a good part of a predict request's time. The fields still document the schema.
        out = {}
        for name, getter in self.plan():
            if getter is not None:
                out[name] = getter(self, drawing)
            else:
                value = getattr(drawing, name)
                out[name] = _DATETIME.to_representation(value) if isinstance(value, datetime) else value
        return out

    @classmethod
    def plan(cls):
        """(name, get_<name> function or None) for each field, worked out once per class."""
        plan = cls.__dict__.get("_plan")
        if plan is None:
            plan = cls._plan = tuple((name, getattr(cls, f"get_{name}", None)) for name in cls.Meta.fields)
        return plan

    @extend_schema_field(PredictionsSerializer)
    def get_predictions(self, drawing):
        # The rows the drawing holds (just stored, or prefetched) read once, not once per model.
        by_name = {}
        for p in drawing.all_predictions():
            by_name.setdefault(p.model_name, p)  # the first, as prediction_for() reads them
        out = {}
        for name in MODEL_NAMES:
            p = by_name.get(name)
            out[name] = None if p is None else {field: getattr(p, field) for field in PREDICTION_FIELDS}
        return out

    def get_labeled_by(self, drawing) -> str | None:
        # Staff usernames are for staff eyes only.
        request = self.context.get("request")
        if not drawing.labeled_by_id or not (request and request.user.is_staff):
            return None
        return drawing.labeled_by.get_username()

    def get_url(self, drawing) -> str:
        # One reverse() per drawing, not three: the pictures' URLs are the detail URL's image.png and input.png.
        last = getattr(self, "_last_url", None)
        if last is None or last[0] != drawing.pk:
            last = self._last_url = (drawing.pk, reverse("api:drawing-detail", args=[drawing.pk]))
        return last[1]

    def get_image_url(self, drawing) -> str:
        return self.get_url(drawing) + "image.png"

    def get_input_url(self, drawing) -> str:
        return self.get_url(drawing) + "input.png"


class DrawingSerializer(DrawingListSerializer):
    """A drawing with both answers, its 28×28 input as a PNG data URL and its label."""

    input = serializers.SerializerMethodField(help_text="The 28×28 model input as a PNG data URL.")
    shadow = serializers.SerializerMethodField(
        help_text="Staff only (null otherwise): the answers of the model versions in shadow (issue 26)."
    )

    class Meta(DrawingListSerializer.Meta):
        fields = DrawingListSerializer.Meta.fields[:5] + ["input"] + DrawingListSerializer.Meta.fields[5:] + ["shadow"]
        read_only_fields = fields

    def get_input(self, drawing) -> str:
        return png_data_url(preprocess.stored_input_to_png(drawing.model_input))

    def get_shadow(self, drawing) -> list[dict] | None:
        request = self.context.get("request")
        if not (request and request.user.is_staff):
            return None
        from recognizer.lifecycle.shadow import for_drawing

        return for_drawing(drawing)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A stable, machine-readable code.")
    detail = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(required=False, help_text="Per-field messages, when a field was wrong.")


class DrawingFilterSerializer(serializers.Serializer):
    """Query parameters of the staff list."""

    labeled = serializers.BooleanField(required=False, help_text="Only drawings with (true) / without a label.")
    label = serializers.IntegerField(required=False, min_value=0, max_value=9, help_text="Labeled as this digit.")
    label_source = serializers.ChoiceField(choices=Drawing.LabelSource.choices, required=False)
    agree = serializers.BooleanField(required=False, help_text="Both models gave the same digit.")
    predicted = serializers.IntegerField(
        required=False, min_value=0, max_value=9, help_text="A model (the one in `model`, else either) said this."
    )
    model = serializers.ChoiceField(
        choices=MODEL_NAMES, required=False, help_text="Which model `predicted` and the confidences refer to."
    )
    min_confidence = serializers.FloatField(required=False, min_value=0, max_value=1, validators=[finite])
    max_confidence = serializers.FloatField(required=False, min_value=0, max_value=1, validators=[finite])
    created_after = FlexibleDateTimeField(required=False)
    created_before = FlexibleDateTimeField(required=False)

    def filter(self, queryset):
        return queryset.matching(**self.validated_data)


class ExportFilterSerializer(serializers.Serializer):
    """Query parameters of the export."""

    format = serializers.ChoiceField(choices=["csv", "idx", "npz", "png"], help_text="File format.")
    include_user_labels = serializers.BooleanField(
        required=False, default=False, help_text="Also export labels given by the person who drew it."
    )
    only_disagreements = serializers.BooleanField(
        required=False, default=False, help_text="Only drawings the two models disagreed on."
    )
    created_after = FlexibleDateTimeField(required=False)
    created_before = FlexibleDateTimeField(required=False)


class AccuracyQuerySerializer(serializers.Serializer):
    include_user_labels = serializers.BooleanField(
        required=False, default=False, help_text="Also count labels people gave their own drawings."
    )
    include_imported = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also count drawings brought in by `manage.py import_drawings` (left out: not production traffic).",
    )
    days = serializers.ChoiceField(
        choices=["7", "30", "90", "all"],
        required=False,
        default="all",
        help_text="Only drawings made in the last 7, 30 or 90 days (today included); `all` (the default) is all time.",
    )

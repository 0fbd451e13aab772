"""Serializers of the REST API: they validate requests and shape responses.

Predicting is a serializer ``save()``: validation decodes and preprocesses the image (so every
bad-input error is raised before anything is stored), ``create()`` runs both models and writes
the drawing and its predictions in one transaction.
"""

import base64
import binascii
import io
import math
import re
from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Exists, OuterRef
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from PIL import Image
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.fields import SkipField

from recognizer import limits
from recognizer.ml import preprocess
from recognizer.models import MODEL_NAMES, Drawing, Prediction


class ApiError(APIException):
    """An error with its own status and code, raised from validation when 400 is the wrong answer."""

    def __init__(self, code, detail, status_code=status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code


# What the preprocessing's errors mean over HTTP.
IMAGE_ERROR_STATUS = {
    "invalid_image": status.HTTP_400_BAD_REQUEST,
    "image_too_large": status.HTTP_400_BAD_REQUEST,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "empty_drawing": status.HTTP_422_UNPROCESSABLE_ENTITY,
}

SUPPORTED_TYPES = preprocess.IMAGE_TYPES
DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+(=[\w.+-]+)?)*),(?P<data>.*)$", re.S)


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # the signature, then the IHDR chunk's length (13) and type


def check_pixel_budget(data):
    """Refuse more than ``MAX_IMAGE_PIXELS`` from the header alone, before anything is decoded.

    A 4096×4096 RGBA PNG of 84 KB cost 0.5-1 s of CPU and ~130 MB to decode (bench/decode_cost.py); a canvas
    needs well under a megapixel, so the default budget is 4 megapixels.

    A PNG within the budget is let through from its IHDR chunk alone, the width and height Pillow reads from it
    (issue 17: Pillow's ``open`` cost ~0.1 ms a request); anything else -- another format, an odd header, a PNG over
    the budget -- is judged by Pillow as before, so the answer is the same either way.
    """
    if data[:16] == PNG_HEAD and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if width * height <= settings.MAX_IMAGE_PIXELS:
            return
    try:
        width, height = Image.open(io.BytesIO(data)).size  # lazy: reads the header only
    except Exception:
        return  # not an image we can size: preprocessing answers with the precise error
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise ApiError(
            "image_too_large",
            f"The image is {width}x{height} pixels; at most {settings.MAX_IMAGE_PIXELS} pixels are accepted.",
        )


def unsupported(mime):
    return ApiError(
        "unsupported_media_type",
        f"Images of type {mime} are not supported; send a PNG, JPEG or WebP.",
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


def png_data_url(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@extend_schema_field(
    {
        "type": "string",
        "description": "A data URL (data:image/png;base64,...) or plain base64 of a PNG, JPEG or WebP; "
        "in multipart, a file.",
    }
)
class ImageField(serializers.Field):
    """Base64 / data URL text, or an uploaded file; gives ``(bytes, content_type)``."""

    default_error_messages = {
        "empty_image": "The image is empty.",
        "invalid": "Send the image as a data URL, plain base64 text or a file.",
        "not_base64": "The image is not valid base64.",
        "invalid_data_url": "The data URL is malformed; expected data:image/png;base64,....",
        "not_an_image": "The data is not a PNG, JPEG or WebP image.",
    }

    def to_internal_value(self, data):
        if isinstance(data, UploadedFile):
            raw = data.read()
        elif isinstance(data, str):
            raw = self.decode_text(data)
        else:
            self.fail("invalid")
        if not raw:
            self.fail("empty_image")
        mime = preprocess.sniff_type(raw)
        if mime is None:
            raise serializers.ValidationError(self.error_messages["not_an_image"], code="invalid_image")
        if mime not in SUPPORTED_TYPES:
            raise unsupported(mime)
        return raw, mime

    def decode_text(self, text):
        text = text.strip()
        if not text:
            self.fail("empty_image")
        if text[:5].lower() == "data:":
            match = DATA_URL.match(text)
            if not match:
                self.fail("invalid_data_url")
            mime = (match["mime"] or "").lower()
            if mime and not (mime in SUPPORTED_TYPES or mime == "application/octet-stream"):
                raise unsupported(mime)
            if ";base64" not in match["params"].lower():
                self.fail("invalid_data_url")
            text = match["data"]
        if not len(text) % 4:
            # Plain standard base64 decodes as it is (issue 17: the clean-up below costs a scan per step). Decoding
            # with validate=True succeeds only when the text has nothing the clean-up would change: no whitespace,
            # no URL-safe characters, the padding already in place.
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                pass
        # Line breaks and spaces are common in pasted base64; URL-safe alphabet too.
        text = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(self.error_messages["not_base64"], code="not_base64") from None

    def to_representation(self, value):
        return png_data_url(value)


class PredictSerializer(serializers.Serializer):
    image = ImageField(help_text="The drawing: PNG, JPEG or WebP.")
    source = serializers.ChoiceField(
        choices=Drawing.Source.choices, default=Drawing.Source.API, help_text="Where it was drawn."
    )

    def validate_image(self, value):
        raw, mime = value
        check_pixel_budget(raw)
        try:
            x = preprocess.to_model_input(raw)
        except preprocess.ImageError as exc:
            code = getattr(exc, "code", "invalid_image")
            raise ApiError(code, str(exc) or code, IMAGE_ERROR_STATUS.get(code, 400)) from None
        return {"data": raw, "content_type": mime, "model_input": x}

    @classmethod
    def fast_validated_data(cls, data):
        """``validated_data`` for good input without building this serializer's fields per request (issue 17).

        DRF deep-copies every declared field for every serializer instance; here the fields are built and bound once
        per process (they keep no per-request state) and run exactly as ``is_valid()`` runs them: the same
        ``get_value``, ``run_validation`` and ``validate_<field>`` in the same order. An ``ApiError`` (415, 422, a
        too-large image) propagates exactly as it does from ``is_valid()``. Returns None for anything else that is
        not plainly valid (a field's ValidationError) and for anything but a JSON object (a multipart body's uploaded
        file can be read once only): the caller then runs the ordinary ``is_valid(raise_exception=True)``, which
        answers with DRF's own error structure and messages.
        """
        if type(data) is not dict:
            return None
        prototype = cls.__dict__.get("_prototype")
        if prototype is None:  # a race here only builds it twice
            prototype = cls()
            prototype.shared_fields = [
                (field, getattr(prototype, f"validate_{field.field_name}", None))
                for field in prototype._writable_fields
            ]
            cls._prototype = prototype
        validated = {}
        for field, validate_method in prototype.shared_fields:
            try:
                value = field.run_validation(field.get_value(data))
                if validate_method is not None:
                    value = validate_method(value)
            except SkipField:
                continue
            except (serializers.ValidationError, DjangoValidationError):
                return None
            prototype.set_value(validated, field.source_attrs, value)
        return validated

    def create(self, validated_data):
        """Predict and store; with an ``idempotency_key``, a repeat of an earlier request answers its drawing.

        ``save(drawer_key=..., idempotency_key=...)``: the caller's drawer key (None: a new one is made) and the
        request's Idempotency-Key (None: none sent). The drawing returned has ``replayed`` set.
        """
        from recognizer import inference  # TensorFlow loads on first prediction, not when Django starts
        from recognizer.drawer import new_drawer_key

        image = validated_data["image"]
        drawer = validated_data.get("drawer_key")
        try:
            answers = inference.predict_both(image["model_input"])
        except inference.ModelsUnavailable as exc:
            raise ApiError("models_unavailable", str(exc), status.HTTP_503_SERVICE_UNAVAILABLE) from exc
        drawing, created = Drawing.objects.record_once(
            validated_data.get("idempotency_key"),
            image=image["data"],
            image_type=image["content_type"],
            model_input=preprocess.input_to_bytes(image["model_input"]),
            preprocess_version=preprocess.PREPROCESS_VERSION,
            answers=answers,
            source=validated_data.get("source", Drawing.Source.API),
            drawer_key=drawer or new_drawer_key(),
        )
        if not created and (bytes(drawing.image) != image["data"] or (drawer and drawer != drawing.drawer_key)):
            raise ApiError(
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different drawing; send a new key for a new drawing.",
                status.HTTP_409_CONFLICT,
            )
        drawing.replayed = not created
        return drawing


IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def idempotency_key(request):
    """The request's Idempotency-Key header (None when absent); 400 when it is not 1-64 safe characters."""
    # META, not request.headers: the same value (WSGI puts the header under this name), without building the
    # case-insensitive dict of every header per request.
    value = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise ApiError(
            "invalid_idempotency_key", "Idempotency-Key must be 1 to 64 characters from A-Z a-z 0-9 . _ : -."
        )
    return value


class DigitField(serializers.Field):
    """A digit 0-9 given as a JSON integer (or "3" from a form); booleans and 3.5 are refused."""

    default_error_messages = {
        "invalid": "The label must be an integer from 0 to 9.",
        "out_of_range": "The label must be from 0 to 9, got {value}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        try:
            data = limits.parse_int(data)  # bounded: a 4,400-digit string is "invalid", not int()'s ValueError
        except ValueError:
            self.fail("invalid")
        if not 0 <= data <= 9:
            self.fail("out_of_range", value=data)
        return data

    def to_representation(self, value):
        return value


class BoundedIntField(serializers.Field):
    """An integer from ``low`` to ``high``, given as a JSON integer or a decimal string of at most
    ``limits.MAX_INT_DIGITS`` digits (``limits.parse_int``); booleans, 1.5 and 4,400-digit strings are refused."""

    default_error_messages = {"invalid": "Must be an integer from {low} to {high}."}

    def __init__(self, low, high, **kwargs):
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return limits.parse_int(data, self.low, self.high)
        except ValueError:
            self.fail("invalid", low=self.low, high=self.high)

    def to_representation(self, value):
        return value


def id_field(**kwargs):
    """A row id: past the BigAutoField range the database driver would overflow (SQLite: OverflowError, a 500)."""
    return BoundedIntField(1, limits.MAX_ID, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class LabelField(DigitField):
    pass


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

_URL_MARKER = 9876543210123  # an id no table reaches soon; only ever formatted into a URL, never looked up
_url_around_id = {}  # script prefix -> (the URL before the id, after it)


def drawing_url(pk):
    """``reverse("api:drawing-detail", args=[pk])`` for an integer id, without resolving the pattern per drawing:
    reversed once per script prefix (the prefix gunicorn's SCRIPT_NAME sets), the id put in its place."""
    prefix = get_script_prefix()
    around = _url_around_id.get(prefix)
    if around is None:
        url = reverse("api:drawing-detail", args=[_URL_MARKER])
        before, marker, after = url.rpartition(str(_URL_MARKER))
        if not marker or len(_url_around_id) >= 16:  # not cached: an odd URL conf, or many prefixes
            return reverse("api:drawing-detail", args=[pk])
        around = _url_around_id[prefix] = (before, after)
    return f"{around[0]}{int(pk)}{around[1]}"


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
        # The rows the drawing holds (prefetched, or just written by record()) read once, not once per model through
        # a new related manager each time.
        cached = getattr(drawing, "_prefetched_objects_cache", {}).get("predictions")
        by_name = {}
        for p in drawing.predictions.all() if cached is None else cached:
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
        # One URL per drawing, not three: the pictures' URLs hang off this one.
        if getattr(drawing, "_api_url", None) is None:
            drawing._api_url = drawing_url(drawing.pk)
        return drawing._api_url

    def get_image_url(self, drawing) -> str:
        return self.get_url(drawing) + "image.png"

    def get_input_url(self, drawing) -> str:
        return self.get_url(drawing) + "input.png"


class DrawingSerializer(DrawingListSerializer):
    """A drawing with both answers, its 28×28 input as a PNG data URL and its label."""

    input = serializers.SerializerMethodField(help_text="The 28×28 model input as a PNG data URL.")

    class Meta(DrawingListSerializer.Meta):
        fields = DrawingListSerializer.Meta.fields[:5] + ["input"] + DrawingListSerializer.Meta.fields[5:]
        read_only_fields = fields

    def get_input(self, drawing) -> str:
        return png_data_url(preprocess.stored_input_to_png(drawing.model_input))


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A stable, machine-readable code.")
    detail = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(required=False, help_text="Per-field messages, when a field was wrong.")


class FlexibleDateTimeField(serializers.DateTimeField):
    """ISO 8601 date-time or plain date (midnight, server time zone)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or len(value) > 64:
            self.fail("invalid", format="YYYY-MM-DD or ISO 8601")
        try:
            # parse_datetime raises on an offset such as +99:00 or -24:00; the UTC check catches year 1 / 9999
            # edges the database would overflow on.
            moment = parse_datetime(value)
            if moment is None:
                day = parse_date(value)
                if day is not None:
                    return timezone.make_aware(datetime.combine(day, time.min))
            return limits.storable_datetime(super().to_internal_value(value))
        except (ValueError, OverflowError):
            self.fail("invalid", format="YYYY-MM-DD or ISO 8601")


def finite(value):
    if not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.", code="invalid")


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
        f = self.validated_data
        if "labeled" in f:
            queryset = queryset.labeled(include_user_labels=True) if f["labeled"] else queryset.unlabeled()
        if "label" in f:
            queryset = queryset.filter(label=f["label"])
        if "label_source" in f:
            queryset = queryset.filter(label_source=f["label_source"])
        if "agree" in f:
            queryset = queryset.filter(agree=f["agree"])
        # The digit and confidence conditions hold for the same prediction row; EXISTS keeps rows unique.
        conditions = {}
        if "model" in f:
            conditions["model_name"] = f["model"]
        if "predicted" in f:
            conditions["digit"] = f["predicted"]
        if "min_confidence" in f:
            conditions["confidence__gte"] = f["min_confidence"]
        if "max_confidence" in f:
            conditions["confidence__lte"] = f["max_confidence"]
        if set(conditions) - {"model_name"}:
            queryset = queryset.filter(Exists(Prediction.objects.filter(drawing=OuterRef("pk"), **conditions)))
        if "created_after" in f:
            queryset = queryset.filter(created__gte=f["created_after"])
        if "created_before" in f:
            queryset = queryset.filter(created__lt=f["created_before"])
        return queryset


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

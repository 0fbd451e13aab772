"""Drawings people made and what each model answered.

A drawing and its predictions are written together by ``Drawing.objects.record`` in one
transaction, so the database never holds a drawing without both answers.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from recognizer import pg_insert
from recognizer.ml.registry import NAMES as MODEL_NAMES

DIGITS = range(10)


def labeled_q(include_user_labels=False, prefix=""):
    """What counts as labeled: a staff label, or any label with ``include_user_labels``. The one definition;
    ``prefix`` is e.g. ``"drawing__"`` when filtering predictions."""
    q = Q(**{f"{prefix}label__isnull": False})
    if not include_user_labels:
        q &= Q(**{f"{prefix}label_source": Drawing.LabelSource.STAFF})
    return q


class DrawingQuerySet(models.QuerySet):
    def labeled(self, include_user_labels=False):
        return self.filter(labeled_q(include_user_labels))

    def labeled_by_user_only(self):
        """Labeled by the person who drew it, not (yet) by staff."""
        return self.labeled(include_user_labels=True).filter(label_source=Drawing.LabelSource.USER)

    def unlabeled(self):
        return self.filter(label__isnull=True)

    def with_predictions(self):
        return self.prefetch_related("predictions")

    def of_drawer(self, drawer_key):
        if not drawer_key:
            return self.none()
        return self.filter(drawer_key=drawer_key)


class DrawingManager(models.Manager.from_queryset(DrawingQuerySet)):
    def record(
        self,
        *,
        image,
        model_input,
        preprocess_version,
        answers,
        source="api",
        drawer_key="",
        image_type="image/png",
        idempotency_key=None,
    ):
        """Store one drawing and every model's answer in a single transaction (one statement on PostgreSQL).

        ``model_input`` is the 784-byte uint8 input the models saw; ``answers`` maps a
        model name to an object with digit, probabilities, confidence, model_version and
        time_ms (``inference.ModelAnswer``).
        """
        model_input = bytes(model_input)
        if len(model_input) != 28 * 28:
            raise ValueError(f"model_input must be 784 bytes, got {len(model_input)}")
        missing = set(MODEL_NAMES) - set(answers)
        if missing:
            raise ValueError(f"answers missing for models: {sorted(missing)}")
        digits = {answers[name].digit for name in MODEL_NAMES}
        drawing = self.model(
            image=bytes(image),
            image_type=image_type,
            model_input=model_input,
            preprocess_version=preprocess_version,
            source=source,
            drawer_key=drawer_key or "",
            agree=len(digits) == 1,
            idempotency_key=idempotency_key or None,
        )
        predictions = [
            Prediction(
                model_name=name,
                model_version=answers[name].model_version,
                digit=int(answers[name].digit),
                probabilities=[float(p) for p in answers[name].probabilities],
                confidence=float(answers[name].confidence),
                time_ms=float(answers[name].time_ms),
            )
            for name in MODEL_NAMES
        ]
        db = self._db or router.db_for_write(self.model)
        if connections[db].vendor == "postgresql":
            pg_insert.insert(connections[db], drawing, predictions, match_on="model_name")  # one round trip
        else:
            with transaction.atomic(using=db):
                drawing.save(force_insert=True, using=db)
                for prediction in predictions:
                    prediction.drawing = drawing
                # One INSERT for both rows: a round trip less per request than two creates.
                Prediction.objects.using(db).bulk_create(predictions)
        drawing.remember_predictions(predictions)
        return drawing

    def record_many(self, items, *, source="api", drawer_key="", preprocess_version):
        """Store a batch: every drawing and both answers for each, in one transaction (two INSERTs in all).

        ``items``: dicts with image, image_type, model_input (784 bytes), answers and optionally idempotency_key.
        Returns the drawings in order, their predictions held as if prefetched. All or nothing.
        """
        drawings, rows = [], []
        for item in items:
            model_input = bytes(item["model_input"])
            if len(model_input) != 28 * 28:
                raise ValueError(f"model_input must be 784 bytes, got {len(model_input)}")
            answers = item["answers"]
            missing = set(MODEL_NAMES) - set(answers)
            if missing:
                raise ValueError(f"answers missing for models: {sorted(missing)}")
            drawings.append(
                Drawing(
                    image=bytes(item["image"]),
                    image_type=item.get("image_type", "image/png"),
                    model_input=model_input,
                    preprocess_version=preprocess_version,
                    source=source,
                    drawer_key=drawer_key or "",
                    agree=len({answers[name].digit for name in MODEL_NAMES}) == 1,
                    idempotency_key=item.get("idempotency_key") or None,
                )
            )
        with transaction.atomic():
            self.bulk_create(drawings)  # ids come back (RETURNING on PostgreSQL and SQLite)
            for drawing, item in zip(drawings, items, strict=True):
                rows.append(
                    [
                        Prediction(
                            drawing=drawing,
                            model_name=name,
                            model_version=item["answers"][name].model_version,
                            digit=int(item["answers"][name].digit),
                            probabilities=[float(p) for p in item["answers"][name].probabilities],
                            confidence=float(item["answers"][name].confidence),
                            time_ms=float(item["answers"][name].time_ms),
                        )
                        for name in MODEL_NAMES
                    ]
                )
            Prediction.objects.bulk_create([p for pair in rows for p in pair])
        for drawing, pair in zip(drawings, rows, strict=True):
            drawing.remember_predictions(pair)
        return drawings

    def record_once(self, idempotency_key, **fields):
        """``record()``, unless a drawing with this idempotency key exists: then that one. ``(drawing, created)``.

        The unique column decides, not a read before the write, so two racing requests with one key store one
        drawing and the first attempt costs no extra query. A client retrying after a lost answer gets the drawing
        its first attempt stored instead of a second copy.
        """
        if not idempotency_key:
            return self.record(**fields), True
        try:
            return self.record(idempotency_key=idempotency_key, **fields), True
        except IntegrityError:
            existing = self.with_predictions().filter(idempotency_key=idempotency_key).first()
            if existing is None:  # some other constraint failed
                raise
            return existing, False


class Drawing(models.Model):
    class Source(models.TextChoices):
        WEB = "web", "Web page"
        API = "api", "API"
        V2 = "v2", "Open Inference Protocol v2"
        TFSERVING = "tfserving", "TF Serving REST"
        IMPORT = "import", "Imported (manage.py import_drawings)"

    class LabelSource(models.TextChoices):
        STAFF = "staff", "Staff"
        USER = "user", "Person who drew it"

    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Stored in the database (not a loose file) so a drawing and its answers commit together.
    image = models.BinaryField(help_text="The image exactly as received.")
    image_type = models.CharField(max_length=32, default="image/png")
    model_input = models.BinaryField(help_text="28×28 uint8 model input, 784 bytes, ink bright.")
    preprocess_version = models.CharField(max_length=32)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    drawer_key = models.CharField(
        "drawer key",
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text="Random key in the signed drawer cookie of the browser that drew it (see drawer.py).",
    )
    # Denormalised from the predictions so the disagreement filter is an index lookup.
    agree = models.BooleanField(null=True)
    # The client's Idempotency-Key header: a retried predict returns this drawing instead of storing another.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    label = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(9)]
    )
    label_source = models.CharField(max_length=8, choices=LabelSource.choices, blank=True, default="")
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="labeled_drawings"
    )
    labeled_at = models.DateTimeField(null=True, blank=True)

    objects = DrawingManager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["label_source", "label"], name="drawing_label_idx"),
            models.Index(fields=["agree", "created"], name="drawing_agree_idx"),
            models.Index(fields=["labeled_at"], name="drawing_labeled_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(label__isnull=True) | models.Q(label__gte=0, label__lte=9),
                name="drawing_label_is_digit",
            ),
        ]

    def __str__(self):
        return f"Drawing {self.pk}"

    @classmethod
    def columns_from_answers(cls, answers):
        """The drawing's columns derived from the models' answers, set once at insert.

        ``answers`` maps a model name to an answer with ``.digit`` and ``.confidence``
        (``inference.ModelAnswer``). Every insert path builds its drawing with
        ``Drawing(**Drawing.columns_from_answers(answers), ...)``, so a denormalised column is added here only.
        """
        return {"agree": len({int(answers[name].digit) for name in MODEL_NAMES}) == 1}

    def prediction_for(self, model_name):
        """The model's prediction, using prefetched rows when present (no extra query)."""
        for prediction in self.predictions.all():
            if prediction.model_name == model_name:
                return prediction
        return None

    def remember_predictions(self, predictions):
        """Hold rows just written as if prefetched, so the answer to a predict reads no row back.

        The same cache Django's prefetch_related fills (``prefetch_one_level``).
        """
        cached = self.predictions.all()
        cached._result_cache = list(predictions)
        cached._prefetch_done = True
        self._prefetched_objects_cache = {"predictions": cached}

    def set_label(self, label, *, by=None, source=LabelSource.STAFF):
        """Set the verified label (staff) and remember who and when."""
        if label is not None and (isinstance(label, bool) or int(label) not in DIGITS):
            raise ValueError(f"label must be a digit 0-9, got {label!r}")
        self.label = None if label is None else int(label)
        self.label_source = "" if label is None else source
        self.labeled_by = by if label is not None else None
        self.labeled_at = timezone.now() if label is not None else None
        self.save(update_fields=["label", "label_source", "labeled_by", "labeled_at"])

    def add_user_feedback(self, label):
        """The person who drew it says what it was. Never overrides a staff label.

        One conditional UPDATE, so a staff label saved between reading this row and writing it
        is never lost: the database decides. Returns True when the label was stored.
        """
        if isinstance(label, bool) or int(label) not in DIGITS:
            raise ValueError(f"label must be a digit 0-9, got {label!r}")
        now = timezone.now()
        stored = (
            Drawing.objects.filter(pk=self.pk)
            .exclude(label_source=self.LabelSource.STAFF)
            .update(label=int(label), label_source=self.LabelSource.USER, labeled_by=None, labeled_at=now)
        )
        if stored:
            self.label, self.label_source, self.labeled_by, self.labeled_at = (
                int(label),
                self.LabelSource.USER,
                None,
                now,
            )
        else:
            self.refresh_from_db(fields=["label", "label_source", "labeled_by", "labeled_at"])
        return bool(stored)


class Prediction(models.Model):
    drawing = models.ForeignKey(Drawing, on_delete=models.CASCADE, related_name="predictions")
    model_name = models.CharField(max_length=16, choices=[(n, n) for n in MODEL_NAMES])
    model_version = models.CharField(max_length=64)
    digit = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(9)])
    probabilities = models.JSONField(help_text="Ten probabilities, digit 0 to 9.")
    confidence = models.FloatField()
    time_ms = models.FloatField(help_text="Inference time of this model, milliseconds.")

    class Meta:
        ordering = ["drawing_id", "model_name"]
        constraints = [
            models.UniqueConstraint(fields=["drawing", "model_name"], name="one_prediction_per_model"),
        ]
        indexes = [
            models.Index(fields=["model_name", "digit"], name="prediction_digit_idx"),
            models.Index(fields=["model_name", "confidence"], name="prediction_confidence_idx"),
            models.Index(fields=["model_name", "model_version"], name="prediction_version_idx"),
        ]

    def __str__(self):
        return f"{self.model_name} says {self.digit} ({self.confidence:.2f})"

"""Drawings people made and what each model answered.

A drawing and its predictions are written together by ``Drawing.objects.record`` in one
transaction, so the database never holds a drawing without both answers.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from recognizer.ml.registry import NAMES as MODEL_NAMES

DIGITS = range(10)

# Confidence bands (low inclusive, high exclusive; the last one includes 1.0). Softmax confidences pile up near 1, so
# the top is split finer than the bottom. The dashboard, the admin filter and the accuracy rollup use the same bands.
CONFIDENCE_BANDS = (
    (0.0, 0.5),
    (0.5, 0.6),
    (0.6, 0.7),
    (0.7, 0.8),
    (0.8, 0.9),
    (0.9, 0.95),
    (0.95, 0.99),
    (0.99, 1.0),
)
# The labeling queue's second group: drawings the models agree on with a confidence under this (the lower of the two).
LOW_CONFIDENCE = 0.9


def band_of(confidence):
    """Index of the band a confidence falls in."""
    for index, (_, high) in enumerate(CONFIDENCE_BANDS[:-1]):
        if confidence < high:
            return index
    return len(CONFIDENCE_BANDS) - 1


def band_q(index, field="confidence"):
    """A filter for one band, for querysets (``field`` may be a lookup path such as predictions__confidence)."""
    low, high = CONFIDENCE_BANDS[index]
    q = Q(**{f"{field}__gte": low}) if index > 0 else Q()
    if index < len(CONFIDENCE_BANDS) - 1:
        q &= Q(**{f"{field}__lt": high})
    return q


def band_case(field="confidence"):
    """The band index of ``field`` as a SQL expression (what ``band_of`` says in Python)."""
    return models.Case(
        *[models.When(band_q(i, field), then=models.Value(i)) for i in range(len(CONFIDENCE_BANDS) - 1)],
        default=models.Value(len(CONFIDENCE_BANDS) - 1),
        output_field=models.IntegerField(),
    )


def queue_rank(agree, lowest_confidence):
    """The labeling queue's order as one number, lowest first: disagreements (or unknown agreement) first, then
    agreements under ``LOW_CONFIDENCE``, then the rest; within each group the lower confidence first, and a drawing
    with no answers first of all. Kept on the drawing at insert, so the next drawing is the first entry of an index."""
    if lowest_confidence is None:
        return -1.0
    group = 0 if not agree else (1 if lowest_confidence < LOW_CONFIDENCE else 2)
    return 2.0 * group + float(lowest_confidence)


class LabelConflict(Exception):
    """Another staff member labeled the drawing(s); only an explicit override replaces their label."""

    def __init__(self, pks):
        self.pks = sorted(pks)
        super().__init__(f"labeled by another staff member: {self.pks}")


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

    def matching(
        self,
        *,
        labeled=None,
        label=None,
        label_source=None,
        agree=None,
        model=None,
        predicted=None,
        min_confidence=None,
        max_confidence=None,
        created_after=None,
        created_before=None,
    ):
        """The staff list's filters (``GET /api/drawings/``); None leaves a criterion out. ``predicted`` and the
        confidences hold for the same prediction row: ``model``'s, else either model's."""
        qs = self
        if labeled is not None:
            qs = qs.labeled(include_user_labels=True) if labeled else qs.unlabeled()
        if label is not None:
            qs = qs.filter(label=label)
        if label_source is not None:
            qs = qs.filter(label_source=label_source)
        if agree is not None:
            qs = qs.filter(agree=agree)
        conditions = {}
        if predicted is not None:
            conditions["digit"] = predicted
        if min_confidence is not None:
            conditions["confidence__gte"] = min_confidence
        if max_confidence is not None:
            conditions["confidence__lte"] = max_confidence
        if conditions:
            if model is not None:
                conditions["model_name"] = model
            # EXISTS keeps rows unique.
            qs = qs.filter(models.Exists(Prediction.objects.filter(drawing=models.OuterRef("pk"), **conditions)))
        if created_after is not None:
            qs = qs.filter(created__gte=created_after)
        if created_before is not None:
            qs = qs.filter(created__lt=created_before)
        return qs


class DrawingManager(models.Manager.from_queryset(DrawingQuerySet)):
    def record_many(self, rows, *, source="api", drawer_key="", preprocess_version):
        """Store drawings with every model's answer in one transaction; all or nothing. The one way drawings are
        written (``domain.predicting`` calls it for every door).

        ``rows``: dicts with image, image_type, model_input (784 bytes), answers ({model name: an answer with digit,
        probabilities, confidence, model_version, time_ms}) and optionally idempotency_key. Returns the drawings in
        order, each holding its predictions (:meth:`Drawing.prediction_for` reads them without a query). A reused
        idempotency key raises ``IntegrityError`` and stores nothing.
        """
        drawings, pictures, predictions = [], [], []
        for row in rows:
            model_input = bytes(row["model_input"])
            if len(model_input) != 28 * 28:
                raise ValueError(f"model_input must be 784 bytes, got {len(model_input)}")
            answers = row["answers"]
            missing = set(MODEL_NAMES) - set(answers)
            if missing:
                raise ValueError(f"answers missing for models: {sorted(missing)}")
            drawing = self.model(
                **self.model.columns_from_answers(answers),
                image_type=row.get("image_type", "image/png"),
                preprocess_version=preprocess_version,
                source=source,
                drawer_key=drawer_key or "",
                idempotency_key=row.get("idempotency_key") or None,
            )
            drawings.append(drawing)
            pictures.append(DrawingImage(drawing=drawing, image=bytes(row["image"]), model_input=model_input))
            predictions.append([Prediction.from_answer(name, answers[name]) for name in MODEL_NAMES])
        db = self._db or router.db_for_write(self.model)
        connection = connections[db]
        if len(drawings) == 1 and connection.vendor == "postgresql":
            from recognizer import pg_insert  # psycopg is imported only where PostgreSQL is used

            pg_insert.insert(connection, drawings[0], pictures[0], predictions[0], match_on="model_name")  # one trip
        else:
            with transaction.atomic(using=db):
                self.using(db).bulk_create(drawings)  # ids come back (RETURNING on PostgreSQL and SQLite)
                for drawing, picture, rows_of_drawing in zip(drawings, pictures, predictions, strict=True):
                    picture.drawing = drawing  # sets the key now that the drawing has one
                    for prediction in rows_of_drawing:
                        prediction.drawing = drawing
                DrawingImage.objects.using(db).bulk_create(pictures)
                Prediction.objects.using(db).bulk_create([p for pair in predictions for p in pair])
        for drawing, rows_of_drawing in zip(drawings, predictions, strict=True):
            drawing.stored_predictions = rows_of_drawing
        return drawings

    def record(self, *, image, model_input, preprocess_version, answers, image_type="image/png", **context):
        """One drawing: ``record_many`` with one row (tests, fixtures and scripts)."""
        row = {"image": image, "image_type": image_type, "model_input": model_input, "answers": answers}
        row["idempotency_key"] = context.pop("idempotency_key", None)
        return self.record_many([row], preprocess_version=preprocess_version, **context)[0]

    def label_imported(self, drawings, labels, *, by=None):
        """Staff labels for drawings just imported (``import_drawings``), through ``Drawing.write_labels`` as every
        label write (one UPDATE per label value; the drawings are not counted yet, so the rollup is not touched)."""
        now, by_id = timezone.now(), getattr(by, "pk", by)
        states = {}
        for drawing, label in zip(drawings, labels, strict=True):
            if label is None:
                raise ValueError("label must be a digit 0-9, got None")
            states[drawing.pk] = (Drawing.checked_label(label), Drawing.LabelSource.STAFF, by_id, now)
        self.model.write_labels(states, using=self._db)
        for drawing in drawings:
            drawing.label, drawing.label_source, _, drawing.labeled_at = states[drawing.pk]
            drawing.labeled_by = by


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

    created = models.DateTimeField(default=timezone.now)  # indexed with id in Meta: the lists' order
    # The image and the model input are in ``DrawingImage`` (``picture``), a table of their own: reading labels,
    # answers or the queue never reads the bytes. ``image`` and ``model_input`` below read them from there.
    image_type = models.CharField(max_length=32, default="image/png")
    preprocess_version = models.CharField(max_length=32)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    drawer_key = models.CharField(
        "drawer key",
        max_length=64,
        blank=True,
        default="",
        help_text="Random key in the signed drawer cookie of the browser that drew it (see drawer.py).",
    )
    # Denormalised from the predictions so the disagreement filter is an index lookup.
    agree = models.BooleanField(null=True)
    # The client's Idempotency-Key header: a retried predict returns this drawing instead of storing another.
    # Unique by a constraint in Meta, not ``unique=True``, which on PostgreSQL adds a second btree (``_like``).
    idempotency_key = models.CharField(  # noqa: DJ001 (NULL: no key, and unique keys ignore NULLs)
        max_length=64, null=True, blank=True, editable=False
    )

    label = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(9)]
    )
    label_source = models.CharField(max_length=8, choices=LabelSource.choices, blank=True, default="")
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="labeled_drawings"
    )
    labeled_at = models.DateTimeField(null=True, blank=True)

    # Derived from the answers at insert (``columns_from_answers``), so the queue and the admin's filters read an
    # index instead of the predictions: the lower confidence and the queue's order; each model's digit and confidence
    # are added below the class (``<model>_digit``, ``<model>_confidence``), one pair per model in the registry.
    lowest_confidence = models.FloatField(null=True, blank=True, editable=False)
    queue_rank = models.FloatField(null=True, blank=True, editable=False)
    # False until the drawing is counted in the accuracy rollup (``Rollup.fold``, within a minute of its insert).
    counted = models.BooleanField(default=False, db_default=False, editable=False)

    objects = DrawingManager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["label_source", "label"], name="drawing_label_idx"),
            models.Index(fields=["agree", "created"], name="drawing_agree_idx"),
            models.Index(fields=["labeled_at"], name="drawing_labeled_at_idx"),
            models.Index(fields=["drawer_key"], name="drawing_drawer_key_idx"),
            models.Index(fields=["created", "id"], name="drawing_created_id_idx"),
            # The queue: the waiting drawings in queue order, so the next one is the first entry whatever their number.
            models.Index(
                fields=["queue_rank", "id"],
                name="drawing_queue_idx",
                condition=~models.Q(label_source="staff"),
            ),
            # The drawings not yet counted in the accuracy rollup: a minute of traffic at most.
            models.Index(fields=["id"], name="drawing_uncounted_idx", condition=models.Q(counted=False)),
            models.Index(fields=["lowest_confidence", "created"], name="drawing_lowest_conf_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(label__isnull=True) | models.Q(label__gte=0, label__lte=9),
                name="drawing_label_is_digit",
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="drawing_idempotency_key_unique"),
        ]

    def __str__(self):
        return f"Drawing {self.pk}"

    @property
    def image(self):
        """The image exactly as received: a query unless fetched with ``select_related("picture")``."""
        return self.picture.image

    @property
    def model_input(self):
        """The 28×28 uint8 model input, 784 bytes: a query unless fetched with ``select_related("picture")``."""
        return self.picture.model_input

    @classmethod
    def columns_from_answers(cls, answers):
        """The drawing's columns derived from the models' answers, set once at insert.

        ``answers`` maps a model name to an answer with ``.digit`` and ``.confidence``
        (``inference.ModelAnswer``). Every insert path builds its drawing with
        ``Drawing(**Drawing.columns_from_answers(answers), ...)``, so a denormalised column is added here only.
        """
        digits = {name: int(answers[name].digit) for name in MODEL_NAMES}
        confidences = {name: float(answers[name].confidence) for name in MODEL_NAMES}
        agree = len(set(digits.values())) == 1
        lowest = min(confidences.values()) if confidences else None
        return {
            "agree": agree,
            "lowest_confidence": lowest,
            "queue_rank": queue_rank(agree, lowest),
            **{f"{name}_digit": digits[name] for name in MODEL_NAMES},
            **{f"{name}_confidence": confidences[name] for name in MODEL_NAMES},
        }

    def prediction_for(self, model_name):
        """The model's prediction: the rows just stored, else prefetched ones (``with_predictions``), else a query."""
        stored = self.__dict__.get("stored_predictions")
        for prediction in self.predictions.all() if stored is None else stored:
            if prediction.model_name == model_name:
                return prediction
        return None

    def all_predictions(self):
        """Every model's prediction, as :meth:`prediction_for` finds them."""
        stored = self.__dict__.get("stored_predictions")
        return list(self.predictions.all() if stored is None else stored)

    # -- label writes: every one goes through ``write_labels``, which keeps the accuracy rollup exact

    @staticmethod
    def checked_label(label):
        if label is not None and (isinstance(label, bool) or int(label) not in DIGITS):
            raise ValueError(f"label must be a digit 0-9, got {label!r}")
        return None if label is None else int(label)

    @classmethod
    def write_labels(cls, states, *, refuse=None, using=None):
        """The one place labels are written. ``states``: ``{pk: (label, label_source, labeled_by_id, labeled_at)}``.

        In one transaction: lock the rows (in id order), read them, leave alone those ``refuse(row)`` is true for
        (``row``: a dict of the four columns), write the others, and move the counted ones between the accuracy
        rollup's cells. Returns ``(written, refused)``: lists of ids (a missing drawing is in neither).
        """
        db = using or router.db_for_write(cls)
        written, refused = [], []
        with transaction.atomic(using=db):
            rows = (
                cls.objects.using(db)
                .select_for_update()
                .filter(pk__in=list(states))
                .order_by("pk")
                .values("pk", "label", "label_source", "labeled_by_id", "labeled_at", "counted")
            )
            before, groups = {}, {}
            for row in rows:
                if refuse is not None and refuse(row):
                    refused.append(row["pk"])
                    continue
                written.append(row["pk"])
                state = states[row["pk"]]
                if (row["label"], row["label_source"], row["labeled_by_id"], row["labeled_at"]) == state:
                    continue
                groups.setdefault(state, []).append(row["pk"])
                if row["counted"]:
                    before[row["pk"]] = row
            for (label, source, by_id, at), pks in groups.items():
                cls.objects.using(db).filter(pk__in=pks).update(
                    label=label, label_source=source, labeled_by_id=by_id, labeled_at=at
                )
            if before:
                Rollup.relabel(before, states, using=db)
        return written, refused

    @staticmethod
    def other_staff_label(by_id):
        """``refuse`` for ``write_labels``: a staff label given by someone other than ``by_id``."""

        def refuse(row):
            return (
                row["label_source"] == Drawing.LabelSource.STAFF
                and row["label"] is not None
                and row["labeled_by_id"] not in (None, by_id)
            )

        return refuse

    @classmethod
    def label_many(cls, pks, label, *, by=None, source=LabelSource.STAFF, override=False):
        """Label (or, with ``label=None``, clear) many drawings at once: the admin's bulk actions and imports.
        Another staff member's label is kept unless ``override``. Returns ``(written, refused)`` ids."""
        label = cls.checked_label(label)
        by_id = getattr(by, "pk", by)
        state = (label, source, by_id, timezone.now()) if label is not None else (None, "", None, None)
        return cls.write_labels({pk: state for pk in pks}, refuse=None if override else cls.other_staff_label(by_id))

    def set_label(self, label, *, by=None, source=LabelSource.STAFF, override=True):
        """Set the verified label (staff) and remember who and when; ``None`` clears it.

        An edit of this one drawing (the admin's form, ``PATCH /api/drawings/<id>/``) replaces any label; with
        ``override=False`` (the queue) another staff member's label raises ``LabelConflict`` and nothing changes.
        """
        label = self.checked_label(label)
        by_id = getattr(by, "pk", by)
        state = (label, source, by_id, timezone.now()) if label is not None else (None, "", None, None)
        _, refused = self.write_labels({self.pk: state}, refuse=None if override else self.other_staff_label(by_id))
        if refused:
            self.refresh_from_db(fields=["label", "label_source", "labeled_by", "labeled_at"])
            raise LabelConflict(refused)
        self.label, self.label_source, self.labeled_by_id, self.labeled_at = state
        if by is not None and not isinstance(by, int) and label is not None:
            self.labeled_by = by

    def restore_label(self, before, *, only_if=None):
        """Put back an earlier label state (the queue's undo): ``before`` has label, label_source, labeled_by (an id)
        and labeled_at. With ``only_if=(label, label_source, labeled_by_id)`` nothing changes unless the drawing
        still holds that. Returns True when restored."""
        state = (before["label"], before["label_source"], before["labeled_by"], before["labeled_at"])

        def refuse(row):
            return only_if is not None and (row["label"], row["label_source"], row["labeled_by_id"]) != only_if

        written, _ = self.write_labels({self.pk: state}, refuse=refuse)
        self.refresh_from_db(fields=["label", "label_source", "labeled_by", "labeled_at"])
        return bool(written)

    def add_user_feedback(self, label):
        """The person who drew it says what it was. Never overrides a staff label.

        The row is locked and read before it is written, so a staff label saved between reading this drawing and
        writing it is never lost: the database decides. Returns True when the label was stored.
        """
        label = self.checked_label(label)
        if label is None:
            raise ValueError("label must be a digit 0-9, got None")
        state = (label, self.LabelSource.USER, None, timezone.now())
        written, _ = self.write_labels(
            {self.pk: state}, refuse=lambda row: row["label_source"] == Drawing.LabelSource.STAFF
        )
        if written:
            self.label, self.label_source, self.labeled_by, self.labeled_at = label, state[1], None, state[3]
        else:
            self.refresh_from_db(fields=["label", "label_source", "labeled_by", "labeled_at"])
        return bool(written)


class DrawingImage(models.Model):
    """A drawing's bytes, one row per drawing, apart from its hot columns (labels, answers, the queue's order) so a
    scan of those reads no images. Written with the drawing in its transaction (``record_many``); stored in the
    database, not as loose files, so a drawing and its answers commit together."""

    drawing = models.OneToOneField(Drawing, on_delete=models.CASCADE, primary_key=True, related_name="picture")
    image = models.BinaryField(help_text="The image exactly as received.")
    model_input = models.BinaryField(help_text="28×28 uint8 model input, 784 bytes, ink bright.")

    def __str__(self):
        return f"Image of drawing {self.pk}"


class Prediction(models.Model):
    # No index of its own: the unique (drawing, model_name) constraint's index starts with it.
    drawing = models.ForeignKey(Drawing, on_delete=models.CASCADE, related_name="predictions", db_index=False)
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

    @classmethod
    def from_answer(cls, model_name, answer):
        """An unsaved row for one model's answer (``inference.ModelAnswer``)."""
        return cls(
            model_name=model_name,
            model_version=answer.model_version,
            digit=int(answer.digit),
            probabilities=[float(p) for p in answer.probabilities],
            confidence=float(answer.confidence),
            time_ms=float(answer.time_ms),
        )


# --- each model's answer on its drawing ----------------------------------------------------------------------------

for _name in MODEL_NAMES:  # keras_digit, keras_confidence, custom_digit, ...: set at insert by columns_from_answers
    # No CHECK of their own (a plain SmallIntegerField): copies, which the prediction rows' constraints vouch for.
    Drawing.add_to_class(f"{_name}_digit", models.SmallIntegerField(null=True, blank=True, editable=False))
    Drawing.add_to_class(f"{_name}_confidence", models.FloatField(null=True, blank=True, editable=False))
Drawing._meta.indexes = [  # the admin's "<model> says" filters, in the changelist's order
    *Drawing._meta.indexes,
    *[models.Index(fields=[f"{n}_digit", "created", "id"], name=f"drawing_{n}_digit_idx") for n in MODEL_NAMES],
]


# --- the accuracy rollup -------------------------------------------------------------------------------------------
# Counts of drawings and predictions by day and by everything the accuracy numbers group on, kept exact:
# - a new drawing is not counted (``counted=False``) until ``Rollup.fold`` adds it and sets ``counted``, in one
#   transaction, with the row locked: no counter row is touched by a predict;
# - a label write on a counted drawing moves it between cells in the label write's transaction (``write_labels``);
# - deleting a counted drawing takes it out in the delete's transaction (the signals below);
# - ``Rollup.rebuild`` recounts every counted drawing from scratch (``manage.py refresh_stats``).
# No label is -1 and unknown agreement is -1, so every key column is NOT NULL and the unique constraint holds.

NO_LABEL = -1
UNKNOWN = -1


class RollupDrawing(models.Model):
    """Drawings per day, production or imported, agreement, label and whether any model got the label right."""

    day = models.DateField()
    imported = models.BooleanField()
    agree = models.SmallIntegerField()  # 1, 0, or UNKNOWN
    label_source = models.CharField(max_length=8)
    label = models.SmallIntegerField()  # NO_LABEL when unlabeled
    any_right = models.BooleanField()
    n = models.BigIntegerField(default=0)

    KEY = ("day", "imported", "agree", "label_source", "label", "any_right")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "imported", "agree", "label_source", "label", "any_right"], name="rollup_drawing_key"
            )
        ]

    def __str__(self):
        return f"{self.day} {self.n}"


class RollupPrediction(models.Model):
    """Every prediction per day, production or imported, model and confidence band (the histogram)."""

    day = models.DateField()
    imported = models.BooleanField()
    model_name = models.CharField(max_length=16)
    band = models.SmallIntegerField()
    n = models.BigIntegerField(default=0)

    KEY = ("day", "imported", "model_name", "band")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "imported", "model_name", "band"], name="rollup_prediction_key")
        ]

    def __str__(self):
        return f"{self.day} {self.model_name} {self.n}"


class RollupLabeled(models.Model):
    """Predictions of labeled drawings: what each model said against the label, by day, version and band."""

    day = models.DateField()
    imported = models.BooleanField()
    label_source = models.CharField(max_length=8)
    label = models.SmallIntegerField()
    agree = models.SmallIntegerField()
    model_name = models.CharField(max_length=16)
    model_version = models.CharField(max_length=64)
    digit = models.SmallIntegerField()
    band = models.SmallIntegerField()
    n = models.BigIntegerField(default=0)
    confidence_sum = models.FloatField(default=0.0)

    KEY = ("day", "imported", "label_source", "label", "agree", "model_name", "model_version", "digit", "band")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "imported",
                    "label_source",
                    "label",
                    "agree",
                    "model_name",
                    "model_version",
                    "digit",
                    "band",
                ],
                name="rollup_labeled_key",
            )
        ]

    def __str__(self):
        return f"{self.day} {self.model_name} {self.n}"


class Rollup:
    """Keeps the three rollup tables equal to a count of every counted drawing (see the comment above)."""

    TABLES = (RollupDrawing, RollupPrediction, RollupLabeled)
    FOLD_BATCH = 5000

    # -- what one drawing adds

    @staticmethod
    def facts(pks, using):
        """``{pk: (day, imported, agree, [(model, version, digit, confidence), ...])}`` for these drawings."""
        out = {}
        for pk, created, source, agree in (
            Drawing.objects.using(using).filter(pk__in=pks).values_list("pk", "created", "source", "agree")
        ):
            day = timezone.localdate(created) if settings.USE_TZ else created.date()
            out[pk] = (day, source == Drawing.Source.IMPORT, UNKNOWN if agree is None else int(agree), [])
        for drawing_id, *answer in (
            Prediction.objects.using(using)
            .filter(drawing_id__in=pks)
            .order_by()
            .values_list("drawing_id", "model_name", "model_version", "digit", "confidence")
        ):
            if drawing_id in out:
                out[drawing_id][3].append(tuple(answer))
        return out

    @staticmethod
    def tally(facts, labels, sign=1, into=None):
        """Add (``sign=1``) or take out (-1) drawings: ``facts`` as ``Rollup.facts`` gives them, ``labels``
        ``{pk: (label, label_source)}``. Returns ``{table: {key: [n, confidence_sum]}}``."""
        into = into if into is not None else {table: {} for table in Rollup.TABLES}

        def add(table, key, confidence=0.0):
            cell = into[table].setdefault(key, [0, 0.0])
            cell[0] += sign
            cell[1] += sign * confidence

        for pk, (day, imported, agree, answers) in facts.items():
            label, label_source = labels[pk]
            label = NO_LABEL if label is None else int(label)
            any_right = label != NO_LABEL and any(digit == label for _, _, digit, _ in answers)
            add(RollupDrawing, (day, imported, agree, label_source, label, any_right))
            for model_name, version, digit, confidence in answers:
                band = band_of(confidence)
                add(RollupPrediction, (day, imported, model_name, band))
                if label != NO_LABEL:
                    key = (day, imported, label_source, label, agree, model_name, version, digit, band)
                    add(RollupLabeled, key, confidence)
        return into

    @staticmethod
    def apply(delta, using):
        """Add ``delta`` (``tally``'s result) to the tables: one upsert per table, keys in order (no deadlocks)."""
        connection = connections[using]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            for table, cells in delta.items():
                rows = sorted((key, cell) for key, cell in cells.items() if cell[0] or cell[1])
                if not rows:
                    continue
                sums = ["n"] + (["confidence_sum"] if table is RollupLabeled else [])
                columns = [*table.KEY, *sums]
                name = quote(table._meta.db_table)
                updates = ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in sums)
                for start in range(0, len(rows), 500):
                    chunk = rows[start : start + 500]
                    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(chunk))
                    params = []
                    for key, (n, confidence_sum) in chunk:
                        params += [*key, n] + ([confidence_sum] if table is RollupLabeled else [])
                    cursor.execute(
                        f"INSERT INTO {name} ({', '.join(quote(c) for c in columns)}) VALUES {placeholders} "
                        f"ON CONFLICT ({', '.join(quote(c) for c in table.KEY)}) DO UPDATE SET {updates}",
                        params,
                    )

    # -- the three ways drawings change

    @classmethod
    def relabel(cls, before, states, using):
        """Counted drawings whose label changes: ``before`` ``{pk: row}``, ``states`` ``{pk: (label, source, ...)}``."""
        facts = cls.facts(list(before), using)
        delta = cls.tally(facts, {pk: (row["label"], row["label_source"]) for pk, row in before.items()}, -1)
        cls.tally(facts, {pk: states[pk][:2] for pk in before}, 1, into=delta)
        cls.apply(delta, using)

    @classmethod
    def fold(cls, limit=None, using=None):
        """Count drawings not counted yet (oldest first, at most ``limit``), each in one transaction with its rows
        locked; rows another transaction holds are left for the next fold. Returns how many were counted."""
        db = using or router.db_for_write(Drawing)
        done, limit = 0, limit if limit is not None else float("inf")
        if not Drawing.objects.using(db).filter(counted=False).exists():
            return 0  # the usual case on a read: one index probe, no transaction
        while done < limit:
            with transaction.atomic(using=db):
                pks = list(
                    Drawing.objects.using(db)
                    .select_for_update(skip_locked=connections[db].features.has_select_for_update_skip_locked)
                    .filter(counted=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)[: int(min(cls.FOLD_BATCH, limit - done))]
                )
                if not pks:
                    break
                labels = {
                    pk: (label, source)
                    for pk, label, source in Drawing.objects.using(db)
                    .filter(pk__in=pks)
                    .values_list("pk", "label", "label_source")
                }
                cls.apply(cls.tally(cls.facts(pks, db), labels), db)
                Drawing.objects.using(db).filter(pk__in=pks).update(counted=True)
            done += len(pks)
        return done

    @classmethod
    def uncounted(cls, using=None):
        """(how many drawings wait to be counted, the oldest one's ``created``)."""
        waiting = Drawing.objects.using(using or router.db_for_read(Drawing)).filter(counted=False).order_by()
        oldest = waiting.order_by("pk").values_list("created", flat=True).first()
        return (waiting.count() if oldest is not None else 0), oldest

    @classmethod
    def rebuild(cls, using=None):
        """Recount every counted drawing from scratch: idempotent, and safe while traffic runs (the tables are locked
        for writes meanwhile, so a label write waits for it; predicts never do)."""
        from django.db.models import Count, Exists, F, OuterRef, Sum
        from django.db.models.functions import TruncDate

        db = using or router.db_for_write(Drawing)
        connection = connections[db]
        with transaction.atomic(using=db):
            if connection.vendor == "postgresql":
                tables = ", ".join(connection.ops.quote_name(t._meta.db_table) for t in cls.TABLES)
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
            for table in cls.TABLES:
                table.objects.using(db).all().delete()
            # Drawings waiting for a fold are counted now, except those a fold holds (it counts them after this).
            if connection.vendor == "postgresql":
                name = connection.ops.quote_name(Drawing._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {name} SET counted = true WHERE id IN "
                        f"(SELECT id FROM {name} WHERE NOT counted FOR UPDATE SKIP LOCKED)"
                    )
            else:
                Drawing.objects.using(db).filter(counted=False).update(counted=True)
            counted = Drawing.objects.using(db).filter(counted=True).order_by()
            predictions = Prediction.objects.using(db).filter(drawing__counted=True).order_by()
            delta = {table: {} for table in cls.TABLES}

            def merge(table, key, n, confidence_sum=0.0):
                cell = delta[table].setdefault(key, [0, 0.0])
                cell[0] += n
                cell[1] += confidence_sum or 0.0

            any_right = Exists(Prediction.objects.filter(drawing=OuterRef("pk"), digit=OuterRef("label")))
            for row in (
                counted.annotate(day=TruncDate("created"), any_right=any_right)
                .values("day", "source", "agree", "label_source", "label", "any_right")
                .annotate(n=Count("id"))
            ):
                label = NO_LABEL if row["label"] is None else row["label"]
                agree = UNKNOWN if row["agree"] is None else int(row["agree"])
                key = (row["day"], row["source"] == Drawing.Source.IMPORT, agree, row["label_source"], label)
                merge(RollupDrawing, (*key, bool(row["any_right"]) and label != NO_LABEL), row["n"])
            for row in (
                predictions.annotate(day=TruncDate("drawing__created"), band=band_case())
                .values("day", "drawing__source", "model_name", "band")
                .annotate(n=Count("id"))
            ):
                imported = row["drawing__source"] == Drawing.Source.IMPORT
                merge(RollupPrediction, (row["day"], imported, row["model_name"], row["band"]), row["n"])
            for row in (
                predictions.filter(drawing__label__isnull=False)
                .annotate(day=TruncDate("drawing__created"), band=band_case(), label=F("drawing__label"))
                .values(
                    "day",
                    "drawing__source",
                    "drawing__label_source",
                    "label",
                    "drawing__agree",
                    "model_name",
                    "model_version",
                    "digit",
                    "band",
                )
                .annotate(n=Count("id"), confidence_sum=Sum("confidence"))
            ):
                agree = UNKNOWN if row["drawing__agree"] is None else int(row["drawing__agree"])
                key = (
                    row["day"],
                    row["drawing__source"] == Drawing.Source.IMPORT,
                    row["drawing__label_source"],
                    row["label"],
                    agree,
                    row["model_name"],
                    row["model_version"],
                    row["digit"],
                    row["band"],
                )
                merge(RollupLabeled, key, row["n"], row["confidence_sum"])
            cls.apply(delta, db)


def fill_derived(using=None):
    """Set the answer-derived columns (``columns_from_answers``) where they are missing: drawings stored by SQL or
    before those columns existed. Returns how many drawings were filled."""
    from django.db.models import Case, F, Min, OuterRef, Subquery, Value, When

    db = using or router.db_for_write(Drawing)
    missing = Drawing.objects.using(db).filter(queue_rank__isnull=True)
    answers = Prediction.objects.using(db).filter(drawing=OuterRef("pk")).order_by()
    fields = {}
    for name in MODEL_NAMES:
        fields[f"{name}_digit"] = Subquery(answers.filter(model_name=name).values("digit")[:1])
        fields[f"{name}_confidence"] = Subquery(answers.filter(model_name=name).values("confidence")[:1])
    lowest = answers.values("drawing_id").annotate(low=Min("confidence")).values("low")
    fields["lowest_confidence"] = Subquery(lowest)
    with transaction.atomic(using=db):
        pks = list(missing.values_list("pk", flat=True))
        if not pks:
            return 0
        Drawing.objects.using(db).filter(pk__in=pks).update(**fields)
        Drawing.objects.using(db).filter(pk__in=pks).update(
            queue_rank=Case(
                When(lowest_confidence__isnull=True, then=Value(-1.0)),
                When(agree=True, lowest_confidence__lt=LOW_CONFIDENCE, then=Value(2.0) + F("lowest_confidence")),
                When(agree=True, then=Value(4.0) + F("lowest_confidence")),
                default=F("lowest_confidence"),
                output_field=models.FloatField(),
            )
        )
    return len(pks)


class _Deleting:
    """Counted drawings being deleted, taken out of the rollup in the delete's own transaction: their facts are read
    (row locked) before the rows go, and applied once they have gone."""

    pending = {}  # (alias, pk) -> delta


def _before_drawing_delete(sender, instance, using, **kwargs):
    row = (
        Drawing.objects.using(using)
        .select_for_update()
        .filter(pk=instance.pk, counted=True)
        .values_list("label", "label_source")
        .first()
    )
    if row is not None:
        _Deleting.pending[(using, instance.pk)] = Rollup.tally(
            Rollup.facts([instance.pk], using), {instance.pk: row}, -1
        )


def _after_drawing_delete(sender, instance, using, **kwargs):
    delta = _Deleting.pending.pop((using, instance.pk), None)
    if delta is not None:
        Rollup.apply(delta, using)


models.signals.pre_delete.connect(_before_drawing_delete, sender=Drawing, dispatch_uid="rollup_before_delete")
models.signals.post_delete.connect(_after_drawing_delete, sender=Drawing, dispatch_uid="rollup_after_delete")

"""Model versions, the changes made to them, and training jobs: all in this app's own tables."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """One version of one model: where its files are (with their sha256), how it was trained, how it scored."""

    class Status(models.TextChoices):
        LIVE = "live", "live"
        SHADOW = "shadow", "shadow"
        CANDIDATE = "candidate", "candidate"
        RETIRED = "retired", "retired"

    class Location(models.TextChoices):
        CHECKOUT = "checkout", "committed in models/ (MODELS_DIR)"
        STORE = "store", "trained here (MODEL_STORE_DIR)"

    name = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    location = models.CharField(max_length=10, choices=Location.choices, default=Location.STORE)
    # {"file": ..., "sha256": ..., "companions": [{"file", "sha256"}]}: the manifest entry's shape
    files = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)  # {"sets": {set: {accuracy, correct, count, wilson, ...}}}
    training = models.JSONField(default=dict, blank=True)  # data by source, epochs, seed, duration, who, when
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        permissions = [("promote_model", "Can shadow, promote, roll back and retire model versions")]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="lifecycle_version_unique"),
            models.UniqueConstraint(fields=["name"], condition=Q(status="live"), name="lifecycle_one_live"),
            models.UniqueConstraint(fields=["name"], condition=Q(status="shadow"), name="lifecycle_one_shadow"),
        ]
        indexes = [models.Index(fields=["status"], name="lifecycle_status_idx")]

    def __str__(self):
        return f"{self.name}-{self.version} ({self.status})"

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


class ModelFile(models.Model):
    """A trained version's file as bytes, so that every server reads the same weights (each keeps a copy on its local
    disk, in MODEL_STORE_DIR, written on first use and checked by sha256)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="blobs")
    file = models.CharField(max_length=128)
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "file"], name="lifecycle_file_unique")]

    def __str__(self):
        return self.file


class ModelChange(models.Model):
    """A change of a model's status: who, when, from which version to which, and why."""

    class Action(models.TextChoices):
        REGISTER = "register", "register"
        PROMOTE = "promote", "promote"
        ROLLBACK = "rollback", "rollback"
        SHADOW = "shadow", "shadow"
        RETIRE = "retire", "retire"
        CANDIDATE = "candidate", "new candidate"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    who = models.CharField(max_length=150, blank=True)  # kept when the user is deleted
    created = models.DateTimeField(auto_now_add=True)
    name = models.CharField(max_length=32)
    from_version = models.PositiveIntegerField(null=True, blank=True)
    to_version = models.PositiveIntegerField(null=True, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField(blank=True)
    forced = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.action} {self.name}: {self.from_version} -> {self.to_version} by {self.who or '-'}"


class TrainingJob(models.Model):
    """A training run on the task queue (django-tasks, database backend): its options, progress and outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # True while queued or running, NULL after: the unique constraint lets one job at a time be active
    active = models.BooleanField(null=True, blank=True, default=True)
    options = models.JSONField(default=dict)
    progress = models.JSONField(default=dict, blank=True)
    versions = models.JSONField(default=list, blank=True)  # ["custom-6", ...]
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=128, blank=True)  # "host:pid" of the worker running it
    heartbeat = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    who = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["active"], name="lifecycle_one_training_at_a_time")]

    def __str__(self):
        return f"training job {self.pk} ({self.status})"


class ShadowAnswer(models.Model):
    """A shadow version's answer to a stored drawing: never shown to drawers, never counted as a prediction."""

    drawing = models.ForeignKey("recognizer.Drawing", on_delete=models.CASCADE, related_name="shadow_answers")
    name = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    digit = models.PositiveSmallIntegerField()
    confidence = models.FloatField()
    probabilities = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["drawing_id", "name"]

    def __str__(self):
        return f"{self.model_version} on drawing {self.drawing_id}: {self.digit}"

    @property
    def model_version(self) -> str:
        return f"{self.name}-{self.version}"

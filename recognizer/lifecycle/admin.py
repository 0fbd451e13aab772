"""The lifecycle in the admin, read-only: versions, every change (who, when, from, to, why), training jobs."""

from django.contrib import admin

from recognizer.lifecycle.models import ModelChange, ModelVersion, TrainingJob


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnly):
    list_display = ("name", "version", "status", "location", "accuracy", "created")
    list_filter = ("name", "status")
    readonly_fields = ("name", "version", "status", "location", "files", "metrics", "training", "created")

    @admin.display(description="accuracy per set")
    def accuracy(self, obj):
        sets = obj.metrics.get("sets", {})
        return ", ".join(f"{k} {v['accuracy']:.2f}%" for k, v in sets.items()) or "-"


@admin.register(ModelChange)
class ModelChangeAdmin(ReadOnly):
    list_display = ("created", "name", "action", "from_version", "to_version", "who", "forced", "reason")
    list_filter = ("name", "action", "forced")
    readonly_fields = ("created", "name", "action", "from_version", "to_version", "user", "who", "reason", "forced")


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnly):
    list_display = ("id", "status", "who", "created", "started", "finished", "versions")
    list_filter = ("status",)
    readonly_fields = (
        "status",
        "options",
        "progress",
        "versions",
        "error",
        "cancel_requested",
        "task_id",
        "worker",
        "heartbeat",
        "who",
        "created",
        "started",
        "finished",
    )

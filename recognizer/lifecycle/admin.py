"""The lifecycle in the admin, read-only: versions, every change (who, when, from, to, why), training jobs."""

from django.contrib import admin
from django.urls import path, re_path, reverse
from django.utils.html import format_html

from recognizer.lifecycle import admin_views
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
    change_list_template = "admin/lifecycle/modelversion/change_list.html"
    list_display = ("name", "version", "status", "location", "accuracy", "created", "compare")
    list_filter = ("name", "status")
    readonly_fields = ("name", "version", "status", "location", "files", "metrics", "training", "created")

    @admin.display(description="accuracy per set")
    def accuracy(self, obj):
        sets = obj.metrics.get("sets", {})
        return ", ".join(f"{k} {v['accuracy']:.2f}%" for k, v in sets.items()) or "-"

    @admin.display(description="")
    def compare(self, obj):
        return format_html(
            '<a href="{}">compare, shadow, promote…</a>', reverse("admin:lifecycle_modelversion_compare", args=[obj.pk])
        )

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(lambda request, *args, **kwargs: view(self, request, *args, **kwargs))

        return [
            path("train/", wrap(admin_views.train_view), name="lifecycle_modelversion_train"),
            path("<int:pk>/compare/", wrap(admin_views.compare_view), name="lifecycle_modelversion_compare"),
            re_path(
                r"^(?P<pk>[0-9]+)/(?P<what>shadow|promote|retire|rollback)/$",
                wrap(admin_views.action_view),
                name="lifecycle_modelversion_action",
            ),
            *super().get_urls(),
        ]


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

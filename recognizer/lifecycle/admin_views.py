"""The lifecycle's admin pages: train a candidate (and follow the job), compare a version with the live one set by set
with the production drawings on which they disagree, and the shadow / promote / retire / rollback buttons."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from recognizer.lifecycle import actions, evaluation, jobs, shadow, store
from recognizer.lifecycle.models import ModelVersion, TrainingJob
from recognizer.ml import publishing, registry

DISAGREEMENTS_SHOWN = 24
HOLDOUT_COMPARED = 2000


def _context(admin, request, title, **extra):
    return {**admin.admin_site.each_context(request), "opts": admin.model._meta, "title": title, **extra}


def train_view(admin, request):
    """GET: the form and the latest job's progress (refreshing while it runs); POST: queue a job."""
    if request.method == "POST":
        if not request.user.has_perm("lifecycle.promote_model"):
            raise PermissionDenied
        names = [n for n in registry.NAMES if request.POST.get(f"model_{n}")]
        try:
            options = {
                "models": names,
                "epochs": int(request.POST.get("epochs") or 1),
                "limit": int(request.POST["limit"]) if request.POST.get("limit") else None,
                "include_labeled": bool(request.POST.get("include_labeled")),
                "labeled_weight": float(request.POST.get("labeled_weight") or 1.0),
            }
            if not names or not 1 <= options["epochs"] <= 50 or not 0 < options["labeled_weight"] <= 100:
                raise ValueError
            if options["limit"] is not None and not 1 <= options["limit"] <= 60_000:
                raise ValueError
        except ValueError:
            messages.error(
                request, "Choose at least one model, 1-50 epochs, a limit of 1-60,000 and a weight of 0-100."
            )
            return redirect(request.path)
        try:
            job = jobs.start({k: v for k, v in options.items() if v is not None}, request.user)
            messages.success(request, f"Training job {job.pk} queued.")
        except jobs.Busy as exc:
            messages.error(request, f"Training job {exc.job.pk} is {exc.job.status}: one training runs at a time.")
        return redirect(request.path)
    jobs.reap()
    job = TrainingJob.objects.order_by("-id").first()
    return TemplateResponse(
        request,
        "admin/lifecycle/modelversion/train.html",
        _context(
            admin,
            request,
            "Train a candidate",
            job=job,
            active=job is not None and job.status in TrainingJob.ACTIVE,
            names=registry.NAMES,
            can_train=request.user.has_perm("lifecycle.promote_model"),
        ),
    )


def _classify(version: ModelVersion):
    spec = registry.get(version.name)
    model = spec.resolve("load")(store.local_file(version))
    return publishing.predict_fn(version.name, model)


def compare_view(admin, request, pk):
    version = get_object_or_404(ModelVersion, pk=pk)
    live = ModelVersion.objects.filter(name=version.name, status=ModelVersion.Status.LIVE).first()
    rows = []
    for set_name, row in actions.comparison(version, live).items():
        rows.append({"set": set_name, **row})
    disagreements = []
    if live is not None and live.pk != version.pk:
        x, y, ids = evaluation.production_split_with_ids("holdout", limit=HOLDOUT_COMPARED)
        if len(y):
            mine, theirs = _classify(version)(x), _classify(live)(x)
            for i in [i for i in range(len(y)) if mine[i] != theirs[i]][:DISAGREEMENTS_SHOWN]:
                disagreements.append(
                    {
                        "id": int(ids[i]),
                        "label": int(y[i]),
                        "mine": int(mine[i]),
                        "theirs": int(theirs[i]),
                        "input_url": reverse("api:drawing-input", args=[int(ids[i])]),
                        "admin_url": reverse("admin:recognizer_drawing_change", args=[int(ids[i])]),
                    }
                )
    return TemplateResponse(
        request,
        "admin/lifecycle/modelversion/compare.html",
        _context(
            admin,
            request,
            f"{version.label} against the live version",
            version=version,
            live=live,
            rows=rows,
            disagreements=disagreements,
            compared=HOLDOUT_COMPARED,
            shadow_scores=shadow.scoreboard(version.name, version.version),
            can_change=request.user.has_perm("lifecycle.promote_model"),
        ),
    )


def action_view(admin, request, pk, what):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm("lifecycle.promote_model"):
        raise PermissionDenied
    version = get_object_or_404(ModelVersion, pk=pk)
    reason = request.POST.get("reason", "")[:2000]
    try:
        if what == "rollback":
            change = actions.rollback(version.name, request.user, reason)
        elif what == "promote":
            change = actions.promote(
                version.name, version.version, request.user, reason, bool(request.POST.get("force"))
            )
        elif what in ("shadow", "retire"):
            change = getattr(actions, what)(version.name, version.version, request.user, reason)
        else:
            raise Http404
    except actions.LifecycleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{change.action}: {change.name} {change.from_version} → {change.to_version}")
    return redirect(reverse("admin:lifecycle_modelversion_compare", args=[version.pk]))

"""Shadow, promote, roll back, retire: each a transaction that records who, when, from, to and why.

Every process follows the change by itself within seconds (``recognizer.inference.watch``): nothing restarts.

The guardrail: a promotion is refused (:class:`Refused`, the API's 409) when the candidate is worse than the live
version beyond the noise on any evaluation set both were scored on (``stats.worse_beyond_noise``: the 95 % Wilson
intervals are disjoint, the candidate's below). ``force=True`` with a reason overrides it; the reason is recorded.
"""

from __future__ import annotations

from django.db import transaction

from recognizer.lifecycle import stats
from recognizer.lifecycle.models import ModelChange, ModelVersion
from recognizer.ml import registry

Status = ModelVersion.Status
Action = ModelChange.Action


class LifecycleError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(LifecycleError):
    status = 404
    code = "not_found"


class Conflict(LifecycleError):
    status = 409
    code = "conflict"


class Refused(Conflict):
    """The guardrail: the candidate is worse than the live version beyond the noise on a set."""

    code = "worse_than_live"


def _who(user) -> str:
    return getattr(user, "get_username", lambda: "")() if user is not None else ""


def _record(user, name, action, from_version, to_version, reason="", forced=False) -> ModelChange:
    return ModelChange.objects.create(
        user=user if getattr(user, "pk", None) else None,
        who=_who(user),
        name=name,
        action=action,
        from_version=from_version,
        to_version=to_version,
        reason=reason or "",
        forced=forced,
    )


def _versions(name: str):
    try:
        registry.get(name)
    except KeyError:
        raise NotFound(f"Unknown model '{name}'; models: {', '.join(registry.NAMES)}.") from None
    return ModelVersion.objects.select_for_update().filter(name=name)


def _get(name: str, version) -> ModelVersion:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise NotFound(f"No version '{version}' of model '{name}'.") from None
    found = _versions(name).filter(version=number).first()
    if found is None:
        raise NotFound(f"No version {number} of model '{name}'.")
    return found


def _live(name: str) -> ModelVersion | None:
    return _versions(name).filter(status=Status.LIVE).first()


def comparison(candidate: ModelVersion, live: ModelVersion | None) -> dict[str, dict]:
    """Set by set: both scores and whether the candidate is worse beyond the noise. A set counts when both versions
    were scored on it; the production holdout, which grows, is compared with the live version's score taken at the
    candidate's evaluation (``metrics["baseline"]``) when that was this live version."""
    if live is None:
        return {}
    mine = candidate.metrics.get("sets", {})
    theirs = dict(live.metrics.get("sets", {}))
    baseline = candidate.metrics.get("baseline", {})
    if baseline.get("version") == live.version:
        theirs.update(baseline.get("sets", {}))
    out = {}
    for set_name, score in mine.items():
        if set_name in theirs:
            out[set_name] = {
                "candidate": score,
                "live": theirs[set_name],
                "worse_beyond_noise": stats.worse_beyond_noise(score, theirs[set_name]),
            }
    return out


@transaction.atomic
def promote(name: str, version, user=None, reason: str = "", force: bool = False) -> ModelChange:
    target = _get(name, version)
    live = _live(name)
    if live is not None and live.pk == target.pk:
        raise Conflict(f"{target.label} is already live.")
    if force and not (reason or "").strip():
        raise LifecycleError('"force" needs a "reason", which is recorded.')
    worse = {k: v for k, v in comparison(target, live).items() if v["worse_beyond_noise"]}
    if worse and not force:
        first = next(iter(worse))
        c, lv = worse[first]["candidate"], worse[first]["live"]
        raise Refused(
            f"{target.label} is worse than the live {live.label} beyond the noise on '{first}': "
            f"{c['accuracy']:.2f}% (95% interval {c['wilson'][0]:.2f}-{c['wilson'][1]:.2f}) against "
            f"{lv['accuracy']:.2f}% ({lv['wilson'][0]:.2f}-{lv['wilson'][1]:.2f}). "
            'Send {"force": true, "reason": "..."} to promote it anyway.',
            set=first,
            sets=sorted(worse),
            comparison=worse,
        )
    if live is not None:
        live.status = Status.RETIRED
        live.save(update_fields=["status"])
    target.status = Status.LIVE
    target.save(update_fields=["status"])
    return _record(user, name, Action.PROMOTE, live and live.version, target.version, reason, forced=bool(worse))


@transaction.atomic
def rollback(name: str, user=None, reason: str = "") -> ModelChange:
    """Back to the version that was live before the current one (the one the change that made it live replaced;
    so a second rollback undoes the first)."""
    live = _live(name)
    if live is None:
        raise Conflict(f"Model '{name}' has no live version.")
    made_live = (
        ModelChange.objects.filter(name=name, to_version=live.version, action__in=[Action.PROMOTE, Action.ROLLBACK])
        .order_by("-id")
        .first()
    )
    if made_live is None or made_live.from_version is None:
        raise Conflict(f"{live.label} replaced no earlier version: nothing to roll back to.")
    previous = _versions(name).filter(version=made_live.from_version).first()
    if previous is None:
        raise Conflict(f"The previous version {name}-{made_live.from_version} no longer exists.")
    live.status = Status.RETIRED
    live.save(update_fields=["status"])
    previous.status = Status.LIVE
    previous.save(update_fields=["status"])
    return _record(user, name, Action.ROLLBACK, live.version, previous.version, reason)


@transaction.atomic
def shadow(name: str, version, user=None, reason: str = "") -> ModelChange:
    target = _get(name, version)
    if target.status == Status.LIVE:
        raise Conflict(f"{target.label} is live: only another version can be in shadow.")
    if target.status == Status.SHADOW:
        raise Conflict(f"{target.label} is already in shadow.")
    before = _versions(name).filter(status=Status.SHADOW).first()
    if before is not None:
        before.status = Status.CANDIDATE
        before.save(update_fields=["status"])
    target.status = Status.SHADOW
    target.save(update_fields=["status"])
    return _record(user, name, Action.SHADOW, before and before.version, target.version, reason)


@transaction.atomic
def retire(name: str, version, user=None, reason: str = "") -> ModelChange:
    target = _get(name, version)
    if target.status == Status.LIVE:
        raise Conflict(f"{target.label} is live: promote another version (or roll back) first.")
    if target.status == Status.RETIRED:
        raise Conflict(f"{target.label} is already retired.")
    target.status = Status.RETIRED
    target.save(update_fields=["status"])
    return _record(user, name, Action.RETIRE, target.version, None, reason)

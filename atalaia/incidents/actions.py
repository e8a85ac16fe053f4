"""Every change to an incident: one function each, in one transaction, with its
timeline entry written in that same transaction. Views, API, CLI and workers
all call these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from atalaia.accounts.models import User
from atalaia.catalog.impact import compute, current_graph
from atalaia.catalog.models import Service
from atalaia.incidents import events, gate
from atalaia.incidents.lifecycle import (
    STAGE_PHASES,
    IllegalMove,
    check_stage_move,
    check_status_move,
)
from atalaia.incidents.models import (
    ChecklistItem,
    EntryKind,
    Incident,
    IncidentRole,
    Level,
    Phase,
    PhaseWindow,
    PublicStatus,
    RoleAssignment,
    Stage,
    TimelineEntry,
)
from atalaia.incidents.timeline import append_entry
from atalaia.lib.text import first_line
from atalaia.plans.actions import active_plan
from atalaia.plans.schema import classify, describe

__all__ = ["IllegalMove", "IncidentError", "declare_incident", "append_entry"]

USER_ENTRY_KINDS = (EntryKind.NOTE, EntryKind.ACTION, EntryKind.ATTEMPT, EntryKind.RESULT)
OUTCOMES = ("success", "failure", "partial", "unknown")


class IncidentError(ValueError):
    """Input an action cannot accept; the message says what is wrong."""


def _services(slugs: Iterable[str]) -> list[Service]:
    slugs = list(dict.fromkeys(slugs))
    if not slugs:
        raise IncidentError("name at least one affected service")
    found = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise IncidentError(f"unknown service(s): {', '.join(unknown)}")
    return [found[s] for s in slugs]


def _assess(incident: Incident, slugs: list[str]) -> tuple[str, str]:
    """Impact and the plan's level for these services; keeps the details of the
    classification on the incident so the console can explain it in any language."""
    incident.impact = compute(current_graph(), slugs, incident.security_risk,
                              incident.security_reason)
    plan = incident.plan_version.plan if incident.plan_version else None
    if plan is None:
        incident.plan_level_details = {"no_plan": True}
        return Level.LOCALIZED, describe(incident.plan_level_details, "en")
    level, reason, incident.plan_level_details = classify(plan, incident.impact)
    return level, reason


@transaction.atomic
def declare_incident(actor: User | None, title: str, services: Iterable[str],
                     summary: str = "", security_risk: bool = False,
                     security_reason: str = "", confidential: bool = False) -> Incident:
    # A title is one line (it becomes e-mail subjects); what was written under its
    # first line is kept, ahead of the summary.
    title, rest = first_line(title or "")
    summary = "\n\n".join(part for part in (rest, summary) if part)
    if not title:
        raise IncidentError("a title is required")
    if len(title) > 200:
        raise IncidentError("the title is longer than 200 characters")
    affected = _services(services)
    plan_version = active_plan()
    incident = Incident(title=title, summary=summary, declared_at=timezone.now(),
                        declared_by=actor, plan_version=plan_version,
                        security_risk=security_risk, confidential=confidential,
                        security_reason=security_reason if security_risk else "")
    level, reason = _assess(incident, [s.slug for s in affected])
    incident.level = incident.plan_level = level
    incident.plan_level_reason = reason
    incident.save()
    incident.services.set(affected)
    if actor is not None:
        incident.participants.add(actor)
    for phase in (Phase.ASSESSMENT, Phase.RESPONSE, Phase.COMMUNICATION):
        PhaseWindow.objects.create(incident=incident, phase=phase, started_at=incident.declared_at)
    _instantiate_checklists(incident)
    append_entry(incident, EntryKind.DECLARED, actor, {
        "title": title, "summary": summary, "services": [s.slug for s in affected],
        "level": level, "reason": reason, "confidential": confidential,
        "security_risk": security_risk, "impact": _impact_digest(incident.impact),
        "plan_version": plan_version.number if plan_version else None})
    events.announce(events.DECLARED, incident, actor, level=level)
    return incident


def _instantiate_checklists(incident: Incident) -> None:
    plan = incident.plan_version.plan if incident.plan_version else None
    if not plan:
        return
    items = []
    for phase, entries in plan["checklists"].items():
        for position, item in enumerate(entries):
            items.append(ChecklistItem(incident=incident, phase=phase, position=position,
                                       text_en=item["text"]["en"], text_pt=item["text"]["pt-BR"],
                                       owner_role=item["owner"]))
    ChecklistItem.objects.bulk_create(items)


def _impact_digest(impact: dict) -> dict:
    keys = ("users_affected", "users_share", "services_affected", "critical_services",
            "operational_risk", "security_risk")
    return {k: impact.get(k) for k in keys}


@transaction.atomic
def set_affected_services(incident: Incident, actor: User | None,
                          services: Iterable[str]) -> None:
    affected = _services(services)
    incident = _lock(incident)
    slugs = [s.slug for s in affected]
    level, reason = _assess(incident, slugs)
    incident.services.set(affected)
    _save_assessment(incident, actor, level, reason, {"services": slugs})


def _save_assessment(incident: Incident, actor: User | None, level: str, reason: str,
                     change: dict) -> None:
    old_level = incident.level
    incident.plan_level, incident.plan_level_reason = level, reason
    if not incident.level_override_reason:
        incident.level = level
    incident.save(update_fields=["impact", "plan_level", "plan_level_reason",
                                 "plan_level_details", "level",
                                 "security_risk", "security_reason"])
    append_entry(incident, EntryKind.IMPACT, actor,
                 {**change, "impact": _impact_digest(incident.impact)})
    if incident.level != old_level:
        append_entry(incident, EntryKind.LEVEL, actor,
                     {"from": old_level, "to": incident.level, "reason": reason,
                      "source": "plan"})
        events.announce(events.LEVEL_CHANGED, incident, actor, old=old_level,
                        new=incident.level)


@transaction.atomic
def set_security_risk(incident: Incident, actor: User | None, flag: bool, reason: str) -> None:
    if flag and not reason.strip():
        raise IncidentError("say why there is a security risk")
    incident = _lock(incident)
    incident.security_risk, incident.security_reason = flag, reason.strip() if flag else ""
    level, level_reason = _assess(incident, list(incident.services.values_list("slug", flat=True)))
    _save_assessment(incident, actor, level, level_reason,
                     {"security_risk": flag, "security_reason": incident.security_reason})


@transaction.atomic
def override_level(incident: Incident, actor: User, level: str, reason: str) -> None:
    if level not in Level.values:
        raise IncidentError(f"unknown level {level!r}; use one of {', '.join(Level.values)}")
    if not reason.strip():
        raise IncidentError("a level override needs a written reason")
    incident = _lock(incident)
    old = incident.level
    incident.level, incident.level_override_reason = level, reason.strip()
    incident.save(update_fields=["level", "level_override_reason"])
    append_entry(incident, EntryKind.LEVEL, actor, {"from": old, "to": level, "reason": reason,
                                                    "source": "override",
                                                    "plan_level": incident.plan_level})
    if level != old:
        events.announce(events.LEVEL_CHANGED, incident, actor, old=old, new=level)


@transaction.atomic
def move_stage(incident: Incident, actor: User | None, target: str, note: str = "") -> None:
    incident = _lock(incident)
    check_stage_move(incident.stage, incident.public_status, target,
                     target == Stage.CLOSED and events.may_close(incident))
    now = timezone.now()
    ends, starts = STAGE_PHASES[target]
    PhaseWindow.objects.filter(incident=incident, phase__in=ends,
                               ended_at__isnull=True).update(ended_at=now)
    for phase in starts:
        _open_window(incident, phase, now)
    old = incident.stage
    incident.stage = target
    incident.save(update_fields=["stage"])
    append_entry(incident, EntryKind.STAGE, actor, {"from": old, "to": target, "text": note})
    events.announce(events.STAGE_MOVED, incident, actor, old=old, new=target)
    if target == Stage.CLOSED:
        events.announce(events.CLOSED, incident, actor)


@transaction.atomic
def retrigger(incident: Incident, reason: str) -> bool:
    """Something new went wrong on an incident past its response (a signal joining it
    in the resolution stage): it must not be absorbed in silence. The incident goes
    back to response when the lifecycle allows it (not once the public status says
    resolved: a person reopens that), the timeline says why, and RETRIGGERED makes
    paging page the responders again, as PagerDuty re-triggers an incident. Nothing
    happens in assessment or response, where the responders are already on it.
    True when the incident was re-triggered."""
    incident = _lock(incident)
    if incident.stage in (Stage.ASSESSMENT, Stage.RESPONSE):
        return False
    if incident.stage == Stage.RESOLUTION and incident.public_status != PublicStatus.RESOLVED:
        move_stage(incident, None, Stage.RESPONSE, reason)
        incident.stage = Stage.RESPONSE
    else:
        why = ("reopen its public status to go back to response"
               if incident.stage == Stage.RESOLUTION else "a review cannot go back")
        append_entry(incident, EntryKind.NOTE, None, {
            "event": "retriggered",
            "text": f"{reason} (the incident stays in {incident.stage}: {why})"})
    # A new problem is not acknowledged, whatever its source said of the old ones.
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=None)
    incident.acknowledged_at = None
    events.announce(events.RETRIGGERED, incident, None, reason=reason)
    return True


@transaction.atomic
def acknowledge_at_source(incident: Incident, source: str, reason: str) -> bool:
    """The incident's alerts were acknowledged where they come from: as a PagerDuty
    incident is acknowledged by its alert, the incident is acknowledged, and
    ACKNOWLEDGED makes paging stop its escalations and cancel the notifications not
    yet sent in this same transaction (not at the worker's next step). Once only,
    and not after resolution, when paging has stopped already. True when it was
    acknowledged now."""
    incident = _lock(incident, closed_ok=True)
    if incident.acknowledged_at is not None or incident.stage in (Stage.REVIEW, Stage.CLOSED):
        return False
    incident.acknowledged_at = timezone.now()
    incident.save(update_fields=["acknowledged_at"])
    append_entry(incident, EntryKind.SIGNAL, None, {
        "event": "acknowledged", "source": source, "service": None,
        "summary": "incident acknowledged; escalation stops", "reason": reason})
    events.announce(events.ACKNOWLEDGED, incident, None, source=source)
    return True


def _open_window(incident: Incident, phase: str, now: datetime) -> None:
    window, created = PhaseWindow.objects.get_or_create(incident=incident, phase=phase,
                                                        defaults={"started_at": now})
    if not created and window.ended_at is not None:
        window.ended_at = None
        window.save(update_fields=["ended_at"])


@transaction.atomic
def set_public_status(incident: Incident, actor: User | None, target: str,
                      message: str = "", closing: dict | None = None) -> None:
    """Move the public status. Resolving announces RESOLVED: comms publishes the one
    closing update (`closing` carries what the caller asked it to say: texts, ETA,
    component changes), paging stops and the review opens."""
    incident = _lock(incident)
    check_status_move(incident.stage, incident.public_status, target)
    if target == PublicStatus.RESOLVED:
        try:
            gate.check_resolvable(incident)
        except gate.GateError as exc:
            raise IllegalMove(str(exc)) from None
    now = timezone.now()
    old = incident.public_status
    incident.public_status = target
    # The closing message ends the communication track; reopening a resolved
    # incident opens it again.
    if target == PublicStatus.RESOLVED:
        incident.communication_open = False
        PhaseWindow.objects.filter(incident=incident, phase=Phase.COMMUNICATION,
                                   ended_at__isnull=True).update(ended_at=now)
    elif old == PublicStatus.RESOLVED:
        incident.communication_open = True
        _open_window(incident, Phase.COMMUNICATION, now)
    incident.save(update_fields=["public_status", "communication_open"])
    append_entry(incident, EntryKind.STATUS, actor, {"from": old, "to": target, "text": message})
    events.announce(events.STATUS_MOVED, incident, actor, old=old, new=target, message=message)
    if target == PublicStatus.RESOLVED:
        events.announce(events.RESOLVED, incident, actor, message=message, closing=closing)


@transaction.atomic
def assign_role(incident: Incident, actor: User, role: str, holder: User) -> None:
    if role not in IncidentRole.values:
        raise IncidentError(f"unknown incident role {role!r}; use one of "
                            f"{', '.join(IncidentRole.values)}")
    incident = _lock(incident)
    RoleAssignment.objects.update_or_create(incident=incident, role=role,
                                            defaults={"user": holder})
    incident.participants.add(holder)
    append_entry(incident, EntryKind.ROLE, actor, {"role": role, "user": holder.username})


def add_participant(incident: Incident, user: User) -> bool:
    """Someone asked to work on the incident (a page) takes part in it, so that a
    confidential one opens for them; True when they were not on it before. The
    caller writes the timeline entry that says why (oncall's "paged")."""
    if incident.participants.filter(pk=user.pk).exists():
        return False
    incident.participants.add(user)
    return True


@transaction.atomic
def set_eta(incident: Incident, actor: User, eta: datetime | None) -> None:
    if eta is not None and timezone.is_naive(eta):
        raise IncidentError("the ETA needs a time zone")
    incident = _lock(incident)
    incident.eta = eta
    incident.save(update_fields=["eta"])
    append_entry(incident, EntryKind.ETA, actor,
                 {"eta": eta.isoformat() if eta else None})


@transaction.atomic
def add_entry(incident: Incident, actor: User, kind: str, text: str,
              outcome: str = "") -> TimelineEntry:
    """A person's note, action, attempt or result."""
    if kind not in USER_ENTRY_KINDS:
        raise IncidentError(f"entries written by hand are one of {', '.join(USER_ENTRY_KINDS)}")
    text = (text or "").strip()
    if not text:
        raise IncidentError("the entry needs some text")
    if len(text) > 20_000:
        raise IncidentError("the entry is longer than 20,000 characters")
    if outcome and outcome not in OUTCOMES:
        raise IncidentError(f"outcome is one of {', '.join(OUTCOMES)}")
    body = {"text": text}
    if outcome:
        body["outcome"] = outcome
    incident.participants.add(actor)
    return append_entry(incident, kind, actor, body)


@transaction.atomic
def tick_checklist(item: ChecklistItem, actor: User, done: bool) -> None:
    item = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    _lock(item.incident)  # refuses a closed incident
    if bool(item.done_at) == done:
        return
    item.done_at, item.done_by = (timezone.now(), actor) if done else (None, None)
    item.save(update_fields=["done_at", "done_by"])
    append_entry(item.incident, EntryKind.CHECKLIST, actor,
                 {"phase": item.phase, "item": item.text_en, "done": done})


@transaction.atomic
def set_visibility(incident: Incident, actor: User, confidential: bool) -> None:
    incident = _lock(incident, closed_ok=True)
    if incident.confidential == confidential:
        return
    incident.confidential = confidential
    incident.save(update_fields=["confidential"])
    append_entry(incident, EntryKind.VISIBILITY, actor, {"confidential": confidential})


@transaction.atomic
def set_resolution(incident: Incident, actor: User, root_cause: str, permanent_fix: str,
                   temporary: bool = False) -> None:
    """Root cause and fix. A fix marked temporary gets an action item for the permanent
    one in the review (now, or when the review opens)."""
    incident = _lock(incident)
    incident.root_cause, incident.permanent_fix = root_cause.strip(), permanent_fix.strip()
    newly_temporary = temporary and not incident.fix_is_temporary
    incident.fix_is_temporary = temporary
    incident.save(update_fields=["root_cause", "permanent_fix", "fix_is_temporary"])
    append_entry(incident, EntryKind.RESOLUTION, actor,
                 {"root_cause": incident.root_cause, "permanent_fix": incident.permanent_fix,
                  "temporary": temporary})
    events.announce(events.RESOLUTION_SET, incident, actor, newly_temporary=newly_temporary)


def _lock(incident: Incident, closed_ok: bool = False) -> Incident:
    """The incident's row, locked for the change. A closed incident changes no more
    (its record is final; a new crisis is a new incident), except its visibility."""
    locked = Incident.objects.select_for_update(of=("self",)).select_related(
        "plan_version").get(pk=incident.pk)
    if locked.stage == Stage.CLOSED and not closed_ok:
        raise IllegalMove("the incident is closed: its record no longer changes")
    return locked

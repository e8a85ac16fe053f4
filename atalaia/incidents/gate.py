"""The verification gate: what must hold before the public status may become
*resolved*, from the plan's `verification` for the incident's level.

- every monitor of the affected services up for `green_minutes` in a row (a monitor
  that goes down again starts the count over: it is measured from its last change).
  A service no monitor covers gives no evidence: the gate names it and blocks, unless
  the plan's `unmonitored: sign_off` lets the commander's sign-off vouch for it;
- each listed manual check ticked by a member of its team, or by the holder of its
  incident role;
- the commander's sign-off (unless the plan says `signoff: false`).

An admin may force the gate with a written reason, which the timeline and the
review show.

Monitors belong to a phase above this layer: monitoring registers what its monitors
read (`provide_monitor_readings`, from its AppConfig.ready), and the gate asks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts.models import AccountRole, User
from atalaia.catalog.models import Service, Team
from atalaia.incidents.models import (
    EntryKind,
    Incident,
    IncidentRole,
    RoleAssignment,
    VerificationCheck,
)
from atalaia.incidents.timeline import append_entry


class GateError(ValueError):
    """A gate action that cannot be done; the message says why."""


@dataclass(frozen=True)
class MonitorReading:
    """One monitor (not paused) of an affected service, as the gate needs it."""
    name: str
    service_id: int
    up: bool
    since: datetime | None  # its last change of state


MonitorReadings = Callable[[list[Service]], Iterable[MonitorReading]]
_provider: list[MonitorReadings] = []


def provide_monitor_readings(provider: MonitorReadings) -> None:
    """Called once by the monitoring app: how the gate reads the services' monitors."""
    _provider[:] = [provider]


def monitor_readings_provider() -> MonitorReadings | None:
    return _provider[0] if _provider else None


def _readings(services: list[Service]) -> list[MonitorReading]:
    # Without monitoring installed nothing covers any service: no evidence.
    return list(_provider[0](services)) if _provider and services else []


@dataclass
class Item:
    kind: str  # monitors, check, signoff
    label: str
    ok: bool
    detail: str = ""
    remaining: timedelta | None = None  # how long until it passes, when it is counting
    check: int | None = None  # the VerificationCheck, for a manual check
    team: str = ""  # who may tick it: a team's slug, or an incident role
    role: str = ""
    # A monitors item that the commander's sign-off stands in for (services no
    # monitor covers, when the plan allows it).
    vouched: bool = False


@dataclass
class Gate:
    items: list[Item] = field(default_factory=list)
    forced: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.forced) or all(item.ok for item in self.items)

    def blocking(self) -> str:
        return "; ".join(f"{i.label}: {i.detail}" for i in self.items if not i.ok)


def spec(incident: Incident) -> dict:
    plan = incident.plan_version.plan if incident.plan_version else None
    level = (plan or {}).get("levels", {}).get(incident.level, {})
    return level.get("verification") or {}


def ensure_checks(incident: Incident) -> list[VerificationCheck]:
    """The manual checks of the current level's plan, as rows (kept when ticked)."""
    wanted = spec(incident).get("checks", [])
    rows = {c.text_en: c for c in incident.verification_checks.all()}
    for position, check in enumerate(wanted):
        if check["text"]["en"] not in rows:
            rows[check["text"]["en"]] = VerificationCheck.objects.create(
                incident=incident, position=position, text_en=check["text"]["en"],
                text_pt=check["text"]["pt-BR"], team=check.get("team", ""),
                role=check.get("role", ""))
    keep = {c["text"]["en"] for c in wanted}
    return [row for text, row in sorted(rows.items(), key=lambda kv: kv[1].position)
            if text in keep]


def evaluate(incident: Incident, now: datetime | None = None) -> Gate:
    now = now or timezone.now()
    rules = spec(incident)
    gate = Gate(forced=incident.gate_forced_reason)
    if not rules:
        return gate
    gate.items.append(_monitors(incident, rules, now))
    portuguese = (translation.get_language() or "").startswith("pt")
    teams = dict(Team.objects.values_list("slug", "name"))
    for check in ensure_checks(incident):
        who = (_("a member of %(team)s") % {"team": teams.get(check.team, check.team)}
               if check.team
               else str(IncidentRole(check.role).label))
        gate.items.append(Item(
            "check", check.text_pt if portuguese else check.text_en, check.done_at is not None,
            _("ticked by %(user)s") % {"user": check.done_by} if check.done_at
            else _("to be ticked by %(who)s") % {"who": who}, check=check.pk,
            team=check.team, role=check.role))
    vouching = any(item.vouched for item in gate.items)
    if rules.get("signoff", True) or vouching:
        gate.items.append(Item("signoff", _("the commander's sign-off"),
                               incident.signed_off_at is not None,
                               _("signed off by %(user)s") % {"user": incident.signed_off_by}
                               if incident.signed_off_at else _("not signed off")))
    return gate


def _monitors(incident: Incident, rules: dict, now: datetime) -> Item:
    minutes = rules.get("green_minutes", 0)
    label = _("monitors up for %(minutes)s min in a row") % {"minutes": minutes}
    services = list(incident.services.order_by("name"))
    readings = _readings(services)
    covered = {r.service_id for r in readings}
    uncovered = [s.name for s in services if s.pk not in covered]
    if uncovered or not readings:  # not readings: no service left in the catalog
        return _unmonitored(incident, rules, label,
                            ", ".join(uncovered) or _("the affected services"))
    down = [r.name for r in readings if not r.up]
    if down:
        return Item("monitors", label, False, _("not up: %(names)s") % {"names": ", ".join(down)})
    since = max(r.since or now for r in readings)
    remaining = since + timedelta(minutes=minutes) - now
    if remaining > timedelta(0):
        return Item("monitors", label, False, _("all up, %(minutes)s min to go") % {
            "minutes": int(remaining.total_seconds() // 60) + 1}, remaining)
    return Item("monitors", label, True, _("all up since %(time)s") % {
        "time": timezone.localtime(since).strftime("%H:%M")})


def _unmonitored(incident: Incident, rules: dict, label: str, names: str) -> Item:
    """Nothing measures these services, so nothing says they are back: the item
    fails, unless the plan lets the commander's sign-off vouch for them."""
    missing = _("no monitor covers %(services)s") % {"services": names}
    if rules.get("unmonitored", "block") != "sign_off":
        return Item("monitors", label, False, missing)
    if incident.signed_off_at is None:
        return Item("monitors", label, False, _("%(missing)s: the commander's sign-off must "
                                                "vouch for it") % {"missing": missing},
                    vouched=True)
    return Item("monitors", label, True, _("%(missing)s: vouched for by %(user)s's sign-off")
                % {"missing": missing, "user": incident.signed_off_by}, vouched=True)


def check_resolvable(incident: Incident, now: datetime | None = None) -> None:
    """Raise GateError with the reasons when the gate blocks *resolved*."""
    gate = evaluate(incident, now)
    if not gate.ok:
        raise GateError(_("the verification gate blocks resolving: %(reasons)s")
                        % {"reasons": gate.blocking()})


def _entry(incident: Incident, actor: User, body: dict) -> None:
    append_entry(incident, EntryKind.GATE, actor, body)


@transaction.atomic
def tick(check: VerificationCheck, actor: User) -> None:
    """A manual check, ticked by a member of its team or the holder of its role."""
    check = VerificationCheck.objects.select_for_update().select_related("incident").get(
        pk=check.pk)
    allowed = (check.team and actor.teams.filter(slug=check.team).exists()) or (
        check.role and RoleAssignment.objects.filter(incident=check.incident, role=check.role,
                                                     user=actor).exists())
    if not allowed:
        team = Team.objects.filter(slug=check.team).values_list("name", flat=True).first()
        who = (_("a member of %(team)s") % {"team": team or check.team} if check.team
               else str(IncidentRole(check.role).label))
        raise PermissionDenied(_("this check is ticked by %(who)s") % {"who": who})
    if check.done_at is None:
        check.done_at, check.done_by = timezone.now(), actor
        check.save(update_fields=["done_at", "done_by"])
        _entry(check.incident, actor, {"text": f"checked: {check.text_en}", "check": check.pk})


def may(incident: Incident, user: User) -> dict:
    """What this person may do at the gate: {"teams", "roles", "sign_off"}, so the room
    offers only the buttons that will work."""
    holder = incident.roles.filter(role=IncidentRole.COMMANDER).first()
    return {"teams": set(user.teams.values_list("slug", flat=True)),
            "roles": set(incident.roles.filter(user=user).values_list("role", flat=True)),
            "sign_off": holder.user_id == user.pk if holder else user.role in (
                AccountRole.COMMANDER, AccountRole.ADMIN)}


@transaction.atomic
def sign_off(incident: Incident, actor: User) -> None:
    """The commander's sign-off: the incident's commander, or — when nobody holds the
    role — a commander or admin account."""
    if not may(incident, actor)["sign_off"]:
        raise PermissionDenied(_("only the incident's commander signs off"))
    Incident.objects.filter(pk=incident.pk).update(signed_off_by=actor,
                                                   signed_off_at=timezone.now())
    incident.signed_off_by, incident.signed_off_at = actor, timezone.now()
    _entry(incident, actor, {"text": "the commander signed off the restored service"})


@transaction.atomic
def force(incident: Incident, actor: User, reason: str) -> None:
    """An admin lets the incident resolve past a failing gate, saying why."""
    if actor.role != AccountRole.ADMIN:
        raise PermissionDenied(_("only an admin may force the verification gate"))
    reason = (reason or "").strip()
    if not reason:
        raise GateError(_("forcing the gate needs a written reason"))
    blocking = evaluate(incident).blocking()
    Incident.objects.filter(pk=incident.pk).update(gate_forced_reason=reason,
                                                   gate_forced_by=actor)
    incident.gate_forced_reason, incident.gate_forced_by = reason, actor
    _entry(incident, actor, {"text": f"forced the verification gate: {reason}",
                             "forced": True, "was_blocking": blocking})

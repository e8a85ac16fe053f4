"""Pages and the escalations that drive them.

Declaring an incident, or raising its level, activates the teams the plan names
for that level: each team gets an *escalation*, one row running a copy of an
escalation policy, with the time of its next step. Each level of the policy
pages people (a *page* per person), and each page queues that person's
notifications as deliveries, by their notification rules, in the same
transaction. The worker's `step_due` moves escalations on when nobody
acknowledged in time, repeats the policy, and triggers a page again when an
acknowledgement times out. Resolving the incident, or moving it to review,
stops everything at once.

Every page, notification attempt and acknowledgement is written to the
incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts.models import User
from atalaia.catalog.models import Team
from atalaia.incidents.actions import add_participant, append_entry
from atalaia.incidents.models import EntryKind, Incident
from atalaia.lib import jobs
from atalaia.lib.crypto import decrypt
from atalaia.notify import outbox
from atalaia.notify.models import ContactMethod, Delivery, DeliveryStatus
from atalaia.oncall import policies
from atalaia.oncall.models import (
    Escalation,
    EscalationPolicy,
    EscalationStatus,
    NotificationRule,
    Page,
    PageDelivery,
    PageStatus,
    Schedule,
    Urgency,
)
from atalaia.oncall.schedules import on_call_now
from atalaia.plans.schema import LEVELS, activations, level_name

ACK_SALT = "atalaia.page-ack"
OPEN_PAGES = (PageStatus.TRIGGERED, PageStatus.ACKNOWLEDGED)
RUNNING = (EscalationStatus.ACTIVE, EscalationStatus.ACKNOWLEDGED)
BATCH = 50


class PagingError(ValueError):
    """A paging request that cannot be done; the message says why."""


def _entry(incident: Incident, actor: User | None, body: dict) -> None:
    append_entry(incident, EntryKind.PAGING, actor, body)


# -- who a level pages -------------------------------------------------------------

@dataclass
class Target:
    user: User
    via: str  # "person", "schedule: Primary", "team: support"


@dataclass
class LevelPeople:
    targets: list[Target] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # schedules with nobody on call


def level_people(level: dict, at: datetime) -> LevelPeople:
    """The people a policy level pages at `at`, each once, in the order named."""
    found = LevelPeople()
    seen: set[int] = set()
    for target in level["targets"]:
        kind, pk, name = target["kind"], target["id"], target.get("name", "")
        users: list[User] = []
        if kind == "person":
            users = list(User.objects.filter(pk=pk, is_active=True))
        elif kind == "schedule":
            schedule = Schedule.objects.filter(pk=pk).prefetch_related(
                "layers__members__user", "overrides__user").first()
            user = on_call_now(schedule, at) if schedule else None
            if user is None:
                found.gaps.append(schedule.name if schedule else name)
            users = [user] if user is not None and user.is_active else []
            name = schedule.name if schedule else name
        elif kind == "team":
            users = list(User.objects.filter(teams__pk=pk, is_active=True).order_by("username"))
        for user in users:
            if user.pk not in seen:
                seen.add(user.pk)
                found.targets.append(Target(user, kind if kind == "person" else f"{kind}: {name}"))
    return found


def describe_via(via: str) -> str:
    """Why a person was paged, in the active language: `via` is stored as
    "person", "schedule: <name>", "team: <slug>" or "reassigned by <username>"."""
    kind, _sep, name = via.partition(": ")
    if via == "person":
        return _("named in the policy")
    if kind == "schedule":
        return _("on call in %(schedule)s") % {"schedule": name}
    if kind == "team":
        return _("member of %(team)s") % {"team": name}
    if via.startswith("reassigned by "):
        return _("reassigned by %(user)s") % {"user": via.removeprefix("reassigned by ")}
    return via


def reachable(user: User) -> bool:
    return ContactMethod.objects.filter(user=user, verified_at__isnull=False).exists()


# -- activation by the plan ------------------------------------------------------------

@dataclass
class Activation:
    team: Team | None
    team_slug: str
    snapshot: dict | None
    policy: EscalationPolicy | None
    urgency: str
    running: bool
    first: LevelPeople | None
    problem: str = ""


def plan_for(incident: Incident, level: str | None = None) -> list[Activation]:
    """What activating the plan's teams for `level` (default: the incident's) would
    do: for each team, the policy, the urgency and the people its first level pages.
    The console shows this before the *activate protocol* button does it."""
    plan = incident.plan_version.plan if incident.plan_version else None
    now = timezone.now()
    running = set(Escalation.objects.filter(incident=incident, status__in=RUNNING)
                  .values_list("team_id", "policy_id"))
    result = []
    for item in activations(plan, level or incident.level):
        team = Team.objects.filter(slug=item["team"]).first()
        policy = _policy_for(team, item["policy"])
        if team is None or (item["policy"] and policy is None):
            missing = (_("no team %(team)s") % {"team": item["team"]} if team is None else
                       _("no escalation policy %(policy)s") % {"policy": item["policy"]})
            result.append(Activation(team, item["team"], None, None, item["urgency"], False,
                                     None, missing))
            continue
        snapshot = policies.snapshot(policy) if policy else policies.team_snapshot(team)
        result.append(Activation(
            team, team.slug, snapshot, policy, item["urgency"],
            (team.pk, policy.pk if policy else None) in running,
            level_people(snapshot["levels"][0], now)))
    return result


def _policy_for(team: Team | None, name: str) -> EscalationPolicy | None:
    if name:
        return EscalationPolicy.objects.filter(name=name).first()
    if team is None:
        return None
    return team.escalation_policies.order_by("name").first()


@transaction.atomic
def activate(incident: Incident, actor: User | None, reason: str,
             level: str | None = None) -> list[Escalation]:
    """Start the escalations the plan names for the level that are not running yet."""
    started = []
    for item in plan_for(incident, level):
        if item.problem:
            _entry(incident, actor, {"event": "activation_failed", "team": item.team_slug,
                                     "problem": item.problem})
        elif not item.running and item.snapshot is not None:
            started.append(start(incident, item.snapshot, item.urgency, reason, actor,
                                 policy=item.policy, team=item.team))
    return started


def on_level(incident: Incident, actor: User | None, old: str | None, new: str) -> None:
    """Called by the incident actions when a level is set: a raise (or a
    declaration) activates the new level's teams."""
    if old is None or LEVELS.index(new) < LEVELS.index(old):
        activate(incident, actor, "declared" if old is None else f"level raised to {new}", new)


# -- escalations ---------------------------------------------------------------------

def start(incident: Incident, snapshot: dict, urgency: str, reason: str, actor: User | None,
          policy: EscalationPolicy | None = None, team: Team | None = None) -> Escalation:
    now = timezone.now()
    escalation = Escalation.objects.create(
        incident=incident, policy=policy, team=team, snapshot=snapshot, urgency=urgency,
        reason=reason[:200], created_at=now, created_by=actor)
    _entry(incident, actor, {"event": "escalation_started", "escalation": escalation.pk,
                             "policy": snapshot["name"], "version": snapshot["version"],
                             "team": team.slug if team else "", "urgency": urgency,
                             "reason": reason})
    _page_level(escalation, now, actor)
    return escalation


def _page_level(escalation: Escalation, now: datetime, actor: User | None) -> None:
    """Page the people of the escalation's current level; the next step is due
    after the level's delay."""
    level = escalation.snapshot["levels"][escalation.level_index]
    people = level_people(level, now)
    for schedule in people.gaps:
        _entry(escalation.incident, None, {"event": "nobody_on_call", "schedule": schedule,
                                           "escalation": escalation.pk})
    for target in people.targets:
        page_person(escalation, target.user, target.via, now, actor)
    escalation.status = EscalationStatus.ACTIVE
    escalation.next_step_at = now + timedelta(minutes=level["delay_minutes"])
    escalation.save(update_fields=["status", "next_step_at", "level_index", "cycle"])


def page_person(escalation: Escalation, user: User, via: str, now: datetime,
                actor: User | None) -> Page:
    page = Page.objects.create(incident=escalation.incident, escalation=escalation, user=user,
                               urgency=escalation.urgency, level_index=escalation.level_index,
                               via=via, created_at=now)
    # The page's link must open for them, a confidential incident's too.
    joined = add_participant(escalation.incident, user)
    queued = notify(page, now)
    _entry(escalation.incident, actor, {
        "event": "paged", "page": page.pk, "user": user.username, "via": via,
        "level": escalation.level_index + 1, "cycle": escalation.cycle + 1,
        "policy": escalation.snapshot["name"], "urgency": page.urgency,
        "notifications": queued, "joined": joined})
    return page


def notify(page: Page, now: datetime) -> int:
    """Queue the page's notifications by the person's rules for its urgency; the
    number queued. Nobody reachable is said on the timeline."""
    rules = list(NotificationRule.objects.filter(
        user=page.user, urgency=page.urgency, method__verified_at__isnull=False)
        .select_related("method"))
    plan = [(r.method, r.delay_minutes) for r in rules] or [
        (m, 0) for m in ContactMethod.objects.filter(user=page.user, verified_at__isnull=False)]
    if not plan:
        _entry(page.incident, None, {"event": "unreachable", "page": page.pk,
                                     "user": page.user.username})
        return 0
    with translation.override(page.user.language or settings.LANGUAGE_CODE):
        subject, body = message(page)
    deliveries = Delivery.objects.bulk_create([Delivery(**{**outbox.prepare(
        method.channel, decrypt(method.target), f"{page.user.username} ({method.label})",
        subject, body, f"page-{page.pk}-r{page.round}-{n}", "page", page.incident),
        "priority": 0, "next_attempt_at": now + timedelta(minutes=delay)})
        for n, (method, delay) in enumerate(plan)])
    PageDelivery.objects.bulk_create([PageDelivery(page=page, delivery=d) for d in deliveries])
    return len(plan)


def message(page: Page) -> tuple[str, str]:
    """The page's subject and text, in the active language."""
    incident = page.incident
    plan = incident.plan_version.plan if incident.plan_version else None
    level = level_name(plan, incident.level, translation.get_language() or "en")
    subject = _("[Atalaia] %(level)s #%(id)s: %(title)s") % {
        "level": level, "id": incident.pk, "title": incident.title}
    services = ", ".join(incident.services.values_list("name", flat=True))
    lines = [
        f"{level}: {incident.title}",
        _("Services: %(services)s") % {"services": services or "—"},
        _("Users affected: %(users)s") % {"users": incident.impact.get("users_affected", "?")},
        _("You are paged by %(policy)s, level %(level)s (%(via)s), %(urgency)s.") % {
            "policy": page.escalation.snapshot["name"], "level": page.level_index + 1,
            "via": describe_via(page.via), "urgency": Urgency(page.urgency).label},
        "",
        _("Acknowledge: %(url)s") % {"url": ack_url(page)},
        _("Open the incident: %(url)s") % {
            "url": _site(reverse("incidents:room", args=[incident.pk]))},
    ]
    return subject, "\n".join(lines) + "\n"


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# -- acknowledgement -----------------------------------------------------------------

def ack_token(page: Page) -> str:
    return signing.dumps({"p": page.pk, "r": page.round}, salt=ACK_SALT, compress=True)


def ack_url(page: Page) -> str:
    return _site(reverse("page_ack", args=[ack_token(page)]))


def page_from_token(token: str) -> Page:
    """The page a link acknowledges; PagingError if the link is bad, expired or old."""
    try:
        data = signing.loads(token, salt=ACK_SALT,
                             max_age=settings.PAGE_ACK_LINK_HOURS * 3600)
    except signing.SignatureExpired:
        raise PagingError(_("This acknowledgement link has expired.")) from None
    except signing.BadSignature:
        raise PagingError(_("This acknowledgement link is not valid.")) from None
    page = Page.objects.filter(pk=data.get("p")).select_related("incident", "user").first()
    if page is None:
        raise PagingError(_("This page no longer exists."))
    if page.round != data.get("r"):
        raise PagingError(_("This link is from an earlier notification of this page; "
                            "use the newest one."))
    return page


@transaction.atomic
def acknowledge(page: Page, actor: User | None, via: str) -> list[Page]:
    """The person has seen the incident: this page and their other open pages of
    the incident stop notifying, and their escalations stop for this level (until
    the policy's acknowledgement timeout). Acknowledging twice changes nothing."""
    now = timezone.now()
    # The incident first: the order every other writer of pages and escalations
    # (step_due, stop_all) locks in, so that none of them can deadlock with another.
    Incident.objects.select_for_update().filter(pk=page.incident_id).values_list("pk").first()
    pages = list(Page.objects.select_for_update(of=("self",)).filter(
        incident=page.incident_id, user=page.user_id, status=PageStatus.TRIGGERED)
        .select_related("escalation"))
    for each in pages:
        each.status, each.acknowledged_at, each.acknowledged_via = (
            PageStatus.ACKNOWLEDGED, now, via)
        each.save(update_fields=["status", "acknowledged_at", "acknowledged_via"])
        _cancel_notifications(each)
        escalation = Escalation.objects.select_for_update(of=("self",)).get(
            pk=each.escalation_id)
        if escalation.status == EscalationStatus.ACTIVE:
            timeout = escalation.snapshot.get("ack_timeout_minutes") or 0
            escalation.status = EscalationStatus.ACKNOWLEDGED
            escalation.next_step_at = now + timedelta(minutes=timeout) if timeout else None
            escalation.save(update_fields=["status", "next_step_at"])
    # As in PagerDuty, one person's acknowledgement covers the others paged by the
    # same escalation: their reminders not yet sent (a later SMS, say) stop too.
    for other in Page.objects.filter(escalation__in={p.escalation_id for p in pages},
                                     status=PageStatus.TRIGGERED):
        _cancel_notifications(other)
    if pages:
        _entry(page.incident, actor, {"event": "acknowledged", "user": page.user.username,
                                      "pages": [p.pk for p in pages], "via": via})
    return pages


def _cancel_notifications(page: Page) -> int:
    return Delivery.objects.filter(
        pk__in=PageDelivery.objects.filter(page=page).values("delivery_id"),
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]).update(
        status=DeliveryStatus.CANCELLED, last_error="")


def acknowledged_at_source(incident: Incident, source: str) -> int:
    """The incident's alerts were acknowledged at their source (incidents' ACKNOWLEDGED
    event): as when a PagerDuty incident is acknowledged, every page still waiting is
    acknowledged, its notifications not yet sent are cancelled, and every escalation
    stops, in the acknowledging transaction. A re-trigger pages again. The number of
    pages acknowledged."""
    now = timezone.now()
    # Escalations before pages: the order step_due locks them in, so the two never
    # wait for each other.
    running = list(Escalation.objects.select_for_update(of=("self",)).filter(
        incident=incident, status__in=RUNNING).select_related("incident").order_by("pk"))
    pages = list(Page.objects.select_for_update(of=("self",)).filter(
        incident=incident, status=PageStatus.TRIGGERED).order_by("pk"))
    for page in pages:
        page.status, page.acknowledged_at, page.acknowledged_via = (
            PageStatus.ACKNOWLEDGED, now, source[:16])
        page.save(update_fields=["status", "acknowledged_at", "acknowledged_via"])
        _cancel_notifications(page)
    for escalation in running:
        _settle(escalation, EscalationStatus.ACKNOWLEDGED, "acknowledged_at_source")
    return len(pages)


# -- the worker's step ----------------------------------------------------------------

def step_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Move on the escalations whose next step is due; the number handled.

    Each escalation in a transaction of its own: one that fails is pushed back by a
    backoff and the others still move on (a poison row taken first by due time would
    otherwise stop every page). The first failure is raised after the rest are done,
    so the job runner records it."""
    now = now or timezone.now()
    due = list(Escalation.objects.filter(status__in=RUNNING, next_step_at__lte=now)
               .order_by("next_step_at").values_list("pk", "incident_id")[:limit])
    handled, failure = 0, None
    for pk, incident_id in due:
        try:
            handled += _step_one(pk, incident_id, now)
        except Exception as exc:  # noqa: BLE001 - raised again below, once the rest are done
            failure = failure or exc
            Escalation.objects.filter(pk=pk).update(
                next_step_at=now + timedelta(seconds=jobs.row_backoff(1)))
    if failure is not None:
        raise failure
    return handled


def _step_one(pk: int, incident_id: int, now: datetime) -> int:
    """One due escalation. The incident's row is locked before the escalation's: the
    order acknowledging and stopping take, so that two of them cannot deadlock."""
    with transaction.atomic():
        Incident.objects.select_for_update().filter(pk=incident_id).values_list("pk").first()
        escalation = (Escalation.objects.select_for_update(skip_locked=True, of=("self",))
                      .filter(pk=pk, status__in=RUNNING, next_step_at__lte=now)
                      .select_related("incident").first())
        if escalation is None:  # another worker moved it on meanwhile
            return 0
        if escalation.status == EscalationStatus.ACKNOWLEDGED:
            _retrigger(escalation, now)
        else:
            _escalate(escalation, now, None)
        return 1


def _escalate(escalation: Escalation, now: datetime, actor: User | None) -> None:
    """Nobody acknowledged in time (or someone escalated by hand): the next level,
    or the first again while repeats are left, or the end."""
    incident = escalation.incident
    if incident.acknowledged_at is not None:
        _settle(escalation, EscalationStatus.ACKNOWLEDGED, "acknowledged_at_source")
        return
    for page in escalation.pages.filter(status=PageStatus.TRIGGERED):
        page.status = PageStatus.ESCALATED
        page.save(update_fields=["status"])
        _cancel_notifications(page)
    levels = escalation.snapshot["levels"]
    if escalation.level_index + 1 < len(levels):
        escalation.level_index += 1
    elif escalation.cycle < escalation.snapshot.get("repeats", 0):
        escalation.level_index, escalation.cycle = 0, escalation.cycle + 1
    else:
        _settle(escalation, EscalationStatus.EXHAUSTED, "exhausted")
        return
    _entry(incident, actor, {"event": "escalated", "escalation": escalation.pk,
                             "policy": escalation.snapshot["name"],
                             "level": escalation.level_index + 1,
                             "cycle": escalation.cycle + 1, "by_hand": actor is not None})
    _page_level(escalation, now, actor)


def _settle(escalation: Escalation, status: str, event: str) -> None:
    escalation.status, escalation.next_step_at = status, None
    escalation.save(update_fields=["status", "next_step_at"])
    _entry(escalation.incident, None, {"event": event, "escalation": escalation.pk,
                                       "policy": escalation.snapshot["name"]})


def _retrigger(escalation: Escalation, now: datetime) -> None:
    """An acknowledgement timed out while the incident is still open: the
    acknowledged pages trigger again and the escalation runs on from its level."""
    pages = list(escalation.pages.filter(status=PageStatus.ACKNOWLEDGED))
    for page in pages:
        page.status, page.round = PageStatus.TRIGGERED, page.round + 1
        page.acknowledged_at, page.acknowledged_via = None, ""
        page.save(update_fields=["status", "round", "acknowledged_at", "acknowledged_via"])
        notify(page, now)
    _entry(escalation.incident, None, {"event": "ack_timed_out", "escalation": escalation.pk,
                                       "users": [p.user.username for p in pages]})
    level = escalation.snapshot["levels"][escalation.level_index]
    escalation.status = EscalationStatus.ACTIVE
    escalation.next_step_at = now + timedelta(minutes=level["delay_minutes"])
    escalation.save(update_fields=["status", "next_step_at"])


# -- stopping ------------------------------------------------------------------------

def stop_all(incident: Incident, actor: User | None, why: str) -> int:
    """Resolved, or in review: every open page and running escalation stops now,
    and notifications not yet sent are cancelled. The number of pages stopped."""
    now = timezone.now()
    pages = Page.objects.filter(incident=incident).exclude(status=PageStatus.RESOLVED)
    cancelled = Delivery.objects.filter(
        pk__in=PageDelivery.objects.filter(page__in=pages).values("delivery_id"),
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED]).update(
        status=DeliveryStatus.CANCELLED)
    stopped = pages.update(status=PageStatus.RESOLVED, resolved_at=now)
    escalations = Escalation.objects.filter(incident=incident, status__in=RUNNING).update(
        status=EscalationStatus.STOPPED, next_step_at=None)
    if stopped or escalations:
        _entry(incident, actor, {"event": "stopped", "why": why, "pages": stopped,
                                 "escalations": escalations, "cancelled": cancelled})
    return stopped


def retrigger(incident: Incident, reason: str) -> None:
    """Something new went wrong on the incident (incidents.actions.retrigger): as
    PagerDuty re-triggers an incident, the acknowledged pages trigger again and the
    plan's teams whose escalation has ended are activated again for the level."""
    now = timezone.now()
    acknowledged = Escalation.objects.select_for_update(of=("self",)).filter(
        incident=incident, status=EscalationStatus.ACKNOWLEDGED).select_related("incident")
    for escalation in acknowledged:
        pages = list(escalation.pages.filter(status=PageStatus.ACKNOWLEDGED))
        for page in pages:
            page.status, page.round = PageStatus.TRIGGERED, page.round + 1
            page.acknowledged_at, page.acknowledged_via = None, ""
            page.save(update_fields=["status", "round", "acknowledged_at", "acknowledged_via"])
            notify(page, now)
        _entry(incident, None, {"event": "retriggered", "escalation": escalation.pk,
                                "users": [p.user.username for p in pages], "reason": reason})
        level = escalation.snapshot["levels"][escalation.level_index]
        escalation.status = EscalationStatus.ACTIVE
        escalation.next_step_at = now + timedelta(minutes=level["delay_minutes"])
        escalation.save(update_fields=["status", "next_step_at"])
    activate(incident, None, reason)


# -- by hand -------------------------------------------------------------------------

@transaction.atomic
def escalate_now(escalation: Escalation, actor: User) -> None:
    escalation = Escalation.objects.select_for_update(of=("self",)).select_related(
        "incident").get(pk=escalation.pk)
    if escalation.status not in RUNNING:
        raise PagingError(_("This escalation has ended."))
    _escalate(escalation, timezone.now(), actor)


@transaction.atomic
def reassign(page: Page, to: User, actor: User) -> Page:
    """Hand a page to someone else: the old one is resolved, the new person paged
    at the same level of the same escalation."""
    page = Page.objects.select_for_update(of=("self",)).select_related(
        "escalation", "incident", "user").get(pk=page.pk)
    if page.status not in OPEN_PAGES:
        raise PagingError(_("Only an open page can be reassigned."))
    if to.pk == page.user_id or not to.is_active:
        raise PagingError(_("Reassign the page to another active person."))
    now = timezone.now()
    page.status, page.resolved_at = PageStatus.RESOLVED, now
    page.save(update_fields=["status", "resolved_at"])
    _cancel_notifications(page)
    _entry(page.incident, actor, {"event": "reassigned", "page": page.pk,
                                  "from": page.user.username, "to": to.username})
    escalation = page.escalation
    if escalation.status not in RUNNING:
        escalation.status = EscalationStatus.ACTIVE
        level = escalation.snapshot["levels"][escalation.level_index]
        escalation.next_step_at = now + timedelta(minutes=level["delay_minutes"])
        escalation.save(update_fields=["status", "next_step_at"])
    return page_person(escalation, to, f"reassigned by {actor.username}", now, actor)


def add_responders(incident: Incident, actor: User, kind: str, name: str,
                   urgency: str = Urgency.HIGH) -> Escalation:
    """Page a person, a schedule's on-call or a whole team now, outside the plan."""
    if urgency not in Urgency.values:
        raise PagingError(_("Urgency is high or low."))
    try:
        levels = policies.parse_levels([{"targets": [{kind: name}],
                                         "escalate_after_minutes": 15}])
    except policies.PolicyError as exc:
        raise PagingError(str(exc)) from None
    target = levels[0]["targets"][0]
    snapshot = {"name": _("Added by %(user)s: %(target)s") % {
        "user": actor.username, "target": f"{kind} {target['name']}"},
        "version": 0, "levels": levels, "repeats": 0, "ack_timeout_minutes": 30}
    with transaction.atomic():
        return start(incident, snapshot, urgency, "added by hand", actor,
                     team=Team.objects.filter(pk=target["id"]).first() if kind == "team" else None)


# -- reading -------------------------------------------------------------------------

def incident_pages(incident: Incident):
    return (Page.objects.filter(incident=incident)
            .select_related("user", "escalation")
            .prefetch_related("deliveries").order_by("created_at", "pk"))


def log_attempts(deliveries: list[Delivery], results: dict[int, str]) -> None:
    """The outbox's result hook for pages (outbox.on_result("page", …)), after a turn:
    each page notification's result on the incident's timeline. `results` holds the
    error of each failed one."""
    pages = dict(PageDelivery.objects.filter(delivery__in=deliveries)
                 .values_list("delivery_id", "page_id"))
    for delivery in deliveries:
        if delivery.pk not in pages or delivery.incident is None:
            continue
        error = results.get(delivery.pk, "")
        final = delivery.attempts + 1 >= settings.DELIVERY_MAX_ATTEMPTS
        _entry(delivery.incident, None, {
            "event": "notification", "page": pages[delivery.pk], "to": delivery.recipient,
            "channel": delivery.channel, "attempt": delivery.attempts + 1,
            "result": "sent" if not error else ("dead" if final else "failed"),
            "error": error})

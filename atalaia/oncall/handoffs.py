"""Handoff notices: a message to the person going on call and to the one going off.

Stateless on purpose. Who is on call is computed, never stored (`schedules.py`), so each
worker turn looks again at the shift boundaries of the last few minutes and queues one
delivery per boundary, person and contact method under a key made of exactly those. The
outbox does not queue a key twice, so looking at the same boundary forty times sends one
notice; an edited schedule is simply read as it now is; and there is no "last notified"
mark to migrate, to keep in step with edits, or to lose. The lookback (minutes, for a
worker that turns every 15 seconds) is how long a stopped worker may be down and still
send the notice late; a boundary older than that is not announced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts.models import User
from atalaia.lib.crypto import decrypt
from atalaia.notify.models import ContactMethod, Delivery
from atalaia.notify.outbox import enqueue
from atalaia.oncall.feeds import with_rows
from atalaia.oncall.models import Schedule
from atalaia.oncall.schedules import shifts

LOOKBACK = timedelta(minutes=10)
# How far ahead the incoming person's shift end is looked for; a longer shift is
# announced as having no end within it.
HORIZON = timedelta(days=90)
PURPOSE = "handoff"


@dataclass(frozen=True)
class Boundary:
    at: datetime
    off: int | None  # the user going off call, or None after a gap
    on: int | None  # the user going on call, or None when nobody takes over


def send_notices(now: datetime | None = None, lookback: timedelta = LOOKBACK) -> int:
    """Queue the notices of the handoffs in (now - lookback, now]; the number queued."""
    now = (now or timezone.now()).astimezone(UTC)
    queued = 0
    for schedule in with_rows():
        for boundary in boundaries(schedule, now - lookback, now):
            queued += _notify(schedule, boundary)
    return queued


def boundaries(schedule: Schedule, after: datetime, until: datetime) -> list[Boundary]:
    """Where the person on call changes in (after, until]. The shifts are merged per
    person, so every start and end is a change; the ones at the clipped edges are not
    in the interval."""
    found = shifts(schedule, after, until + timedelta(seconds=1))
    starting = {s.starts_at: s.user_id for s in found}
    ending = {s.ends_at: s.user_id for s in found}
    return [Boundary(at, ending.get(at), starting.get(at))
            for at in sorted(starting.keys() | ending.keys()) if after < at <= until]


def _notify(schedule: Schedule, boundary: Boundary) -> int:
    users = User.objects.in_bulk([u for u in (boundary.off, boundary.on) if u])
    queued = 0
    if boundary.on:
        queued += _send(schedule, users[boundary.on], boundary, "on",
                        lambda: _on_text(schedule, boundary))
    if boundary.off:
        taker = users.get(boundary.on) if boundary.on else None
        queued += _send(schedule, users[boundary.off], boundary, "off",
                        lambda: _off_text(schedule, taker))
    return queued


def _send(schedule: Schedule, user: User, boundary: Boundary, side: str,
          compose: Callable[[], tuple[str, str]]) -> int:
    """One delivery per verified method of the user not queued before."""
    instant = int(boundary.at.timestamp())
    keys = {f"handoff-{schedule.pk}-{instant}-{side}-{user.pk}-{method.pk}": method
            for method in ContactMethod.objects.filter(user=user, verified_at__isnull=False)}
    seen = set(Delivery.objects.filter(idempotency_key__in=keys)
               .values_list("idempotency_key", flat=True))
    if not keys.keys() - seen:
        return 0
    with translation.override(user.language or settings.LANGUAGE_CODE):
        subject, body = compose()
    return sum(_enqueue_once(method, user, subject, body, key)
               for key, method in keys.items() if key not in seen)


def _enqueue_once(method: ContactMethod, user: User, subject: str, body: str,
                  key: str) -> int:
    try:
        # Another worker may queue the same key between our look and our insert: its
        # row wins, and the savepoint keeps the caller's transaction usable.
        with transaction.atomic():
            enqueue(method.channel, decrypt(method.target), user.get_username(), subject,
                    body, idempotency_key=key, purpose=PURPOSE)
    except IntegrityError:
        return 0
    return 1


def _on_text(schedule: Schedule, boundary: Boundary) -> tuple[str, str]:
    ahead = shifts(schedule, boundary.at, boundary.at + HORIZON)
    ends_at = ahead[0].ends_at if ahead else boundary.at + HORIZON
    subject = _("On call now: %(schedule)s") % {"schedule": schedule.name}
    if ends_at >= boundary.at + HORIZON:
        return subject, _("You are now on call for %(schedule)s; your shift does not end "
                          "in the next %(days)d days.") % {
            "schedule": schedule.name, "days": HORIZON.days}
    return subject, _("You are now on call for %(schedule)s until %(end)s.") % {
        "schedule": schedule.name, "end": local_time(schedule, ends_at)}


def _off_text(schedule: Schedule, taker: User | None) -> tuple[str, str]:
    subject = _("Off call: %(schedule)s") % {"schedule": schedule.name}
    if taker is None:
        return subject, _("Your on-call shift for %(schedule)s has ended; nobody is on "
                          "call for it now.") % {"schedule": schedule.name}
    return subject, _("Your on-call shift for %(schedule)s has ended; %(person)s is on "
                      "call now.") % {"schedule": schedule.name, "person": _name(taker)}


def local_time(schedule: Schedule, at: datetime) -> str:
    """`at` in the schedule's time zone, in the active language, with the zone's name."""
    local = at.astimezone(ZoneInfo(schedule.time_zone))
    return (f"{formats.date_format(local, 'l')}, {formats.date_format(local, 'DATE_FORMAT')}"
            f", {local:%H:%M} ({schedule.time_zone})")


def _name(user: User) -> str:
    return user.get_full_name() or user.get_username()

"""Private iCalendar feeds of the final shifts: one per schedule, one per person.

A feed URL carries an HMAC of the object and its version, keyed from the instance
secret, so it needs no login; raising the version retires the old URL. A URL made with
an older secret still opens while that secret is among the fallbacks.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import icalendar
from django.db.models import Prefetch

from atalaia.accounts.models import User
from atalaia.lib import crypto
from atalaia.oncall.models import Layer, PersonFeed, Schedule
from atalaia.oncall.schedules import Shift, shifts

PAST = timedelta(days=7)
FUTURE = timedelta(days=60)
# Shifts are computed this much beyond the feed's window and kept whole, so a shift at an
# edge keeps its start (and so its UID) from one day's fetch to the next.
MARGIN = timedelta(days=31)


def _token(message: str, key: crypto.Key | None = None) -> str:
    return crypto.mac("oncall-feeds", message.encode(), key)[:40]


def _schedule_message(schedule: Schedule) -> str:
    return f"schedule:{schedule.pk}:{schedule.feed_version}"


def _person_message(user: User) -> str:
    feed = PersonFeed.objects.filter(user=user).first()
    return f"person:{user.pk}:{feed.version if feed else 1}"


def schedule_token(schedule: Schedule) -> str:
    return _token(_schedule_message(schedule))


def person_token(user: User) -> str:
    return _token(_person_message(user))


def schedule_token_matches(schedule: Schedule, given: str) -> bool:
    return _matches(_schedule_message(schedule), given)


def person_token_matches(user: User, given: str) -> bool:
    return _matches(_person_message(user), given)


def _matches(message: str, given: str) -> bool:
    return any(hmac.compare_digest(_token(message, key).encode(), given.encode())
               for key in crypto.ring())


def with_rows():
    """Schedules with what `shifts` reads, in a few queries."""
    return Schedule.objects.prefetch_related(
        Prefetch("layers", Layer.objects.prefetch_related("members__user")),
        "overrides__user")


def _window(schedule: Schedule, now: datetime) -> list[Shift]:
    """The shifts that overlap the last 7 and the next 60 days, whole."""
    start, end = now - PAST, now + FUTURE
    return [s for s in shifts(schedule, start - MARGIN, end + MARGIN)
            if s.ends_at > start and s.starts_at < end]


def schedule_calendar(schedule: Schedule, now: datetime) -> bytes:
    return _calendar(schedule.name, [(schedule, s) for s in _window(schedule, now)], now)


def person_calendar(user: User, now: datetime) -> bytes:
    found = [(schedule, s) for schedule in with_rows()
             for s in _window(schedule, now) if s.user_id == user.pk]
    found.sort(key=lambda pair: pair[1].starts_at)
    return _calendar(_person(user), found, now)


def _calendar(title: str, found: list[tuple[Schedule, Shift]], now: datetime) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Atalaia//On-call shifts//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"On call: {title}")
    names = {u.pk: _person(u) for u in
             User.objects.filter(pk__in={s.user_id for _sch, s in found})}
    for schedule, shift in found:
        event = icalendar.Event()
        event.add("uid", f"oncall-{schedule.pk}-{shift.user_id}-"
                         f"{shift.starts_at:%Y%m%dT%H%M%SZ}@atalaia")
        event.add("summary", f"On call: {schedule.name} — {names.get(shift.user_id, '?')}")
        event.add("dtstart", shift.starts_at.astimezone(UTC))
        event.add("dtend", shift.ends_at.astimezone(UTC))
        event.add("dtstamp", now.astimezone(UTC))
        cal.add_component(event)
    return cal.to_ical()


def _person(user: User) -> str:
    return user.get_full_name() or user.username

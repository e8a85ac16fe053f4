"""Maintenance windows: when they occur, which one covers a service, and their checks.

A window's `starts_at` is its first occurrence; recurring windows repeat at the same
wall-clock time in the window's time zone, so 02:00 stays 02:00 across daylight
saving and the UTC time moves instead. On the day a clock springs forward, a time
that does not exist (01:30 in Lisbon on the last Sunday of March) is shifted
forward by the gap (to 02:30); on the day it falls back, a time that happens twice
is the first of the two. `duration_minutes` is elapsed time: a two-hour window
across a change still lasts two hours.

Weekly windows repeat on `weekdays` (0 = Monday … 6 = Sunday; empty: the weekday
of `starts_at`), from the date of `starts_at` on. Monthly windows repeat on the day
of the month of `starts_at`, skipping months without that day (the 31st skips
April). No occurrence starts after `until`.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Max, Q

from atalaia.monitoring.models import MaintenanceWindow, Recurrence

ONE_DAY = timedelta(days=1)
DEFAULTS: dict[str, Any] = {"time_zone": "UTC", "recurrence": Recurrence.NONE,
                            "weekdays": [], "until": None}


class WindowError(ValueError):
    """A maintenance window that cannot be saved; `field` names the wrong one."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def occurrences(window: MaintenanceWindow, start: datetime,
                end: datetime) -> list[tuple[datetime, datetime]]:
    """The (start, end) UTC pairs of the window's occurrences that overlap [start, end)."""
    zone = zoneinfo.ZoneInfo(window.time_zone)
    first = window.starts_at.astimezone(zone)
    length = timedelta(minutes=window.duration_minutes)
    # A day either side: local dates and UTC dates differ by up to a day.
    lowest = max(first.date(), (start - length).astimezone(zone).date() - ONE_DAY)
    highest = end.astimezone(zone).date() + ONE_DAY
    if window.until is not None:
        highest = min(highest, window.until.astimezone(zone).date() + ONE_DAY)
    found = []
    for day in _dates(window, first, lowest, highest):
        if day == first.date():
            begins = window.starts_at.astimezone(UTC)  # keeps the fold of an ambiguous time
        else:
            begins = datetime.combine(day, first.time(), tzinfo=zone).astimezone(UTC)
        if window.until is not None and begins > window.until:
            break
        if begins < end and begins + length > start:
            found.append((begins, begins + length))
    return found


def _dates(window: MaintenanceWindow, first: datetime, lowest: date,
           highest: date) -> Iterator[date]:
    """The local dates of occurrences between lowest and highest, in order."""
    if window.recurrence == Recurrence.NONE:
        if lowest <= first.date() <= highest:
            yield first.date()
    elif window.recurrence == Recurrence.MONTHLY:
        year, month = lowest.year, lowest.month
        while (year, month) <= (highest.year, highest.month):
            try:
                day = date(year, month, first.day)
            except ValueError:  # this month has no such day
                day = None
            if day is not None and lowest <= day <= highest:
                yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        weekdays = set(window.weekdays or [first.weekday()])
        day = lowest
        while day <= highest:
            if window.recurrence == Recurrence.DAILY or day.weekday() in weekdays:
                yield day
            day += ONE_DAY


def active_window(service_id: int, at: datetime) -> MaintenanceWindow | None:
    """A maintenance window covering the service at that instant, if any (two queries)."""
    begun = MaintenanceWindow.objects.filter(services=service_id, starts_at__lte=at)
    longest = begun.aggregate(longest=Max("duration_minutes"))["longest"]
    if longest is None:
        return None
    # Only windows with an occurrence that started less than the longest duration ago.
    reach = at - timedelta(minutes=longest)
    once = Q(recurrence=Recurrence.NONE, starts_at__gt=reach)
    repeating = ~Q(recurrence=Recurrence.NONE) & (Q(until__isnull=True) | Q(until__gt=reach))
    for window in begun.filter(once | repeating):
        if occurrences(window, at, at + timedelta(microseconds=1)):
            return window
    return None


def validate_window(data: dict) -> dict:
    """A window's fields, checked; raises WindowError (a ValueError) naming the field.

    `starts_at` and `until` are aware datetimes, or naive ones (or ISO text without an
    offset) read as wall-clock time in `time_zone`; they come back aware, in UTC.
    Keys other than the window's own fields (such as `services`) pass through.
    """
    clean = {**DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
    title = clean.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise WindowError("title", "a text of 1 to 200 characters")
    zone = _zone(clean["time_zone"])
    clean["starts_at"] = _instant("starts_at", clean.get("starts_at"), zone)
    duration = clean.get("duration_minutes")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise WindowError("duration_minutes", f"{duration!r} is not a whole number above 0")
    if clean["recurrence"] not in Recurrence.values:
        raise WindowError("recurrence", f"{clean['recurrence']!r} is not one of "
                                        f"{', '.join(Recurrence.values)}")
    clean["weekdays"] = _weekdays(clean["weekdays"], clean["recurrence"])
    if clean["until"] is not None:
        if clean["recurrence"] == Recurrence.NONE:
            raise WindowError("until", "only a recurring window has an end date")
        clean["until"] = _instant("until", clean["until"], zone)
        if clean["until"] < clean["starts_at"]:
            raise WindowError("until", "is before starts_at")
    return clean


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(name: Any) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or name not in _zone_names():
        raise WindowError("time_zone", f"{name!r} is not a known time zone "
                                       "(an IANA name such as America/Sao_Paulo)")
    return zoneinfo.ZoneInfo(name)


def _instant(field: str, value: Any, zone: zoneinfo.ZoneInfo) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise WindowError(field, f"{value!r} is not a date and time such as "
                                     "2026-12-01T02:00:00") from None
    if not isinstance(value, datetime):
        raise WindowError(field, "a date and time such as 2026-12-01T02:00:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _weekdays(value: Any, recurrence: str) -> list[int]:
    if not isinstance(value, list | tuple):
        raise WindowError("weekdays", "a list of days, 0 = Monday … 6 = Sunday")
    if value and recurrence != Recurrence.WEEKLY:
        raise WindowError("weekdays", "only for weekly windows")
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise WindowError("weekdays", f"{day!r} is not a day from 0 (Monday) to 6 (Sunday)")
    return sorted(set(value))

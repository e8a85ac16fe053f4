"""Who is on call when: a schedule's layers, restrictions and overrides made into one list
of shifts. Pure computation over a schedule and its related rows (prefetch them).

Day and week turns hand off at the same local wall-clock time in the schedule's time zone,
whatever daylight saving does (so a turn that spans a change lasts 23 or 25 hours); hour
turns are fixed elapsed time. All instants are compared in UTC: Python compares two
datetimes of one tzinfo by wall-clock time, which is wrong across a change.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from atalaia.oncall.models import Layer, Schedule, TurnUnit

OVERRIDE = "override"


@dataclass(frozen=True)
class Shift:
    user_id: int
    starts_at: datetime
    ends_at: datetime
    source: str  # the layer's name, or "override"


@dataclass(frozen=True)
class Span:
    starts_at: datetime
    ends_at: datetime
    user_id: int


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts between start and end (clipped to them), in UTC, in order; the
    same person's consecutive shifts merged. Where nobody is on call there is no shift."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    zone = ZoneInfo(schedule.time_zone)
    sources: list[tuple[str, list[Span]]] = [
        (OVERRIDE, _override_spans(schedule, start, end))]
    for layer in sorted(schedule.layers.all(), key=lambda la: (-la.position, la.pk)):
        sources.append((layer.name, layer_spans(layer, zone, start, end)))
    return _merge(_paint(sources, start, end))


def on_call_now(schedule: Schedule, at: datetime):
    """The user on call at `at`, or None."""
    found = shifts(schedule, at, at + timedelta(seconds=1))
    if not found:
        return None
    user_id = found[0].user_id
    for override in schedule.overrides.all():
        if override.user_id == user_id:
            return override.user
    for layer in schedule.layers.all():
        for member in layer.members.all():
            if member.user_id == user_id:
                return member.user
    return None


def layer_spans(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[Span]:
    """Who the layer has on call between start and end, before other layers count."""
    members = [m.user_id for m in layer.members.all()]
    lower = max(start, layer.rotation_start.astimezone(UTC))
    if layer.starts_at:
        lower = max(lower, layer.starts_at.astimezone(UTC))
    upper = min(end, layer.ends_at.astimezone(UTC)) if layer.ends_at else end
    if not members or upper <= lower:
        return []
    spans = []
    n = _turn_at(layer, zone, lower)
    while (turn_start := _turn_start(layer, zone, n)) < upper:
        turn_end = _turn_start(layer, zone, n + 1)
        spans.append(Span(max(turn_start, lower), min(turn_end, upper),
                          members[n % len(members)]))
        n += 1
    if layer.restrictions:
        spans = _restrict(spans, allowed_windows(layer.restrictions, zone, lower, upper))
    return spans


def _turn_start(layer: Layer, zone: ZoneInfo, n: int) -> datetime:
    if layer.turn_unit == TurnUnit.HOURS:
        return layer.rotation_start.astimezone(UTC) + n * timedelta(hours=layer.turn_count)
    days = layer.turn_count * (7 if layer.turn_unit == TurnUnit.WEEKS else 1)
    first = layer.rotation_start.astimezone(zone).replace(tzinfo=None)
    return (first + n * timedelta(days=days)).replace(tzinfo=zone).astimezone(UTC)


def _turn_at(layer: Layer, zone: ZoneInfo, at: datetime) -> int:
    """The number of the turn running at `at` (at or after the rotation's start)."""
    first = _turn_start(layer, zone, 0)
    n = (at - first) // (_turn_start(layer, zone, 1) - first)
    # Daylight saving moves wall-clock turns by an hour at most: step to the right one.
    while _turn_start(layer, zone, n + 1) <= at:
        n += 1
    while n > 0 and _turn_start(layer, zone, n) > at:
        n -= 1
    return n


def allowed_windows(restrictions: list[dict], zone: ZoneInfo, start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime]]:
    """The restrictions' local windows between start and end, in UTC, sorted and joined.
    A window belongs to the day it starts on; one ending at or before its start time
    ends the next day."""
    windows = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date():
        for rule in restrictions:
            if day.weekday() in rule["days"]:
                windows.append(_window(day, rule, zone))
        day += timedelta(days=1)
    windows.sort()
    joined: list[tuple[datetime, datetime]] = []
    for begin, finish in windows:
        if joined and begin <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], finish))
        else:
            joined.append((begin, finish))
    return [(max(b, start), min(f, end)) for b, f in joined if b < end and f > start]


def _window(day: date, rule: dict, zone: ZoneInfo) -> tuple[datetime, datetime]:
    begin, finish = time.fromisoformat(rule["start"]), time.fromisoformat(rule["end"])
    end_day = day + timedelta(days=1) if finish <= begin else day
    return (datetime.combine(day, begin, tzinfo=zone).astimezone(UTC),
            datetime.combine(end_day, finish, tzinfo=zone).astimezone(UTC))


def _restrict(spans: list[Span], windows: list[tuple[datetime, datetime]]) -> list[Span]:
    kept = []
    for span in spans:
        for begin, finish in windows:
            lo, hi = max(span.starts_at, begin), min(span.ends_at, finish)
            if lo < hi:
                kept.append(Span(lo, hi, span.user_id))
    return kept


def _override_spans(schedule: Schedule, start: datetime, end: datetime) -> list[Span]:
    # Where overrides overlap, the latest made wins, so it goes first.
    painted: list[tuple[str, list[Span]]] = []
    for override in sorted(schedule.overrides.all(), key=lambda o: o.pk, reverse=True):
        lo, hi = max(override.starts_at, start), min(override.ends_at, end)
        if lo < hi:
            painted.append(("", [Span(lo.astimezone(UTC), hi.astimezone(UTC),
                                      override.user_id)]))
    return [Span(s.starts_at, s.ends_at, s.user_id) for s in _paint(painted, start, end)]


def _paint(sources: list[tuple[str, list[Span]]], start: datetime,
           end: datetime) -> list[Shift]:
    """One shift per stretch between boundaries, from the first source (highest first)
    that has someone there."""
    points = sorted({start, end, *(t for _name, spans in sources for s in spans
                                   for t in (s.starts_at, s.ends_at))})
    starts = [[s.starts_at for s in spans] for _name, spans in sources]
    painted = []
    for lo, hi in zip(points, points[1:], strict=False):
        for (name, spans), begins in zip(sources, starts, strict=True):
            i = bisect.bisect_right(begins, lo) - 1
            if i >= 0 and spans[i].ends_at > lo:
                painted.append(Shift(spans[i].user_id, lo, hi, name))
                break
    return painted


def _merge(pieces: Iterable[Shift]) -> list[Shift]:
    merged: list[Shift] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if last and last.user_id == piece.user_id and last.ends_at == piece.starts_at:
            merged[-1] = Shift(last.user_id, last.starts_at, piece.ends_at, last.source)
        else:
            merged.append(piece)
    return merged

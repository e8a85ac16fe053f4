"""Schedules built for tests, with the same actions as the console."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from atalaia.accounts.models import User
from atalaia.oncall import actions
from atalaia.oncall.models import Schedule


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(zone: str, *args) -> datetime:
    """A wall-clock time in `zone`, as an aware datetime."""
    return datetime(*args, tzinfo=ZoneInfo(zone))


def people(*names: str) -> list[User]:
    return [User.objects.get_or_create(username=name)[0] for name in names]


def schedule(time_zone: str = "UTC", name: str = "Support") -> Schedule:
    return actions.save_schedule(None, {"name": name, "description": "",
                                        "time_zone": time_zone}, None)


def layer(sched: Schedule, members: list[str], rotation_start: datetime, unit: str = "weeks",
          count: int = 1, position: int = 1, name: str = "", **fields):
    return actions.save_layer(sched, None, {
        "name": name or f"Layer {position}", "position": position,
        "rotation_start": rotation_start, "turn_unit": unit, "turn_count": count, **fields},
        people(*members), None)


def override(sched: Schedule, member: str, starts_at: datetime, ends_at: datetime):
    return actions.add_override(sched, people(member)[0], starts_at, ends_at, "", None)


def plan(sched: Schedule, start: datetime, end: datetime) -> list[tuple]:
    """The final shifts as (username, start, end, source), for readable assertions."""
    from atalaia.oncall.feeds import with_rows
    from atalaia.oncall.schedules import shifts

    names = dict(User.objects.values_list("pk", "username"))
    return [(names[s.user_id], s.starts_at, s.ends_at, s.source)
            for s in shifts(with_rows().get(pk=sched.pk), start, end)]

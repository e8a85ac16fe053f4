"""Changes to schedules, layers and overrides, with the checks on their fields.

Each change runs in one transaction and writes an audit event.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.oncall.models import Layer, LayerMember, Override, PersonFeed, Schedule, TurnUnit

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ScheduleError(ValueError):
    """Input that cannot be saved; `field` names the wrong field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("time_zone", _("time_zone: %(name)s is not a known time zone; use "
                                           "an IANA name such as America/Sao_Paulo")
                            % {"name": repr(name)}) from None
    return name


def check_restrictions(value: Any) -> list[dict]:
    """A list of {"days": [0..6], "start": "HH:MM", "end": "HH:MM"} (0 is Monday)."""
    def wrong(i: int, why: str) -> ScheduleError:
        return ScheduleError("restrictions", _("restrictions[%(i)d]: %(why)s")
                             % {"i": i, "why": why})

    if not isinstance(value, list):
        raise ScheduleError("restrictions", _("restrictions: must be a list"))
    clean = []
    for i, rule in enumerate(value):
        if not isinstance(rule, dict) or set(rule) != {"days", "start", "end"}:
            raise wrong(i, _("needs exactly days, start and end"))
        days = rule["days"]
        if not isinstance(days, list) or not days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days):
            raise wrong(i, _("days must be a non-empty list of 0 (Monday) to 6 (Sunday)"))
        for key in ("start", "end"):
            if not isinstance(rule[key], str) or not HHMM.match(rule[key]):
                raise wrong(i, _("%(key)s must be a time as HH:MM") % {"key": key})
        clean.append({"days": sorted(set(days)), "start": rule["start"], "end": rule["end"]})
    return clean


def check_layer(fields: dict[str, Any]) -> dict[str, Any]:
    if fields["turn_unit"] not in TurnUnit.values:
        raise ScheduleError("turn_unit", _("turn_unit: must be hours, days or weeks"))
    if not isinstance(fields["turn_count"], int) or fields["turn_count"] < 1:
        raise ScheduleError("turn_count", _("turn_count: must be 1 or more"))
    fields["restrictions"] = check_restrictions(fields.get("restrictions") or [])
    if fields.get("starts_at") and fields.get("ends_at") and \
            fields["ends_at"] <= fields["starts_at"]:
        raise ScheduleError("ends_at", _("ends_at: must be after starts_at"))
    return fields


def check_period(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ScheduleError("ends_at", _("ends_at: the override must end after it starts"))


def users_by_name(usernames: list[str], field: str = "members") -> list[User]:
    """The users, in the order given; an unknown username is refused by name."""
    found = {u.username: u for u in User.objects.filter(username__in=usernames)}
    for name in usernames:
        if name not in found:
            raise ScheduleError(field, _("%(field)s: no user named %(name)s")
                                % {"field": field, "name": repr(name)})
    return [found[name] for name in usernames]


@transaction.atomic
def save_schedule(schedule: Schedule | None, fields: dict[str, Any],
                  actor: User | None) -> Schedule:
    check_time_zone(fields["time_zone"])
    created = schedule is None
    schedule = schedule or Schedule()
    for name in ("name", "description", "time_zone"):
        setattr(schedule, name, fields[name])
    schedule.save()
    audit(actor, "schedule.create" if created else "schedule.update", "schedule",
          schedule.name, {"time_zone": schedule.time_zone})
    return schedule


@transaction.atomic
def delete_schedule(schedule: Schedule, actor: User) -> None:
    audit(actor, "schedule.delete", "schedule", schedule.name)
    schedule.delete()


LAYER_FIELDS = ("name", "position", "rotation_start", "turn_unit", "turn_count",
                "restrictions", "starts_at", "ends_at")


@transaction.atomic
def save_layer(schedule: Schedule, layer: Layer | None, fields: dict[str, Any],
               members: list[User], actor: User | None) -> Layer:
    fields = check_layer(dict(fields))
    created = layer is None
    layer = layer or Layer(schedule=schedule)
    for name in LAYER_FIELDS:
        setattr(layer, name, fields.get(name))
    layer.save()
    layer.members.all().delete()
    LayerMember.objects.bulk_create([LayerMember(layer=layer, user=user, position=i)
                                     for i, user in enumerate(members)])
    audit(actor, "layer.create" if created else "layer.update", "schedule",
          f"{schedule.name}: {layer.name}",
          {"members": [u.username for u in members], "turn": f"{layer.turn_count} "
           f"{layer.turn_unit}", "restrictions": layer.restrictions})
    return layer


@transaction.atomic
def delete_layer(layer: Layer, actor: User) -> None:
    audit(actor, "layer.delete", "schedule", f"{layer.schedule.name}: {layer.name}")
    layer.delete()


@transaction.atomic
def add_override(schedule: Schedule, user: User, starts_at: datetime, ends_at: datetime,
                 note: str, actor: User) -> Override:
    check_period(starts_at, ends_at)
    override = Override.objects.create(schedule=schedule, user=user, starts_at=starts_at,
                                       ends_at=ends_at, note=note, created_by=actor)
    audit(actor, "override.create", "schedule", f"{schedule.name}: {user.username}",
          {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})
    return override


@transaction.atomic
def delete_override(override: Override, actor: User) -> None:
    audit(actor, "override.delete", "schedule",
          f"{override.schedule.name}: {override.user.username}",
          {"starts_at": override.starts_at.isoformat(), "ends_at": override.ends_at.isoformat()})
    override.delete()


@transaction.atomic
def reset_schedule_feed(schedule: Schedule, actor: User) -> None:
    Schedule.objects.filter(pk=schedule.pk).update(feed_version=F("feed_version") + 1)
    schedule.refresh_from_db(fields=["feed_version"])
    audit(actor, "schedule.feed_reset", "schedule", schedule.name)


@transaction.atomic
def reset_person_feed(user: User) -> None:
    feed, _created = PersonFeed.objects.get_or_create(user=user)
    PersonFeed.objects.filter(pk=feed.pk).update(version=F("version") + 1)
    audit(user, "oncall.person_feed_reset", "user", user.username)

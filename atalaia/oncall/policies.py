"""Escalation policies: checked, saved with a new version, shown back as YAML.

People write the levels as YAML (the console's text box) or JSON (the API), naming
their targets:

    - targets: [{schedule: Technical primary}, {person: alice}]
      escalate_after_minutes: 10
    - targets: [{team: technical}]
      escalate_after_minutes: 15

and they are stored with ids ({"kind", "id", "name"}), so renaming a schedule or a
team does not break a policy.
"""

from __future__ import annotations

from typing import Any

import yaml
from django.db import transaction

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.models import Team
from atalaia.lib import yamldoc as y
from atalaia.lib.yamldoc import DocumentError
from atalaia.oncall.models import EscalationPolicy, Schedule

KINDS = ("person", "schedule", "team")
MAX_LEVELS = 20
TARGET = y.mapping({kind: (y.string(200), False) for kind in KINDS})
LEVEL = y.mapping({"targets": (y.list_of(TARGET, min_items=1), True),
                   "escalate_after_minutes": (y.integer(1, 1440), True)})


class PolicyError(ValueError):
    """A policy that cannot be saved; `field` names the part that is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_levels(text_or_data: str | list) -> list[dict]:
    """The levels as stored, from YAML text or already-parsed data. Raises PolicyError
    with every problem, each with its line when there is one."""
    try:
        if isinstance(text_or_data, str):
            data, lines = y.load(text_or_data)
        else:
            data, lines = text_or_data, {}
        checker = y.Checker(lines)
        levels = y.list_of(LEVEL, min_items=1)(data if data is not None else [], (), checker)
        checker.raise_if_any()
        if len(levels) > MAX_LEVELS:
            checker.error((), f"at most {MAX_LEVELS} levels")
        stored = [{"targets": [_resolve(t, (i, "targets", j), checker)
                               for j, t in enumerate(level["targets"])],
                   "delay_minutes": level["escalate_after_minutes"]}
                  for i, level in enumerate(levels)]
        checker.raise_if_any()
    except DocumentError as exc:
        raise PolicyError("levels", "; ".join(exc.problems)) from None
    return stored


def _resolve(target: dict, path: tuple, checker: y.Checker) -> dict:
    given = [kind for kind in KINDS if kind in target]
    if len(given) != 1:
        checker.error(path, "name exactly one of person, schedule or team")
        return {}
    kind = given[0]
    name = target[kind]
    found: Any
    if kind == "person":
        found = User.objects.filter(username=name, is_active=True).first()
    elif kind == "schedule":
        found = Schedule.objects.filter(name=name).first()
    else:
        found = Team.objects.filter(slug=name).first() or Team.objects.filter(name=name).first()
    if found is None:
        checker.error(path + (kind,), f"no {kind} called {name!r}")
        return {}
    label = found.username if kind == "person" else (found.slug if kind == "team" else found.name)
    return {"kind": kind, "id": found.pk, "name": label}


def levels_yaml(levels: list[dict]) -> str:
    """The stored levels as the YAML people edit, with today's names."""
    names = current_names(levels)
    data = [{"targets": [{t["kind"]: names.get((t["kind"], t["id"]), t["name"])}
                         for t in level["targets"]],
             "escalate_after_minutes": level["delay_minutes"]} for level in levels]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)


def current_names(levels: list[dict]) -> dict[tuple[str, int], str]:
    ids: dict[str, set[int]] = {kind: set() for kind in KINDS}
    for level in levels:
        for target in level["targets"]:
            ids[target["kind"]].add(target["id"])
    names = {("person", u.pk): u.username for u in User.objects.filter(pk__in=ids["person"])}
    names |= {("schedule", s.pk): s.name for s in Schedule.objects.filter(pk__in=ids["schedule"])}
    names |= {("team", t.pk): t.slug for t in Team.objects.filter(pk__in=ids["team"])}
    return names


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    name = (fields.get("name") or "").strip()
    if not name:
        raise PolicyError("name", "a policy needs a name")
    if len(name) > 200:
        raise PolicyError("name", "the name is longer than 200 characters")
    repeats = fields.get("repeats", 0)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 0 <= repeats <= 9:
        raise PolicyError("repeats", "repeats is a whole number from 0 to 9")
    timeout = fields.get("ack_timeout_minutes", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 <= timeout <= 1440:
        raise PolicyError("ack_timeout_minutes",
                          "the acknowledgement timeout is 0 (never) to 1440 minutes")
    return {**fields, "name": name, "repeats": repeats, "ack_timeout_minutes": timeout}


@transaction.atomic
def save_policy(policy: EscalationPolicy | None, fields: dict[str, Any],
                actor: User | None) -> EscalationPolicy:
    """Create or change a policy; `fields["levels"]` is YAML text or parsed data.
    A change raises the version: escalations already running keep theirs."""
    fields = check_fields(fields)
    levels = parse_levels(fields["levels"])
    clash = EscalationPolicy.objects.filter(name=fields["name"])
    if policy is not None:
        clash = clash.exclude(pk=policy.pk)
    if clash.exists():
        raise PolicyError("name", f"there is already a policy called {fields['name']!r}")
    created = policy is None
    policy = policy or EscalationPolicy()
    if not created:
        policy.version += 1
    policy.name, policy.description = fields["name"], fields.get("description", "")
    policy.team = fields.get("team")
    policy.repeats, policy.ack_timeout_minutes = fields["repeats"], fields["ack_timeout_minutes"]
    policy.levels = levels
    policy.save()
    audit(actor, "policy.create" if created else "policy.change", "escalation policy",
          policy.name, {"version": policy.version})
    return policy


@transaction.atomic
def delete_policy(policy: EscalationPolicy, actor: User | None) -> None:
    audit(actor, "policy.delete", "escalation policy", policy.name)
    policy.delete()


def snapshot(policy: EscalationPolicy) -> dict:
    """What an escalation keeps of the policy it runs."""
    return {"name": policy.name, "version": policy.version, "levels": policy.levels,
            "repeats": policy.repeats, "ack_timeout_minutes": policy.ack_timeout_minutes}


def team_snapshot(team: Team) -> dict:
    """For a team with no policy: one level, the whole team, no repeat."""
    return {"name": f"{team.name} (whole team)", "version": 0, "repeats": 0,
            "ack_timeout_minutes": 30,
            "levels": [{"targets": [{"kind": "team", "id": team.pk, "name": team.slug}],
                        "delay_minutes": 15}]}

"""Console forms for schedules, layers and overrides. Times are typed as wall-clock time
in the schedule's time zone; restrictions as lines such as `Mon-Fri 09:00-18:00`."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Team
from atalaia.oncall import actions
from atalaia.oncall.models import Layer, Schedule, TurnUnit

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
INPUT_FORMATS = [LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RULE = re.compile(r"^(?P<days>\S+)\s+(?P<start>\d\d:\d\d)\s*-\s*(?P<end>\d\d:\d\d)$")


def _local_field(label, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        input_formats=INPUT_FORMATS, label=label, required=required,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT))


def _aware(value: datetime | None, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """A wall-clock time typed in a form, as that time in the schedule's zone."""
    return value.replace(tzinfo=zone) if value is not None else None


def wall(value: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """An instant as the naive wall-clock time shown in the schedule's zone."""
    return value.astimezone(zone).replace(tzinfo=None)


def local(value: datetime | None, zone: zoneinfo.ZoneInfo) -> datetime | None:
    return wall(value, zone) if value is not None else None


def _raise_as_field(form: forms.Form, error: actions.ScheduleError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(required=False, label=_("Description"),
                                  widget=forms.Textarea(attrs={"rows": 3}))
    time_zone = forms.CharField(max_length=64, initial="UTC", label=_("Time zone"),
                                widget=forms.TextInput(attrs={"list": "zones"}))

    def __init__(self, *args, schedule: Schedule | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.schedule = schedule

    def clean_time_zone(self) -> str:
        try:
            return actions.check_time_zone(self.cleaned_data["time_zone"].strip())
        except actions.ScheduleError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Schedule.objects.filter(name=name)
        if self.schedule:
            taken = taken.exclude(pk=self.schedule.pk)
        if taken.exists():
            raise forms.ValidationError(_("name: another schedule has this name"))
        return name


def restrictions_text(rules: list[dict]) -> str:
    return "\n".join(f"{','.join(DAY_NAMES[d].title() for d in rule['days'])} "
                     f"{rule['start']}-{rule['end']}" for rule in rules)


def parse_restrictions(text: str) -> list[dict]:
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = RULE.match(line.strip())
        days = _days(match["days"]) if match else None
        if not match or days is None:
            raise actions.ScheduleError("restrictions", _(
                "restrictions, line %(n)d: write days and hours as “Mon-Fri 09:00-18:00”, "
                "“Sat,Sun 10:00-14:00” or “daily 22:00-06:00”") % {"n": number})
        rules.append({"days": days, "start": match["start"], "end": match["end"]})
    return actions.check_restrictions(rules)


def _days(text: str) -> list[int] | None:
    if text.lower() in ("daily", "all"):
        return list(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _dash, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            return None
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return sorted(days)


class LayerForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    position = forms.IntegerField(initial=1, label=_("Position (a higher layer overrides a "
                                                     "lower one)"))
    members = forms.CharField(label=_("Members, in rotation order (one username a line)"),
                              widget=forms.Textarea(attrs={"rows": 5}))
    rotation_start = _local_field(_("First handoff"))
    turn_unit = forms.ChoiceField(choices=TurnUnit.choices, initial=TurnUnit.WEEKS,
                                  label=_("Turn unit"))
    turn_count = forms.IntegerField(initial=1, label=_("Turn length (in units)"))
    restrictions = forms.CharField(
        required=False, label=_("Restrictions (empty: around the clock)"),
        help_text=_("One a line, e.g. “Mon-Fri 09:00-18:00” or “daily 22:00-06:00”."),
        widget=forms.Textarea(attrs={"rows": 3}))
    starts_at = _local_field(_("Layer valid from (optional)"), required=False)
    ends_at = _local_field(_("Layer valid until (optional)"), required=False)

    def __init__(self, *args, schedule: Schedule, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zoneinfo.ZoneInfo(schedule.time_zone)

    @classmethod
    def for_layer(cls, schedule: Schedule, layer: Layer) -> LayerForm:
        initial: dict[str, Any] = {name: getattr(layer, name) for name in actions.LAYER_FIELDS}
        zone = zoneinfo.ZoneInfo(schedule.time_zone)
        for name in ("rotation_start", "starts_at", "ends_at"):
            initial[name] = local(initial[name], zone)
        initial["restrictions"] = restrictions_text(layer.restrictions)
        initial["members"] = "\n".join(m.user.username for m in layer.members.all())
        return cls(initial=initial, schedule=schedule)

    def clean_members(self) -> list:
        names = [n.strip() for n in re.split(r"[\s,]+", self.cleaned_data["members"])
                 if n.strip()]
        try:
            return actions.users_by_name(names)
        except actions.ScheduleError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_restrictions(self) -> list[dict]:
        try:
            return parse_restrictions(self.cleaned_data["restrictions"])
        except actions.ScheduleError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("rotation_start", "starts_at", "ends_at"):
            data[name] = _aware(data.get(name), self.zone)
        if all(k in data for k in ("turn_unit", "turn_count", "restrictions")) and \
                data.get("turn_count") is not None:
            try:
                actions.check_layer(dict(data))
            except actions.ScheduleError as exc:
                _raise_as_field(self, exc)
        return data


class OverrideForm(forms.Form):
    username = forms.CharField(max_length=150, label=_("Who takes the shift (username)"))
    starts_at = _local_field(_("From"))
    ends_at = _local_field(_("Until"))
    note = forms.CharField(max_length=500, required=False, label=_("Note"))

    def __init__(self, *args, schedule: Schedule, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zoneinfo.ZoneInfo(schedule.time_zone)

    def clean_username(self):
        try:
            return actions.users_by_name([self.cleaned_data["username"].strip()],
                                         "username")[0]
        except actions.ScheduleError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name in ("starts_at", "ends_at"):
            data[name] = _aware(data.get(name), self.zone)
        if data.get("starts_at") and data.get("ends_at"):
            try:
                actions.check_period(data["starts_at"], data["ends_at"])
            except actions.ScheduleError as exc:
                _raise_as_field(self, exc)
        return data


LEVELS_EXAMPLE = """- targets: [{schedule: Technical primary}]
  escalate_after_minutes: 10
- targets: [{person: alice}, {team: technical}]
  escalate_after_minutes: 15
"""


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    description = forms.CharField(required=False, label=_("Description"),
                                  widget=forms.Textarea(attrs={"rows": 2}))
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, label=_("Team"),
                                  help_text=_("The plan pages this team through this policy "
                                              "unless it names another."))
    levels = forms.CharField(label=_("Levels"), widget=forms.Textarea(attrs={
        "rows": 8, "class": "code", "placeholder": LEVELS_EXAMPLE}), help_text=_(
        "YAML: each level names its targets (person, schedule or team) and how many "
        "minutes to wait for an acknowledgement before the next level is paged."))
    repeats = forms.IntegerField(min_value=0, max_value=9, initial=0, label=_("Repeats"),
                                 help_text=_("After the last level, start over this many "
                                             "times."))
    ack_timeout_minutes = forms.IntegerField(
        min_value=0, max_value=1440, initial=30, label=_("Acknowledgement timeout (minutes)"),
        help_text=_("An acknowledged page triggers again after this long while the "
                    "incident is open; 0: never."))

    def __init__(self, *args, policy=None, **kwargs):
        from atalaia.oncall.policies import levels_yaml

        if policy is not None and not args[0]:
            kwargs["initial"] = {"name": policy.name, "description": policy.description,
                                 "team": policy.team, "levels": levels_yaml(policy.levels),
                                 "repeats": policy.repeats,
                                 "ack_timeout_minutes": policy.ack_timeout_minutes}
        super().__init__(*args, **kwargs)

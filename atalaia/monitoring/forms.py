"""Console forms for monitors and maintenance windows."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime
from typing import Any

import yaml
from django import forms
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service
from atalaia.intake.models import Severity
from atalaia.lib import yamldoc
from atalaia.monitoring import actions
from atalaia.monitoring.models import MaintenanceWindow, Monitor, MonitorKind, Recurrence

WEEKDAYS = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")),
            (4, _("Friday")), (5, _("Saturday")), (6, _("Sunday"))]
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _bounded(field: str, kind: type[forms.IntegerField] | type[forms.FloatField] =
             forms.IntegerField, **kwargs: Any) -> forms.Field:
    low, high = actions.LIMITS[field]
    bounds: dict[str, Any] = {"min_value": low, "max_value": high}
    return kind(**bounds, **kwargs)


class ServiceChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Service) -> str:
        return f"{obj.name} ({obj.slug})"


class MonitorForm(forms.Form):
    service = ServiceChoice(Service.objects.all(), to_field_name="slug", label=_("Service"))
    name = forms.CharField(max_length=200, label=_("Name"))
    kind = forms.ChoiceField(choices=MonitorKind.choices, label=_("Kind"))
    config = forms.CharField(
        required=False, label=_("Configuration (YAML or JSON)"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "path"}))
    interval_seconds = _bounded("interval_seconds", label=_("Interval (seconds)"),
                                initial=60)
    retry_interval_seconds = _bounded("retry_interval_seconds", initial=20,
                                      label=_("Retry interval while a change is unconfirmed "
                                              "(seconds)"))
    timeout_seconds = _bounded("timeout_seconds", forms.FloatField, initial=10.0,
                               label=_("Timeout (seconds)"))
    failures_to_down = _bounded("failures_to_down", initial=3,
                                label=_("Failed checks in a row before it is down"))
    successes_to_up = _bounded("successes_to_up", initial=2,
                               label=_("Good checks in a row before it is up again"))
    locations_required = _bounded("locations_required", initial=1,
                                  label=_("Locations that must agree"))
    severity = forms.ChoiceField(choices=Severity.choices,
                                 initial="critical", label=_("Severity of its signals"))
    paused = forms.BooleanField(required=False, label=_("Paused"))
    anomaly_detection = forms.BooleanField(required=False, initial=True,
                                           label=_("Detect latency anomalies"))
    anomaly_k = _bounded("anomaly_k", initial=5, label=_("Anomaly: k slow checks…"))
    anomaly_m = _bounded("anomaly_m", initial=6, label=_("…of the last m"))
    grace_seconds = _bounded("grace_seconds", initial=300,
                             label=_("Grace (seconds, heartbeats only)"))

    @classmethod
    def for_monitor(cls, monitor: Monitor) -> MonitorForm:
        initial = {name: getattr(monitor, name) for name in actions.EDITABLE}
        initial["service"] = monitor.service.slug
        initial["config"] = config_text(monitor.config)
        return cls(initial=initial)

    def clean_config(self) -> Any:
        text = self.cleaned_data.get("config", "")
        if not text.strip():
            return {}
        try:
            data, _lines = yamldoc.load(text)
        except yamldoc.DocumentError as exc:
            raise forms.ValidationError("; ".join(exc.problems)) from None
        return {} if data is None else data

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "kind" not in data or "config" not in data:
            return data
        try:
            # Defaults stand in for k and m when those are wrong, so the config is
            # still checked and its errors shown at once.
            actions.check_monitor({"anomaly_k": 1, "anomaly_m": 1, **data})
        except actions.MonitorError as exc:
            self.add_error(exc.field, exc.message)
        return data


def config_text(cfg: dict) -> str:
    """A stored config as the YAML a person edits."""
    if not cfg:
        return ""
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, default_flow_style=False)


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class WindowForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    services = forms.ModelMultipleChoiceField(Service.objects.all(), to_field_name="slug",
                                              label=_("Services"))
    starts_at = forms.DateTimeField(
        input_formats=[LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        label=_("First start (in the window's time zone)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT))
    duration_minutes = forms.IntegerField(min_value=1, max_value=31 * 24 * 60,
                                          label=_("Duration (minutes)"))
    time_zone = forms.CharField(max_length=64, initial="UTC", label=_("Time zone"),
                                widget=forms.TextInput(attrs={"list": "zones"}))
    recurrence = forms.ChoiceField(choices=Recurrence.choices, initial=Recurrence.NONE,
                                   label=_("Repeats"))
    weekdays = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, required=False,
                                              widget=forms.CheckboxSelectMultiple,
                                              label=_("On (weekly windows)"))
    until = forms.DateTimeField(
        required=False, input_formats=[LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        label=_("Until (recurring windows; in the window's time zone)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT))

    @classmethod
    def for_window(cls, window: MaintenanceWindow) -> WindowForm:
        zone = zoneinfo.ZoneInfo(window.time_zone)
        initial = {name: getattr(window, name) for name in actions.WINDOW_FIELDS}
        initial["starts_at"] = _local(window.starts_at, zone)
        initial["until"] = _local(window.until, zone) if window.until else None
        initial["services"] = [s.slug for s in window.services.all()]
        return cls(initial=initial)

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        if name not in zone_names():
            raise forms.ValidationError(
                _("%(name)s is not a known time zone: use an IANA name such as "
                  "America/Sao_Paulo or Europe/Lisbon."), params={"name": repr(name)})
        return name

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "time_zone" not in data:
            return data
        zone = zoneinfo.ZoneInfo(data["time_zone"])
        # The browser sends wall-clock time; it means that time in the window's zone.
        for name in ("starts_at", "until"):
            if data.get(name) is not None:
                data[name] = _in_zone(data[name], zone)
        recurring = data.get("recurrence") not in (None, Recurrence.NONE)
        if data.get("weekdays") and data.get("recurrence") != Recurrence.WEEKLY:
            self.add_error("weekdays", _("Only weekly windows repeat on chosen days."))
        if data.get("until") is not None and not recurring:
            self.add_error("until", _("Only a recurring window has an end date."))
        elif data.get("until") and data.get("starts_at") and data["until"] < data["starts_at"]:
            self.add_error("until", _("The end date is before the first start."))
        data["weekdays"] = sorted(set(data.get("weekdays") or []))
        return data


def _in_zone(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return moment.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)


def _local(moment: datetime, zone: zoneinfo.ZoneInfo) -> str:
    return moment.astimezone(zone).strftime(LOCAL_FORMAT)

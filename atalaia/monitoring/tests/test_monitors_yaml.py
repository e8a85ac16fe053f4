"""Monitors as code: export, import, update in place, prune, and errors with their lines."""

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from atalaia.catalog.models import Service
from atalaia.cli import GROUPED
from atalaia.lib.yamldoc import DocumentError
from atalaia.monitoring.models import (
    MaintenanceWindow,
    Monitor,
    MonitorKind,
    MonitorState,
    StateChange,
)
from atalaia.monitoring.monitors_yaml import export_monitors, import_monitors

KEY = "0b4f5a52-58c1-4f4e-9d43-3c1a8d6f2e10"
EVERY_KIND = f"""
monitors:
  - service: checkout
    name: storefront https
    kind: http
    interval: 30
    retry_interval: 10
    timeout: 2.5
    failures_to_down: 2
    successes_to_up: 1
    locations_required: 2
    severity: error
    paused: true
    anomaly_detection: false
    anomaly_k: 3
    anomaly_m: 4
    config:
      url: https://shop.example.com/health
      expected_status: ["200-299", 418]
      headers: {{X-Probe: atalaia}}
      keyword: ok
  - {{service: database, name: port, kind: tcp, config: {{host: db.example.net, port: 5432}}}}
  - {{service: database, name: postgres, kind: postgresql,
      config: {{dsn: "postgresql://probe@db.example.net/app"}}}}
  - {{service: database, name: mysql, kind: mysql,
      config: {{host: my.example.net, user: probe, password: s3cret, dbname: app}}}}
  - {{service: checkout, name: gateway, kind: ping, config: {{host: 192.0.2.1}}}}
  - {{service: email, name: smtp, kind: smtp,
      config: {{host: mail.example.net, port: 587, starttls: true}}}}
  - {{service: checkout, name: dns, kind: dns,
      config: {{name: shop.example.com, record_type: A, expected: [203.0.113.7]}}}}
  - {{service: checkout, name: certificate, kind: tls,
      config: {{host: shop.example.com, degraded_days: 21, down_days: 7}}}}
  - service: email
    name: nightly export
    kind: heartbeat
    interval: 86400
    grace: 600
    ping_key: {KEY}
maintenance:
  - title: nightly backups
    services: [email, database]
    starts_at: 2026-12-01T02:00:00
    duration_minutes: 30
    time_zone: America/Sao_Paulo
    recurrence: weekly
    weekdays: [5, 1]
    until: 2027-06-30T02:00:00
  - title: datacentre move
    services: [checkout]
    starts_at: 2026-03-29T02:00:00
    duration_minutes: 240
    time_zone: Europe/Lisbon
"""
ONE = """monitors:
  - service: email
    name: nightly export
    kind: heartbeat
    interval: {interval}
    grace: 300
"""


@pytest.fixture
def services(db):
    return {slug: Service.objects.create(slug=slug, name=slug.title())
            for slug in ("checkout", "database", "email")}


def problems(text: str, **options) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        import_monitors(text, **options)
    return caught.value.problems


def test_export_then_import_into_an_empty_database_gives_the_same_file(services):
    import_monitors(EVERY_KIND)
    first = export_monitors()
    Monitor.objects.all().delete()
    MaintenanceWindow.objects.all().delete()
    summary = import_monitors(first)
    assert (len(summary.monitors.created), len(summary.maintenance.created)) == (9, 2)
    assert export_monitors() == first
    assert {m.kind for m in Monitor.objects.all()} == set(MonitorKind.values)
    assert str(Monitor.objects.get(kind=MonitorKind.HEARTBEAT).ping_key) == KEY


def test_the_exported_file_writes_every_key_in_order_and_local_times(services):
    import_monitors(EVERY_KIND)
    text = export_monitors()
    assert text.startswith("# Atalaia monitors")
    doc = yaml.safe_load(text)
    http = next(m for m in doc["monitors"] if m["kind"] == "http")
    assert list(http) == ["service", "name", "kind", "interval", "retry_interval", "timeout",
                          "failures_to_down", "successes_to_up", "locations_required",
                          "severity", "paused", "anomaly_detection", "anomaly_k", "anomaly_m",
                          "config"]
    assert (http["timeout"], http["paused"], http["config"]["expected_status"]) == \
        (2.5, True, ["200-299", 418])
    tcp = next(m for m in doc["monitors"] if m["kind"] == "tcp")
    assert (tcp["interval"], tcp["timeout"], tcp["severity"]) == (60, 10, "critical")
    heartbeat = next(m for m in doc["monitors"] if m["kind"] == "heartbeat")
    assert list(heartbeat)[-3:] == ["grace", "ping_key", "config"]
    assert "starts_at: 2026-12-01T02:00:00\n" in text
    assert "until: 2027-06-30T02:00:00\n" in text
    backups = MaintenanceWindow.objects.get(title="nightly backups")
    assert backups.starts_at == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert backups.weekdays == [1, 5]
    move = next(w for w in doc["maintenance"] if w["title"] == "datacentre move")
    assert (move["recurrence"], move["weekdays"], move["until"]) == ("none", [], None)


def test_import_updates_in_place_keeping_ping_key_state_and_history(services):
    import_monitors(ONE.format(interval=3600))
    monitor = Monitor.objects.get()
    pinged = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    Monitor.objects.filter(pk=monitor.pk).update(
        state=MonitorState.UP, last_ping_at=pinged,
        deadline_at=pinged + timedelta(hours=1, minutes=5))
    StateChange.objects.create(monitor=monitor, at=pinged, previous="unknown", state="up")
    summary = import_monitors(ONE.format(interval=86400))
    assert summary.monitors.updated == ["email: nightly export"]
    again = Monitor.objects.get()
    assert (again.pk, again.ping_key, again.state) == (monitor.pk, monitor.ping_key, "up")
    assert again.interval_seconds == 86400
    assert again.deadline_at == pinged + timedelta(days=1, minutes=5)
    assert StateChange.objects.filter(monitor=again).count() == 1
    unchanged = import_monitors(ONE.format(interval=86400))
    assert (unchanged.monitors.updated, unchanged.monitors.unchanged) == ([], 1)


def test_a_file_keeps_a_ping_key_but_cannot_change_one(services):
    import_monitors(ONE.format(interval=60))
    current = Monitor.objects.get().ping_key
    stored = export_monitors()
    assert import_monitors(stored).monitors.unchanged == 1
    changed = stored.replace(str(current), str(uuid.uuid4()))
    line = stored.splitlines().index(f"    ping_key: {current}") + 1
    assert problems(changed) == [
        f"line {line}: monitors[0].ping_key: monitor 'email: nightly export': this monitor's "
        f"ping key is {current}; a file cannot change it"]


def test_prune_deletes_what_the_file_leaves_out_only_when_asked(services):
    import_monitors(EVERY_KIND)
    only_one = ONE.format(interval=300)
    kept = import_monitors(only_one)
    assert (kept.monitors.deleted, Monitor.objects.count()) == ([], 9)
    pruned = import_monitors(only_one, prune=True)
    assert len(pruned.monitors.deleted) == 8
    assert "checkout: storefront https" in pruned.monitors.deleted
    assert list(Monitor.objects.values_list("name", flat=True)) == ["nightly export"]
    assert MaintenanceWindow.objects.count() == 2  # the file has no maintenance section
    cleared = import_monitors("maintenance: []\n", prune=True)
    assert cleared.maintenance.deleted == ["datacentre move", "nightly backups"]
    assert Monitor.objects.count() == 1 and not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize(("text", "expected"), [
    ("monitors:\n  - service: email\n    name: x\n    kind: tcp\n    intervall: 5\n"
     "    config: {host: a, port: 1}\n",
     "line 5: monitors[0].intervall: monitor 'email: x': unknown key 'intervall'"),
    ("monitors:\n  - service: email\n    name: x\n    kind: tcp\n    config:\n"
     "      host: a\n      port: '25'\n",
     "line 7: monitors[0].config.port: monitor 'email: x': must be int, not str"),
    ("monitors:\n  - service: ghost\n    name: x\n    kind: ping\n    config: {host: a}\n",
     "line 2: monitors[0].service: monitor 'ghost: x': unknown service 'ghost'"),
    ("monitors:\n  - service: email\n    name: x\n    kind: htp\n",
     "line 4: monitors[0].kind: monitor 'email: x': 'htp' is not one of http, tcp"),
    ("monitors:\n  - service: email\n    name: x\n    kind: http\n    config: {}\n",
     "line 5: monitors[0].config.url: monitor 'email: x': required for http monitors"),
    ("monitors:\n  - service: email\n    name: x\n    kind: ping\n    grace: 5\n"
     "    config: {host: a}\n",
     "line 5: monitors[0].grace: monitor 'email: x': only heartbeat monitors have a grace"),
    ("monitors:\n  - {service: email, name: x, kind: heartbeat}\n"
     "  - {service: email, name: x, kind: heartbeat}\n",
     "line 3: monitors[1].name: monitor 'email: x': appears twice in the file"),
    ("monitors:\n  - {service: email, name: x, kind: heartbeat,\n"
     "     anomaly_k: 7}\n",
     "line 3: monitors[0].anomaly_k: monitor 'email: x': must not exceed anomaly_m"),
    ("monitors:\n  - service: email\n    name: x\n    kind: http\n"
     "    config: {url: 'https://a.example', json_value: 2026-01-01T00:00:00}\n",
     "line 5: monitors[0].config: monitor 'email: x': values must be text, numbers"),
    ("monitors:\n  - {service: email, name: x, kind: ping, timeout: .nan, config: {host: a}}\n",
     "line 2: monitors[0].timeout: monitor 'email: x': expected a number of seconds"),
    ("maintenance:\n  - title: w\n    services: [email]\n    starts_at: 2026-12-01T02:00:00\n"
     "    duration_minutes: 30\n    time_zone: Mars/Olympus\n",
     "line 6: maintenance[0].time_zone: maintenance window 'w': 'Mars/Olympus' is not a "
     "known time zone"),
    ("maintenance:\n  - title: w\n    services: [email, ghost]\n"
     "    starts_at: 2026-12-01T02:00:00\n    duration_minutes: 30\n",
     "line 3: maintenance[0].services[1]: maintenance window 'w': unknown service 'ghost'"),
    ("maintenance:\n  - title: w\n    services: [email]\n"
     "    starts_at: 2026-12-01T02:00:00-03:00\n    duration_minutes: 30\n",
     "line 4: maintenance[0].starts_at: maintenance window 'w': write the local time"),
    ("maintenance:\n  - title: w\n    services: [email]\n    starts_at: 2026-12-01T02:00:00\n"
     "    duration_minutes: 30\n    recurrence: daily\n    weekdays: [1]\n",
     "line 7: maintenance[0].weekdays: maintenance window 'w': only for weekly windows"),
])
def test_errors_name_the_line_the_monitor_and_the_key(services, text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
    assert not Monitor.objects.exists() and not MaintenanceWindow.objects.exists()


def test_an_import_is_all_or_nothing(services):
    text = ("monitors:\n"
            "  - {service: email, name: good, kind: ping, config: {host: a}}\n"
            "  - {service: email, name: bad, kind: ping, config: {host: a, port: 1}}\n"
            "maintenance:\n"
            "  - {title: w, services: [email], starts_at: 2026-12-01T02:00:00,"
            " duration_minutes: 30}\n")
    assert problems(text) == ["line 3: monitors[1].config.port: monitor 'email: bad': "
                              "unknown key; ping monitors take: host"]
    assert not Monitor.objects.exists() and not MaintenanceWindow.objects.exists()


def test_a_dry_run_reports_the_changes_and_saves_nothing(services):
    summary = import_monitors(EVERY_KIND, dry_run=True)
    assert len(summary.monitors.created) == 9
    assert str(summary).startswith("dry run, nothing saved: monitors: 9 created")
    assert not Monitor.objects.exists() and not MaintenanceWindow.objects.exists()


def test_the_commands_import_export_and_report(services, tmp_path):
    source = tmp_path / "monitors.yaml"
    source.write_text(EVERY_KIND)
    out = io.StringIO()
    call_command("monitors_import", str(source), "--dry-run", stdout=out)
    assert "dry run, nothing saved" in out.getvalue() and not Monitor.objects.exists()
    out = io.StringIO()
    call_command("monitors_import", str(source), stdout=out)
    assert "created monitor 'checkout: storefront https'" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == (
        "monitors: 9 created, 0 updated, 0 deleted, 0 unchanged; "
        "maintenance windows: 2 created, 0 updated, 0 deleted, 0 unchanged")
    printed = io.StringIO()
    call_command("monitors_export", stdout=printed)
    assert printed.getvalue() == export_monitors()
    target = tmp_path / "out.yaml"
    call_command("monitors_export", str(target))
    assert target.read_text() == printed.getvalue()
    source.write_text(ONE.format(interval=60))
    out = io.StringIO()
    call_command("monitors_import", str(source), "--prune", stdout=out)
    assert "deleted monitor 'database: port'" in out.getvalue()
    assert Monitor.objects.count() == 1
    assert "monitors" in GROUPED


def test_the_import_command_fails_with_every_problem(services, tmp_path):
    source = tmp_path / "bad.yaml"
    source.write_text("monitors:\n  - {service: ghost, name: x, kind: ping, config: {host: a}}\n"
                      "  - {service: email, name: y, kind: pong}\n")
    with pytest.raises(CommandError) as caught:
        call_command("monitors_import", str(source))
    message = str(caught.value)
    assert message.startswith(f"{source}: nothing imported:")
    assert "line 2: monitors[0].service" not in message  # the schema is checked first
    assert "line 3: monitors[1].kind: monitor 'email: y': 'pong' is not one of" in message
    with pytest.raises(CommandError, match="cannot read"):
        call_command("monitors_import", str(tmp_path / "missing.yaml"))


def test_resuming_a_paused_heartbeat_gives_it_a_full_period(services):
    paused = ONE.format(interval=3600) + "    paused: true\n"
    import_monitors(paused)
    pinged = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    Monitor.objects.update(last_ping_at=pinged, deadline_at=pinged + timedelta(minutes=65))
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        import_monitors(ONE.format(interval=3600))
    assert Monitor.objects.get().deadline_at == now + timedelta(minutes=65)

"""Roll-ups of check results per hour and per day, retention, and the hourly series."""

import datetime

import pytest

from atalaia.catalog.models import Service
from atalaia.monitoring.models import CheckRecord, Monitor, MonitorKind, Rollup
from atalaia.monitoring.rollups import hourly, prune_raw, roll_up
from atalaia.monitoring.summary import totals

DAY0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


def at(hours: float) -> datetime.datetime:
    return DAY0 + datetime.timedelta(hours=hours)


@pytest.fixture
def monitor(demo):
    return Monitor.objects.create(service=Service.objects.get(slug="email"), name="web",
                                  kind=MonitorKind.HTTP, config={"url": "http://x"})


def results(monitor, hour: float, states: list[str], latency=lambda i: 100.0 + i):
    CheckRecord.objects.bulk_create([CheckRecord(
        monitor=monitor, location="default", checked_at=at(hour) + datetime.timedelta(
            minutes=i), state=state, latency_ms=None if state == "down" else latency(i))
        for i, state in enumerate(states)])


def test_each_finished_hour_is_rolled_up_with_availability_and_percentiles(monitor):
    results(monitor, 0, ["up"] * 57 + ["down"] * 3)
    results(monitor, 1, ["up"] * 30 + ["degraded"] * 30)
    assert roll_up(at(1) + datetime.timedelta(minutes=1)) == 0  # hour 0 not settled yet
    assert roll_up(at(2) + datetime.timedelta(minutes=3)) == 2
    first, second = Rollup.objects.filter(period="hour").order_by("starts_at")
    assert (first.checks, first.up, first.down) == (60, 57, 3)
    assert first.availability == pytest.approx(0.95)
    assert first.latency_p50 == pytest.approx(128.0)  # latencies 100..156 of the up checks
    assert first.latency_p99 == pytest.approx(155.44)
    assert second.availability == 1.0  # degraded answers count as available
    assert roll_up(at(2) + datetime.timedelta(minutes=5)) == 0  # nothing new


def test_days_are_rolled_up_and_empty_stretches_skipped(monitor):
    results(monitor, 0, ["up"] * 10)
    results(monitor, 24 * 5 + 3, ["down"] * 10)  # nothing ran for five days
    roll_up(at(24 * 6 + 1), limit=500)
    days = list(Rollup.objects.filter(period="day").order_by("starts_at")
                .values_list("starts_at", "checks", "down"))
    assert days == [(at(0), 10, 0), (at(24 * 5), 10, 10)]
    assert Rollup.objects.filter(period="hour").count() == 2


def test_old_raw_results_are_pruned_only_once_rolled_up(monitor, settings):
    settings.MONITOR_RAW_DAYS = 2
    results(monitor, 0, ["up"] * 10)
    results(monitor, 24 * 3, ["up"] * 10)
    assert prune_raw(at(24 * 4)) == 0  # not rolled up yet
    roll_up(at(24 * 4), limit=500)
    assert prune_raw(at(24 * 4)) == 10
    assert CheckRecord.objects.count() == 10
    assert Rollup.objects.filter(period="day", starts_at=at(0)).get().checks == 10


def test_the_hourly_series_joins_rolled_up_hours_and_raw_results(monitor):
    results(monitor, 0, ["up"] * 60)
    results(monitor, 1, ["down"] * 20)
    roll_up(at(1) + datetime.timedelta(minutes=5))  # hour 0 rolled up; hour 1 still raw
    series = hourly([monitor.pk], at(0), at(1) + datetime.timedelta(minutes=30))[monitor.pk]
    assert [(b.checks, b.down) for b in series] == [(60, 0), (20, 20)]
    assert series[0].p50 == pytest.approx(129.5) and series[1].p50 is None
    assert totals(series).availability == pytest.approx(60 / 80)
    assert totals([]).availability is None

"""Leases between probers with a controlled clock: sharing, taking over, letting go.
Run on SQLite and on PostgreSQL (where claims skip rows another prober has locked)."""

import datetime

import pytest

from atalaia.catalog.models import Service
from atalaia.monitoring.leases import release, renew
from atalaia.monitoring.models import Monitor, MonitorKind, ProbeState

START = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
LEASE = 30.0


def at(seconds: float) -> datetime.datetime:
    return START + datetime.timedelta(seconds=seconds)


@pytest.fixture
def monitors(demo):
    service = Service.objects.get(slug="email")
    Monitor.objects.bulk_create([Monitor(service=service, name=f"m{i}", kind=MonitorKind.TCP,
                                         config={"host": "h", "port": 1}) for i in range(10)])
    Monitor.objects.create(service=service, name="cron", kind=MonitorKind.HEARTBEAT)


def held(location, holder):
    return set(ProbeState.objects.filter(location=location, holder=holder)
               .values_list("monitor_id", flat=True))


def test_one_prober_holds_every_monitor_but_heartbeats(monitors):
    rows = renew("default", "a", at(0), LEASE)
    assert len(rows) == 10 and {r["kind"] for r in rows} == {"tcp"}


def test_a_second_prober_takes_half_and_the_first_takes_over_when_it_dies(monitors):
    renew("default", "a", at(0), LEASE)
    assert renew("default", "b", at(1), LEASE) == []  # nothing free yet
    renew("default", "a", at(8), LEASE)  # a sees b alive and lets go of its extra half
    assert len(held("default", "a")) == 5
    assert len(renew("default", "b", at(9), LEASE)) == 5
    assert held("default", "a").isdisjoint(held("default", "b"))
    # b dies at 9 s: its leases and its report go stale after one lease period
    renew("default", "a", at(16), LEASE)
    assert len(held("default", "a")) == 5
    renew("default", "a", at(9 + LEASE + 1), LEASE)
    assert len(held("default", "a")) == 10


def test_a_clean_stop_hands_over_at_once(monitors):
    renew("default", "a", at(0), LEASE)
    assert release("default", "a", at(5)) == 10
    assert len(renew("default", "b", at(6), LEASE)) == 10


def test_each_location_holds_its_own_leases(monitors):
    renew("lisbon", "a", at(0), LEASE)
    renew("saopaulo", "b", at(0), LEASE)
    assert len(held("lisbon", "a")) == 10 and len(held("saopaulo", "b")) == 10
    assert ProbeState.objects.count() == 20


def test_a_monitor_turned_into_a_heartbeat_leaves_the_probers(monitors):
    renew("default", "a", at(0), LEASE)
    turned = Monitor.objects.get(name="m0")
    Monitor.objects.filter(pk=turned.pk).update(kind=MonitorKind.HEARTBEAT, config={})
    rows = renew("default", "a", at(5), LEASE)
    assert len(rows) == 9 and turned.pk not in {r["monitor_id"] for r in rows}

"""Two prober processes share the monitors of one location through leases: they split
them, and when one is killed the other takes its monitors over."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from atalaia.catalog.models import Service
from atalaia.monitoring.models import CheckRecord, Monitor, MonitorKind, ProbeState
from tests.servers import database_url

LEASE = 2.0


def start_prober():
    env = {**os.environ, "ATALAIA_DATABASE_URL": database_url(),
           "ATALAIA_PROBER_LEASE_SECONDS": str(LEASE), "ATALAIA_PROBER_FLUSH_SECONDS": "0.1"}
    return subprocess.Popen([sys.executable, "-m", "atalaia", "prober"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def holders() -> dict[str, int]:
    counts: dict[str, int] = {}
    for holder in ProbeState.objects.values_list("holder", flat=True):
        counts[holder] = counts.get(holder, 0) + 1
    return counts


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s; holders: {holders()}"
        time.sleep(0.1)


@pytest.mark.slow
def test_two_probers_split_the_monitors_and_one_takes_over_when_the_other_dies(
        transactional_db, demo):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # a TCP check only needs the connection accepted
    port = listener.getsockname()[1]
    service = Service.objects.get(slug="email")
    Monitor.objects.bulk_create([Monitor(
        service=service, name=f"tcp {i}", kind=MonitorKind.TCP, interval_seconds=1,
        config={"host": "127.0.0.1", "port": port}) for i in range(20)])
    first, second = start_prober(), start_prober()
    try:
        # Two processes starting Django on a busy machine: a generous bound.
        wait_for(lambda: sorted(holders().values()) == [10, 10], 120,
                 "two probers hold ten monitors each")
        victim = ProbeState.objects.values_list("holder", flat=True).first()
        survivor, dead = (second, first) if victim.endswith(f":{first.pid}") \
            else (first, second)
        dead.send_signal(signal.SIGKILL)  # no chance to let go of its leases
        dead.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for(lambda: holders() == {f"{socket.gethostname()}:{survivor.pid}": 20},
                 LEASE * 3 + 5, "the survivor holds all twenty")
        taken_over = time.monotonic() - killed_at
        checked_since = CheckRecord.objects.count()
        wait_for(lambda: CheckRecord.objects.count() >= checked_since + 20, 60,
                 "the survivor checks them")
        assert taken_over < LEASE * 3 + 5
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)
        listener.close()

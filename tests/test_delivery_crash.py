"""A worker killed in the middle of sending loses nothing: after a restart every
delivery reaches the real SMTP server, and only messages in flight at the kill
may arrive twice."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import BATCH, enqueue
from tests.servers import MailServer, database_url

COUNT = 2000


def start_worker(port: int) -> subprocess.Popen:
    env = {**os.environ, "ATALAIA_DATABASE_URL": database_url(),
           "ATALAIA_SMTP_HOST": "127.0.0.1", "ATALAIA_SMTP_PORT": str(port),
           "ATALAIA_DELIVERY_SENDING_TIMEOUT": "2", "ATALAIA_WORKER_POLL_SECONDS": "0.05"}
    return subprocess.Popen([sys.executable, "-m", "atalaia", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_send_loses_nothing(transactional_db):
    mail = MailServer()
    for n in range(COUNT):
        enqueue("email", f"p{n}@example.test", f"p{n}", "Checkout is down", "b",
                idempotency_key=f"crash-{n}")
    worker = start_worker(mail.port)
    try:
        wait_for(lambda: len(mail.messages) >= COUNT // 4, 120, "the worker sends")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = len(mail.messages)
        assert at_kill < COUNT, "killed too late to prove anything"
        worker = start_worker(mail.port)
        wait_for(lambda: not Delivery.objects.exclude(status=DeliveryStatus.SENT).exists(),
                 180, "every delivery sent after the restart")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(15)
        mail.stop()
    received = Counter(message["To"] for message in mail.parsed())
    assert set(received) == {f"p{n}@example.test" for n in range(COUNT)}  # none lost
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= BATCH  # only what was in flight at the kill

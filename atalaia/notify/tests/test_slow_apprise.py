"""Apprise's timeouts bound each read, not a whole send: a page notification to a
chat service that trickles its answer must not hold up the lane it is sent from."""

import time

from atalaia.lib.tests.test_outbound import Trickler
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, send_due


def test_an_apprise_receiver_that_trickles_is_given_up_at_the_deadline(db, settings):
    settings.OUTBOUND_DEADLINE_SECONDS = 1.0
    trickler = Trickler()  # one byte a second, 30 s for a whole answer
    try:
        enqueue("apprise", f"json://127.0.0.1:{trickler.port}/hook", "phone", "s", "b", "ap-1")
        enqueue("apprise", "json://127.0.0.1:9/hook", "nobody listens", "s", "b", "ap-2")
        started = time.monotonic()
        assert send_due() == 2
        elapsed = time.monotonic() - started
    finally:
        trickler.stop()
    slow = Delivery.objects.get(idempotency_key="ap-1")
    assert slow.status == DeliveryStatus.FAILED
    assert slow.last_error == "no answer within 1 s"
    # The other one was sent beside it, not after it, and failed for its own reason.
    refused = Delivery.objects.get(idempotency_key="ap-2")
    assert refused.status == DeliveryStatus.FAILED and "no answer" not in refused.last_error
    # An upper bound far below the 30 s the receiver would take, whatever the machine.
    assert elapsed < 15

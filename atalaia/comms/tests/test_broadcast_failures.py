"""A broadcast whose expansion always fails: retried after a backoff, then set aside
with its error shown in the incident room, and it never holds up the broadcasts
behind it."""

import datetime

import time_machine
from django.utils import timezone

from atalaia.comms import actions, broadcasts
from atalaia.comms.models import Broadcast, BroadcastStatus, CompanyChannel
from atalaia.comms.tests.test_broadcasts import subscriber
from atalaia.incidents.actions import declare_incident
from atalaia.notify.models import Delivery
from conftest import signed_in

HOUR = datetime.timedelta(hours=1)


def expand_all() -> None:
    while broadcasts.expand_due(batch=2):
        pass


def test_a_broadcast_that_cannot_be_expanded_is_set_aside_and_the_others_go_on(
        demo, personas, settings):
    settings.ROW_MAX_ATTEMPTS = 3
    for n in range(3):
        subscriber("email", f"s{n}@example.test")
    # A channel saved under another instance's key: its address cannot be decrypted,
    # so its broadcast fails on every attempt. Published first, it is taken first.
    broken = CompanyChannel.objects.create(name="Old Slack", kind="chat", target="not-a-token",
                                           hint="slack", language="en")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
        first = actions.publish_update(incident, personas["communicator"], "investigating",
                                       "Looking", "Verificando")
        broken.enabled = False
        broken.save(update_fields=["enabled"])
        second = actions.publish_update(incident, personas["communicator"], "identified",
                                         "Found", "Achamos")
        expand_all()
    held = Broadcast.objects.get(channel=broken)
    assert held.update == first and held.status == BroadcastStatus.PENDING
    assert held.attempts == 1 and "cannot be decrypted" in held.last_error
    assert not Broadcast.objects.exclude(pk=held.pk).exclude(status=BroadcastStatus.DONE).exists()
    # Both updates reached the three subscribers.
    assert Delivery.objects.filter(purpose="broadcast").count() == 6
    assert Broadcast.objects.filter(update=second, status=BroadcastStatus.DONE).exists()

    with time_machine.travel(start + HOUR, tick=False):
        expand_all()
    with time_machine.travel(start + 2 * HOUR, tick=False):
        expand_all()
        assert broadcasts.expand_due() == 0  # set aside: no more automatic attempts
    held.refresh_from_db()
    assert held.status == BroadcastStatus.QUARANTINED and held.attempts == 3

    room = signed_in(personas["communicator"]).get(f"/incidents/{incident.pk}/")
    assert "held-broadcast" in room.content.decode()
    assert "cannot be decrypted" in room.content.decode()


def test_a_communicator_can_retry_a_broadcast_set_aside(demo, personas, settings):
    settings.ROW_MAX_ATTEMPTS = 1
    broken = CompanyChannel.objects.create(name="Old Slack", kind="chat", target="not-a-token",
                                           hint="slack", language="en")
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "investigating", "a", "b")
    expand_all()
    held = Broadcast.objects.get(channel=broken)
    assert Broadcast.objects.get(pk=held.pk).status == BroadcastStatus.QUARANTINED

    client = signed_in(personas["communicator"])
    assert client.post(f"/comms/broadcasts/{held.pk}/retry/").status_code == 302
    held.refresh_from_db()
    assert held.status == BroadcastStatus.PENDING and held.attempts == 0

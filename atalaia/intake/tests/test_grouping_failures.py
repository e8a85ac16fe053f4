"""A signal whose grouping always fails: retried after a backoff, then set aside with
its error shown in the inbox, and it never stops the signals behind it."""

import datetime

import time_machine
from django.utils import timezone

from atalaia.catalog.models import Service
from atalaia.incidents.models import Incident
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal
from conftest import signed_in

HOUR = datetime.timedelta(hours=1)


def signal(dedup_key: str, summary: str) -> Signal:
    now = timezone.now()
    return Signal.objects.create(source="generic", dedup_key=dedup_key, severity="critical",
                                 service=Service.objects.get(slug="payments"), summary=summary,
                                 first_seen_at=now, last_seen_at=now)


def test_a_signal_that_cannot_be_grouped_is_set_aside_and_the_others_go_on(
        demo, personas, settings):
    settings.ROW_MAX_ATTEMPTS = 3
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        # Critical, so grouping declares an incident, with nothing to title it: the
        # declaration refuses it, every time. Taken first (lowest id).
        poison = signal("blank", "   ")
        signal("real", "Payments failing")
        assert group_signals() == 2
    incident = Incident.objects.get()
    assert incident.title == "Payments failing"
    assert Signal.objects.get(dedup_key="real").incident == incident
    poison.refresh_from_db()
    assert poison.grouping_attempts == 1 and poison.needs_grouping
    assert "a title is required" in poison.grouping_error
    assert poison.grouping_retry_at > start and poison.quarantined_at is None

    with time_machine.travel(start + HOUR, tick=False):
        assert group_signals() == 1
    with time_machine.travel(start + 2 * HOUR, tick=False):
        assert group_signals() == 1
        assert group_signals() == 0  # set aside: no more automatic attempts
    poison.refresh_from_db()
    assert poison.grouping_attempts == 3 and not poison.needs_grouping
    assert poison.quarantined_at is not None

    page = signed_in(personas["responder"]).get("/signals/").content.decode()
    assert 'id="quarantined"' in page and "a title is required" in page


def test_a_person_can_retry_a_signal_set_aside(demo, personas, settings):
    settings.ROW_MAX_ATTEMPTS = 1
    poison = signal("blank", "   ")
    group_signals()
    poison.refresh_from_db()
    assert poison.quarantined_at is not None
    Signal.objects.filter(pk=poison.pk).update(summary="Payments failing")  # the cause fixed

    response = signed_in(personas["responder"]).post(f"/signals/{poison.pk}/retry/")
    assert response.status_code == 302
    assert group_signals() == 1
    poison.refresh_from_db()
    assert poison.incident is not None and poison.quarantined_at is None
    assert poison.grouping_attempts == 0 and poison.grouping_error == ""

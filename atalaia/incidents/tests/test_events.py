"""The lifecycle tells, the phases listen: listeners run in the action's transaction
(their failure undoes the change), effects outside the database wait for the commit."""

import pytest
from django.db import transaction

from atalaia.incidents import events
from atalaia.incidents.actions import declare_incident
from atalaia.incidents.models import Incident


@pytest.fixture
def listen():
    added: list = []

    def on(name, handler):
        events.on(name, handler)
        added.append((name, handler))

    yield on
    for name, handler in added:
        events._handlers[name].remove(handler)


def test_a_failing_listener_undoes_the_change_it_heard_of(demo, personas, listen):
    def refuse(event):
        raise RuntimeError("the listener failed")

    listen(events.DECLARED, refuse)
    with pytest.raises(RuntimeError):
        declare_incident(personas["commander"], "Payments failing", ["payments"])
    assert not Incident.objects.exists()


def test_effects_outside_the_database_run_only_after_the_commit(
        demo, personas, listen, django_capture_on_commit_callbacks):
    told: list[str] = []
    listen(events.DECLARED, lambda event: events.after_commit(
        lambda: told.append(event.incident.title)))

    with django_capture_on_commit_callbacks(execute=True):
        declare_incident(personas["commander"], "Payments failing", ["payments"])
        assert told == []  # not committed yet
    assert told == ["Payments failing"]

    with django_capture_on_commit_callbacks(execute=True), \
            pytest.raises(RuntimeError), transaction.atomic():
        declare_incident(personas["commander"], "Checkout failing", ["checkout"])
        raise RuntimeError("the request failed after the declaration")
    assert told == ["Payments failing"]  # rolled back: nobody told


def test_every_phase_listens_and_adds_its_panel(demo):
    """The apps' ready() registered them: incidents names none of them."""
    listeners = {h.__module__ for h in events._handlers[events.RESOLVED]}
    assert {"atalaia.oncall.listeners", "atalaia.comms.listeners",
            "atalaia.review.listeners"} <= listeners
    panels = {p.__module__ for p in events._panels}
    assert {"atalaia.oncall.listeners", "atalaia.comms.listeners", "atalaia.remote.listeners",
            "atalaia.intake.listeners"} <= panels

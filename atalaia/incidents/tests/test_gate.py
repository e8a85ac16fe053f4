"""The verification gate, with a controlled clock: monitors must stay up for the plan's
minutes (going down again starts over), manual checks by the right team or role, the
commander's sign-off, and an admin's forced pass with its reason."""

import datetime

import pytest
import time_machine

from atalaia.catalog.models import Service
from atalaia.incidents import gate
from atalaia.incidents.actions import (
    IllegalMove,
    assign_role,
    declare_incident,
    move_stage,
    set_public_status,
)
from atalaia.monitoring.models import Monitor

T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def incident(demo, personas):
    with at(0):
        found = declare_incident(personas["commander"], "Payments failing", ["payments"])
        move_stage(found, personas["commander"], "resolution")
    return found


def monitor(state: str, minutes: float) -> Monitor:
    return Monitor.objects.create(
        service=Service.objects.get(slug="payments"), name="pay", kind="tcp",
        config={"host": "127.0.0.1", "port": 9}, state=state,
        state_since=T0 + datetime.timedelta(minutes=minutes))


def test_monitors_must_stay_up_for_the_plans_minutes(incident, personas):
    pay = monitor("down", 0)
    with at(1):
        item = gate.evaluate(incident).items[0]
        assert not item.ok and "not up: pay" in item.detail
    pay.state, pay.state_since = "up", T0 + datetime.timedelta(minutes=2)
    pay.save()
    with at(7):
        item = gate.evaluate(incident).items[0]
        assert not item.ok and item.remaining == datetime.timedelta(minutes=5)
    pay.state, pay.state_since = "down", T0 + datetime.timedelta(minutes=8)
    pay.save()
    pay.state, pay.state_since = "up", T0 + datetime.timedelta(minutes=9)  # back up: start over
    pay.save()
    with at(13):
        assert not gate.evaluate(incident).items[0].ok
    with at(19):
        assert gate.evaluate(incident).items[0].ok


def test_checks_by_the_right_team_or_role_only(incident, personas):
    (check,) = gate.ensure_checks(incident)
    with pytest.raises(gate.GateError, match="ticked by a member of Support"):
        gate.tick(check, personas["communicator"])  # in Communications, not Support
    gate.tick(check, personas["responder"])  # in Support
    check.refresh_from_db()
    assert check.done_by == personas["responder"]


def test_only_the_incidents_commander_signs_off(incident, personas):
    assign_role(incident, personas["admin"], "commander", personas["responder"])
    with pytest.raises(gate.GateError, match="only the incident's commander"):
        gate.sign_off(incident, personas["commander"])
    gate.sign_off(incident, personas["responder"])
    assert gate.evaluate(incident).items[-1].ok


def test_resolving_past_a_failing_gate_is_refused_with_the_reason(incident, personas):
    with pytest.raises(IllegalMove, match="the verification gate blocks resolving: "
                                          "Customers can log in"):
        set_public_status(incident, personas["commander"], "resolved")


def test_an_admin_forces_it_with_a_written_reason(incident, personas):
    with pytest.raises(gate.GateError, match="only an admin"):
        gate.force(incident, personas["commander"], "trust me")
    with pytest.raises(gate.GateError, match="written reason"):
        gate.force(incident, personas["admin"], " ")
    gate.force(incident, personas["admin"], "Support confirmed by phone; monitors lag")
    set_public_status(incident, personas["commander"], "resolved")
    incident.refresh_from_db()
    assert incident.public_status == "resolved"
    forced = incident.entries.filter(kind="gate").last().body
    assert forced["forced"] and "Customers can log in" in forced["was_blocking"]

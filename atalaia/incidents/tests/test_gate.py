"""The verification gate, with a controlled clock: monitors must stay up for the plan's
minutes (going down again starts over), manual checks by the right team or role, the
commander's sign-off, and an admin's forced pass with its reason."""

import datetime
from pathlib import Path

import pytest
import time_machine
import yaml
from django.core.exceptions import PermissionDenied

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
from conftest import DEMO

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
    with pytest.raises(PermissionDenied, match="ticked by a member of Support"):
        gate.tick(check, personas["communicator"])  # in Communications, not Support
    gate.tick(check, personas["responder"])  # in Support
    check.refresh_from_db()
    assert check.done_by == personas["responder"]


def test_only_the_incidents_commander_signs_off(incident, personas):
    assign_role(incident, personas["admin"], "commander", personas["responder"])
    with pytest.raises(PermissionDenied, match="only the incident's commander"):
        gate.sign_off(incident, personas["commander"])
    gate.sign_off(incident, personas["responder"])
    assert gate.evaluate(incident).items[-1].ok


def test_resolving_past_a_failing_gate_is_refused_with_the_reason(incident, personas):
    with pytest.raises(IllegalMove, match="the verification gate blocks resolving: "
                                          "monitors .*no monitor covers Payments.*"
                                          "Customers can log in"):
        set_public_status(incident, personas["commander"], "resolved")


def test_an_admin_forces_it_with_a_written_reason(incident, personas):
    with pytest.raises(PermissionDenied, match="only an admin"):
        gate.force(incident, personas["commander"], "trust me")
    with pytest.raises(gate.GateError, match="written reason"):
        gate.force(incident, personas["admin"], " ")
    gate.force(incident, personas["admin"], "Support confirmed by phone; monitors lag")
    set_public_status(incident, personas["commander"], "resolved")
    incident.refresh_from_db()
    assert incident.public_status == "resolved"
    forced = incident.entries.filter(kind="gate").last().body
    assert forced["forced"] and "Customers can log in" in forced["was_blocking"]


def _without(key: str):
    """The demo plan with `key` taken out of every level's verification."""
    from atalaia.plans.actions import active_plan, import_plan

    document = yaml.safe_load((DEMO / "plan.yaml").read_text())
    for level in document["levels"].values():
        level.get("verification", {}).pop(key, None)
    assert active_plan() is not None
    return import_plan(yaml.safe_dump(document, allow_unicode=True))


def test_no_monitor_is_no_evidence_the_gate_names_the_uncovered_service(demo, personas):
    _without("unmonitored")  # the default: a service no monitor covers blocks
    with at(0):
        incident = declare_incident(personas["commander"], "Card payments fail",
                                    ["payments", "checkout"])
        move_stage(incident, personas["commander"], "resolution")
    Monitor.objects.create(service=Service.objects.get(slug="checkout"), name="shop",
                           kind="tcp", config={"host": "127.0.0.1", "port": 9}, state="up",
                           state_since=T0)
    for check in gate.ensure_checks(incident):
        gate.tick(check, personas["responder"])
    gate.sign_off(incident, personas["commander"])
    with at(60):
        result = gate.evaluate(incident)
        (monitors,) = [item for item in result.items if item.kind == "monitors"]
        assert not monitors.ok and "no monitor covers Payments" in monitors.detail
        assert not result.ok
        with pytest.raises(IllegalMove, match="no monitor covers Payments"):
            set_public_status(incident, personas["commander"], "resolved")
        gate.force(incident, personas["admin"], "Payments checked by hand with the bank")
        set_public_status(incident, personas["commander"], "resolved")


def test_a_plan_may_let_the_commanders_sign_off_vouch_for_unmonitored_services(
        incident, personas):
    assert gate.spec(incident)["unmonitored"] == "sign_off"  # the demo plan's choice
    for check in gate.ensure_checks(incident):
        gate.tick(check, personas["responder"])
    with at(60):
        (monitors,) = [i for i in gate.evaluate(incident).items if i.kind == "monitors"]
        assert not monitors.ok and "no monitor covers Payments" in monitors.detail
        assert "sign-off" in monitors.detail
    gate.sign_off(incident, personas["commander"])
    with at(60):
        result = gate.evaluate(incident)
        (monitors,) = [i for i in result.items if i.kind == "monitors"]
        assert monitors.ok and "no monitor covers Payments" in monitors.detail
        assert result.ok


def test_incidents_imports_no_phase_for_the_gate():
    """Monitoring gives the gate its readings through the registry (monitoring's
    AppConfig.ready), not through an import of monitoring by incidents."""
    source = Path(gate.__file__).read_text()
    assert "atalaia.monitoring" not in source
    assert gate.monitor_readings_provider() is not None

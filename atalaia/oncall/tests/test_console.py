"""Schedules in the console: who may see and change them, the forms and their errors,
the audit trail, and the shift list in the schedule's time zone."""

import pytest
import time_machine

from atalaia.accounts.models import AuditEvent
from atalaia.oncall import feeds
from atalaia.oncall.models import Layer, Override, Schedule
from atalaia.oncall.tests.helpers import at, layer, schedule, utc

SP = "America/Sao_Paulo"
NOW = utc(2026, 11, 4, 12)
LAYER = {"name": "Primary", "position": "1", "members": "responder\ncommunicator",
         "rotation_start": "2026-11-02T09:00", "turn_unit": "weeks", "turn_count": "1",
         "restrictions": "Mon-Fri 09:00-18:00"}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def support(personas):
    s = schedule(SP, "Support")
    layer(s, ["responder", "communicator"], at(SP, 2026, 11, 2, 9), name="Primary")
    return s


def errors(response, field: str) -> list[str]:
    return response.context["form"].errors.get(field, [])


def test_viewer_sees_schedules_and_who_is_on_call_but_not_the_schedule_feed(
        clients, personas, support, clock):
    page = clients["viewer"].get("/oncall/")
    assert page.status_code == 200
    assert "responder" in page.content.decode()
    detail = clients["viewer"].get(f"/oncall/{support.pk}/")
    body = detail.content.decode()
    assert 'id="schedule-feed"' not in body
    assert feeds.person_token(personas["viewer"]) in body
    assert feeds.schedule_token(support) not in body
    # Now (12:00 UTC) and the Monday handoffs are shown in São Paulo time, not in UTC.
    assert "<td>Wed 2026-11-04 09:00</td><td>Mon 2026-11-09 09:00</td><td>120</td>" in body
    assert "2026-11-04 12:00" not in body


def test_viewer_may_not_change_schedules(clients, support):
    viewer = clients["viewer"]
    assert viewer.get("/oncall/new/").status_code == 403
    assert viewer.post("/oncall/new/", {"name": "x", "time_zone": "UTC"}).status_code == 403
    assert viewer.post(f"/oncall/{support.pk}/layers/new/", LAYER).status_code == 403
    assert viewer.post(f"/oncall/{support.pk}/delete/").status_code == 403
    assert Schedule.objects.count() == 1 and Layer.objects.count() == 1


def test_commander_builds_a_schedule_and_every_change_is_audited(clients, personas, clock):
    commander = clients["commander"]
    response = commander.post("/oncall/new/", {"name": "Support", "description": "",
                                               "time_zone": SP})
    s = Schedule.objects.get(name="Support")
    assert response.status_code == 302 and response["Location"] == f"/oncall/{s.pk}/"
    assert commander.post(f"/oncall/{s.pk}/layers/new/", LAYER).status_code == 302
    added = Layer.objects.get(schedule=s)
    assert added.rotation_start == utc(2026, 11, 2, 12)
    assert added.restrictions == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}]
    assert [m.user.username for m in added.members.all()] == ["responder", "communicator"]
    assert commander.post(f"/oncall/{s.pk}/overrides/new/", {
        "username": "admin", "starts_at": "2026-11-03T22:00", "ends_at": "2026-11-04T06:00",
        "note": "swap"}).status_code == 302
    assert Override.objects.get().starts_at == utc(2026, 11, 4, 1)
    page = commander.get(f"/oncall/{s.pk}/").content.decode()
    assert feeds.schedule_token(s) in page
    assert commander.post(f"/oncall/{s.pk}/overrides/{Override.objects.get().pk}/delete/"
                          ).status_code == 302
    assert commander.post(f"/oncall/{s.pk}/layers/{added.pk}/delete/").status_code == 302
    assert commander.post(f"/oncall/{s.pk}/delete/").status_code == 302
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "schedule.create", "layer.create", "override.create", "override.delete",
        "layer.delete", "schedule.delete"]


def test_editing_a_layer_shows_its_times_in_the_schedules_zone_and_saves(clients, support):
    existing = support.layers.get()
    url = f"/oncall/{support.pk}/layers/{existing.pk}/"
    form = clients["admin"].get(url).content.decode()
    assert 'value="2026-11-02T09:00"' in form and "responder\ncommunicator" in form
    edited = {**LAYER, "members": "communicator, responder", "restrictions":
              "daily 22:00-06:00\nSat,Sun 10:00-14:00"}
    assert clients["admin"].post(url, edited).status_code == 302
    existing.refresh_from_db()
    assert [m.user.username for m in existing.members.all()] == ["communicator", "responder"]
    assert existing.restrictions == [
        {"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"},
        {"days": [5, 6], "start": "10:00", "end": "14:00"}]


@pytest.mark.parametrize(("url", "data", "field"), [
    ("/oncall/new/", {"name": "S2", "time_zone": "America/Atlantis"}, "time_zone"),
    ("layers", {**LAYER, "restrictions": "weekdays 9-18"}, "restrictions"),
    ("layers", {**LAYER, "restrictions": "Mon 25:00-18:00"}, "restrictions"),
    ("layers", {**LAYER, "turn_count": "0"}, "turn_count"),
    ("layers", {**LAYER, "members": "responder\nnobody-here"}, "members"),
    ("layers", {**LAYER, "starts_at": "2026-11-05T00:00", "ends_at": "2026-11-04T00:00"},
     "ends_at"),
    ("overrides", {"username": "ghost", "starts_at": "2026-11-03T22:00",
                   "ends_at": "2026-11-04T06:00"}, "username"),
    ("overrides", {"username": "admin", "starts_at": "2026-11-04T06:00",
                   "ends_at": "2026-11-03T22:00"}, "ends_at"),
])
def test_bad_input_is_refused_naming_the_field(clients, support, url, data, field):
    if not url.startswith("/"):
        url = f"/oncall/{support.pk}/{url}/new/"
    response = clients["commander"].post(url, data)
    assert response.status_code == 200
    problems = errors(response, field)
    assert problems and field in problems[0], problems
    assert Schedule.objects.count() == 1 and Layer.objects.count() == 1
    assert not Override.objects.exists()


def test_a_person_resets_their_own_feed_url(clients, personas, support):
    old = feeds.person_token(personas["viewer"])
    others = feeds.person_token(personas["responder"])
    response = clients["viewer"].post("/oncall/my-feed/reset/", {"schedule": support.pk})
    assert response.status_code == 302 and response["Location"] == f"/oncall/{support.pk}/"
    assert feeds.person_token(personas["viewer"]) != old
    assert feeds.person_token(personas["responder"]) == others
    assert AuditEvent.objects.filter(action="oncall.person_feed_reset").count() == 1


def test_the_list_page_costs_the_same_queries_for_one_schedule_or_many(clients, support, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert clients["viewer"].get("/oncall/").status_code == 200
        return len(captured)

    one = queries()
    for name in ("Database", "Network"):
        s = schedule(SP, name)
        layer(s, ["responder", "admin"], at(SP, 2026, 11, 2, 9))
    assert queries() == one

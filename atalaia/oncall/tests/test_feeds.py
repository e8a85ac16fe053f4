"""The private iCalendar feeds: they parse back with the icalendar library, hold the
final shifts, and answer 404 to a wrong or reset token."""

import icalendar
import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from atalaia.oncall import actions, feeds
from atalaia.oncall.tests.helpers import at, layer, override, people, schedule, utc

pytestmark = pytest.mark.django_db
SP = "America/Sao_Paulo"
NOW = utc(2026, 11, 20, 12)


@pytest.fixture
def support():
    s = schedule(SP, "Support")
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary")
    override(s, "caio", at(SP, 2026, 11, 24, 22), at(SP, 2026, 11, 25, 6))
    ana = people("ana")[0]
    ana.first_name, ana.last_name = "Ana", "Souza"
    ana.save()
    return s


def events(body: bytes) -> list:
    return icalendar.Calendar.from_ical(body).walk("VEVENT")


def test_schedule_feed_parses_back_with_the_final_shifts(support):
    found = events(feeds.schedule_calendar(feeds.with_rows().get(pk=support.pk), NOW))
    # What overlaps 7 days back (13 Nov) to 60 days ahead (19 Jan), whole: the weekly turns
    # and the override.
    first = found[0]
    assert str(first["SUMMARY"]) == "On call: Support — bia"
    assert first.decoded("DTSTART") == utc(2026, 11, 9, 12)   # not cut at 13 Nov
    assert first.decoded("DTEND") == utc(2026, 11, 16, 12)
    assert str(found[1]["SUMMARY"]) == "On call: Support — caio"
    second, night, third = found[2:5]
    assert str(second["SUMMARY"]) == "On call: Support — Ana Souza"
    assert (second.decoded("DTSTART"), second.decoded("DTEND")) == (
        utc(2026, 11, 23, 12), utc(2026, 11, 25, 1))
    assert (str(night["SUMMARY"]), night.decoded("DTSTART"), night.decoded("DTEND")) == (
        "On call: Support — caio", utc(2026, 11, 25, 1), utc(2026, 11, 25, 9))
    assert third.decoded("DTSTART") == utc(2026, 11, 25, 9)
    assert found[-1].decoded("DTEND") == utc(2027, 1, 25, 12)
    bia = people("bia")[0]
    assert str(first["UID"]) == f"oncall-{support.pk}-{bia.pk}-20261109T120000Z@atalaia"
    assert len({str(e["UID"]) for e in found}) == len(found)


def test_person_feed_holds_only_that_persons_shifts_in_every_schedule(support):
    other = schedule("UTC", "Database")
    layer(other, ["ana"], utc(2026, 12, 1), name="DBA", ends_at=utc(2026, 12, 2))
    ana = people("ana")[0]
    found = events(feeds.person_calendar(ana, NOW))
    assert [(str(e["SUMMARY"]), e.decoded("DTSTART")) for e in found] == [
        ("On call: Support — Ana Souza", utc(2026, 11, 23, 12)),
        ("On call: Support — Ana Souza", utc(2026, 11, 25, 9)),
        ("On call: Database — Ana Souza", utc(2026, 12, 1)),
        ("On call: Support — Ana Souza", utc(2026, 12, 14, 12)),
        ("On call: Support — Ana Souza", utc(2027, 1, 4, 12)),
    ]


def test_feed_urls_need_no_login_and_a_wrong_token_is_404(support):
    ana = people("ana")[0]
    url = reverse("oncall:schedule_feed", args=[support.pk, feeds.schedule_token(support)])
    person = reverse("oncall:person_feed", args=[ana.pk, feeds.person_token(ana)])
    with time_machine.travel(NOW, tick=False):
        response = Client().get(url)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/calendar")
        assert len(events(response.content)) == 13
        assert len(events(Client().get(person).content)) == 4
    wrong = "0" * 40
    assert Client().get(reverse("oncall:schedule_feed", args=[support.pk, wrong])).status_code \
        == 404
    assert Client().get(reverse("oncall:person_feed", args=[ana.pk, wrong])).status_code == 404
    assert Client().get(reverse("oncall:schedule_feed",
                                args=[support.pk + 99, wrong])).status_code == 404
    # A token is bound to its object: Ana's token does not open another person's feed.
    bia = people("bia")[0]
    assert Client().get(reverse("oncall:person_feed", args=[
        bia.pk, feeds.person_token(ana)])).status_code == 404


def test_resetting_a_feed_retires_its_old_url(support):
    ana = people("ana")[0]
    old_schedule = reverse("oncall:schedule_feed", args=[support.pk,
                                                         feeds.schedule_token(support)])
    old_person = reverse("oncall:person_feed", args=[ana.pk, feeds.person_token(ana)])
    actions.reset_schedule_feed(support, None)
    actions.reset_person_feed(ana)
    assert Client().get(old_schedule).status_code == 404
    assert Client().get(old_person).status_code == 404
    new = reverse("oncall:schedule_feed", args=[support.pk, feeds.schedule_token(support)])
    assert Client().get(new).status_code == 200
    assert Client().get(reverse("oncall:person_feed", args=[
        ana.pk, feeds.person_token(ana)])).status_code == 200


def test_feed_urls_outlive_a_change_of_secret_while_the_old_one_is_a_fallback(support,
                                                                             settings):
    old, new = "old-secret-key-that-is-long-enough-0123456789", "n" * 40
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = old, []
    ana = people("ana")[0]
    urls = [reverse("oncall:schedule_feed", args=[support.pk, feeds.schedule_token(support)]),
            reverse("oncall:person_feed", args=[ana.pk, feeds.person_token(ana)])]
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new, [old]
    assert [Client().get(url).status_code for url in urls] == [200, 200]
    settings.SECRET_KEY_FALLBACKS = []
    assert [Client().get(url).status_code for url in urls] == [404, 404]

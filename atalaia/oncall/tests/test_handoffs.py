"""Handoff notices: the people going on and off call each get one notice per verified
contact method, with the shift's end in the schedule's time zone, however often the worker
looks; overrides hand off too, and a merged shift does not."""

from datetime import timedelta

import pytest
from django.db import IntegrityError

from atalaia.accounts.models import User
from atalaia.lib.crypto import decrypt
from atalaia.notify import contacts
from atalaia.notify.models import Delivery
from atalaia.oncall import handoffs
from atalaia.oncall.handoffs import send_notices
from atalaia.oncall.tests.helpers import at, layer, override, people, schedule, utc

pytestmark = pytest.mark.django_db
SP, LISBON = "America/Sao_Paulo", "Europe/Lisbon"
SECONDS = timedelta(seconds=1)


def reachable(*names: str) -> list[User]:
    """People with one verified e-mail address each: <name>@example.test."""
    found = people(*names)
    for person in found:
        contacts.add_verified(person, "email", f"{person.username}@example.test", "work")
    return found


def notices() -> list[tuple[str, str, str]]:
    """(address, subject, body) of every handoff notice queued, in order."""
    return [(decrypt(d.target), d.subject, d.body)
            for d in Delivery.objects.filter(purpose="handoff").order_by("pk")]


@pytest.fixture
def support():
    """Weekly turns of Ana, Bia and Caio from Monday 2 November 2026, 09:00 in São Paulo
    (12:00 UTC): Ana hands off to Bia on 9 November at 12:00 UTC."""
    s = schedule(SP, "Support")
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary")
    reachable("ana", "bia", "caio")
    return s


def test_weekly_handoff_in_sao_paulo_notifies_both_people_once(support):
    assert send_notices(utc(2026, 11, 9, 12) + 5 * SECONDS) == 2
    assert notices() == [
        ("bia@example.test", "On call now: Support",
         "You are now on call for Support until Monday, Nov. 16, 2026, 09:00 "
         "(America/Sao_Paulo)."),
        ("ana@example.test", "Off call: Support",
         "Your on-call shift for Support has ended; bia is on call now."),
    ]
    delivery = Delivery.objects.filter(purpose="handoff").first()
    assert delivery.channel == "email" and delivery.recipient in {"ana", "bia"}


def test_looking_again_queues_nothing_new(support):
    handoff = utc(2026, 11, 9, 12)
    assert send_notices(handoff) == 2
    for turn in range(1, 40):
        assert send_notices(handoff + turn * 15 * SECONDS) == 0
    assert len(notices()) == 2


def test_only_the_boundaries_in_the_lookback_are_announced(support):
    handoff = utc(2026, 11, 9, 12)
    assert send_notices(handoff - SECONDS) == 0
    assert send_notices(handoff + timedelta(minutes=10)) == 0  # the interval is open there
    assert send_notices(handoff + timedelta(minutes=9)) == 2  # a worker back after 9 min


def test_weekly_handoff_in_lisbon_keeps_0900_local_across_summer_time():
    s = schedule(LISBON, "Lisboa")
    # Monday 16 March 2026, 09:00 in Lisbon (UTC+0). Clocks go forward on Sunday 29 March,
    # so Bia's turn from 23 March 09:00 UTC ends on 30 March 09:00 local = 08:00 UTC.
    layer(s, ["ana", "bia"], at(LISBON, 2026, 3, 16, 9), name="Weekly")
    reachable("ana", "bia")
    assert send_notices(utc(2026, 3, 23, 9)) == 2
    assert notices()[0] == (
        "bia@example.test", "On call now: Lisboa",
        "You are now on call for Lisboa until Monday, March 30, 2026, 09:00 (Europe/Lisbon).")
    assert send_notices(utc(2026, 3, 30, 8) + 10 * SECONDS) == 2
    assert notices()[2:] == [
        ("ana@example.test", "On call now: Lisboa",
         "You are now on call for Lisboa until Monday, April 6, 2026, 09:00 (Europe/Lisbon)."),
        ("bia@example.test", "Off call: Lisboa",
         "Your on-call shift for Lisboa has ended; ana is on call now."),
    ]
    assert send_notices(utc(2026, 3, 30, 9) + 10 * SECONDS) == 0  # no second handoff at 09:00 UTC


def test_notice_is_written_in_the_recipients_language(support):
    User.objects.filter(username="bia").update(language="pt-br")
    send_notices(utc(2026, 11, 9, 12))
    (body,) = [body for address, _subject, body in notices() if address == "bia@example.test"]
    assert "16 de Novembro de 2026, 09:00 (America/Sao_Paulo)" in body


def test_the_full_name_is_used_when_there_is_one(support):
    User.objects.filter(username="bia").update(first_name="Bia", last_name="Costa")
    send_notices(utc(2026, 11, 9, 12))
    assert notices()[1][2] == "Your on-call shift for Support has ended; Bia Costa is on call now."


def test_overrides_hand_off_at_both_ends(support):
    # Caio takes Tuesday 10 November 14:00-15:00 in São Paulo (17:00-18:00 UTC) from Bia.
    override(support, "caio", at(SP, 2026, 11, 10, 14), at(SP, 2026, 11, 10, 15))
    assert send_notices(utc(2026, 11, 10, 17) + SECONDS) == 2
    assert notices() == [
        ("caio@example.test", "On call now: Support",
         "You are now on call for Support until Tuesday, Nov. 10, 2026, 15:00 "
         "(America/Sao_Paulo)."),
        ("bia@example.test", "Off call: Support",
         "Your on-call shift for Support has ended; caio is on call now."),
    ]
    assert send_notices(utc(2026, 11, 10, 18) + SECONDS) == 2
    assert notices()[2:] == [
        ("bia@example.test", "On call now: Support",
         "You are now on call for Support until Monday, Nov. 16, 2026, 09:00 "
         "(America/Sao_Paulo)."),
        ("caio@example.test", "Off call: Support",
         "Your on-call shift for Support has ended; bia is on call now."),
    ]


def test_a_shift_that_goes_on_with_the_same_person_is_not_a_handoff(support):
    # Bia starts an hour early by override; at noon UTC her own turn simply continues.
    override(support, "bia", utc(2026, 11, 9, 11), utc(2026, 11, 9, 12))
    assert send_notices(utc(2026, 11, 9, 11)) == 2
    assert notices()[0][2] == ("You are now on call for Support until Monday, Nov. 16, "
                               "2026, 09:00 (America/Sao_Paulo).")
    assert send_notices(utc(2026, 11, 9, 12)) == 0


def test_the_person_going_off_is_told_when_nobody_takes_over():
    s = schedule("UTC", "Nights")
    reachable("ana")
    override(s, "ana", utc(2026, 11, 9, 22), utc(2026, 11, 10, 6))
    assert send_notices(utc(2026, 11, 9, 22)) == 1
    assert notices()[0][2] == ("You are now on call for Nights until Tuesday, Nov. 10, "
                               "2026, 06:00 (UTC).")
    assert send_notices(utc(2026, 11, 10, 6)) == 1
    assert notices()[1][1:] == (
        "Off call: Nights",
        "Your on-call shift for Nights has ended; nobody is on call for it now.")


def test_a_shift_with_no_end_in_sight_says_so():
    s = schedule("UTC", "Solo")
    reachable("ana")
    layer(s, ["ana"], utc(2026, 11, 2, 9))
    send_notices(utc(2026, 11, 2, 9))
    assert notices()[0][2] == ("You are now on call for Solo; your shift does not end in "
                               "the next 90 days.")


def test_a_person_without_a_verified_method_gets_nothing():
    s = schedule(SP, "Support")
    layer(s, ["ana", "bia"], at(SP, 2026, 11, 2, 9))
    reachable("bia")
    contacts.add_method(people("ana")[0], "email", "ana@example.test", "unverified")
    assert send_notices(utc(2026, 11, 9, 12)) == 1
    assert [address for address, _s, _b in notices()] == ["bia@example.test"]


def test_every_verified_method_gets_one_and_unverified_ones_none(support):
    bia = User.objects.get(username="bia")
    contacts.add_verified(bia, "apprise", "json://127.0.0.1:9/bia", "phone")
    contacts.add_method(bia, "email", "bia@home.example.test", "home")  # not verified
    assert send_notices(utc(2026, 11, 9, 12)) == 3
    assert sorted(decrypt(d.target) for d in Delivery.objects.filter(
        purpose="handoff", recipient="bia")) == ["bia@example.test", "json://127.0.0.1:9/bia"]


def test_each_schedule_hands_off_on_its_own(support):
    other = schedule(SP, "Database")
    layer(other, ["caio", "ana"], at(SP, 2026, 11, 2, 9))
    assert send_notices(utc(2026, 11, 9, 12)) == 4
    assert send_notices(utc(2026, 11, 9, 12)) == 0
    assert {subject for _a, subject, _b in notices()} == {
        "On call now: Support", "Off call: Support",
        "On call now: Database", "Off call: Database"}


def test_a_key_another_worker_queued_meanwhile_is_not_an_error(support, monkeypatch):
    def raced(*args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed: notify_delivery.idempotency_key")

    monkeypatch.setattr(handoffs, "enqueue", raced)
    assert send_notices(utc(2026, 11, 9, 12)) == 0
    assert User.objects.count() == 3  # the test's transaction is still usable


def test_a_turn_without_handoffs_reads_every_schedule_in_six_queries(
        support, django_assert_num_queries):
    other = schedule(LISBON, "Database")
    layer(other, ["caio", "ana"], at(LISBON, 2026, 11, 2, 9))
    override(other, "bia", utc(2026, 11, 20), utc(2026, 11, 21))
    with django_assert_num_queries(6):
        assert send_notices(utc(2026, 11, 12, 12)) == 0

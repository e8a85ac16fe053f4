"""The final shift list against hand-worked examples: rotations, daylight saving in Lisbon,
layers with restrictions, overrides, merging, and who is on call at an instant."""

from datetime import timedelta

import pytest

from atalaia.oncall.feeds import with_rows
from atalaia.oncall.schedules import on_call_now
from atalaia.oncall.tests.helpers import at, layer, override, plan, schedule, utc

pytestmark = pytest.mark.django_db
SP, LISBON = "America/Sao_Paulo", "Europe/Lisbon"
HOUR = timedelta(hours=1)


def test_weekly_rotation_of_three_hands_off_monday_0900_in_sao_paulo():
    s = schedule(SP)
    # Monday 2 November 2026, 09:00 in São Paulo (UTC-3, no daylight saving) = 12:00 UTC.
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary")
    assert plan(s, utc(2026, 11, 2, 12), utc(2026, 12, 7, 12)) == [
        ("ana", utc(2026, 11, 2, 12), utc(2026, 11, 9, 12), "Primary"),
        ("bia", utc(2026, 11, 9, 12), utc(2026, 11, 16, 12), "Primary"),
        ("caio", utc(2026, 11, 16, 12), utc(2026, 11, 23, 12), "Primary"),
        ("ana", utc(2026, 11, 23, 12), utc(2026, 11, 30, 12), "Primary"),
        ("bia", utc(2026, 11, 30, 12), utc(2026, 12, 7, 12), "Primary"),
    ]


def test_shifts_are_clipped_to_the_period_asked_for_and_nothing_before_the_rotation():
    s = schedule(SP)
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary")
    assert plan(s, utc(2026, 10, 1), utc(2026, 11, 3)) == [
        ("ana", utc(2026, 11, 2, 12), utc(2026, 11, 3), "Primary")]
    assert plan(s, utc(2026, 11, 20), utc(2026, 11, 21)) == [
        ("caio", utc(2026, 11, 20), utc(2026, 11, 21), "Primary")]


def test_daily_handoff_stays_0900_in_lisbon_when_summer_time_starts():
    s = schedule(LISBON)
    layer(s, ["ana", "bia"], at(LISBON, 2026, 3, 27, 9), "days", name="Daily")
    # Sunday 29 March 2026: clocks go from 01:00 to 02:00; 09:00 local is 08:00 UTC.
    found = plan(s, utc(2026, 3, 27, 9), utc(2026, 3, 31, 8))
    assert found == [
        ("ana", utc(2026, 3, 27, 9), utc(2026, 3, 28, 9), "Daily"),
        ("bia", utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), "Daily"),
        ("ana", utc(2026, 3, 29, 8), utc(2026, 3, 30, 8), "Daily"),
        ("bia", utc(2026, 3, 30, 8), utc(2026, 3, 31, 8), "Daily"),
    ]
    assert found[1][2] - found[1][1] == 23 * HOUR


def test_daily_handoff_stays_0900_in_lisbon_when_summer_time_ends():
    s = schedule(LISBON)
    layer(s, ["ana", "bia"], at(LISBON, 2026, 3, 27, 9), "days", name="Daily")
    # Sunday 25 October 2026: clocks go back from 02:00 to 01:00; 09:00 is 09:00 UTC again.
    # 23 October is the 210th day after 27 March: an even turn, Ana's.
    found = plan(s, utc(2026, 10, 23, 8), utc(2026, 10, 27, 9))
    assert found == [
        ("ana", utc(2026, 10, 23, 8), utc(2026, 10, 24, 8), "Daily"),
        ("bia", utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), "Daily"),
        ("ana", utc(2026, 10, 25, 9), utc(2026, 10, 26, 9), "Daily"),
        ("bia", utc(2026, 10, 26, 9), utc(2026, 10, 27, 9), "Daily"),
    ]
    assert found[1][2] - found[1][1] == 25 * HOUR


def test_hour_turns_are_fixed_elapsed_time_across_daylight_saving():
    s = schedule(LISBON)
    layer(s, ["ana", "bia", "caio"], at(LISBON, 2026, 3, 28, 20), "hours", 12, name="12h")
    assert plan(s, utc(2026, 3, 28, 20), utc(2026, 3, 30, 20)) == [
        ("ana", utc(2026, 3, 28, 20), utc(2026, 3, 29, 8), "12h"),
        ("bia", utc(2026, 3, 29, 8), utc(2026, 3, 29, 20), "12h"),
        ("caio", utc(2026, 3, 29, 20), utc(2026, 3, 30, 8), "12h"),
        ("ana", utc(2026, 3, 30, 8), utc(2026, 3, 30, 20), "12h"),
    ]


def test_office_hours_layer_wins_over_the_round_the_clock_layer_below():
    s = schedule(SP)
    layer(s, ["noite"], at(SP, 2026, 11, 2, 9), position=1, name="24/7")
    layer(s, ["dia"], at(SP, 2026, 11, 2, 9), position=2, name="Office",
          restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}])
    # From Friday 4 December 00:00 to Monday 7 December 12:00, São Paulo time (UTC-3).
    assert plan(s, at(SP, 2026, 12, 4, 0), at(SP, 2026, 12, 7, 12)) == [
        ("noite", utc(2026, 12, 4, 3), utc(2026, 12, 4, 12), "24/7"),
        ("dia", utc(2026, 12, 4, 12), utc(2026, 12, 4, 21), "Office"),
        ("noite", utc(2026, 12, 4, 21), utc(2026, 12, 7, 12), "24/7"),
        ("dia", utc(2026, 12, 7, 12), utc(2026, 12, 7, 15), "Office"),
    ]


def test_outside_a_restriction_with_no_layer_below_nobody_is_on_call():
    s = schedule(SP)
    layer(s, ["dia"], at(SP, 2026, 11, 2, 9), name="Office",
          restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}])
    assert plan(s, at(SP, 2026, 12, 5, 0), at(SP, 2026, 12, 6, 23)) == []  # the weekend


def test_overnight_restriction_runs_past_midnight_and_belongs_to_its_first_day():
    s = schedule(SP)
    layer(s, ["noite"], at(SP, 2026, 11, 2, 9), "days", name="Nights",
          restrictions=[{"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"}])
    assert plan(s, at(SP, 2026, 12, 7, 0), at(SP, 2026, 12, 9, 0)) == [
        ("noite", utc(2026, 12, 7, 3), utc(2026, 12, 7, 9), "Nights"),   # Sunday's night
        ("noite", utc(2026, 12, 8, 1), utc(2026, 12, 8, 9), "Nights"),
        ("noite", utc(2026, 12, 9, 1), utc(2026, 12, 9, 3), "Nights"),
    ]
    friday_only = schedule(SP, "Fridays")
    layer(friday_only, ["noite"], at(SP, 2026, 11, 2, 9), name="Friday night",
          restrictions=[{"days": [4], "start": "22:00", "end": "06:00"}])
    assert plan(friday_only, at(SP, 2026, 12, 4, 0), at(SP, 2026, 12, 7, 0)) == [
        ("noite", utc(2026, 12, 5, 1), utc(2026, 12, 5, 9), "Friday night")]


def test_an_override_takes_one_tuesday_night():
    s = schedule(SP)
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary")
    override(s, "caio", at(SP, 2026, 11, 3, 22), at(SP, 2026, 11, 4, 6))
    assert plan(s, utc(2026, 11, 2, 12), utc(2026, 11, 9, 12)) == [
        ("ana", utc(2026, 11, 2, 12), utc(2026, 11, 4, 1), "Primary"),
        ("caio", utc(2026, 11, 4, 1), utc(2026, 11, 4, 9), "override"),
        ("ana", utc(2026, 11, 4, 9), utc(2026, 11, 9, 12), "Primary"),
    ]


def test_an_override_wins_over_every_layer_and_the_latest_of_two_overlapping_wins():
    s = schedule(SP)
    layer(s, ["ana"], at(SP, 2026, 11, 2, 9), position=1)
    layer(s, ["bia"], at(SP, 2026, 11, 2, 9), position=5)
    override(s, "caio", utc(2026, 11, 5), utc(2026, 11, 7))
    override(s, "davi", utc(2026, 11, 6), utc(2026, 11, 8))
    assert plan(s, utc(2026, 11, 4), utc(2026, 11, 9)) == [
        ("bia", utc(2026, 11, 4), utc(2026, 11, 5), "Layer 5"),
        ("caio", utc(2026, 11, 5), utc(2026, 11, 6), "override"),
        ("davi", utc(2026, 11, 6), utc(2026, 11, 8), "override"),
        ("bia", utc(2026, 11, 8), utc(2026, 11, 9), "Layer 5"),
    ]


def test_the_same_person_continuing_is_one_shift():
    s = schedule(SP)
    layer(s, ["ana", "ana", "bia"], at(SP, 2026, 11, 2, 9), "days", name="Daily")
    override(s, "bia", utc(2026, 11, 4, 0), utc(2026, 11, 4, 12))  # just before her turn
    assert plan(s, utc(2026, 11, 2, 12), utc(2026, 11, 6, 12)) == [
        ("ana", utc(2026, 11, 2, 12), utc(2026, 11, 4, 0), "Daily"),
        ("bia", utc(2026, 11, 4, 0), utc(2026, 11, 5, 12), "override"),
        ("ana", utc(2026, 11, 5, 12), utc(2026, 11, 6, 12), "Daily"),
    ]


def test_a_layer_only_counts_while_it_is_valid():
    s = schedule("UTC")
    layer(s, ["ana"], utc(2026, 11, 2), position=1)
    layer(s, ["bia"], utc(2026, 11, 2), position=2, starts_at=utc(2026, 11, 3),
          ends_at=utc(2026, 11, 4))
    assert plan(s, utc(2026, 11, 2), utc(2026, 11, 5)) == [
        ("ana", utc(2026, 11, 2), utc(2026, 11, 3), "Layer 1"),
        ("bia", utc(2026, 11, 3), utc(2026, 11, 4), "Layer 2"),
        ("ana", utc(2026, 11, 4), utc(2026, 11, 5), "Layer 1"),
    ]


def test_on_call_now():
    s = schedule(SP)
    layer(s, ["ana", "bia", "caio"], at(SP, 2026, 11, 2, 9), name="Primary",
          restrictions=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "23:00"}])
    override(s, "davi", at(SP, 2026, 11, 10, 10), at(SP, 2026, 11, 10, 11))

    def who(instant):
        person = on_call_now(with_rows().get(pk=s.pk), instant)
        return person.username if person else None

    assert who(at(SP, 2026, 11, 2, 8, 59)) is None          # before the first handoff
    assert who(at(SP, 2026, 11, 2, 9)) == "ana"
    assert who(at(SP, 2026, 11, 10, 10, 30)) == "davi"      # the override
    assert who(at(SP, 2026, 11, 10, 23, 30)) is None        # outside the restriction
    assert who(at(SP, 2026, 11, 16, 9)) == "caio"

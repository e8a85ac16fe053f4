"""Confirmation and quorum as plain functions: no database, no clock."""

import pytest

from atalaia.monitoring.confirm import (
    DEGRADED,
    DOWN,
    UNKNOWN,
    UP,
    Tally,
    confirmed,
    quorum,
    tally,
)


def run(results, n=3, m=2, start=UP):
    current = Tally(vote=start)
    votes = []
    for result in results:
        current = tally(current, result, n, m)
        votes.append(current.vote)
    return votes, current


def test_down_only_after_n_consecutive_failures():
    votes, _ = run([DOWN, DOWN, UP, DOWN, DOWN, DOWN])
    assert votes == [UP, UP, UP, UP, UP, DOWN]


def test_up_again_only_after_m_consecutive_successes():
    votes, _ = run([UP, DOWN, UP, UP], start=DOWN, m=2)
    assert votes == [DOWN, DOWN, DOWN, UP]


def test_recovery_lands_on_degraded_when_the_last_check_was_slow():
    votes, _ = run([UP, DEGRADED], start=DOWN, m=2)
    assert votes == [DOWN, DEGRADED]


def test_slow_answers_degrade_after_n_and_normal_ones_restore_after_m():
    votes, _ = run([DEGRADED, DEGRADED, UP, DEGRADED, DEGRADED, DEGRADED, UP, UP])
    assert votes == [UP, UP, UP, UP, UP, DEGRADED, DEGRADED, UP]


def test_the_first_answer_after_a_start_needs_no_confirmation():
    assert run([UP], start=UNKNOWN)[0] == [UP]
    assert run([DOWN, DOWN, DOWN], start=UNKNOWN)[0] == [UNKNOWN, UNKNOWN, DOWN]


@pytest.mark.parametrize(("results", "start", "expected"), [
    ([UP], UP, True),
    ([DOWN], UP, False),  # one failure: check again soon
    ([DOWN, DOWN, DOWN], UP, True),  # confirmed down
    ([UP], DOWN, False),  # one success while down
    ([DEGRADED], UP, False),
])
def test_a_change_not_yet_confirmed_asks_for_the_retry_interval(results, start, expected):
    assert confirmed(run(results, start=start)[1]) is expected


def test_quorum_of_three_locations():
    ok = (UP, "200 in 40 ms")
    failing = (DOWN, "connection refused")
    one = quorum({"lisbon": failing, "saopaulo": ok, "frankfurt": ok}, required=2)
    assert one is not None and one.state == UP
    assert "1 of 3 locations see it down; 2 needed" in one.message
    two = quorum({"lisbon": failing, "saopaulo": failing, "frankfurt": ok}, required=2)
    assert two is not None and two.state == DOWN
    assert two.message == "connection refused (from 2 of 3 locations: lisbon, saopaulo)"


def test_quorum_asks_for_no_more_locations_than_report():
    verdict = quorum({"lisbon": (DOWN, "timed out"), "saopaulo": (UNKNOWN, "")}, required=2)
    assert verdict is not None and verdict.state == DOWN
    assert quorum({"lisbon": (UNKNOWN, "")}, required=1) is None


def test_any_degraded_location_degrades_the_monitor_short_of_a_down_quorum():
    verdict = quorum({"a": (UP, "ok"), "b": (DEGRADED, "slow: 900 ms"), "c": (DOWN, "x")},
                     required=2)
    assert verdict is not None and verdict.state == DEGRADED
    assert verdict.message.startswith("slow: 900 ms")

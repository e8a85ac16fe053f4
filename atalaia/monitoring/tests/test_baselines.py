"""Anomaly baselines on generated series: seeded noise, no database, no clock."""

import json
import math

import numpy as np
import pytest

from atalaia.monitoring.baselines import (
    DEFAULTS,
    HOUR_OF_WEEK,
    RECENT,
    Baseline,
    Params,
    compute_baseline,
    deviation,
    hour_of_week,
)

MONDAY = 1704067200.0  # 2024-01-01 00:00 UTC, a Monday
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def lognormal(rng, size, median=100.0, sigma=0.25):
    return median * np.exp(rng.normal(0, sigma, size))


def checks(start, count, interval=MINUTE):
    return start + np.arange(count) * interval


def recent_baseline(seed=1, median=100.0, end=MONDAY + 2 * DAY):
    """A baseline from the day of 60-s results before `end`."""
    rng = np.random.default_rng(seed)
    times = checks(end - DAY, 1440)
    baseline = compute_baseline(times, lognormal(rng, times.size, median), end)
    assert baseline is not None and baseline.basis == RECENT
    return baseline


def test_noise_with_single_spikes_raises_no_deviation():
    rng = np.random.default_rng(7)
    times = checks(MONDAY, 3 * 1440)
    values = lognormal(rng, times.size)
    spikes = rng.random(times.size) < 0.01
    values[spikes] *= rng.uniform(5, 20, np.count_nonzero(spikes))
    raised = above = 0
    for hour in range(24, 72):  # the baseline recomputed hourly, as the prober does
        at = MONDAY + hour * HOUR
        baseline = compute_baseline(times[times < at], values[times < at], at)
        for i in np.flatnonzero((times >= at) & (times < at + HOUR)):
            above += values[i] > baseline.limit
            raised += deviation(times[i - 5:i + 1], values[i - 5:i + 1], baseline, 60) is not None
    assert above > 20  # single checks do exceed the limit: spikes and the log-normal tail
    assert raised == 0


def test_sustained_triple_latency_is_caught_and_says_by_how_much():
    baseline = recent_baseline()
    times = checks(MONDAY + 2 * DAY, 6)
    found = deviation(times, np.full(6, 3 * baseline.median), baseline, 60)
    assert found is not None
    assert (found.exceeding, found.window) == (6, 6)
    assert found.factor == pytest.approx(3.0)
    usual = f"{baseline.median:.0f} ms"
    assert found.message == (f"latency {3 * baseline.median:.0f} ms is 3.0× the usual {usual} "
                             f"(recent-window baseline, 1440 samples): "
                             "6 of the last 6 checks over 5 min")


@pytest.mark.parametrize(("slow", "caught"), [(3, False), (4, False), (5, True), (6, True)])
def test_only_a_shift_of_five_minutes_is_caught(slow, caught):
    baseline = recent_baseline()
    values = np.full(6, baseline.median)
    values[6 - slow:] *= 3
    found = deviation(checks(MONDAY + 2 * DAY, 6), values, baseline, 60)
    assert (found is not None) is caught


def test_checks_that_ran_early_extend_the_window_to_five_minutes():
    baseline = recent_baseline()
    times = checks(MONDAY + 2 * DAY, 11, interval=30)
    slow = np.full(11, 3 * baseline.median)
    assert deviation(times[-6:], slow[-6:], baseline, 60) is None  # 2.5 min of checks

    slow[:2] = baseline.median  # 9 of 11 slow: under ceil(5/6 × 11) = 10
    assert deviation(times, slow, baseline, 60) is None
    slow[1] = 3 * baseline.median
    found = deviation(times, slow, baseline, 60)
    assert (found.exceeding, found.window) == (10, 11)
    assert found.message.endswith("10 of the last 11 checks over 5 min")


def test_ten_second_checks_extend_the_window_to_five_minutes():
    baseline = recent_baseline()
    times = checks(MONDAY + 2 * DAY, 31, interval=10)
    slow = np.full(31, 3 * baseline.median)
    assert deviation(times[-6:], slow[-6:], baseline, 10) is None  # 50 s of checks

    found = deviation(times, slow, baseline, 10)
    assert (found.exceeding, found.window) == (31, 31)
    assert found.message.endswith("31 of the last 31 checks over 5 min")

    slow[:6] = baseline.median  # 25 of 31 slow: under ceil(5/6 × 31) = 26
    assert deviation(times, slow, baseline, 10) is None
    slow[5] = 3 * baseline.median
    assert deviation(times, slow, baseline, 10).exceeding == 26


def test_checks_without_latency_are_skipped():
    baseline = recent_baseline()
    times = checks(MONDAY + 2 * DAY, 7)
    values = np.full(7, 3 * baseline.median)
    values[3] = np.nan
    assert deviation(times[1:], values[1:], baseline, 60) is None  # 5 checks left
    assert deviation(times, values, baseline, 60).window == 6


def weekly_history(seed=3, weeks=4):
    """60-s results, 100 ms, except Mondays 09:00-10:00 UTC at 300 ms."""
    rng = np.random.default_rng(seed)
    times = checks(MONDAY, weeks * 7 * 1440)
    values = lognormal(rng, times.size, sigma=0.1)
    monday_nine = ((times - MONDAY) // HOUR) % 168 == 9
    values[monday_nine] *= 3
    return times, values


def test_a_slow_monday_morning_is_usual_but_the_same_latency_on_sunday_night_is_not():
    times, values = weekly_history()
    slow = np.full(6, 300.0)

    monday = MONDAY + 28 * DAY + 9 * HOUR
    usual = compute_baseline(times, values, monday)
    assert (usual.basis, usual.hour_of_week, usual.samples) == (HOUR_OF_WEEK, 9, 240)
    assert usual.median == pytest.approx(300, rel=0.05)
    assert deviation(checks(monday, 6), slow, usual, 60) is None

    sunday = MONDAY + 27 * DAY + 3 * HOUR
    quiet = compute_baseline(times, values, sunday)
    assert (quiet.basis, quiet.hour_of_week, quiet.samples) == (HOUR_OF_WEEK, 6 * 24 + 3, 180)
    found = deviation(checks(sunday, 6), slow, quiet, 60)
    assert found.factor == pytest.approx(3, rel=0.05)
    assert "(hour-of-week baseline, Sun 03:00 UTC, 180 samples)" in found.message


def test_the_hour_of_week_basis_looks_back_four_weeks():
    times, values = weekly_history(weeks=6)
    baseline = compute_baseline(times, values, MONDAY + 42 * DAY + 9 * HOUR)
    assert (baseline.basis, baseline.samples) == (HOUR_OF_WEEK, 4 * 60)


def test_ten_days_of_history_use_the_recent_window():
    times, values = weekly_history()
    monday = MONDAY + 14 * DAY + 9 * HOUR
    recent = (times >= monday - 10 * DAY) & (times < monday)
    baseline = compute_baseline(times[recent], values[recent], monday)
    assert (baseline.basis, baseline.hour_of_week, baseline.samples) == (RECENT, None, 1440)
    # Without the weekly pattern to go by, a slow Monday morning is a deviation.
    assert deviation(checks(monday, 6), np.full(6, 300.0), baseline, 60) is not None


def test_sparse_results_use_the_last_min_samples_however_old():
    rng = np.random.default_rng(5)
    runs = checks(MONDAY, 40, interval=DAY)  # a nightly job's run times
    baseline = compute_baseline(runs, lognormal(rng, 40, median=60_000), MONDAY + 40 * DAY)
    assert (baseline.basis, baseline.samples) == (RECENT, DEFAULTS.min_samples)
    found = deviation(runs[-6:] + 40 * DAY, np.full(6, 240_000.0), baseline, DAY,
                      metric="run time")
    usual = baseline.median / 1000
    expected = f"run time 4 min is {240 / usual:.1f}× the usual {usual:.0f} s "
    assert found.message.startswith(expected)
    assert found.message.endswith("6 of the last 6 checks over 5 days")


def test_too_little_history_gives_no_baseline_and_no_deviation():
    times = checks(MONDAY, DEFAULTS.min_samples - 1)
    assert compute_baseline(times, np.full(times.size, 100.0), MONDAY + HOUR) is None
    assert deviation(checks(MONDAY + HOUR, 6), np.full(6, 900.0), None, 60) is None


def test_results_from_at_onwards_are_ignored():
    times = checks(MONDAY, 120)
    values = np.where(times < MONDAY + HOUR, 100.0, 900.0)
    baseline = compute_baseline(times, values, MONDAY + HOUR)
    assert (baseline.median, baseline.samples) == (100.0, 60)


def test_a_flat_series_does_not_alarm_on_a_millisecond_of_jitter():
    times = checks(MONDAY, 1440)
    baseline = compute_baseline(times, np.full(times.size, 50.0), MONDAY + DAY)
    assert (baseline.mad, baseline.limit) == (0.0, 50.0 + max(20.0, 0.5 * 50.0))
    later = checks(MONDAY + DAY, 6)
    assert deviation(later, np.full(6, 51.0), baseline, 60) is None
    assert deviation(later, np.full(6, 80.0), baseline, 60) is not None


def test_the_limit_is_z_robust_deviations_above_the_median():
    rng = np.random.default_rng(11)
    values = lognormal(rng, 1440)
    baseline = compute_baseline(checks(MONDAY, 1440), values, MONDAY + DAY)
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    assert baseline.median == pytest.approx(median)
    assert baseline.mad == pytest.approx(mad)
    assert baseline.limit == pytest.approx(median + 3.0 * 1.4826 * mad)


def test_a_baseline_survives_a_trip_through_json():
    baseline = recent_baseline()
    stored = json.loads(json.dumps(baseline.as_dict()))
    assert Baseline.from_dict(stored) == baseline
    found = deviation(checks(MONDAY + 2 * DAY, 6), np.full(6, 400.0), baseline, 60)
    assert json.loads(json.dumps(found.as_dict()))["baseline"] == stored


def test_hours_of_the_week_start_on_monday_utc():
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + 9 * HOUR + 59 * MINUTE) == 9
    assert hour_of_week(MONDAY - 1) == 167
    assert hour_of_week(0.0) == 72  # the epoch was a Thursday


@pytest.mark.parametrize("bad", [{"k": 7, "m": 6}, {"k": 0}, {"z": 0}, {"history_days": 30}])
def test_impossible_params_fail_loudly(bad):
    with pytest.raises(ValueError):
        Params(**bad)


def test_sequences_work_like_arrays():
    times = list(checks(MONDAY, 100))
    values = [100.0 + (i % 7) for i in range(100)]
    baseline = compute_baseline(times, values, MONDAY + 2 * HOUR)
    assert baseline.samples == 100
    assert math.isclose(baseline.median, float(np.median(values)))

"""False alarms and detection of the anomaly baselines on simulated latency.

The noise model, for monitors checked every 60 seconds with no fault at all:

- latency is log-normal around a median of 120 ms with sigma 0.25;
- the median follows a daily cycle, 120 ms × exp(0.3 × sin(2π × time of day + phase)),
  about 89 ms at night to 162 ms at the peak, with a random phase per monitor;
- 1% of checks are single spikes, 5 to 20 times slower (independent of each other).

Each monitor runs for 35 days: the first 21 on the recent-window baseline, the last 14 on
the hour-of-week baseline. As a prober would, the baseline is recomputed at the start of
every hour from the results before it, and every check is judged by the k-of-m rule. Every
deviation that starts is a false alarm. Then real faults are injected (latency ×2 or ×3
for 10 minutes, at random times) to measure how many are caught before they end, and how
long after the first slow check. The last tables repeat both for other values of z and
for other lengths of the recent window. To be quick, the k-of-m rule is counted with numpy
over whole series; wherever that count is within one of raising, deviation() itself is
called and must agree.

Run it from the project root::

    .venv/bin/python bench/false_alarms.py
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atalaia.monitoring.baselines import (  # noqa: E402
    DEFAULTS,
    HOUR_OF_WEEK,
    RECENT,
    Baseline,
    Params,
    compute_baseline,
    deviation,
    exceedance_limit,
)

SEED = 20240601
MONITORS = 40
DAYS = 35
INTERVAL = 60.0
MEDIAN_MS, SIGMA = 120.0, 0.25
CYCLE = 0.3
SPIKE_RATE, SPIKE_MIN, SPIKE_MAX = 0.01, 5.0, 20.0
SHIFTS = (2.0, 3.0)
SHIFT_CHECKS = 10  # 10 minutes of checks at 60 s
TRIALS = 300  # per shift and basis
SWEEP_Z = (2.0, 2.5, 3.0, 3.5, 4.0)
SWEEP_RECENT_HOURS = (6.0, 12.0, 24.0)
HISTORY_HOURS = DEFAULTS.history_days * 24  # hours on the recent basis
START = 1704067200.0  # Monday 2024-01-01 00:00 UTC
HOUR, DAY = 3600.0, 86400.0
CHECKS_PER_DAY = int(DAY / INTERVAL)


@dataclasses.dataclass
class Monitor:
    times: np.ndarray
    values: np.ndarray
    baselines: list[Baseline | None]  # one per hour since START
    hour: np.ndarray  # each check's hour since START


def simulate(rng: np.random.Generator) -> Monitor:
    times = START + np.arange(DAYS * CHECKS_PER_DAY) * INTERVAL
    phase = rng.uniform(0, 2 * math.pi)
    cycle = CYCLE * np.sin(2 * math.pi * times / DAY + phase)
    values = MEDIAN_MS * np.exp(cycle + rng.normal(0, SIGMA, times.size))
    spikes = rng.random(times.size) < SPIKE_RATE
    values[spikes] *= rng.uniform(SPIKE_MIN, SPIKE_MAX, np.count_nonzero(spikes))
    return with_baselines(times, values, DEFAULTS, DAYS * 24)


def with_baselines(times: np.ndarray, values: np.ndarray, params: Params, hours: int) -> Monitor:
    baselines = [hourly_baseline(times, values, h, params) for h in range(hours)]
    baselines += [None] * (DAYS * 24 - hours)
    return Monitor(times, values, baselines, ((times - START) // HOUR).astype(int))


def hourly_baseline(times: np.ndarray, values: np.ndarray, hour: int,
                    params: Params = DEFAULTS) -> Baseline | None:
    """What a prober computes at the start of the hour: the results of the lookback before it."""
    at = START + hour * HOUR
    lo = np.searchsorted(times, at - params.lookback_days * DAY)
    hi = np.searchsorted(times, at)
    return compute_baseline(times[lo:hi], values[lo:hi], at, params)


def with_z(baseline: Baseline | None, params: Params) -> Baseline | None:
    if baseline is None:
        return None
    return dataclasses.replace(baseline, limit=exceedance_limit(baseline.median, baseline.mad,
                                                                params))


def window(params: Params) -> tuple[int, int]:
    """Checks in the window at INTERVAL and how many must exceed (the module's rule)."""
    n = max(params.m, 1 + math.ceil(params.min_window_seconds / INTERVAL))
    return n, -(-params.k * n // params.m)


def exceeding_counts(monitor: Monitor, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """For every check: whether it is above its baseline's limit, and how many checks of the
    window that ends with it are."""
    limits = np.array([b.limit if b else np.nan for b in
                       (with_z(b, params) for b in monitor.baselines)])[monitor.hour]
    n, _ = window(params)
    counts = np.zeros(monitor.values.size, dtype=int)
    windows = sliding_window_view(monitor.values, n)
    counts[n - 1:] = (windows > limits[n - 1:, None]).sum(axis=1)
    return monitor.values > limits, counts


def bases(monitor: Monitor) -> np.ndarray:
    return np.array([b.basis if b else "" for b in monitor.baselines])[monitor.hour]


def false_alarms(monitors: list[Monitor], params: Params, confirm: bool = False) -> dict:
    n, need = window(params)
    # checks, alarms, checks in deviation, checks above the limit
    found = {RECENT: [0, 0, 0, 0], HOUR_OF_WEEK: [0, 0, 0, 0]}
    for monitor in monitors:
        above, counts = exceeding_counts(monitor, params)
        if confirm:
            confirm_rule(monitor, counts, params)
        raised = counts >= need
        starts = raised & ~np.concatenate(([False], raised[:-1]))
        basis = bases(monitor)
        for name, row in found.items():
            mine = basis == name
            row[0] += np.count_nonzero(mine)
            row[1] += np.count_nonzero(starts & mine)
            row[2] += np.count_nonzero(raised & mine)
            row[3] += np.count_nonzero(above & mine)
    return found


def confirm_rule(monitor: Monitor, counts: np.ndarray, params: Params) -> None:
    """The vectorised count must agree with deviation() wherever it is close to the limit."""
    n, need = window(params)
    for i in np.flatnonzero(counts >= need - 1):
        b = with_z(monitor.baselines[monitor.hour[i]], params)
        got = deviation(monitor.times[i - n + 1:i + 1], monitor.values[i - n + 1:i + 1], b,
                        INTERVAL, params)
        if (got is not None) != (counts[i] >= need):
            raise AssertionError(f"bench and deviation() disagree at check {i}")


def trials(monitors: list[Monitor], rng: np.random.Generator) -> list[tuple[int, int, str]]:
    """(monitor's index, first slow check, basis) per trial."""
    chosen = []
    for basis in (RECENT, HOUR_OF_WEEK):
        for _ in range(TRIALS):
            index = int(rng.integers(len(monitors)))
            candidates = np.flatnonzero(bases(monitors[index])[:-SHIFT_CHECKS] == basis)
            start = int(rng.choice(candidates[candidates >= 2 * DEFAULTS.m]))
            chosen.append((index, start, basis))
    return chosen


def shifted_baselines(monitor: Monitor, start: int, factor: float,
                      params: Params) -> tuple[np.ndarray, list]:
    """The slow series and the baseline for each slow check; an hour that begins during the
    fault gets a baseline recomputed from the slow results, as a prober would."""
    values = monitor.values.copy()
    values[start:start + SHIFT_CHECKS] *= factor
    per_check = []
    for i in range(start, start + SHIFT_CHECKS):
        hour = monitor.hour[i]
        if hour == monitor.hour[start]:
            per_check.append(monitor.baselines[hour])
        else:
            per_check.append(hourly_baseline(monitor.times, values, hour, params))
    return values, per_check


def detect(monitors: list[Monitor], chosen: list[tuple[int, int, str]], factor: float,
           sweep: tuple[Params, ...]) -> dict:
    """Per params and basis: the delays (seconds after the first slow check), None if missed.
    The baselines are the monitors'; the params of the sweep only change z."""
    delays: dict = {(p, basis): [] for p in sweep for basis in (RECENT, HOUR_OF_WEEK)}
    for index, start, basis in chosen:
        monitor = monitors[index]
        values, per_check = shifted_baselines(monitor, start, factor, sweep[0])
        for params in sweep:
            n, _ = window(params)
            delays[params, basis].append(first_deviation(monitor, values, per_check, start,
                                                         params, n))
    return delays


def first_deviation(monitor: Monitor, values: np.ndarray, per_check: list, start: int,
                    params: Params, n: int) -> float | None:
    for offset, baseline in enumerate(per_check):
        i = start + offset
        found = deviation(monitor.times[i - n + 1:i + 1], values[i - n + 1:i + 1],
                          with_z(baseline, params), INTERVAL, params)
        if found is not None:
            return float(monitor.times[i] - monitor.times[start])
    return None


def rate(row: list[int]) -> float:
    return row[1] / (row[0] / CHECKS_PER_DAY)


def upper_95(row: list[int]) -> float:
    """One-sided 95% upper bound of the rate per monitor-day (Poisson, exact)."""
    def cdf(mean: float) -> float:
        return sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(row[1] + 1))
    low, high = 0.0, 10.0 + 10 * row[1]
    for _ in range(60):
        middle = (low + high) / 2
        if cdf(middle) < 0.05:
            high = middle
        else:
            low = middle
    return high / (row[0] / CHECKS_PER_DAY)


def caught(delays: list) -> str:
    return f"{sum(d is not None for d in delays) / len(delays):6.1%}"


def delay_text(delays: list) -> str:
    got = sorted(d for d in delays if d is not None)
    if not got:
        return "   -"
    return f"{np.median(got) / 60:4.1f} / {got[math.ceil(0.95 * len(got)) - 1] / 60:4.1f} min"


def baseline_ms() -> float:
    rng = np.random.default_rng(SEED)
    at = START + 30 * DAY
    times = START + np.arange(30 * CHECKS_PER_DAY) * INTERVAL
    values = MEDIAN_MS * np.exp(rng.normal(0, SIGMA, times.size))
    runs = []
    for _ in range(50):
        began = time.perf_counter()
        compute_baseline(times, values, at)
        runs.append(time.perf_counter() - began)
    return float(np.median(runs)) * 1000


def main() -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    print(f"noise: log-normal, median {MEDIAN_MS:g} ms, sigma {SIGMA}, daily cycle "
          f"×exp({CYCLE}·sin), {SPIKE_RATE:.0%} single spikes ×{SPIKE_MIN:g}–{SPIKE_MAX:g}")
    p = DEFAULTS
    print(f"defaults: k={p.k} of m={p.m} over {p.min_window_seconds:g} s, z={p.z}, "
          f"floor max({p.floor_ms:g} ms, {p.floor_ratio:g} × median), "
          f"recent {p.recent_hours:g} h, hour-of-week after {p.history_days} days")
    print(f"compute_baseline over 30 days of 60-s results: {baseline_ms():.2f} ms "
          "(median of 50)")
    monitors = [simulate(rng) for _ in range(MONITORS)]
    print(f"simulated {MONITORS} monitors × {DAYS} days of {INTERVAL:g}-s checks "
          f"({time.perf_counter() - started:.0f} s, baseline recomputed hourly)\n")

    found = false_alarms(monitors, DEFAULTS, confirm=True)
    print(f"{'basis':<14}{'monitor-days':>13}{'false alarms':>14}{'per monitor-day':>17}"
          f"{'95% bound':>11}{'checks above limit':>20}{'in deviation':>14}")
    for basis, row in found.items():
        print(f"{basis:<14}{row[0] / CHECKS_PER_DAY:>13.0f}{row[1]:>14}{rate(row):>17.4f}"
              f"{upper_95(row):>11.4f}{row[3] / row[0]:>20.2%}{row[2] / row[0]:>14.4%}")

    sweep = tuple(dataclasses.replace(DEFAULTS, z=z) for z in SWEEP_Z)
    chosen = trials(monitors, rng)
    detected = {factor: detect(monitors, chosen, factor, sweep) for factor in SHIFTS}
    print(f"\n10-minute shifts, {TRIALS} per row: caught before they end; "
          "delay after the first slow check, median / p95")
    for factor in SHIFTS:
        for basis in (RECENT, HOUR_OF_WEEK):
            delays = detected[factor][DEFAULTS, basis]
            print(f"  ×{factor:g}  {basis:<13} caught {caught(delays)}   "
                  f"delay {delay_text(delays)}")

    print("\nother z (false alarms per monitor-day; share of 10-minute shifts caught)")
    print(f"{'z':>5}{'false recent':>14}{'false h-o-w':>13}"
          + "".join(f"{f'×{f:g} recent':>12}{f'×{f:g} h-o-w':>12}" for f in SHIFTS))
    for params in sweep:
        rows = false_alarms(monitors, params)
        line = f"{params.z:>5g}{rate(rows[RECENT]):>14.4f}{rate(rows[HOUR_OF_WEEK]):>13.4f}"
        for factor in SHIFTS:
            line += "".join(f"{caught(detected[factor][params, b]):>12}"
                            for b in (RECENT, HOUR_OF_WEEK))
        print(line)
    recent_window_sweep(monitors, [c for c in chosen if c[2] == RECENT])
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


def recent_window_sweep(monitors: list[Monitor], chosen: list[tuple[int, int, str]]) -> None:
    """The first three weeks again, with the recent window shorter than the default."""
    print(f"\nother recent windows, first {DEFAULTS.history_days} days (false alarms per "
          "monitor-day; share of 10-minute shifts caught)")
    print(f"{'hours':>6}{'false recent':>14}" + "".join(f"{f'×{f:g} recent':>12}" for f in SHIFTS))
    for hours in SWEEP_RECENT_HOURS:
        params = dataclasses.replace(DEFAULTS, recent_hours=hours)
        if params == DEFAULTS:
            variant = monitors
        else:
            variant = [with_baselines(m.times, m.values, params, HISTORY_HOURS) for m in monitors]
        line = f"{hours:>6g}{rate(false_alarms(variant, params)[RECENT]):>14.4f}"
        for factor in SHIFTS:
            line += f"{caught(detect(variant, chosen, factor, (params,))[params, RECENT]):>12}"
        print(line)


if __name__ == "__main__":
    main()

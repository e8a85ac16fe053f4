"""Robust baselines of a monitor's latency (or a heartbeat's run time), and deviations from them.

A baseline is the median and MAD of past results: of the same hour of the week once three
weeks of history exist (latency follows office hours, backups and batch jobs), of the recent
window before that. One check exceeds the baseline when it is above
median + z × 1.4826 × MAD, never closer to the median than a floor; a deviation needs k of
the last m checks, spanning at least five minutes, to exceed it, so single spikes never
raise one. No per-monitor threshold is needed.

Plain numpy on plain data, no database. The defaults and the false-alarm rate they give on
a stated noise model are in docs/monitoring.md; bench/false_alarms.py measures them.

How a prober uses it, per monitor:
- once an hour (when the hour of the week changes), `compute_baseline` over the results of
  the last `lookback_days`, all older than the checks it will judge;
- after each check, `deviation` over the last few minutes of checks with that baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HOUR_OF_WEEK, RECENT = "hour-of-week", "recent"
HOUR, DAY, WEEK = 3600.0, 86400.0, 604800.0
WEEK_HOURS = 168
# The POSIX epoch fell on a Thursday, 00:00 UTC: hour 72 of a week that starts on Monday.
EPOCH_HOUR_OF_WEEK = 72
# The MAD of a normal distribution times this is its standard deviation.
MAD_TO_SIGMA = 1.4826
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SPAN_SLACK = 0.05  # of min_window_seconds
MIN_MEDIAN_MS = 0.1

Series = npt.NDArray[np.float64] | Sequence[float]


@dataclass(frozen=True)
class Params:
    """The method's settings; the defaults are argued for in docs/monitoring.md."""

    k: int = 5  # checks of the window that must exceed the limit…
    m: int = 6  # …out of this many (the window grows to span min_window_seconds)
    z: float = 3.0  # limit = median + z × 1.4826 × MAD (robust standard deviations)
    min_samples: int = 20  # fewer results than this: no baseline
    recent_hours: float = 24.0  # the recent window, one whole daily cycle
    history_days: int = 21  # history needed for the hour-of-week basis (3 weeks)
    lookback_days: float = 28.0  # the hour-of-week basis uses the last 4 weeks
    min_window_seconds: float = 300.0  # a deviation must last at least this long
    floor_ms: float = 20.0  # the limit is at least this far above the median…
    floor_ratio: float = 0.5  # …and at least this fraction of the median above it

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.m:
            raise ValueError(f"need 1 <= k <= m, got k={self.k}, m={self.m}")
        if self.z <= 0 or self.floor_ms < 0 or self.floor_ratio < 0:
            raise ValueError("z must be positive, floor_ms and floor_ratio not negative")
        if self.min_samples < 1 or self.recent_hours <= 0 or self.min_window_seconds < 0:
            raise ValueError("min_samples and recent_hours must be positive, "
                             "min_window_seconds not negative")
        if self.history_days < 7 or self.lookback_days < self.history_days:
            raise ValueError("need 7 <= history_days <= lookback_days")


DEFAULTS = Params()


@dataclass(frozen=True)
class Baseline:
    median: float  # ms
    mad: float  # ms, raw MAD (not scaled)
    limit: float  # ms: one check above this counts as exceeding
    basis: str  # HOUR_OF_WEEK or RECENT
    hour_of_week: int | None  # 0 = Monday 00:00-01:00 UTC … 167, for the hour-of-week basis
    samples: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        hour = data.get("hour_of_week")
        return cls(float(data["median"]), float(data["mad"]), float(data["limit"]),
                   str(data["basis"]), None if hour is None else int(hour), int(data["samples"]))

    def describe(self) -> str:
        if self.basis == HOUR_OF_WEEK and self.hour_of_week is not None:
            return f"hour-of-week baseline, {hour_label(self.hour_of_week)}, {self.samples} samples"
        return f"recent-window baseline, {self.samples} samples"


@dataclass(frozen=True)
class Deviation:
    baseline: Baseline
    exceeding: int  # checks of the window above the baseline's limit
    window: int  # checks in the window
    observed: float  # median of the exceeding checks, ms
    factor: float  # observed / baseline.median
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hour_of_week(at: float) -> int:
    """0 for Monday 00:00-01:00 UTC … 167 for Sunday 23:00-24:00 UTC."""
    return (math.floor(at / HOUR) + EPOCH_HOUR_OF_WEEK) % WEEK_HOURS


def hour_label(hour: int) -> str:
    return f"{WEEKDAYS[hour // 24]} {hour % 24:02d}:00 UTC"


def exceedance_limit(median: float, mad: float, params: Params = DEFAULTS) -> float:
    # The floor keeps a flat series (MAD 0) from alarming on a millisecond of jitter.
    margin = max(params.z * MAD_TO_SIGMA * mad, params.floor_ms, params.floor_ratio * median)
    return median + margin


def compute_baseline(times: Series, values: Series, at: float,
                     params: Params = DEFAULTS) -> Baseline | None:
    """The baseline for the hour of the week that contains `at`.

    `times` are POSIX seconds (UTC) of past results, `values` their latency (or run time) in
    ms; NaN values (checks without a latency) are ignored. Pass only results older than the
    checks the baseline will judge, so a fault cannot raise its own baseline. The
    hour-of-week basis needs `history_days` of history and `min_samples` results in that
    hour of the week from as many distinct weeks as `history_days` holds; otherwise the
    recent window (`recent_hours`, or the last `min_samples` results if it holds fewer).
    None with fewer than `min_samples` results."""
    t, v = _arrays(times, values)
    past = (t < at) & np.isfinite(v)
    kept = int(np.count_nonzero(past))
    if kept < params.min_samples:
        return None
    if kept < t.size:
        t, v = t[past], v[past]
    if at - t.min() >= params.history_days * DAY:
        baseline = _hour_of_week_baseline(t, v, at, params)
        if baseline is not None:
            return baseline
    return _recent_baseline(t, v, at, params)


def _hour_of_week_baseline(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], at: float,
                           params: Params) -> Baseline | None:
    hour_start = math.floor(at / HOUR) * HOUR
    offset = t - hour_start
    same = (offset % WEEK < HOUR) & (t >= at - params.lookback_days * DAY)
    if np.count_nonzero(same) < params.min_samples:
        return None
    if np.unique(np.floor(offset[same] / WEEK)).size < params.history_days // 7:
        return None
    return _baseline(v[same], HOUR_OF_WEEK, hour_of_week(at), params)


def _recent_baseline(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], at: float,
                     params: Params) -> Baseline:
    recent = t >= at - params.recent_hours * HOUR
    if np.count_nonzero(recent) < params.min_samples:
        # Sparse results (a daily job's run times): the last min_samples, however old.
        recent = t >= np.partition(t, -params.min_samples)[-params.min_samples]
    return _baseline(v[recent], RECENT, None, params)


def _baseline(sample: npt.NDArray[np.float64], basis: str, hour: int | None,
              params: Params) -> Baseline:
    median = float(np.median(sample))
    mad = float(np.median(np.abs(sample - median)))
    return Baseline(median, mad, exceedance_limit(median, mad, params), basis, hour,
                    int(sample.size))


def deviation(times: Series, values: Series, baseline: Baseline | None, interval_seconds: float,
              params: Params = DEFAULTS, metric: str = "latency") -> Deviation | None:
    """A deviation when enough of the most recent checks exceed the baseline's limit.

    Pass the last few minutes of checks (POSIX seconds, values in ms; NaN for checks without
    a latency, which are skipped). The window is the last `m` checks, grown to span
    `min_window_seconds` (by the interval, and by the timestamps when checks ran early);
    `k` grows with it, to ceil(k × n / m) of n checks. None without a baseline, with too
    few checks to fill the window, or when too few exceed. `metric` names the value in the
    message ("latency", "run time")."""
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    if baseline is None:
        return None
    t, v = _arrays(times, values)
    known = np.isfinite(v)
    t, v = t[known], v[known]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    n = _window_size(t, interval_seconds, params)
    if n is None:
        return None
    window = v[-n:]
    over = window[window > baseline.limit]
    if over.size < -(-params.k * n // params.m):
        return None
    observed = float(np.median(over))
    # A median of 0 (timings below the clock's resolution) would make the factor infinite,
    # which JSON cannot store.
    factor = observed / max(baseline.median, MIN_MEDIAN_MS)
    message = (f"{metric} {_amount(observed)} is {factor:.1f}× the usual "
               f"{_amount(baseline.median)} ({baseline.describe()}): {over.size} of the last "
               f"{n} checks over {_duration(float(t[-1] - t[-n]))}")
    return Deviation(baseline, int(over.size), n, observed, factor, message)


def _window_size(t: npt.NDArray[np.float64], interval: float, params: Params) -> int | None:
    by_interval = max(params.m, 1 + math.ceil(params.min_window_seconds / interval - 1e-9))
    if t.size < by_interval:
        return None
    # Scheduling jitter may shorten the span a little; checks that ran early extend the window.
    slack = min(interval / 2, SPAN_SLACK * params.min_window_seconds)
    cut = t[-1] - (params.min_window_seconds - slack)
    first = int(np.searchsorted(t, cut, side="right")) - 1
    if first < 0:
        return None
    return max(by_interval, t.size - first)


def _arrays(times: Series, values: Series) -> tuple[npt.NDArray[np.float64],
                                                     npt.NDArray[np.float64]]:
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"times and values must be 1-D of one length, got {t.shape}, {v.shape}")
    return t, v


def _amount(ms: float) -> str:
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    return _duration(ms / 1000)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * HOUR:
        return f"{_number(seconds / 60)} min"
    if seconds < 2 * DAY:
        return f"{_number(seconds / HOUR)} h"
    return f"{_number(seconds / DAY)} days"


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")

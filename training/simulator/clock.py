"""Human time: a diurnal activity clock in China time and engagement delays.

Human engagement delays are drawn in *activity hours* and mapped back to real
time through the cumulative diurnal intensity, so a delay of one activity hour
lasts about an hour in the evening peak and several hours at night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import DAY_US, HOUR_US, MINUTE_US

CHINA_OFFSET_US = 8 * HOUR_US
GRID_STEP_US = 5 * MINUTE_US
# Relative activity at each China-time hour 00..23 (interpolated in between).
DIURNAL_WEIGHT = np.array(
    [
        0.9,
        0.55,
        0.3,
        0.18,
        0.12,
        0.12,
        0.2,
        0.4,
        0.65,
        0.8,
        0.85,
        0.9,
        1.1,
        1.0,
        0.9,
        0.9,
        0.95,
        1.05,
        1.25,
        1.55,
        1.75,
        1.85,
        1.7,
        1.35,
    ]
)
WEEKEND_FACTOR = 1.1

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ActivityClock:
    """Cumulative human activity (in activity hours) on a 5-minute grid."""

    grid_us: F64
    activity_h: F64

    def to_activity(self, ts_us: npt.ArrayLike) -> F64:
        """Return the cumulative activity hours at each timestamp."""
        return np.interp(np.asarray(ts_us, dtype=np.float64), self.grid_us, self.activity_h)

    def from_activity(self, activity_h: npt.ArrayLike) -> F64:
        """Return the timestamp (float microseconds) reaching each activity level."""
        return np.interp(np.asarray(activity_h, dtype=np.float64), self.activity_h, self.grid_us)

    def after(self, start_us: npt.ArrayLike, delay_h: npt.ArrayLike) -> F64:
        """Return timestamps ``delay_h`` activity hours after ``start_us``."""
        return self.from_activity(self.to_activity(start_us) + np.asarray(delay_h, dtype=np.float64))


def china_hour(ts_us: npt.ArrayLike) -> F64:
    """Return the fractional hour of day in China time (UTC+8)."""
    local = np.asarray(ts_us, dtype=np.float64) + CHINA_OFFSET_US
    return np.mod(local, DAY_US) / HOUR_US


def china_weekday(ts_us: npt.ArrayLike) -> I64:
    """Return the China-time weekday, Monday = 0."""
    days = np.floor_divide(np.asarray(ts_us, dtype=np.int64) + CHINA_OFFSET_US, DAY_US)
    return np.mod(days + 3, 7).astype(np.int64)


def china_midnight_us(ts_us: npt.ArrayLike) -> I64:
    """Return the UTC timestamp of the China-time midnight starting each day."""
    local = np.asarray(ts_us, dtype=np.int64) + CHINA_OFFSET_US
    return np.floor_divide(local, DAY_US) * DAY_US - CHINA_OFFSET_US


def build_clock(*, start_us: int, end_us: int) -> ActivityClock:
    """Return the activity clock covering [start_us, end_us] with a day of margin."""
    first = start_us - DAY_US
    n = int((end_us + DAY_US - first) // GRID_STEP_US) + 2
    grid = first + np.arange(n, dtype=np.float64) * GRID_STEP_US
    hours = np.append(np.arange(24.0), 24.0)
    weight = np.interp(china_hour(grid), hours, np.append(DIURNAL_WEIGHT, DIURNAL_WEIGHT[0]))
    weight = weight * np.where(china_weekday(grid.astype(np.int64)) >= 5, WEEKEND_FACTOR, 1.0)
    weight = weight / weight.mean()
    step_h = GRID_STEP_US / HOUR_US
    activity = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * step_h)])
    return ActivityClock(grid_us=grid, activity_h=activity)


def organic_delay_h(rng: np.random.Generator, *, fast_h: F64, slow_h: F64, fast_share: F64) -> F64:
    """Return engagement delays after publication (activity hours), one per entry.

    A mixture of a fast exponential (feed push), a slower exponential (search,
    follower feeds) and a power-law tail that keeps old posts trickling.
    """
    n = len(fast_h)
    u = rng.random(n)
    fast = rng.exponential(fast_h)
    slow = rng.exponential(slow_h)
    tail = 6.0 * rng.pareto(1.2, size=n)
    tail_share = 0.08
    return np.where(u < fast_share, fast, np.where(u < 1.0 - tail_share, slow, tail))


def reaction_delay_us(rng: np.random.Generator, n: int, *, median_s: float, sigma: float) -> F64:
    """Return lognormal reaction delays in microseconds."""
    return np.exp(rng.normal(np.log(median_s), sigma, size=n)) * 1e6


def china_day_starts(start_us: int, end_us: int) -> I64:
    """Return the China-time midnights (as UTC microseconds) from start to end."""
    first = int(china_midnight_us(np.array([start_us]))[0])
    return np.arange(first, end_us, DAY_US, dtype=np.int64)

"""What a household's half-hourly profile says, and where it sits among similar homes.

Vectorised over households that share one half-hour grid (households x half-hours of usage in
kWh, NaN where unknown, columns labelled by their UTC start and in time order). Decisions:

- **baseload** (always-on load: fridges, standby, pumps) is each night's *minimum* half-hour
  between 02:00 and 05:00 local time, as watts (kWh per half-hour * 2,000), and the household's
  figure is the **median over nights**. The minimum ignores the odd kettle; the median ignores
  the odd night away or party. A night counts with at least half of its half-hours known; the
  figure needs ``min_nights`` (7) nights;
- **evening peak share** is the share of use between 16:00 and 19:00 local time, over
  **complete** local days only (a day missing its evening would look thrifty), with at least
  ``min_days`` (7) of them;
- **peer rank** is the share of a household's peers below it (ties count half), so 0.8 means
  "more than 80 % of similar homes"; it needs ``min_peers`` peers with a value, like the
  comparison itself.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from numpy.typing import ArrayLike

from analytics.energy.calendar import LONDON, Floats, Ints, day_grid, local_clock
from analytics.energy.comparison import MIN_PEERS, peer_values, row_percentile

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
W_PER_KWH_PER_HALF_HOUR = 2000.0
NIGHT_HOURS = (2.0, 5.0)
EVENING_HOURS = (16.0, 19.0)


def _grid(usage: ArrayLike, start: ArrayLike) -> tuple[Floats, Ints]:
    u = np.asarray(usage, dtype=np.float64)
    u = u.reshape(1, -1) if u.ndim == 1 else u
    t = np.asarray(start, dtype=np.int64).reshape(-1)
    if u.ndim != 2 or u.shape[1] != t.size:
        raise ValueError(f"usage of shape {u.shape} does not match {t.size} half-hours")
    if t.size > 1 and (np.diff(t) <= 0).any():
        raise ValueError("half-hour starts must increase")
    return u, t


def _runs(labels: Ints) -> Ints:
    """Start column of each run of equal consecutive labels."""
    result: Ints = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    return result


def baseload_w(
    usage: ArrayLike,
    start: ArrayLike,
    *,
    tz: str = LONDON,
    hours: tuple[float, float] = NIGHT_HOURS,
    min_nights: int = 7,
) -> Floats:
    """Typical night-time minimum load in watts per household (NaN without enough nights)."""
    u, t = _grid(usage, start)
    day, hour = local_clock(t, tz)
    cols = np.flatnonzero((hour >= hours[0]) & (hour < hours[1]))
    if cols.size == 0:
        return np.full(u.shape[0], np.nan)
    window, nights = u[:, cols], day[cols]
    breaks = _runs(nights)
    known = np.isfinite(window)
    lowest = np.minimum.reduceat(np.where(known, window, np.inf), breaks, axis=1)
    seen = np.add.reduceat(known.astype(np.int64), breaks, axis=1)
    enough = seen >= np.ceil(hours[1] - hours[0])  # half of the window's 2·(h1 - h0) half-hours
    nightly = np.where(enough, lowest, np.nan)
    typical = row_percentile(nightly, 50.0)
    result: Floats = np.where(
        enough.sum(axis=1) >= min_nights, typical * W_PER_KWH_PER_HALF_HOUR, np.nan
    )
    return result


def evening_share(
    usage: ArrayLike,
    start: ArrayLike,
    *,
    tz: str = LONDON,
    hours: tuple[float, float] = EVENING_HOURS,
    min_days: int = 7,
) -> Floats:
    """Share of use in the evening window over complete local days (NaN without enough)."""
    u, t = _grid(usage, start)
    if t.size == 0:
        return np.full(u.shape[0], np.nan)
    day, hour = local_clock(t, tz)
    breaks = _runs(day)
    days = day[breaks]
    first = date.fromordinal(int(days[0]) + _EPOCH_ORDINAL)
    last = date.fromordinal(int(days[-1]) + _EPOCH_ORDINAL)
    expected = day_grid(first, last, tz).half_hours[days - days[0]]
    known = np.isfinite(u)
    values = np.where(known, u, 0.0)
    in_window = (hour >= hours[0]) & (hour < hours[1])
    complete = np.add.reduceat(known.astype(np.int64), breaks, axis=1) == expected[None, :]
    total = np.where(complete, np.add.reduceat(values, breaks, axis=1), 0.0).sum(axis=1)
    evening = np.add.reduceat(values * in_window[None, :], breaks, axis=1)
    evening_total = np.where(complete, evening, 0.0).sum(axis=1)
    ok = (complete.sum(axis=1) >= min_days) & (total > 0)
    result: Floats = np.where(ok, evening_total / np.where(ok, total, 1.0), np.nan)
    return result


def peer_rank(values: ArrayLike, peer_index: ArrayLike, *, min_peers: int = MIN_PEERS) -> Floats:
    """Share of each household's peers with a lower value (ties half); NaN if unknown."""
    own = np.asarray(values, dtype=np.float64).reshape(-1)
    peers = peer_values(own, peer_index)
    n = np.isfinite(peers).sum(axis=1)
    below = (peers < own[:, None]).sum(axis=1) + 0.5 * (peers == own[:, None]).sum(axis=1)
    ok = (n >= max(min_peers, 1)) & np.isfinite(own)
    result: Floats = np.where(ok, below / np.maximum(n, 1), np.nan)
    return result


def peer_median(values: ArrayLike, peer_index: ArrayLike, *, min_peers: int = MIN_PEERS) -> Floats:
    """Median of each household's peers' values (NaN with fewer than ``min_peers``)."""
    peers = peer_values(values, peer_index)
    n = np.isfinite(peers).sum(axis=1)
    result: Floats = np.where(n >= max(min_peers, 1), row_percentile(peers, 50.0), np.nan)
    return result


def change(this: ArrayLike, before: ArrayLike) -> Floats:
    """Relative change from ``before`` to ``this`` (0.1 = 10 % more); NaN if ``before`` <= 0."""
    now = np.asarray(this, dtype=np.float64)
    then = np.asarray(before, dtype=np.float64)
    ok = np.isfinite(then) & (then > 0)
    result: Floats = np.where(ok, (now - then) / np.where(ok, then, 1.0), np.nan)
    return result

"""Next-hour availability per zone: a weekly occupancy profile, nudged by how far from its
profile the zone is now; and how well that does on held-out weeks against saying "same as now".

The model ([D]: a seasonal profile plus AR(1)-style persistence of the deviation from it):

* **Profile** ``P(w, s)``: occupied / observed bay-seconds over the training weeks for each local
  weekday ``w`` and local slot of the day ``s`` (15 minutes by default), ``unknown`` time left out
  as in :mod:`analytics.parking.metrics`; pooled with the ``smooth_slots`` neighbouring slots on
  either side (around the week) since three or four weeks give few samples per cell. Local time,
  so that 09:00 is 09:00 in winter and summer; on a clock-change day the repeated hour counts
  twice and the missing one never.
* **Persistence**: ``occ(t + h) ≈ P(t + h) + rho · (occ(t) - P(t))``: part of today's deviation
  (an event, a sunny Saturday) lasts an hour. ``rho`` is fitted by least squares on the training
  weeks' deviations ``h`` apart and kept within [0, 1].
* **Available bays** = bays with a known status now x (1 - predicted occupancy).

:func:`evaluate` replays held-out data: at each origin ``t`` on a grid it predicts the free bays
at ``t + h`` from the state at ``t`` and scores the mean absolute error in bays, beside the naive
forecast (free bays at ``t``) and the profile alone (``rho = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import LONDON, Grouping
from analytics.parking.controlled import utc_offset
from analytics.parking.series import counts_at, occupancy_slots
from analytics.parking.timeline import Fleet

Floats = npt.NDArray[np.float64]
_DAY = 86_400.0


def local_week_slot(t: npt.ArrayLike, slot_s: float, tz: ZoneInfo) -> npt.NDArray[np.intp]:
    """``weekday x slots_per_day + slot of the local day`` of each UTC instant (0 = Monday 00:00).

    The UTC offset is looked up once per distinct UTC hour (zone offsets change on the hour).
    """
    t = np.asarray(t, dtype=np.float64)
    hours, inverse = np.unique(np.floor(t / 3600.0), return_inverse=True)
    offsets = np.array([utc_offset(h * 3600.0, tz) for h in hours], dtype=np.float64)
    local = t + offsets[inverse.reshape(t.shape)]
    days = np.floor(local / _DAY)
    weekday = ((days + 3) % 7).astype(np.intp)  # 1970-01-01 was a Thursday
    per_day = round(_DAY / slot_s)
    return weekday * per_day + ((local - days * _DAY) // slot_s).astype(np.intp)


@dataclass(frozen=True, slots=True)
class Profile:
    """One group's weekly occupancy profile and persistence (see the module)."""

    occupancy: Floats
    """``P`` by :func:`local_week_slot` (``7 x slots per day``); ``nan`` where never observed."""
    persistence: float
    horizon_s: float
    slot_s: float
    tz: ZoneInfo

    def expected(self, t: npt.ArrayLike) -> Floats:
        """``P`` at each instant."""
        return np.asarray(self.occupancy[local_week_slot(t, self.slot_s, self.tz)], np.float64)

    def predict(self, now: npt.ArrayLike, occupancy_now: npt.ArrayLike) -> Floats:
        """Occupancy at ``now + horizon`` given the occupancy at ``now``. Falls back to the
        current occupancy where the profile has no value, and to the profile where now is unknown."""
        now = np.asarray(now, np.float64)
        current = np.asarray(occupancy_now, np.float64)
        base_now = self.expected(now)
        base_then = self.expected(now + self.horizon_s)
        blended = base_then + self.persistence * (current - base_now)
        guess = np.where(
            np.isnan(blended), np.where(np.isnan(base_then), current, base_then), blended
        )
        return np.clip(guess, 0.0, 1.0)

    def available(self, now: float, *, free: int, occupied: int) -> float:
        """Free bays expected at ``now + horizon`` in a group with these live counts (e.g. from
        :meth:`~analytics.parking.live.LiveBays.availability`); ``nan`` if none is known."""
        known = free + occupied
        if known == 0:
            return float("nan")
        return known * (1.0 - float(self.predict(now, occupied / known)))


def fit_profiles(
    fleet: Fleet,
    t0: float,
    t1: float,
    *,
    by: Grouping = "zone",
    horizon_s: float = 3600.0,
    slot_s: float = 900.0,
    smooth_slots: int = 1,
    tz: ZoneInfo = LONDON,
) -> dict[str, Profile]:
    """A profile per group from the timelines over ``[t0, t1)`` (the training weeks)."""
    if round(_DAY / slot_s) * slot_s != _DAY:
        raise ValueError("slot_s must divide a day")
    cells = 7 * round(_DAY / slot_s)
    kernel = np.ones(2 * smooth_slots + 1)
    origins = np.arange(t0, t1 - horizon_s, slot_s)
    now = counts_at(fleet, origins, by=by)
    then = counts_at(fleet, origins + horizon_s, by=by)
    out = {}
    for label, slots in occupancy_slots(fleet, t0, t1, by=by, slot_s=slot_s).items():
        cell = local_week_slot(slots.starts, slot_s, tz)
        occupied = _ring_sum(np.bincount(cell, slots.occupied_s, cells).astype(np.float64), kernel)
        observed = _ring_sum(np.bincount(cell, slots.observed_s, cells).astype(np.float64), kernel)
        with np.errstate(invalid="ignore", divide="ignore"):
            profile = np.where(observed > 0, occupied / observed, np.nan)
        fitted = Profile(profile, 0.0, horizon_s, slot_s, tz)
        d0 = _share(now[label].occupied, now[label].free) - fitted.expected(origins)
        d1 = _share(then[label].occupied, then[label].free) - fitted.expected(origins + horizon_s)
        ok = ~(np.isnan(d0) | np.isnan(d1))
        spread = float(np.sum(d0[ok] ** 2))
        rho = float(np.clip(np.sum(d0[ok] * d1[ok]) / spread, 0.0, 1.0)) if spread > 0 else 0.0
        out[label] = Profile(profile, rho, horizon_s, slot_s, tz)
    return out


def _ring_sum(values: Floats, kernel: Floats) -> Floats:
    """Moving sum around the week (Sunday night runs into Monday morning)."""
    k = kernel.size // 2
    padded = np.concatenate((values[-k:], values, values[:k])) if k else values
    return np.convolve(padded, kernel, mode="valid")


def _share(occupied: npt.NDArray[np.int64], free: npt.NDArray[np.int64]) -> Floats:
    known = occupied + free
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known > 0, occupied / np.maximum(known, 1), np.nan)


@dataclass(frozen=True, slots=True)
class Evaluation:
    origins: int
    mae_model: float
    """Mean absolute error of the predicted free bays (profile + persistence)."""
    mae_naive: float
    """… of "as many free as now"."""
    mae_profile: float
    """… of the profile alone."""
    mean_free: float
    """Mean actual free bays at the targets, for scale."""


def evaluate(
    profile: Profile,
    fleet: Fleet,
    t0: float,
    t1: float,
    *,
    group: str,
    by: Grouping = "zone",
    step_s: float = 900.0,
) -> Evaluation:
    """Score ``profile`` on ``group``'s held-out timelines, origins every ``step_s`` in
    ``[t0, t1 - horizon)``; origins where no bay is known now or then are skipped."""
    origins = np.arange(t0, t1 - profile.horizon_s, step_s)
    now = counts_at(fleet, origins, by=by)[group]
    then = counts_at(fleet, origins + profile.horizon_s, by=by)[group]
    known_now = now.free + now.occupied
    ok = (known_now > 0) & (then.free + then.occupied > 0)
    origins, known, actual = origins[ok], known_now[ok], then.free[ok].astype(np.float64)
    share_now = now.occupied[ok] / known
    model = known * (1.0 - profile.predict(origins, share_now))
    alone = Profile(profile.occupancy, 0.0, profile.horizon_s, profile.slot_s, profile.tz)
    plain = known * (1.0 - alone.predict(origins, share_now))
    naive = now.free[ok].astype(np.float64)
    return Evaluation(
        origins=int(origins.size),
        mae_model=float(np.mean(np.abs(model - actual))) if origins.size else float("nan"),
        mae_naive=float(np.mean(np.abs(naive - actual))) if origins.size else float("nan"),
        mae_profile=float(np.mean(np.abs(plain - actual))) if origins.size else float("nan"),
        mean_free=float(actual.mean()) if origins.size else float("nan"),
    )

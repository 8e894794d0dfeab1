"""Sensor quality control: flag readings that must not reach an index or an alert.

Each reading gets a :class:`QcFlag` (a bit set, so a reading can carry several reasons); the
flagged readings become NaN for the indices, and the flags are kept for display. Checks, in
order, each on the readings the earlier checks left [D; thresholds in :class:`QcConfig`]:

- **Out of range**: outside plausible bounds for the pollutant. Slightly negative values are
  allowed (reference analysers and FDMS particle monitors report small negatives at low
  concentrations; the indices clamp them to 0); the upper bounds sit above UK records.
- **Stuck**: the same value (within ``stuck_tolerance``) for at least ``stuck_readings``
  consecutive present readings; missing readings do not break the run. With 5-minute readings
  the default 24 is two hours.
- **Spike**: a Hampel filter: a reading further from the median of the ``2k + 1`` readings
  centred on it than ``spike_threshold`` robust standard deviations (1.4826 x the median
  absolute deviation) *and* than ``spike_min_jump`` µg/m³. A sustained rise is not flagged (the
  median follows it) except at the newest readings of a series, where the window is one-sided:
  an alert waits for the rise to be confirmed by the next readings rather than fire on one.
- **Drift** against neighbours of the same site type (:mod:`.drift`), when neighbours are given.
  It needs ``drift_days`` days of history to show.

:func:`clean` is the one call the services need: ``values, flags = clean(series, "no2")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntFlag
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from analytics.air_quality.drift import drift
from analytics.air_quality.pollutants import Pollutant
from analytics.air_quality.pollutants import pollutant as as_pollutant
from analytics.air_quality.series import Floats, Monitor, Series, same_site_type

Flags = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]


class QcFlag(IntFlag):
    """Why a reading was excluded (combinable)."""

    OUT_OF_RANGE = 1
    STUCK = 2
    SPIKE = 4
    DRIFT = 8


# Plausible bounds per reading, µg/m³ [D]. Upper: above UK records with margin (O3's UK record
# is about 500 µg/m³; PM2.5 reaches the hundreds on bonfire nights); PM10 and SO2 allow dust
# and plume episodes.
PLAUSIBLE: Mapping[Pollutant, tuple[float, float]] = MappingProxyType(
    {
        "pm25": (-10.0, 1000.0),
        "pm10": (-10.0, 2000.0),
        "no2": (-5.0, 1000.0),
        "o3": (-5.0, 600.0),
        "so2": (-5.0, 2000.0),
    }
)

# Scales a median absolute deviation to a standard deviation for normal data.
_MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True, kw_only=True)
class QcConfig:
    ranges: Mapping[Pollutant, tuple[float, float]] = field(default_factory=lambda: PLAUSIBLE)
    stuck_readings: int = 24
    stuck_tolerance: float = 0.0
    spike_half_window: int = 6
    spike_threshold: float = 6.0
    spike_min_jump: float = 20.0
    drift_ratio: float = 1.5
    drift_min_difference: float = 5.0
    drift_days: int = 3
    drift_min_neighbours: int = 2
    drift_min_hours: int = 18

    def __post_init__(self) -> None:
        if self.stuck_readings < 2 or self.spike_half_window < 1 or self.drift_days < 1:
            raise ValueError("stuck_readings ≥ 2, spike_half_window ≥ 1 and drift_days ≥ 1")
        if self.drift_ratio < 1 or self.spike_threshold <= 0:
            raise ValueError("drift_ratio must be ≥ 1 and spike_threshold positive")


class Cleaned(NamedTuple):
    values: Floats
    """The readings with every flagged one replaced by NaN."""
    flags: Flags
    """:class:`QcFlag` bits per reading; 0 for a reading that passed."""


def reasons(flags: int) -> tuple[str, ...]:
    """The names of the reasons in one reading's flags, e.g. ``("STUCK", "SPIKE")``."""
    return tuple(flag.name or "" for flag in QcFlag if flags & flag)


def out_of_range(values: Floats, low: float, high: float) -> Mask:
    return np.isfinite(values) & ((values < low) | (values > high))


def stuck(values: Floats, *, readings: int, tolerance: float = 0.0) -> Mask:
    """Readings in runs of at least ``readings`` consecutive present values that differ from
    the previous one by no more than ``tolerance``."""
    out = np.zeros(len(values), dtype=bool)
    where = np.flatnonzero(np.isfinite(values))
    present = values[where]
    if len(present) < readings:
        return out
    breaks = np.flatnonzero(np.abs(np.diff(present)) > tolerance) + 1
    lengths = np.diff(np.concatenate([[0], breaks, [len(present)]]))
    out[where] = np.repeat(lengths >= readings, lengths)
    return out


def spikes(values: Floats, *, half_window: int, threshold: float, min_jump: float) -> Mask:
    """Readings far from the median of their neighbourhood (a Hampel filter)."""
    out = np.zeros(len(values), dtype=bool)
    where = np.flatnonzero(np.isfinite(values))
    if not len(where):
        return out
    pad = np.full(half_window, np.nan)
    # Windows only around present readings: each holds at least its own value, so the NaN
    # medians never see an all-NaN row.
    windows = sliding_window_view(np.concatenate([pad, values, pad]), 2 * half_window + 1)[where]
    median = _row_medians(windows)
    mad = _row_medians(np.abs(windows - median[:, None]))
    limit = np.maximum(threshold * _MAD_TO_SD * mad, min_jump)
    out[where] = np.abs(values[where] - median) > limit
    return out


def _row_medians(rows: Floats) -> Floats:
    # np.median is several times faster than np.nanmedian; only rows with a gap need the latter.
    gaps = np.isnan(rows).any(axis=1)
    out = np.empty(len(rows))
    out[~gaps] = np.median(rows[~gaps], axis=1)
    if gaps.any():
        out[gaps] = np.nanmedian(rows[gaps], axis=1)
    return out


def _local_flags(values: Floats, name: Pollutant, config: QcConfig) -> Flags:
    flags = np.zeros(len(values), dtype=np.uint8)
    low, high = config.ranges[name]
    bad = out_of_range(values, low, high)
    flags[bad] |= np.uint8(QcFlag.OUT_OF_RANGE)
    left = np.where(bad, np.nan, values)
    flags[stuck(left, readings=config.stuck_readings, tolerance=config.stuck_tolerance)] |= (
        np.uint8(QcFlag.STUCK)
    )
    flags[
        spikes(
            left,
            half_window=config.spike_half_window,
            threshold=config.spike_threshold,
            min_jump=config.spike_min_jump,
        )
    ] |= np.uint8(QcFlag.SPIKE)
    return flags


def clean(
    series: Series,
    pollutant: str,
    *,
    neighbours: Sequence[Series] = (),
    config: QcConfig | None = None,
) -> Cleaned:
    """Flag ``series`` (one pollutant at one monitor) and blank the flagged readings.

    ``neighbours`` are the same pollutant at monitors of the same site type, over the same
    window; they get the range, stuck and spike checks before serving as the reference."""
    name = as_pollutant(pollutant)
    config = config or QcConfig()
    flags = _local_flags(series.values, name, config)
    values = np.where(flags != 0, np.nan, series.values)
    if neighbours:
        references = []
        for other in neighbours:
            other_flags = _local_flags(other.values, name, config)
            references.append(
                Series(other.timestamps, np.where(other_flags != 0, np.nan, other.values))
            )
        report = drift(
            Series(series.timestamps, values),
            references,
            ratio=config.drift_ratio,
            min_difference=config.drift_min_difference,
            days=config.drift_days,
            min_neighbours=config.drift_min_neighbours,
            min_hours=config.drift_min_hours,
        )
        drifting = report.readings(series.timestamps) & np.isfinite(values)
        flags[drifting] |= np.uint8(QcFlag.DRIFT)
        values[drifting] = np.nan
    return Cleaned(values, flags)


def clean_monitor(
    monitor: Monitor, *, neighbours: Sequence[Monitor] = (), config: QcConfig | None = None
) -> tuple[Monitor, Mapping[Pollutant, Flags]]:
    """:func:`clean` for every pollutant of ``monitor``; neighbours of other site types (and
    the monitor itself) are ignored. Returns the cleaned monitor and the flags per pollutant."""
    peers = same_site_type(monitor, neighbours)
    cleaned: dict[str, Floats] = {}
    flags: dict[Pollutant, Flags] = {}
    for name in monitor.pollutants:
        others = [peer.series(name) for peer in peers if name in peer.values]
        cleaned[name], flags[name] = clean(
            monitor.series(name), name, neighbours=others, config=config
        )
    return monitor.with_values(cleaned), MappingProxyType(flags)

"""A monitor's time series as numpy columns, the shape the read side can fill directly.

Timestamps are UTC instants held as naive ``datetime64[s]`` (numpy has no time zones). Values are
``float64`` in µg/m³ with NaN for a missing or flagged reading. Local time (Europe/London) matters
only where a *day* is meant: the historical daily DAQI and the daily means of compliance
(:mod:`analytics.air_quality.averaging`). Hours, 15-minute periods and running means are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.air_quality.pollutants import Pollutant, pollutant

Instants = npt.NDArray[np.datetime64]
Floats = npt.NDArray[np.float64]


def utc_datetime64(instants: Sequence[datetime | np.datetime64] | npt.NDArray[Any]) -> Instants:
    """Timestamps as naive UTC ``datetime64[s]``.

    Accepts time-zone aware ``datetime`` objects (what psycopg returns for ``timestamptz``),
    converting each to UTC, or ``datetime64`` values (taken to be UTC already). Naive
    ``datetime`` objects are refused: their zone would be a guess.
    """
    if isinstance(instants, np.ndarray) and np.issubdtype(instants.dtype, np.datetime64):
        return instants.astype("datetime64[s]")
    items: list[Any] = instants.tolist() if isinstance(instants, np.ndarray) else list(instants)
    out = np.empty(len(items), dtype="datetime64[s]")
    for i, item in enumerate(items):
        if isinstance(item, datetime):
            if item.tzinfo is None:
                raise ValueError(f"naive datetime {item.isoformat()}: give a UTC-aware one")
            item = item.astimezone(UTC).replace(tzinfo=None)
        out[i] = np.datetime64(item, "s")
    return out


def _floats(values: npt.ArrayLike) -> Floats:
    # None (a NULL column) becomes NaN.
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class Series:
    """One quantity at one monitor: parallel UTC timestamps (ascending) and values."""

    timestamps: Instants
    values: Floats

    def __post_init__(self) -> None:
        ts = utc_datetime64(self.timestamps)
        values = _floats(self.values)
        _check(ts, [("values", values)])
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class Monitor:
    """One air-quality monitor's readings: a value column per pollutant it measures.

    ``interval_s`` is how often it reports (the device type's ``expected_interval_s``); data
    capture is measured against it. ``site_type`` (roadside, kerbside, urban_background) picks
    the neighbours its drift is judged against.
    """

    monitor_id: str
    timestamps: Instants
    values: Mapping[str, Floats]
    """Pollutant name (one of :data:`~.pollutants.POLLUTANTS`) → values, NaN for missing."""
    interval_s: int = 300
    site_type: str = "urban_background"
    zones: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {self.interval_s}")
        ts = utc_datetime64(self.timestamps)
        values = {pollutant(name): _floats(column) for name, column in self.values.items()}
        _check(ts, values.items())
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", MappingProxyType(values))

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def pollutants(self) -> tuple[Pollutant, ...]:
        return tuple(pollutant(name) for name in self.values)

    def series(self, name: Pollutant) -> Series:
        """The readings of one pollutant (all NaN if the monitor does not measure it)."""
        column = self.values.get(name)
        if column is None:
            column = np.full(len(self.timestamps), np.nan)
        return Series(self.timestamps, column)

    def with_values(self, values: Mapping[str, Floats]) -> Monitor:
        """The same monitor with some columns replaced (e.g. by their QC-cleaned versions)."""
        return Monitor(
            self.monitor_id,
            self.timestamps,
            {**self.values, **values},
            interval_s=self.interval_s,
            site_type=self.site_type,
            zones=self.zones,
        )


def same_site_type(monitor: Monitor, candidates: Sequence[Monitor]) -> list[Monitor]:
    """The candidates that can serve as ``monitor``'s neighbours for drift: the same site type,
    not the monitor itself. A roadside monitor reads higher NO2 than a background one by design,
    so comparing across site types would call that drift."""
    return [
        other
        for other in candidates
        if other.site_type == monitor.site_type and other.monitor_id != monitor.monitor_id
    ]


def _check(timestamps: Instants, columns: Iterable[tuple[str, Floats]]) -> None:
    if timestamps.ndim != 1:
        raise ValueError("timestamps must be one-dimensional")
    for name, column in columns:
        if column.shape != timestamps.shape:
            raise ValueError(f"{name} has {column.size} values for {timestamps.size} timestamps")
    if timestamps.size and np.isnat(timestamps).any():
        raise ValueError("timestamps must not contain NaT")
    if timestamps.size > 1 and (np.diff(timestamps) < np.timedelta64(0, "s")).any():
        raise ValueError("timestamps must be in ascending order")

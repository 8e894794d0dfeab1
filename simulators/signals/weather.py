"""The city's weather: one seeded field that weather stations report and other models feel.

Outdoor temperature drives the meters' heating load; wind, rain and sunshine drive air quality.
All of it is a pure function of the seed and the instant, so a meter and a weather station see
the same cold snap. Climate figures are London's (daily mean about 5 °C in January, 19 °C in July,
around 600 mm of rain a year).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike

from simulators.signals.calendar import local_time
from simulators.signals.grid import Grid
from simulators.signals.noise import Floats, smooth, stable_key

_HOUR = 3600.0
_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Weather:
    """Weather at a set of instants (arrays aligned with them)."""

    temperature_c: Floats
    humidity_pct: Floats
    wind_speed_ms: Floats
    rain_rate_mmh: Floats
    sunshine: Floats
    """0 (night or overcast) .. 1 (clear midday sun)."""
    heating_temperature_c: Floats
    """The temperature a building's heating responds to: outdoor air without most of the
    day-night swing (thermal mass smooths it)."""


@dataclass(frozen=True, slots=True)
class WeatherModel:
    """The weather of one simulated city (computed on a 5-minute grid, shared by all devices)."""

    seed: int
    tz: ZoneInfo
    _grid: Grid = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_grid", Grid(self._fields))

    def _key(self, stream: str) -> int:
        return stable_key(self.seed, "city-weather", stream)

    def at(self, t: ArrayLike) -> Weather:
        """The weather at POSIX instants ``t``."""
        return Weather(**self._grid.at(t))

    def _fields(self, ts: Floats) -> dict[str, Floats]:
        lt = local_time(ts, self.tz)
        summer = 1.0 - lt.winter
        cloud = np.clip(0.6 + 0.35 * smooth(self._key("cloud"), ts, 10 * _HOUR), 0.0, 1.0)
        daylight = np.clip(np.cos(np.pi * (lt.hour - 13.0) / (10.0 + 6.0 * summer)), 0.0, None) * (
            lt.hour > 3
        )
        sunshine = daylight * (1.0 - 0.8 * cloud) * (0.55 + 0.45 * summer)

        seasonal = 18.3 - 14.0 * lt.winter  # 4.3 °C mid-January .. 18.3 °C mid-July
        synoptic = 2.6 * smooth(self._key("front"), ts, 3 * _DAY) + 1.2 * smooth(
            self._key("day"), ts, 20 * _HOUR
        )
        swing = (2.5 + 2.5 * summer) * (1.0 - 0.5 * cloud)
        diurnal = swing * np.cos(2.0 * np.pi * (lt.hour - 15.0) / 24.0)
        temperature = seasonal + synoptic + diurnal

        rain = self._rain_rate(ts)

        humidity = (
            76.0
            + 8.0 * lt.winter
            - 2.2 * diurnal
            + 5.0 * smooth(self._key("humid"), ts, _DAY)
            + 12.0 * np.minimum(rain, 1.0)
        )
        wind = (
            4.2
            * np.exp(
                0.45 * smooth(self._key("wind"), ts, 1.5 * _DAY)
                + 0.2 * smooth(self._key("gust"), ts, 3 * _HOUR)
            )
            * (0.85 + 0.3 * lt.winter)
            * (0.8 + 0.2 * daylight)
        )
        return {
            "temperature_c": np.clip(temperature, -30.0, 45.0),
            "humidity_pct": np.clip(humidity, 20.0, 100.0),
            "wind_speed_ms": np.clip(wind, 0.0, 40.0),
            "rain_rate_mmh": np.clip(rain, 0.0, 60.0),
            "sunshine": sunshine,
            "heating_temperature_c": seasonal + synoptic + 0.3 * diurnal,
        }

    def _rain_rate(self, ts: Floats) -> Floats:
        wetness = smooth(self._key("rain"), ts, 14 * _HOUR) + 0.45 * smooth(
            self._key("shower"), ts, 2 * _HOUR
        )
        result: Floats = np.clip(0.8 * np.clip(wetness - 0.95, 0.0, None) ** 1.5, 0.0, 60.0)
        return result

    def rainfall_mm(self, t: ArrayLike, interval: float) -> Floats:
        """Rain that fell in the ``interval`` seconds before each instant (midpoint rule, 4 steps)."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        steps = 4
        mids = np.concatenate([ts - interval * (k + 0.5) / steps for k in range(steps)])
        rates = self.at(mids).rain_rate_mmh.reshape(steps, ts.size)
        total = rates.sum(axis=0) * (interval / steps / _HOUR)
        result: Floats = np.clip(total, 0.0, 500.0)
        return result

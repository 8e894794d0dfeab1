"""Air quality at a monitor: traffic NO2, regional PM episodes, afternoon ozone, weather, noise.

Concentrations (µg/m³) are a regional background plus a local traffic increment that depends on
the site (kerbside > roadside > urban background) and the inlet height, scaled by dispersion
(calm air concentrates, wind dilutes, rain washes particles out). Ozone peaks in sunny afternoons
and is titrated by traffic NO, so it is lower at the roadside. Levels follow London's: NO2 about
20-25 at background sites and 35-45 at the roadside as annual means.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike

from simulators.model import AirSite
from simulators.signals.calendar import LocalTime, bump, local_time
from simulators.signals.grid import Grid
from simulators.signals.noise import Floats, device_random, normal, smooth, stable_key, uniform
from simulators.signals.weather import WeatherModel

_HOUR = 3600.0
_DAY = 86_400.0

_TRAFFIC_INCREMENT = {"kerbside": 42.0, "roadside": 27.0, "urban_background": 5.0}
"""Mean local NO2 increment (µg/m³) at a weekday traffic factor of 1."""


@dataclass(frozen=True, slots=True)
class Episode:
    """A local pollution episode at a monitor, ramping in and out over ``ramp`` seconds."""

    start: float
    end: float
    no2_factor: float = 1.0
    pm25_add: float = 0.0
    ramp: float = 3 * _HOUR

    def weight(self, t: Floats) -> Floats:
        """0 outside the episode, 1 inside it, linear ramps at both ends."""
        rise = np.clip((t - self.start) / self.ramp, 0.0, 1.0)
        fall = np.clip((self.end - t) / self.ramp, 0.0, 1.0)
        result: Floats = np.minimum(rise, fall) * (t < self.end) * (t >= self.start)
        return result


def traffic(lt: LocalTime) -> Floats:
    """Relative traffic flow by local time: weekday rush hours at 08:15 and 17:30, flatter weekends."""
    weekday = (
        0.25
        + 1.05 * bump(lt.hour, 8.25, 1.1)
        + 0.9 * bump(lt.hour, 17.5, 1.5)
        + 0.55 * bump(lt.hour, 12.5, 2.8)
    )
    weekend = 0.2 + 0.75 * bump(lt.hour, 13.5, 3.5)
    result: Floats = np.where(lt.weekend, weekend, weekday)
    return result


class CityAir:
    """Regional (city-wide) background pollution, shared by every monitor of a run."""

    def __init__(self, seed: int, tz: ZoneInfo) -> None:
        self.seed = seed
        self.tz = tz
        self._grid = Grid(self._series)

    def _series(self, ts: Floats) -> dict[str, Floats]:
        lt = local_time(ts, self.tz)
        regional = smooth(stable_key(self.seed, "pm-episode"), ts, 4 * _DAY)
        return {
            "no2": (17.0 + 9.0 * lt.winter)
            * np.exp(0.25 * smooth(stable_key(self.seed, "city-air"), ts, 2 * _DAY)),
            # Mostly clean, with multi-day episodes (easterly air, spring nitrate).
            "pm25": 6.0 + 3.0 * lt.winter + 16.0 * np.clip(regional - 1.1, 0.0, None) ** 1.3,
        }

    def at(self, t: Floats) -> dict[str, Floats]:
        return self._grid.at(t)


class AirQualityModel:
    """Signals of one monitor; a pure function of (seed, device id, instant)."""

    def __init__(
        self,
        device_id: str,
        site: AirSite,
        seed: int,
        weather: WeatherModel,
        city: CityAir | None = None,
        episodes: tuple[Episode, ...] = (),
    ) -> None:
        self.device_id = device_id
        self.site = site
        self.seed = seed
        self.weather = weather
        self.city = city if city is not None else CityAir(seed, weather.tz)
        self.episodes = episodes
        self._keys = {
            s: device_random(seed, device_id, s)
            for s in ("no2", "pm25", "pm10", "o3", "so2", "t", "traffic")
        }
        # Per-site constants: how busy the road is, how the inlet height dilutes the plume.
        busy = float(np.exp(0.3 * normal(device_random(seed, device_id, "busy"), 0)[0]))
        height = float(np.exp(-max(0.0, site.inlet_height_m - 1.5) / 6.0))
        self._increment = _TRAFFIC_INCREMENT[site.site_type] * busy * height
        self._roadside = site.site_type != "urban_background"
        self._heat = 0.4 + 0.6 * float(uniform(device_random(seed, device_id, "heat"), 0)[0])

    def sample(self, t: ArrayLike) -> dict[str, Floats]:
        """Readings at POSIX instants ``t`` (whole seconds), one array per contract field."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        counter = ts.astype(np.int64)
        lt = local_time(ts, self.weather.tz)
        wx = self.weather.at(ts)
        region = self.city.at(ts)
        roadside = self._roadside

        calm = np.clip((3.5 / np.maximum(wx.wind_speed_ms, 0.7)) ** 0.6, 0.45, 2.6)
        night_inversion = 1.0 + 0.25 * lt.winter * bump(lt.hour, 3.0, 4.0)
        dispersion = calm * night_inversion
        day_to_day = np.exp(0.15 * smooth(self._keys["traffic"], ts, _DAY))
        flow = traffic(lt) * day_to_day

        no2_local = self._increment * flow * dispersion
        woodsmoke = 5.0 * lt.winter * bump(lt.hour, 21.0, 2.5)
        washout = 1.0 - 0.45 * np.minimum(wx.rain_rate_mmh / 2.0, 1.0)
        pm25 = (region["pm25"] + woodsmoke) * washout * np.sqrt(calm) + (
            2.5 if roadside else 0.5
        ) * flow * dispersion
        pm10 = pm25 * 1.45 + (5.0 if roadside else 1.5) * flow * washout
        ox = 38.0 + 22.0 * (1.0 - lt.winter) + 40.0 * wx.sunshine
        o3 = (
            ox * np.clip(wx.wind_speed_ms / 3.0, 0.55, 1.15)
            - 0.55 * no2_local
            - 0.15 * region["no2"]
        )
        so2 = 2.5 + 1.5 * lt.winter + (0.8 if roadside else 0.2) * flow

        for episode in self.episodes:
            w = episode.weight(ts)
            no2_local = no2_local * (1.0 + (episode.no2_factor - 1.0) * w)
            pm25 = pm25 + episode.pm25_add * w
            pm10 = pm10 + 1.3 * episode.pm25_add * w
        no2 = region["no2"] + no2_local

        def noisy(values: Floats, stream: str, floor: float, relative: float) -> Floats:
            sd = floor + relative * values
            result: Floats = np.maximum(0.0, values + sd * normal(self._keys[stream], counter))
            return result

        return {
            "no2": noisy(no2, "no2", 1.5, 0.06),
            "pm25": noisy(pm25, "pm25", 0.8, 0.08),
            "pm10": noisy(pm10, "pm10", 1.2, 0.08),
            "o3": noisy(np.maximum(o3, 0.0), "o3", 1.5, 0.05),
            "so2": noisy(so2, "so2", 0.4, 0.1),
            "temperature_c": wx.temperature_c + self._heat + 0.2 * normal(self._keys["t"], counter),
            "humidity_pct": np.clip(wx.humidity_pct - 2.0 * self._heat, 0.0, 100.0),
        }

"""Household consumption per half-hour, from the household's registry attributes and the weather.

Electricity is a baseload (fridge, standby) plus activity shaped by the day (a morning peak, a
larger evening peak, later mornings at weekends, more lighting in winter) and appliance bursts.
Space heating follows degree days below a 15.5 °C base (the UK convention) with a heat-loss
coefficient from the property type and floor area: gas homes burn gas (boiler efficiency 88 %,
1 m³ = 11.22 kWh at a calorific value of 39.5 MJ/m³), electric homes run a heat pump or charge
storage heaters overnight. Annual totals land near Ofgem's typical values (2,700 kWh of
electricity and 11,500 kWh of gas for a medium household). A :class:`~simulators.model.Treatment`
scales the use of chosen households from an instant on: the known effect that the nudge trial's
end-to-end tests must recover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulators.model import Household, Treatment
from simulators.signals.calendar import LocalTime, bump, local_time
from simulators.signals.noise import Floats, device_random, normal, uniform
from simulators.signals.weather import WeatherModel

HALF_HOUR = 1800.0
GAS_KWH_PER_M3 = 1.02264 * 39.5 / 3.6
HEATING_BASE_C = 15.5
_OCCUPANTS = {"1": 1.0, "2": 2.0, "3-4": 3.5, "5+": 5.5}
_ANNUAL_KWH = {"1": 1900.0, "2": 2700.0, "3-4": 3500.0, "5+": 4400.0}
_PROPERTY = {"detached": 1.25, "semi": 1.08, "terrace": 1.0, "flat": 0.8}
_AREA = {"<50": 0.8, "50-100": 1.0, "100-150": 1.2, ">150": 1.45}
_HEAT_LOSS_W_PER_K = {"<50": 80.0, "50-100": 125.0, "100-150": 180.0, ">150": 250.0}
_HEAT_PROPERTY = {"detached": 1.3, "semi": 1.1, "terrace": 1.0, "flat": 0.75}


@dataclass(frozen=True, slots=True)
class Consumption:
    """Energy used in each half-hour (arrays aligned with the periods)."""

    electricity_kwh: Floats
    gas_m3: Floats | None
    """``None`` for homes without a gas supply."""
    heat_kwh: Floats
    """Space-heating demand (heat delivered), whatever the fuel."""


def _activity(lt: LocalTime) -> Floats:
    weekday = (0.3 + 1.1 * bump(lt.hour, 7.4, 0.9) + 0.45 * bump(lt.hour, 13.0, 2.5)) + 2.1 * bump(
        lt.hour, 19.0, 1.9
    )
    weekend = 0.3 + 1.0 * bump(lt.hour, 9.8, 1.5) + 0.9 * bump(lt.hour, 13.5, 2.5)
    weekend = weekend + 1.8 * bump(lt.hour, 18.7, 2.0)
    lighting = 0.7 * lt.winter * bump(lt.hour, 19.5, 2.6)
    result: Floats = np.where(lt.weekend, weekend, weekday) + lighting
    return result


def _heating_schedule(hour: Floats) -> Floats:
    """Timer pattern of a typical boiler (mean 1 over the day)."""
    result: Floats = (0.3 + 1.6 * bump(hour, 7.0, 1.1) + 1.5 * bump(hour, 19.5, 2.4)) / 0.86
    return result


@dataclass(frozen=True, slots=True)
class _HalfHours:
    """What every household's half-hours share: local clock, weather and daily shapes."""

    index: NDArray[np.int64]
    """Half-hour number since the epoch (the noise counter)."""
    activity: Floats
    heating_schedule: Floats
    heating_temperature_c: Floats
    water_shape: Floats
    night: NDArray[np.bool_]


def _half_hours(weather: WeatherModel, end: Floats) -> _HalfHours:
    mid = end - HALF_HOUR / 2
    lt = local_time(mid, weather.tz)
    return _HalfHours(
        index=(end // HALF_HOUR).astype(np.int64),
        activity=_activity(lt) / 1.07,  # 1 on average over a year
        heating_schedule=_heating_schedule(lt.hour),
        heating_temperature_c=weather.at(mid).heating_temperature_c,
        water_shape=0.4 + 1.8 * bump(lt.hour, 7.3, 1.0) + 1.4 * bump(lt.hour, 19.0, 1.6),
        night=(lt.hour >= 0.5) & (lt.hour < 7.5),  # storage heaters charge off-peak
    )


_SHARED: dict[tuple[WeatherModel, bytes], _HalfHours] = {}


def _shared_half_hours(weather: WeatherModel, end: Floats) -> _HalfHours:
    """:func:`_half_hours`, computed once for all the households of a simulation window.

    A simulator steps every meter of a city through the same window: the clock, the weather and
    the daily shapes are the same for each, and are most of the cost of one household's window.
    The few newest windows are kept (keyed by the exact instants, so a hit is the same values).
    """
    key = (weather, end.tobytes())
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= 4:
            _SHARED.pop(next(iter(_SHARED)))
        found = _SHARED[key] = _half_hours(weather, end)
    return found


class HouseholdModel:
    """Half-hourly consumption of one household; a pure function of (seed, device id, period)."""

    def __init__(
        self,
        device_id: str,
        household: Household,
        seed: int,
        weather: WeatherModel,
        *,
        treatment: Treatment | None = None,
    ) -> None:
        self.device_id = device_id
        self.household = household
        self.seed = seed
        self.weather = weather
        self.treatment = treatment
        """A known effect to inject (the nudge trial's tests); ``None``: none."""
        self._keys = {s: self._key(s) for s in ("wobble", "burst", "burst-size", "gas", "reset")}
        h = household
        self.annual_kwh = (
            _ANNUAL_KWH[h.occupants_band]
            * _PROPERTY[h.property_type]
            * _AREA[h.floor_area_band]
            * self._constant("size", 0.2)
        )
        """Expected electricity use in a year without electric heating."""
        self.heat_loss_w_per_k = (
            _HEAT_LOSS_W_PER_K[h.floor_area_band]
            * _HEAT_PROPERTY[h.property_type]
            * self._constant("fabric", 0.15)
        )
        self._setpoint = HEATING_BASE_C + 0.8 * float(normal(self._key("setpoint"), 0)[0])
        self._heat_pump = float(uniform(self._key("heater"), 0)[0]) < 0.4

    def _key(self, stream: str) -> int:
        return device_random(self.seed, self.device_id, stream)

    def _constant(self, stream: str, sd: float) -> float:
        return float(np.exp(sd * normal(self._key(stream), 0)[0]))

    def consumption(self, period_end: ArrayLike) -> Consumption:
        """Energy used in the half-hours ending at ``period_end`` (POSIX seconds)."""
        end = np.atleast_1d(np.asarray(period_end, dtype=np.float64))
        shared = _shared_half_hours(self.weather, end)
        index = shared.index
        h = self.household
        occupants = _OCCUPANTS[h.occupants_band]

        # Kettles, ovens and washing machines: 3 % of half-hours, 0.3-1.0 kWh each.
        burst = (uniform(self._keys["burst"], index) < 0.03) * (
            0.3 + 0.7 * uniform(self._keys["burst-size"], index)
        )
        mean_kw = self.annual_kwh / 8766.0 - 0.03 * 0.65 / 0.5
        baseload_kw = 0.35 * mean_kw
        wobble = np.exp(0.35 * normal(self._keys["wobble"], index) - 0.06)
        electricity = (
            baseload_kw + (mean_kw - baseload_kw) * shared.activity * wobble
        ) * 0.5 + burst

        degrees = np.clip(self._setpoint - shared.heating_temperature_c, 0.0, None)
        daily_heat_kw = self.heat_loss_w_per_k * degrees / 1000.0
        heat = daily_heat_kw * shared.heating_schedule * 0.5

        gas: Floats | None = None
        if h.heating_fuel == "gas":
            water = (1500.0 + 450.0 * occupants) / 8766.0  # kWh per hour, hot water and cooking
            gas_kwh = heat / 0.88 + water * shared.water_shape / 1.13 * 0.5
            gas = gas_kwh * np.exp(0.15 * normal(self._keys["gas"], index)) / GAS_KWH_PER_M3
        elif h.heating_fuel == "electric":
            if self._heat_pump:
                electricity = electricity + heat / 3.0  # heat pump
            else:
                electricity = electricity + daily_heat_kw * 24.0 / 7.0 * 0.5 * shared.night
        else:
            electricity = electricity + 0.03 * heat  # circulation pump of an oil or LPG boiler
        t = self.treatment
        if t is not None and h.household_id in t.household_ids:
            factor = np.where(end - HALF_HOUR >= t.start, 1.0 + t.change, 1.0)
            electricity, heat = electricity * factor, heat * factor
            gas = gas * factor if gas is not None else None
        return Consumption(electricity_kwh=electricity, gas_m3=gas, heat_kwh=heat)

    def register_start(self) -> tuple[float, float]:
        """Initial electricity (kWh) and gas (m³) register readings of this meter."""
        u = uniform(self._key("register"), np.arange(2))
        return 2_000.0 + 38_000.0 * float(u[0]), 300.0 + 15_000.0 * float(u[1])

    def resets(self, period_end: ArrayLike, rate_per_year: float) -> np.ndarray:
        """Whether the registers reset to zero (meter exchange, firmware fault) in each period."""
        end = np.atleast_1d(np.asarray(period_end, dtype=np.float64))
        index = (end // HALF_HOUR).astype(np.int64)
        p = rate_per_year * HALF_HOUR / (365.2425 * 86_400.0)
        result: np.ndarray = uniform(self._keys["reset"], index) < p
        return result

"""Per-device reading sources: a signal model plus the device's reporting schedule.

Each source yields ``(true instant, fields)`` for the readings its device takes in a window of
simulated time. Monitors and weather stations report on a fixed interval (with a per-device
phase, so a city does not publish all at once), meters every half-hour on the half-hour (or at a
coarser interval, see :class:`MeterSource`), bays on change and on heartbeat. Timestamps of a
device are whole seconds and strictly increasing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

from devices.types import DEVICE_TYPES
from simulators.model import AirSite, Bay, CityDevice, Household, WeatherSite
from simulators.plan import Plan
from simulators.signals.air import AirQualityModel, CityAir
from simulators.signals.calendar import ScalarClock
from simulators.signals.energy import HALF_HOUR, HouseholdModel
from simulators.signals.noise import Floats, device_random, normal, uniform
from simulators.signals.parking import BayModel
from simulators.signals.sensor_faults import SensorFault, apply_sensor_faults
from simulators.signals.weather import WeatherModel

Fields = dict[str, object]
Reading = tuple[int, Fields]

WEATHER_RANGES = {
    "temperature_c": (-50.0, 60.0),
    "humidity_pct": (0.0, 100.0),
    "wind_speed_ms": (0.0, 75.0),
    "rainfall_mm": (0.0, 500.0),
}
"""The ``weather`` device type's valid ranges (used until ``devices.types`` registers it)."""


def field_ranges(device_type: str) -> dict[str, tuple[float, float]]:
    """Valid (min, max) of each numeric field of a device type, from the type plugin."""
    spec = DEVICE_TYPES.get(device_type)
    if spec is None:
        return dict(WEATHER_RANGES) if device_type == "weather" else {}
    return {
        f.name: (f.minimum, f.maximum)
        for f in spec.fields
        if f.minimum is not None and f.maximum is not None
    }


class Source(Protocol):
    device: CityDevice

    def readings(self, t0: float, t1: float) -> list[Reading]:
        """Readings with true instants in [t0, t1), in order."""
        ...


def _rssi(key: int, ts: np.ndarray) -> list[int]:
    """Signal strength: a per-device level (-58..-98 dBm) with 3 dB of fading."""
    mean = -58.0 - 40.0 * ((key >> 11) / float(1 << 53))
    values = np.clip(np.round(mean + 3.0 * normal(key, ts)), -120, -30)
    return [int(v) for v in values.tolist()]


class PeriodicSource:
    """A device that samples a model every ``interval`` seconds (monitors, weather stations)."""

    def __init__(
        self,
        device: CityDevice,
        *,
        seed: int,
        interval: float,
        sample: Callable[[Floats], dict[str, Floats]],
        faults: tuple[SensorFault, ...] = (),
        decimals: Mapping[str, int] | None = None,
    ) -> None:
        self.device = device
        self.interval = max(1.0, float(int(interval)))
        self._sample = sample
        self._faults = faults
        self._key = device_random(seed, device.device_id, "source")
        self._phase = int(float(uniform(self._key, 1)[0]) * self.interval)
        self._ranges = field_ranges(device.device_type)
        self._decimals = decimals or {}

    def readings(self, t0: float, t1: float) -> list[Reading]:
        first = math.ceil((t0 - self._phase) / self.interval) * self.interval + self._phase
        ts = np.arange(first, t1, self.interval, dtype=np.float64)
        if ts.size == 0:
            return []
        values = self._sample(ts)
        keep = np.ones(ts.shape, dtype=np.bool_)
        if self._faults:
            keep = apply_sensor_faults(
                self._faults,
                self._key,
                ts,
                values,
                lambda t: self._sample(np.array([t], dtype=np.float64)),
                self._ranges,
            )
        columns = {
            name: np.clip(np.round(v, self._decimals.get(name, 1)), *self._ranges[name]).tolist()
            if name in self._ranges
            else np.round(v, self._decimals.get(name, 1)).tolist()
            for name, v in values.items()
        }
        columns["rssi_dbm"] = _rssi(self._key, ts.astype(np.int64))
        names = list(columns)
        rows = zip(*(columns[n] for n in names), strict=True)
        return [
            (int(t), dict(zip(names, row, strict=True)))
            for t, row, k in zip(ts.tolist(), rows, keep.tolist(), strict=True)
            if k
        ]


class MeterSource:
    """A smart meter: cumulative registers, measured every half-hour and reported every
    ``interval`` (a multiple of 30 minutes).

    A meter reporting every ``interval`` reads its registers at the last half-hour boundary of
    each ``interval``-long bucket (buckets aligned to the epoch, so in UTC): daily reads are
    taken at 23:30 UTC, hourly ones at half past. Those are the readings whose registers a
    rollup bucket's maximum would hold with half-hourly data, so the daily rollups (and the
    usage the analytics derive from them) are the same whichever interval a meter reports at,
    and a meter's readings at an instant are the same values at every interval.
    """

    def __init__(
        self,
        device: CityDevice,
        model: HouseholdModel,
        *,
        reset_rate: float,
        interval: float = HALF_HOUR,
    ) -> None:
        self.device = device
        self.model = model
        self.reset_rate = reset_rate
        self.interval = interval
        self.electricity, self.gas = model.register_start()
        self.resets: list[int] = []
        """Instants at which the registers restarted from zero (for tests and reports)."""
        self._key = device_random(model.seed, device.device_id, "source")

    def readings(self, t0: float, t1: float) -> list[Reading]:
        ends = np.arange(math.ceil(t0 / HALF_HOUR) * HALF_HOUR, t1, HALF_HOUR, dtype=np.float64)
        if ends.size == 0:
            return []
        use = self.model.consumption(ends)
        reset = self.model.resets(ends, self.reset_rate) if self.reset_rate > 0 else None
        # Registers advance every half-hour whether or not the meter reports then.
        electricity = self._registers(self.electricity, use.electricity_kwh, reset)
        self.electricity = float(electricity[-1])
        gas = None
        if use.gas_m3 is not None:
            gas = self._registers(self.gas, use.gas_m3, reset)
            self.gas = float(gas[-1])
        if reset is not None and reset.any():
            self.resets.extend(int(t) for t in ends[reset])
        read = np.mod(ends + HALF_HOUR, self.interval) == 0.0
        at = ends[read]
        if at.size == 0:
            return []
        columns: dict[str, list[object]] = {
            "electricity_import_kwh": np.round(electricity[read], 3).tolist(),
            "power_w": np.minimum(np.round(use.electricity_kwh[read] * 2000.0), 100_000.0)
            .astype(np.int64)
            .tolist(),
        }
        if gas is not None:
            columns["gas_m3"] = np.round(gas[read], 3).tolist()
        columns["rssi_dbm"] = list(_rssi(self._key, at.astype(np.int64)))
        names = list(columns)
        return [
            (int(t), dict(zip(names, row, strict=True)))
            for t, row in zip(
                at.tolist(), zip(*(columns[n] for n in names), strict=True), strict=True
            )
        ]

    @staticmethod
    def _registers(start: float, used: Floats, reset: np.ndarray | None) -> Floats:
        """Register after each period: ``start`` plus use, restarting from 0 where ``reset``."""
        total = np.cumsum(used)
        if reset is None or not reset.any():
            result: Floats = start + total
            return result
        base = np.maximum.accumulate(np.where(reset, total - used, -np.inf))
        result = np.where(np.isfinite(base), total - base, start + total)
        return result


class BaySource:
    """A parking-bay sensor: a report on every change, and heartbeats with the battery level."""

    def __init__(self, device: CityDevice, model: BayModel) -> None:
        self.device = device
        self.model = model
        self._key = device_random(model.seed, device.device_id, "source")

    def readings(self, t0: float, t1: float) -> list[Reading]:
        events = self.model.events(t0, t1)
        if not events:
            return []
        rssi = _rssi(self._key, np.array([e.ts for e in events], dtype=np.int64))
        out: list[Reading] = []
        for e, r in zip(events, rssi, strict=True):
            fields: Fields = {"occupied": e.occupied, "rssi_dbm": r}
            if e.battery_pct is not None:
                fields["battery_pct"] = e.battery_pct
            out.append((e.ts, fields))
        return out


def make_source(
    device: CityDevice, plan: Plan, weather: WeatherModel, clock: ScalarClock, city: CityAir
) -> Source:
    """The source of one device of the plan."""
    spec = plan.scenario.reporting
    faults = plan.sensor_faults.get(device.device_id, ())
    a = device.attributes
    if device.device_type == "air_quality":
        site = a if isinstance(a, AirSite) else AirSite()
        model = AirQualityModel(
            device.device_id,
            site,
            plan.seed,
            weather,
            city,
            plan.episodes.get(device.device_id, ()),
        )
        return PeriodicSource(
            device, seed=plan.seed, interval=spec.air_quality_s, sample=model.sample, faults=faults
        )
    if device.device_type == "weather":
        station = a if isinstance(a, WeatherSite) else WeatherSite()
        return PeriodicSource(
            device,
            seed=plan.seed,
            interval=spec.weather_s,
            sample=_station(device.device_id, station, plan.seed, weather, spec.weather_s),
            faults=faults,
            decimals={"rainfall_mm": 2},
        )
    if device.device_type == "smart_meter":
        household = a if isinstance(a, Household) else Household(device.device_id)
        return MeterSource(
            device,
            HouseholdModel(
                device.device_id, household, plan.seed, weather, treatment=plan.treatment
            ),
            reset_rate=spec.register_reset_rate,
            interval=spec.smart_meter_s,
        )
    bay = a if isinstance(a, Bay) else Bay(device.device_id)
    return BaySource(
        device,
        BayModel(
            device.device_id,
            bay,
            plan.seed,
            clock,
            heartbeat_s=spec.parking_heartbeat_s,
            surges=plan.surges.get(device.device_id, ()),
            flicker_rate=spec.flicker_rate,
        ),
    )


def _station(
    device_id: str, site: WeatherSite, seed: int, weather: WeatherModel, interval: float
) -> Callable[[Floats], dict[str, Floats]]:
    key = device_random(seed, device_id, "station")

    def sample(t: Floats) -> dict[str, Floats]:
        wx = weather.at(t)
        counter = t.astype(np.int64)
        return {
            "temperature_c": wx.temperature_c + site.urban_heat_c + 0.1 * normal(key, counter),
            "humidity_pct": np.clip(wx.humidity_pct - 1.5 * site.urban_heat_c, 0.0, 100.0),
            "wind_speed_ms": wx.wind_speed_ms * (0.8 + 0.1 * float(uniform(key, 0)[0])),
            "rainfall_mm": weather.rainfall_mm(t, interval),
        }

    return sample

"""Scenario files: a fleet, a time window and speed, how to publish, faults and city events.

Scenarios are TOML (see docs/simulate.md and the bundled ``simulators/scenarios/*.toml``). Loading
checks every key, so a typo fails with the file and key named instead of silently doing nothing.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from simulators.errors import ScenarioError
from simulators.geo import Point
from simulators.model import DEVICE_TYPES
from simulators.timetext import parse_duration

TimeMode = Literal["realtime", "accelerated", "backfill"]
ConnectionMode = Literal["gateway", "per-device"]
METER_STEP_S = 1800.0
"""Meters measure by the half-hour; their reporting interval is a multiple of it."""
EVENT_KINDS = ("pollution_episode", "parking_surge", "outage", "sensor_fault")
SENSOR_FAULTS = ("stuck", "drift", "spikes", "dropout")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """Which devices: counts per type for a synthetic city, or a device list file."""

    counts: Mapping[str, int] = field(
        default_factory=lambda: {
            "air_quality": 10,
            "parking_bay": 40,
            "smart_meter": 20,
            "weather": 1,
        }
    )
    prefix: str = "sim"
    devices_file: Path | None = None


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """The simulated window and how fast to run through it."""

    mode: TimeMode = "backfill"
    start: str = "now-1h"
    duration: float | None = 3600.0
    """Seconds; ``None`` runs until stopped (real time and accelerated only)."""
    speed: float = 60.0
    """Simulated seconds per wall second in accelerated mode."""
    timezone: str = "Europe/London"


@dataclass(frozen=True, slots=True)
class Reporting:
    """How often devices report, and the signal options."""

    air_quality_s: float = 300.0
    weather_s: float = 600.0
    parking_heartbeat_s: float = 1800.0
    smart_meter_s: float = 1800.0
    """How often meters report their registers: a multiple of 30 minutes ("1d": daily reads)."""
    batch: int | None = None
    """Readings per message (JSON array, at most 1000); default 1, or 1000 in backfill."""
    register_reset_rate: float = 0.02
    """Register resets per meter per year (meter exchanges, firmware faults)."""
    flicker_rate: float = 0.03
    """Share of parking sessions in which the sensor loses the vehicle for a few seconds."""

    def __post_init__(self) -> None:
        check_meter_interval(self.smart_meter_s, where="[reporting] smart_meter")


def check_meter_interval(seconds: float, *, where: str) -> float:
    """``seconds`` if it is a meter reporting interval (a multiple of 30 minutes)."""
    # Meters measure by the half-hour (GB settlement periods); a coarser read is a later
    # half-hour boundary's register, never a value between boundaries.
    steps = seconds / METER_STEP_S
    if not (steps >= 1 and steps == int(steps)):
        raise ScenarioError(
            where, f"must be a multiple of 30 minutes (30m, 1h, 1d), not {seconds:g} s"
        )
    return seconds


@dataclass(frozen=True, slots=True)
class PublishSpec:
    """How messages reach the broker."""

    connection: ConnectionMode = "gateway"
    connections: int = 4
    """Gateway mode: MQTT connections shared by all devices."""
    max_inflight: int | None = None
    """Unacknowledged QoS 1 messages per connection (default 200 gateway, 20 per device)."""
    keepalive: int = 60
    credentials: Path | None = None
    """Per-device mode: provisioning file of device secrets (JSON object or CSV)."""
    connect_rate: float = 500.0
    """Per-device mode: new connections per second at start-up."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Delivery faults for testing the platform (rates are per message, 0..1)."""

    duplicate_rate: float = 0.0
    out_of_order_rate: float = 0.0
    late_rate: float = 0.0
    late_by: float = 600.0
    malformed_rate: float = 0.0
    clock_skew_fraction: float = 0.0
    clock_skew_max: float = 120.0
    clock_skew: Mapping[str, float] = field(default_factory=dict)
    """Explicit skews: device id -> seconds (positive = the device's clock is ahead)."""


@dataclass(frozen=True, slots=True)
class Selector:
    """Which devices an event touches; the filters combine (all must hold)."""

    devices: tuple[str, ...] = ()
    device_type: str | None = None
    zone: str | None = None
    road: str | None = None
    line: tuple[Point, ...] = ()
    within_m: float = 150.0
    polygon: tuple[Point, ...] = ()
    centre: Point | None = None
    radius_m: float = 1000.0
    fraction: float | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A city event or injected fault over a time window (``start`` may be relative: ``+2d``)."""

    kind: str
    select: Selector
    start: str
    duration: float | None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    seed: int = 7
    fleet: FleetSpec = field(default_factory=FleetSpec)
    time: TimeSpec = field(default_factory=TimeSpec)
    reporting: Reporting = field(default_factory=Reporting)
    publish: PublishSpec = field(default_factory=PublishSpec)
    faults: FaultSpec = field(default_factory=FaultSpec)
    events: tuple[Event, ...] = ()

    def replace(self, **changes: Any) -> Scenario:
        """A copy with top-level or nested changes: ``replace(seed=3, time={"mode": "realtime"})``."""
        values: dict[str, Any] = {}
        for key, value in changes.items():
            current = getattr(self, key)
            if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
                value = dataclasses.replace(current, **value)  # type: ignore[type-var]
            values[key] = value
        return dataclasses.replace(self, **values)


_EVENT_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "pollution_episode": {
        "no2_factor": (int, float),
        "pm25_add": (int, float),
        "ramp": (str, int, float),
    },
    "parking_surge": {"demand_factor": (int, float), "dwell_minutes": (int, float)},
    "outage": {"backlog": bool, "clean": bool},
    "sensor_fault": {
        "fault": str,
        "fields": list,
        "drift_per_day": (int, float),
        "spike_rate": (int, float),
        "spike_factor": (int, float),
    },
}
_SELECT_KEYS = {f.name for f in dataclasses.fields(Selector)}
_REPORTING_KEYS = {
    "air_quality": "air_quality_s",
    "weather": "weather_s",
    "parking_heartbeat": "parking_heartbeat_s",
    "smart_meter": "smart_meter_s",
}


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``simulators/scenarios``."""
    folder = resources.files("simulators") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario from a TOML file, or a bundled one by name (``smoke``, ``pollution-episode``…)."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        bundled = resources.files("simulators") / "scenarios" / f"{name_or_path}.toml"
        if not bundled.is_file():
            raise ScenarioError(
                str(name_or_path),
                f"no such file or bundled scenario; bundled: {', '.join(bundled_scenarios())}",
            )
        return parse_scenario(
            tomllib.loads(bundled.read_text("utf-8")), where=f"{name_or_path}.toml"
        )
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except OSError as error:
        raise ScenarioError(str(path), f"cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(str(path), f"not valid TOML: {error}") from error
    return parse_scenario(document, where=str(path), base=path.parent)


def _take(table: Mapping[str, Any], cls: type, where: str, **convert: Any) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ScenarioError(where, f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
    values = dict(table)
    for key, fn in convert.items():
        if key in values:
            values[key] = fn(values[key])
    try:
        return cls(**values)
    except TypeError as error:
        raise ScenarioError(where, str(error)) from error


def _points(value: Any, where: str) -> tuple[Point, ...]:
    try:
        return tuple((float(p[0]), float(p[1])) for p in value)
    except (TypeError, ValueError, IndexError) as error:
        raise ScenarioError(where, "expected a list of [latitude, longitude] pairs") from error


def parse_scenario(
    document: Mapping[str, Any], *, where: str, base: Path | None = None
) -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document (``base`` resolves relative paths)."""
    top = {
        "name",
        "description",
        "seed",
        "fleet",
        "time",
        "reporting",
        "publish",
        "faults",
        "events",
    }
    unknown = set(document) - top
    if unknown:
        raise ScenarioError(where, f"unknown sections {sorted(unknown)}; known: {sorted(top)}")

    def path(value: Any) -> Path:
        p = Path(str(value))
        return p if p.is_absolute() or base is None else base / p

    fleet_table = dict(document.get("fleet", {}))
    counts = {t: int(fleet_table.pop(t)) for t in DEVICE_TYPES if t in fleet_table}
    if counts:
        fleet_table["counts"] = counts
    fleet = _take(fleet_table, FleetSpec, f"{where} [fleet]", devices_file=path)
    time_table = dict(document.get("time", {}))
    if "end" in time_table:
        raise ScenarioError(f"{where} [time]", "give start and duration (end is not supported)")
    time = _take(
        time_table,
        TimeSpec,
        f"{where} [time]",
        duration=lambda v: (
            None if v in ("", "forever") else parse_duration(v, where="[time] duration")
        ),
        speed=float,
    )
    if time.mode not in ("realtime", "accelerated", "backfill"):
        raise ScenarioError(f"{where} [time]", "mode must be realtime, accelerated or backfill")
    reporting_table = {
        _REPORTING_KEYS.get(str(k), str(k)): v
        for k, v in dict(document.get("reporting", {})).items()
    }
    reporting = _take(
        reporting_table,
        Reporting,
        f"{where} [reporting]",
        air_quality_s=parse_duration,
        weather_s=parse_duration,
        parking_heartbeat_s=parse_duration,
        smart_meter_s=parse_duration,
    )
    publish = _take(
        document.get("publish", {}), PublishSpec, f"{where} [publish]", credentials=path
    )
    if publish.connection not in ("gateway", "per-device"):
        raise ScenarioError(f"{where} [publish]", "connection must be gateway or per-device")
    faults = _take(
        document.get("faults", {}),
        FaultSpec,
        f"{where} [faults]",
        late_by=parse_duration,
        clock_skew_max=parse_duration,
        clock_skew=lambda m: {str(k): parse_duration(v) for k, v in dict(m).items()},
    )
    events = tuple(
        _event(table, f"{where} [[events]] #{i + 1}")
        for i, table in enumerate(document.get("events", []))
    )
    return Scenario(
        name=str(document.get("name", Path(where).stem)),
        description=str(document.get("description", "")),
        seed=int(document.get("seed", 7)),
        fleet=fleet,
        time=time,
        reporting=reporting,
        publish=publish,
        faults=faults,
        events=events,
    )


def _event(table: Mapping[str, Any], where: str) -> Event:
    kind = table.get("kind")
    if kind not in EVENT_KINDS:
        raise ScenarioError(where, f"kind must be one of {EVENT_KINDS}, got {kind!r}")
    allowed = _EVENT_PARAMS[kind]
    select: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("kind", "start", "duration"):
            continue
        if key in _SELECT_KEYS:
            select[key] = value
        elif key in allowed:
            if not isinstance(value, allowed[key]) or isinstance(value, bool) != (
                allowed[key] is bool
            ):
                raise ScenarioError(where, f"{key} has the wrong type: {value!r}")
            params[key] = value
        else:
            raise ScenarioError(
                where,
                f"unknown key {key!r}; selectors {sorted(_SELECT_KEYS)}, {kind} {sorted(allowed)}",
            )
    if kind == "sensor_fault" and params.get("fault") not in SENSOR_FAULTS:
        raise ScenarioError(where, f"fault must be one of {SENSOR_FAULTS}")
    if "devices" in select:
        select["devices"] = tuple(str(d) for d in select["devices"])
    for key in ("line", "polygon"):
        if key in select:
            select[key] = _points(select[key], where)
    if "centre" in select:
        select["centre"] = _points([select["centre"]], where)[0]
    selector = _take(select, Selector, where)
    if "start" not in table:
        raise ScenarioError(where, "start is required (e.g. '+1d' after the run's start)")
    duration = table.get("duration")
    return Event(
        kind=kind,
        select=selector,
        start=str(table["start"]),
        duration=None if duration is None else parse_duration(duration, where=where),
        params=params,
    )

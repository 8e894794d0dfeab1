"""A scenario resolved against a clock and a fleet: absolute times, and each event's devices.

The plan is what a run executes and what the CLI registers (``plan.devices``) before publishing.
Resolution checks the platform's limits: readings older than 400 days or more than 5 minutes in
the future are quarantined, so a backfill must lie inside that window.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulators.city import MAIN_ROADS, build_city
from simulators.device_list import load_devices
from simulators.errors import ScenarioError
from simulators.geo import distance_m, distance_to_line_m, inside_polygon
from simulators.model import CityDevice, Treatment
from simulators.scenario import Scenario, Selector
from simulators.signals.air import Episode
from simulators.signals.noise import stable_key, uniform
from simulators.signals.parking import Surge
from simulators.signals.sensor_faults import SensorFault
from simulators.timetext import parse_duration, parse_instant

MAX_AGE_S = 400 * 86_400.0
"""Readings older than this are quarantined by ingest (``Limits.max_age``)."""
_AGE_MARGIN_S = 86_400.0
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Outage:
    """A device offline from ``start`` to ``end`` (``None``: for good)."""

    start: float
    end: float | None
    backlog: bool = True
    """Readings taken while offline are sent as batches on return (else they are lost)."""
    clean: bool = False
    """Whether the device disconnects cleanly; abrupt drops make the broker send its will."""


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: Scenario
    devices: tuple[CityDevice, ...]
    start: float
    end: float | None
    speed: float
    """Simulated seconds per wall second; ``math.inf`` in backfill."""
    batch: int
    tz: ZoneInfo
    episodes: Mapping[str, tuple[Episode, ...]]
    surges: Mapping[str, tuple[Surge, ...]]
    outages: Mapping[str, tuple[Outage, ...]]
    sensor_faults: Mapping[str, tuple[SensorFault, ...]]
    skews: Mapping[str, float]
    treatment: Treatment | None = None
    """A known change in some households' use (the nudge trial's injected effect)."""

    @property
    def seed(self) -> int:
        return self.scenario.seed


def build_plan(
    scenario: Scenario,
    *,
    now: float | None = None,
    devices: Sequence[CityDevice] | None = None,
    treatment: Treatment | None = None,
) -> Plan:
    """Resolve ``scenario`` at wall-clock ``now`` (default: the current time).

    ``devices`` (e.g. the registry's, via :func:`simulators.model.device_from_record`) replaces
    the scenario's fleet; ``treatment`` changes the use of the households it names.
    """
    wall = time.time() if now is None else now
    spec = scenario.time
    try:
        tz = ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScenarioError("[time] timezone", f"unknown time zone {spec.timezone!r}") from error
    start = parse_instant(spec.start, now=wall, tz=tz, where="[time] start")
    end = None if spec.duration is None else start + spec.duration
    if wall - start > MAX_AGE_S - _AGE_MARGIN_S:
        raise ScenarioError(
            "[time] start",
            "more than 399 days ago: ingest quarantines readings older than 400 days",
        )
    if spec.mode == "backfill":
        if end is None or end > wall + 60.0:
            raise ScenarioError("[time]", "a backfill needs a duration and must end by now")
        speed = math.inf
    elif spec.mode == "accelerated":
        if spec.speed <= 1.0:
            raise ScenarioError("[time] speed", "accelerated mode needs speed > 1")
        speed = spec.speed
    else:
        speed = 1.0
    if start > wall + 300.0:
        raise ScenarioError("[time] start", "in the future: readings would be quarantined")
    batch = scenario.reporting.batch or (MAX_BATCH if spec.mode == "backfill" else 1)
    if not 1 <= batch <= MAX_BATCH:
        raise ScenarioError("[reporting] batch", f"must be 1..{MAX_BATCH} readings per message")

    fleet = list(devices) if devices is not None else _fleet(scenario)
    if not fleet:
        raise ScenarioError(scenario.name, "the fleet is empty")
    episodes: dict[str, list[Episode]] = defaultdict(list)
    surges: dict[str, list[Surge]] = defaultdict(list)
    outages: dict[str, list[Outage]] = defaultdict(list)
    faults: dict[str, list[SensorFault]] = defaultdict(list)
    for number, event in enumerate(scenario.events):
        where = f"event #{number + 1} ({event.kind})"
        t0 = parse_instant(event.start, now=wall, tz=tz, start=start, where=where)
        t1 = math.inf if event.duration is None else t0 + event.duration
        p = event.params
        chosen = select(fleet, event.select, stable_key(scenario.seed, "event", number), event.kind)
        for d in chosen:
            if event.kind == "pollution_episode":
                ramp = p.get("ramp", 3 * 3600.0)
                episodes[d.device_id].append(
                    Episode(t0, t1, float(p.get("no2_factor", 2.0)), float(p.get("pm25_add", 15.0)),
                            float(ramp) if not isinstance(ramp, str) else _seconds(ramp))
                )  # fmt: skip
            elif event.kind == "parking_surge":
                dwell = p.get("dwell_minutes")
                surges[d.device_id].append(
                    Surge(
                        t0,
                        t1,
                        float(p.get("demand_factor", 3.0)),
                        None if dwell is None else float(dwell),
                    )
                )
            elif event.kind == "outage":
                outages[d.device_id].append(
                    Outage(t0, None if math.isinf(t1) else t1, bool(p.get("backlog", True)),
                           bool(p.get("clean", False)))
                )  # fmt: skip
            else:
                faults[d.device_id].append(
                    SensorFault(
                        kind=str(p["fault"]),
                        start=t0,
                        end=t1,
                        fields=tuple(str(f) for f in p.get("fields", ())),
                        drift_per_day=float(p.get("drift_per_day", 10.0)),
                        spike_rate=float(p.get("spike_rate", 0.05)),
                        spike_factor=float(p.get("spike_factor", 6.0)),
                    )
                )
    return Plan(
        scenario=scenario,
        devices=tuple(fleet),
        start=start,
        end=end,
        speed=speed,
        batch=batch,
        tz=tz,
        episodes={k: tuple(v) for k, v in episodes.items()},
        surges={k: tuple(v) for k, v in surges.items()},
        outages={k: tuple(sorted(v, key=lambda o: o.start)) for k, v in outages.items()},
        sensor_faults={k: tuple(v) for k, v in faults.items()},
        skews=_skews(scenario, fleet),
        treatment=treatment,
    )


def _seconds(text: str) -> float:
    return parse_duration(text, where="ramp")


def _fleet(scenario: Scenario) -> list[CityDevice]:
    spec = scenario.fleet
    if spec.devices_file is not None:
        return load_devices(spec.devices_file)
    return build_city(spec.counts, seed=scenario.seed, prefix=spec.prefix)


_DEFAULT_TYPES = {
    "pollution_episode": ("air_quality",),
    "parking_surge": ("parking_bay",),
    "sensor_fault": ("air_quality", "weather"),
}


def select(
    devices: Sequence[CityDevice], sel: Selector, key: int, kind: str = ""
) -> list[CityDevice]:
    """The devices ``sel`` picks; ``fraction``/``count`` take a seeded sample of the matches."""
    types = (sel.device_type,) if sel.device_type else _DEFAULT_TYPES.get(kind, ())
    if sel.road is not None and sel.road not in MAIN_ROADS:
        raise ScenarioError("road", f"unknown road {sel.road!r}; known: {sorted(MAIN_ROADS)}")
    line = sel.line or (MAIN_ROADS[sel.road] if sel.road is not None else ())
    wanted = set(sel.devices)
    matches = []
    for d in devices:
        point = (d.latitude, d.longitude)
        if wanted and d.device_id not in wanted:
            continue
        if types and d.device_type not in types:
            continue
        if sel.zone is not None and sel.zone not in d.zones:
            continue
        if line and distance_to_line_m(point, line) > sel.within_m:
            continue
        if sel.polygon and not inside_polygon(point, sel.polygon):
            continue
        if sel.centre is not None and distance_m(point, sel.centre) > sel.radius_m:
            continue
        matches.append(d)
    if sel.fraction is None and sel.count is None:
        return matches
    ranked = sorted(matches, key=lambda d: stable_key(key, d.device_id))
    n = sel.count if sel.count is not None else round((sel.fraction or 0.0) * len(matches))
    return ranked[: max(0, n)]


def _skews(scenario: Scenario, fleet: Sequence[CityDevice]) -> dict[str, float]:
    spec = scenario.faults
    skews: dict[str, float] = {}
    if spec.clock_skew_fraction > 0:
        chosen = select(
            fleet, Selector(fraction=spec.clock_skew_fraction), stable_key(scenario.seed, "skew")
        )
        for d in chosen:
            u = float(uniform(stable_key(scenario.seed, "skew", d.device_id), 0)[0])
            skews[d.device_id] = float(round((2.0 * u - 1.0) * spec.clock_skew_max))
    skews.update(spec.clock_skew)
    return skews

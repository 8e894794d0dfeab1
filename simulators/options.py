"""Command-line options applied on top of a scenario (``civicpulse simulate --mode … --speed …``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulators.scenario import Scenario, check_meter_interval
from simulators.timetext import parse_duration


def apply_options(
    scenario: Scenario,
    *,
    seed: int | None = None,
    prefix: str | None = None,
    air_quality: int | None = None,
    parking_bay: int | None = None,
    smart_meter: int | None = None,
    weather: int | None = None,
    devices_file: str | Path | None = None,
    mode: str | None = None,
    start: str | None = None,
    duration: str | None = None,
    speed: float | None = None,
    connection: str | None = None,
    connections: int | None = None,
    max_inflight: int | None = None,
    batch: int | None = None,
    credentials: str | Path | None = None,
    meter_interval: str | None = None,
) -> Scenario:
    """``scenario`` with every option that is not ``None`` applied (durations as text: ``7d``)."""
    changes: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            changes.setdefault(section, {})[key] = value

    counts = {
        name: n
        for name, n in (
            ("air_quality", air_quality),
            ("parking_bay", parking_bay),
            ("smart_meter", smart_meter),
            ("weather", weather),
        )
        if n is not None
    }
    if counts:
        put("fleet", "counts", {**scenario.fleet.counts, **counts})
    put("fleet", "prefix", prefix)
    put("fleet", "devices_file", Path(devices_file) if devices_file is not None else None)
    put("time", "mode", mode)
    put("time", "start", start)
    if duration is not None:
        put("time", "duration", None if duration == "forever" else parse_duration(duration))
    put("time", "speed", speed)
    put("publish", "connection", connection)
    put("publish", "connections", connections)
    put("publish", "max_inflight", max_inflight)
    put("publish", "credentials", Path(credentials) if credentials is not None else None)
    put("reporting", "batch", batch)
    if meter_interval is not None:
        seconds = parse_duration(meter_interval, where="--meter-interval")
        put("reporting", "smart_meter_s", check_meter_interval(seconds, where="--meter-interval"))
    updated = scenario.replace(**changes) if changes else scenario
    return updated.replace(seed=seed) if seed is not None else updated

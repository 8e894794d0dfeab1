"""Run a simulation: step the engine along the clock and publish to a sink.

:func:`run_simulation` is what ``civicpulse simulate`` calls; :func:`simulate` is the same loop
for callers that own an event loop and a sink (tests keep a per-device sink open after a run to
look at the devices' retained status).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import resource
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from simulators.clock import SimClock
from simulators.delivery import FaultTally, Outgoing
from simulators.engine import Simulation
from simulators.errors import BrokerError
from simulators.model import CityDevice, Treatment
from simulators.mqtt.credentials import load_credentials
from simulators.mqtt.sinks import DeviceSessionsSink, GatewaySink, MemorySink, Sink
from simulators.plan import Plan, build_plan
from simulators.progress import Progress
from simulators.scenario import Scenario, load_scenario
from simulators.timetext import stamp

_TICK_S = 0.5


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """What a run did."""

    scenario: str
    devices: int
    messages: int
    """Telemetry messages published (faulty ones included)."""
    publishes: int
    """Every publish: telemetry plus the devices' status messages."""
    readings: int
    acked: int
    faults: FaultTally
    sim_start: float
    sim_end: float
    wall_seconds: float
    peak_rss_mb: float
    resets: Mapping[str, list[int]] = field(default_factory=dict)
    """Meter register resets: device id -> instants."""
    connect_seconds: float = 0.0
    """Wall time spent connecting before the first message (per-device sessions)."""

    def summary(self) -> str:
        rate = self.messages / self.wall_seconds if self.wall_seconds > 0 else 0.0
        f = self.faults
        faults = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("duplicate", f.duplicate),
                ("out of order", f.out_of_order),
                ("late", f.late),
                ("malformed", f.malformed),
                ("backlog batches", f.backlog),
                ("disconnects", f.disconnects),
                ("skewed clocks", f.skewed_devices),
                ("register resets", sum(len(v) for v in self.resets.values())),
            )
            if value
        )
        return (
            f"{self.scenario}: {self.devices:,} devices, {self.messages:,} messages "
            f"({self.readings:,} readings; {self.acked:,} of {self.publishes:,} publishes "
            f"acknowledged) for "
            f"{stamp(self.sim_start)} .. {stamp(self.sim_end)} in {self.wall_seconds:,.1f} s "
            f"({rate:,.0f} msg/s) after {self.connect_seconds:,.1f} s connecting, "
            f"peak RSS {self.peak_rss_mb:,.0f} MB" + (f"; faults: {faults}" if faults else "")
        )


async def simulate(
    plan: Plan,
    sink: Sink,
    *,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    drain_timeout: float = 300.0,
) -> SimulationReport:
    """Run ``plan`` into an open ``sink`` (see :meth:`Sink.open`); returns once all is acknowledged.

    The sink stays open: the caller closes it.
    """
    began = time.monotonic()
    sim = Simulation(plan)
    clock = SimClock(plan.start, plan.speed, plan.end)
    window = sim.backfill_window() if clock.backfill else math.inf
    t = plan.start
    messages = 0
    while plan.end is None or t < plan.end:
        if stop is not None and stop.is_set():
            break
        target = min(t + window, clock.now())
        if plan.end is not None:
            target = min(target, plan.end)
        if target - t < 1.0 and (plan.end is None or target < plan.end):
            await _pause(stop)
            continue
        for item in sim.window(t, target):
            if isinstance(item, Outgoing):
                messages += 1
                await sink.send(item)
            else:
                await sink.transition(item)
        t = target
        if progress is not None:
            progress.update(sim_time=t, sent=sink.sent, acked=sink.acked, online=sink.online)
        if clock.backfill:
            await asyncio.sleep(0)  # let acknowledgements in
    for message in sim.finish():
        messages += 1
        await sink.send(message)
    try:
        async with asyncio.timeout(drain_timeout):
            await sink.drain()
    except TimeoutError as error:
        raise BrokerError(
            "simulator",
            f"{sink.sent - sink.acked:,} messages unacknowledged after {drain_timeout:.0f} s",
        ) from error
    if progress is not None:
        progress.update(
            sim_time=t, sent=sink.sent, acked=sink.acked, online=sink.online, force=True
        )
        progress.close()
    return SimulationReport(
        scenario=plan.scenario.name,
        devices=len(plan.devices),
        messages=messages,
        publishes=sink.sent,
        readings=sim.readings,
        acked=sink.acked,
        faults=sim.tally,
        sim_start=plan.start,
        sim_end=t,
        wall_seconds=time.monotonic() - began,
        peak_rss_mb=peak_rss_mb(),
        resets=sim.resets(),
    )


async def _pause(stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(_TICK_S)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), _TICK_S)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_sink(plan: Plan, mqtt_url: str | None, *, credentials: Path | None = None) -> Sink:
    """The sink the plan's ``[publish]`` section asks for (``mqtt_url=None``: a dry run)."""
    spec = plan.scenario.publish
    if mqtt_url is None:
        return MemorySink(keep=False)
    if spec.connection == "gateway":
        return GatewaySink(
            mqtt_url,
            connections=spec.connections,
            max_inflight=spec.max_inflight or 200,
            keepalive=spec.keepalive,
        )
    path = credentials or spec.credentials
    return DeviceSessionsSink(
        mqtt_url,
        credentials=load_credentials(path) if path is not None else None,
        max_inflight=spec.max_inflight or 20,
        keepalive=spec.keepalive,
        connect_rate=spec.connect_rate,
    )


def prepare(
    scenario: Scenario | str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    devices: Sequence[CityDevice] | None = None,
    now: float | None = None,
    treatment: Treatment | None = None,
) -> Plan:
    """Load (by name or path), override and resolve a scenario into a :class:`Plan`."""
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if overrides:
        loaded = loaded.replace(**overrides)
    return build_plan(loaded, now=now, devices=devices, treatment=treatment)


def run_simulation(
    scenario: Scenario | Plan | str | Path,
    *,
    mqtt_url: str | None,
    overrides: Mapping[str, Any] | None = None,
    devices: Sequence[CityDevice] | None = None,
    credentials: Path | None = None,
    register: Callable[[Plan], None] | None = None,
    quiet: bool = False,
    stream: TextIO | None = None,
    treatment: Treatment | None = None,
) -> SimulationReport:
    """Run a scenario end to end and return its report; Ctrl-C or SIGTERM stop it cleanly.

    ``scenario`` is a bundled name (``smoke``), a TOML path, a :class:`Scenario` or a resolved
    :class:`Plan`; ``overrides`` are :meth:`Scenario.replace` changes (see
    :func:`simulators.options.scenario_overrides`); ``devices`` replaces the fleet (e.g. the
    registry's); ``register`` is called with the plan before anything is published;
    ``mqtt_url=None`` generates everything without publishing (a dry run); ``treatment``
    injects a known change in some households' use (ignored when ``scenario`` is a plan).
    """
    plan = (
        scenario
        if isinstance(scenario, Plan)
        else prepare(scenario, overrides=overrides, devices=devices, treatment=treatment)
    )
    if register is not None:
        register(plan)
    return asyncio.run(_run(plan, mqtt_url, credentials, quiet, stream))


async def _run(
    plan: Plan, mqtt_url: str | None, credentials: Path | None, quiet: bool, stream: TextIO | None
) -> SimulationReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    progress = None
    if not quiet:
        progress = Progress(
            plan.scenario.name,
            start=plan.start,
            end=plan.end,
            devices=len(plan.devices),
            stream=stream if stream is not None else sys.stderr,
        )
    sink = make_sink(plan, mqtt_url, credentials=credentials)
    try:
        began = time.monotonic()
        await sink.open(plan.devices)
        connected = time.monotonic() - began
        report = await simulate(plan, sink, progress=progress, stop=stop)
        return dataclasses.replace(report, connect_seconds=connected)
    finally:
        await sink.close()
        for sig in handled:
            loop.remove_signal_handler(sig)

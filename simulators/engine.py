"""The simulation proper, without I/O: windows of simulated time in, messages out.

:class:`Simulation` owns a source per device and the delivery layer. ``window(t0, t1)`` returns
everything to publish for that stretch of simulated time, ordered by when it is sent. The runner
decides how windows map to the wall clock (real time, accelerated, backfill) and where messages
go (a broker, or a list in a test).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.delivery import Delivery, FaultTally, Item, Outgoing
from simulators.plan import Plan
from simulators.signals.air import CityAir
from simulators.signals.calendar import ScalarClock
from simulators.signals.weather import WeatherModel
from simulators.sources import MeterSource, Source, make_source

_TARGET_READINGS_PER_WINDOW = 100_000
_MAX_READINGS_PER_WINDOW = 2_500_000
_MIN_WINDOW_S = 60.0
_MAX_WINDOW_S = 21 * 86_400.0


@dataclass(frozen=True, slots=True)
class WindowCount:
    messages: int
    readings: int


class Simulation:
    """Sources for every device of ``plan`` and the delivery faults, stepped window by window."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.weather = WeatherModel(plan.seed, plan.tz)
        city = CityAir(plan.seed, plan.tz)
        clock = ScalarClock(plan.tz)
        self.sources: list[Source] = [
            make_source(d, plan, self.weather, clock, city) for d in plan.devices
        ]
        self.delivery = Delivery(plan)
        self.readings = 0

    @property
    def tally(self) -> FaultTally:
        return self.delivery.tally

    def readings_per_second(self) -> float:
        """Average readings per simulated second for the whole fleet (sizes backfill windows)."""
        spec = self.plan.scenario.reporting
        rate = 0.0
        for d in self.plan.devices:
            rate += {
                "air_quality": 1.0 / spec.air_quality_s,
                "weather": 1.0 / spec.weather_s,
                "smart_meter": 1.0 / spec.smart_meter_s,
            }.get(d.device_type, 2.0 / spec.parking_heartbeat_s + 10.0 / 86_400.0)
        return rate

    def backfill_window(self) -> float:
        """A window long enough to batch well, short enough to bound memory.

        About 100,000 readings a window; more, up to 2.5 million, where that lets the window
        reach its longest (three weeks). Each device's window has a fixed cost of a few hundred
        microseconds, and a meter computes every half-hour whatever its reporting interval:
        100,000 meters on daily reads spend ten times longer in one-day windows than in
        three-week ones.
        """
        rate = max(self.readings_per_second(), 1e-9)
        seconds = _TARGET_READINGS_PER_WINDOW / rate
        if seconds < _MAX_WINDOW_S:
            seconds = max(seconds, min(_MAX_WINDOW_S, _MAX_READINGS_PER_WINDOW / rate))
        return max(_MIN_WINDOW_S, min(_MAX_WINDOW_S, seconds))

    def window(self, t0: float, t1: float) -> list[Item]:
        """Everything sent in simulated time [t0, t1), in sending order."""
        items: list[Item] = []
        deliver = self.delivery.deliver
        for source in self.sources:
            readings = source.readings(t0, t1)
            self.readings += len(readings)
            items.extend(deliver(source.device.device_id, readings, t0, t1))
        items.extend(self.delivery.due_late(t1))
        items.sort(key=lambda item: item.at)
        return items

    def finish(self) -> list[Outgoing]:
        """Messages still held back when the run ends (late and reordered ones)."""
        return self.delivery.flush()

    def resets(self) -> dict[str, list[int]]:
        """Meter register resets so far: device id -> instants."""
        return {
            s.device.device_id: list(s.resets)
            for s in self.sources
            if isinstance(s, MeterSource) and s.resets
        }

    def count(self, items: list[Item]) -> WindowCount:
        messages = [i for i in items if isinstance(i, Outgoing)]
        return WindowCount(len(messages), sum(m.readings for m in messages))

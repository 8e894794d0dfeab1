"""From readings to MQTT messages, with the delivery faults a platform must survive.

Readings become contract payloads (one object, or a JSON array of up to ``batch`` readings), then
on request: clock skew, offline periods whose readings come back as backlog batches, malformed
payloads, duplicates, out-of-order and late messages. Every decision is a pure function of the
seed, the device and the message's number, and every fault is counted in :class:`FaultTally`,
so a test can check that exactly the requested faults happened.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from devices.contract import Limits, telemetry_topic
from simulators.plan import MAX_BATCH, Outage, Plan
from simulators.signals.noise import stable_key, uniform
from simulators.sources import Reading
from simulators.timetext import stamp


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish at simulated instant ``at``."""

    device_id: str
    topic: str
    payload: bytes
    at: float
    readings: int
    fault: str | None = None
    """``None`` for a plain message, else ``backlog``, ``duplicate``, ``late``, ``out_of_order``
    or ``malformed``."""
    expect: str | None = None
    """For malformed messages: the quarantine reason the platform should give."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A device going offline (cleanly or abruptly) or coming back, at simulated instant ``at``."""

    device_id: str
    online: bool
    at: float
    clean: bool = False


Item = Outgoing | Transition


@dataclass(slots=True)
class FaultTally:
    """What was injected (message counts unless stated)."""

    duplicate: int = 0
    out_of_order: int = 0
    late: int = 0
    malformed: int = 0
    backlog: int = 0
    backlog_readings: int = 0
    lost_readings: int = 0
    """Readings taken while offline without backlog (or never returned): never sent."""
    disconnects: int = 0
    skewed_devices: int = 0


_MAX_PAYLOAD = Limits().max_payload_bytes

# Malformed payloads and the reason ingest gives each (devices.model.Reason values).
_MALFORMED = (
    ("truncated", "bad_json"),
    ("wrong_type", "wrong_type"),
    ("unknown_field", "unknown_field"),
    ("no_offset", "bad_timestamp"),
    ("empty_array", "bad_structure"),
)


def _malformed(kind: str, body: dict[str, object], payload: bytes) -> bytes:
    if kind == "truncated":
        return payload[: max(1, len(payload) // 2)]
    if kind == "empty_array":
        return b"[]"
    broken = dict(body)
    if kind == "wrong_type":
        name = next(k for k in broken if k not in ("ts", "seq"))
        broken[name] = "n/a"
    elif kind == "unknown_field":
        broken["firmware_note"] = 1
    else:
        broken["ts"] = str(broken["ts"]).removesuffix("Z")
    return orjson.dumps(broken)


@dataclass(slots=True)
class _Device:
    seq: int = 0
    messages: int = 0
    keys: dict[str, int] = field(default_factory=dict)
    held: Outgoing | None = None
    backlog: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    """Readings taken while offline: (true instant, payload body)."""


class Delivery:
    """Turns each device's readings into messages and injects the plan's delivery faults."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tally = FaultTally(skewed_devices=len(plan.skews))
        self.faults = plan.scenario.faults
        self._devices: dict[str, _Device] = defaultdict(_Device)
        self._late: list[tuple[float, int, Outgoing]] = []
        self._order = itertools.count()
        self._topics: dict[str, str] = {}

    # -- building -------------------------------------------------------------------------

    def _topic(self, device_id: str) -> str:
        topic = self._topics.get(device_id)
        if topic is None:
            topic = self._topics[device_id] = telemetry_topic(device_id)
        return topic

    def _chance(self, device_id: str, state: _Device, what: str) -> float:
        key = state.keys.get(what)
        if key is None:
            key = state.keys[what] = stable_key(self.plan.seed, device_id, "delivery", what)
        return float(uniform(key, state.messages)[0])

    def _bodies(
        self, device_id: str, state: _Device, readings: Iterable[Reading]
    ) -> list[dict[str, object]]:
        skew = self.plan.skews.get(device_id, 0.0)
        bodies = []
        for ts, fields in readings:
            state.seq += 1
            bodies.append({"ts": stamp(ts + skew), "seq": state.seq, **fields})
        return bodies

    def _messages(
        self, device_id: str, bodies: list[dict[str, object]], times: list[int], fault: str | None
    ) -> list[Outgoing]:
        """Payloads of at most ``batch`` readings (``MAX_BATCH`` for backlogs) and at most the
        platform's payload size; a single reading is sent as an object, several as an array."""
        out = []
        size = self.plan.batch if fault is None else MAX_BATCH
        if size > 1 and len(bodies) > 1:
            per_item = len(orjson.dumps(bodies[0])) + 1
            size = max(1, min(size, int(0.9 * _MAX_PAYLOAD / per_item)))
        i = 0
        while i < len(bodies):
            chunk = bodies[i : i + size]
            payload = orjson.dumps(chunk[0] if len(chunk) == 1 and fault is None else chunk)
            if len(payload) > _MAX_PAYLOAD and len(chunk) > 1:
                size = max(1, len(chunk) // 2)
                continue
            i += len(chunk)
            at = float(times[i - 1]) if fault is None else float(times[0])
            out.append(Outgoing(device_id, self._topic(device_id), payload, at, len(chunk), fault))
        return out

    # -- faults -------------------------------------------------------------------------------

    def _inject(
        self, device_id: str, state: _Device, message: Outgoing, body: dict[str, object] | None
    ) -> list[Item]:
        """Apply per-message faults to ``message``; returns what to send now."""
        spec = self.faults
        state.messages += 1
        if (
            spec.malformed_rate
            and self._chance(device_id, state, "malformed") < spec.malformed_rate
        ):
            kind, reason = _MALFORMED[
                int(self._chance(device_id, state, "malformed-kind") * len(_MALFORMED))
            ]
            if message.readings > 1 or body is None:
                kind, reason = "truncated", "bad_json"
            self.tally.malformed += 1
            bad = _malformed(kind, body or {}, message.payload)
            return [
                Outgoing(
                    device_id, message.topic, bad, message.at, message.readings, "malformed", reason
                )
            ]
        out: list[Item] = []
        if spec.late_rate and self._chance(device_id, state, "late") < spec.late_rate:
            self.tally.late += 1
            late = Outgoing(device_id, message.topic, message.payload, message.at + spec.late_by,
                            message.readings, "late")  # fmt: skip
            heapq.heappush(self._late, (late.at, next(self._order), late))
        elif (
            state.held is None
            and spec.out_of_order_rate
            and (self._chance(device_id, state, "order") < spec.out_of_order_rate)
        ):
            state.held = message  # sent after the device's next message
            return out
        else:
            out.append(message)
        if state.held is not None and state.held is not message and out:
            held, state.held = state.held, None
            self.tally.out_of_order += 1
            out.append(
                Outgoing(
                    device_id, held.topic, held.payload, message.at, held.readings, "out_of_order"
                )
            )
        if (
            spec.duplicate_rate
            and self._chance(device_id, state, "duplicate") < spec.duplicate_rate
        ):
            self.tally.duplicate += 1
            out.append(
                Outgoing(
                    device_id,
                    message.topic,
                    message.payload,
                    message.at,
                    message.readings,
                    "duplicate",
                )
            )
        return out

    # -- a window ---------------------------------------------------------------------------

    def deliver(self, device_id: str, readings: list[Reading], t0: float, t1: float) -> list[Item]:
        """Messages and transitions of one device for the window [t0, t1)."""
        state = self._devices[device_id]
        bodies = self._bodies(device_id, state, readings)
        times = [ts for ts, _ in readings]
        items: list[Item] = []
        outages = self.plan.outages.get(device_id, ())
        if outages:
            times, bodies = self._offline(device_id, state, outages, times, bodies, t0, t1, items)
        if not bodies:
            return items
        single = self.plan.batch == 1
        spec = self.faults
        faulty = (
            spec.malformed_rate or spec.late_rate or spec.duplicate_rate or spec.out_of_order_rate
        )
        if outages:  # never batch readings from both sides of an outage together
            segments: dict[int, tuple[list[int], list[dict[str, object]]]] = {}
            for ts, body in zip(times, bodies, strict=True):
                side = sum(o.start <= ts for o in outages)
                segment = segments.setdefault(side, ([], []))
                segment[0].append(ts)
                segment[1].append(body)
            built = [
                m for ts_, bs in segments.values() for m in self._messages(device_id, bs, ts_, None)
            ]
        else:
            built = self._messages(device_id, bodies, times, None)
        for number, message in enumerate(built):
            if faulty:
                items.extend(
                    self._inject(device_id, state, message, bodies[number] if single else None)
                )
            else:
                items.append(message)
        return items

    def _offline(
        self,
        device_id: str,
        state: _Device,
        outages: tuple[Outage, ...],
        times: list[int],
        bodies: list[dict[str, object]],
        t0: float,
        t1: float,
        items: list[Item],
    ) -> tuple[list[int], list[dict[str, object]]]:
        """Hold back (or lose) what is taken while offline; emit transitions and backlogs."""
        kept_times, kept = [], []
        for ts, body in zip(times, bodies, strict=True):
            outage = next(
                (o for o in outages if o.start <= ts and (o.end is None or ts < o.end)), None
            )
            if outage is None:
                kept_times.append(ts)
                kept.append(body)
            elif outage.backlog and outage.end is not None:
                state.backlog.append((ts, body))
            else:
                self.tally.lost_readings += 1
        for o in outages:
            if t0 <= o.start < t1:
                self.tally.disconnects += 1
                items.append(Transition(device_id, False, o.start, o.clean))
            if o.end is not None and t0 <= o.end < t1:
                items.append(Transition(device_id, True, o.end))
                backlog = [body for ts, body in state.backlog if ts < o.end]
                state.backlog = [(ts, body) for ts, body in state.backlog if ts >= o.end]
                if backlog:
                    batches = self._messages(
                        device_id, backlog, [int(o.end)] * len(backlog), "backlog"
                    )
                    self.tally.backlog += len(batches)
                    self.tally.backlog_readings += len(backlog)
                    items.extend(batches)
        return kept_times, kept

    def due_late(self, until: float) -> list[Outgoing]:
        """Late messages whose time has come (before ``until``)."""
        out = []
        while self._late and self._late[0][0] < until:
            out.append(heapq.heappop(self._late)[2])
        return out

    def flush(self) -> list[Outgoing]:
        """At the end of a run: every message still held back (late or waiting to be reordered)."""
        out = [item for _, _, item in sorted(self._late)]
        self._late.clear()
        for state in self._devices.values():
            if state.held is not None:
                out.append(state.held)
                state.held = None
            self.tally.lost_readings += len(state.backlog)
            state.backlog.clear()
        return out

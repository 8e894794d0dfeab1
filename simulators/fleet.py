"""A small seeded fleet that produces contract payloads: the demo's and the tests' data source.

Pure: it yields ``(topic, payload)`` pairs and never touches the network. The signals are simple
but plausible (diurnal NO2 and PM, parking turnover, rising meter registers); the city-scale
simulators build on this.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from devices.contract import telemetry_topic

# A box over Camden, London (WGS84).
_LAT, _LON = (51.517, 51.572), (-0.214, -0.107)


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    device_type: str
    latitude: float
    longitude: float
    zone: str


@dataclass(slots=True)
class _State:
    seq: int = 0
    occupied: bool = False
    register_kwh: float = 0.0
    gas_m3: float = 0.0


@dataclass(slots=True)
class Fleet:
    """Devices of the three types and their evolving state, reproducible from ``seed``."""

    devices: list[SimDevice]
    seed: int = 7
    _rng: random.Random = field(init=False)
    _state: dict[str, _State] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for d in self.devices:
            self._state[d.device_id] = _State(
                register_kwh=self._rng.uniform(1_000, 30_000), gas_m3=self._rng.uniform(100, 9_000)
            )

    @classmethod
    def create(
        cls,
        *,
        air_quality: int = 10,
        parking_bay: int = 10,
        smart_meter: int = 10,
        seed: int = 7,
        prefix: str = "sim",
    ) -> Fleet:
        rng = random.Random(seed)
        devices = []
        for type_name, count, short in (
            ("air_quality", air_quality, "aq"),
            ("parking_bay", parking_bay, "bay"),
            ("smart_meter", smart_meter, "meter"),
        ):
            for i in range(count):
                devices.append(
                    SimDevice(
                        device_id=f"{prefix}-{short}-{i:05d}",
                        device_type=type_name,
                        latitude=round(rng.uniform(*_LAT), 6),
                        longitude=round(rng.uniform(*_LON), 6),
                        zone=f"ward-{rng.randint(1, 18):02d}",
                    )
                )
        return cls(devices, seed)

    def reading(self, device: SimDevice, ts: datetime) -> dict[str, object]:
        """The next reading object of ``device`` at ``ts`` (advances its state)."""
        state = self._state[device.device_id]
        state.seq += 1
        rng = self._rng
        hour = ts.hour + ts.minute / 60
        rush = math.exp(-((hour - 8.5) ** 2) / 3) + math.exp(-((hour - 17.5) ** 2) / 4)
        body: dict[str, object] = {"ts": ts.isoformat(), "seq": state.seq}
        if device.device_type == "air_quality":
            body["no2"] = round(max(0.0, 22 + 38 * rush + rng.gauss(0, 4)), 1)
            body["pm25"] = round(max(0.0, 7 + 6 * rush + rng.gauss(0, 1.5)), 1)
            body["pm10"] = round(max(0.0, 13 + 9 * rush + rng.gauss(0, 2.5)), 1)
            body["o3"] = round(
                max(0.0, 35 + 25 * math.sin(math.pi * (hour - 9) / 12) + rng.gauss(0, 3)), 1
            )
            body["temperature_c"] = round(8 + 4 * math.sin(math.pi * (hour - 9) / 12), 1)
            body["humidity_pct"] = round(min(100.0, max(0.0, 80 + rng.gauss(0, 5))), 1)
        elif device.device_type == "parking_bay":
            if rng.random() < 0.1 + 0.2 * rush:
                state.occupied = not state.occupied
            body["occupied"] = state.occupied
            body["battery_pct"] = round(max(0.0, 95 - state.seq * 0.001), 2)
        else:
            power = max(0.0, 250 + 1800 * rush * rng.random() + rng.gauss(0, 40))
            state.register_kwh += power / 1000 / 60  # one minute at that power
            state.gas_m3 += max(0.0, rng.gauss(0.02, 0.01))
            body["electricity_import_kwh"] = round(state.register_kwh, 3)
            body["gas_m3"] = round(state.gas_m3, 3)
            body["power_w"] = round(power)
        body["rssi_dbm"] = round(-60 - 25 * rng.random())
        return body

    def messages(
        self, *, start: datetime, count: int, step: timedelta = timedelta(minutes=1)
    ) -> Iterator[tuple[str, bytes]]:
        """``count`` telemetry messages round-robin over the fleet; each round advances ``step``."""
        n = len(self.devices)
        for i in range(count):
            device = self.devices[i % n]
            ts = start + step * (i // n)
            yield telemetry_topic(device.device_id), orjson.dumps(self.reading(device, ts))


def faulty_messages(fleet: Fleet, now: datetime) -> list[tuple[str, bytes, str]]:
    """One message for each kind of fault the platform must quarantine, with the expected reason."""
    aq = next(d for d in fleet.devices if d.device_type == "air_quality")
    bay = next(d for d in fleet.devices if d.device_type == "parking_bay")
    topic = telemetry_topic(aq.device_id)
    stamp = now.astimezone(UTC).isoformat()
    return [
        (topic, b"{not json", "bad_json"),
        (telemetry_topic("nobody-registered-this"), b'{"pm25": 3}', "unknown_device"),
        (topic, orjson.dumps({"ts": stamp, "pm25": -5}), "out_of_range"),
        (topic, orjson.dumps({"ts": stamp, "pm25": "high"}), "wrong_type"),
        (
            topic,
            orjson.dumps({"ts": (now + timedelta(days=2)).isoformat(), "pm25": 4}),
            "timestamp_in_future",
        ),
        (topic, orjson.dumps({"ts": "yesterday", "pm25": 4}), "bad_timestamp"),
        (topic, orjson.dumps({"ts": stamp, "pm2_5": 4}), "unknown_field"),
        (
            telemetry_topic(bay.device_id),
            orjson.dumps({"ts": stamp, "occupied": "yes"}),
            "wrong_type",
        ),
        (topic, b"x" * 70_000, "payload_too_large"),
        (telemetry_topic("id with spaces"), b"{}", "bad_topic"),
    ]

"""A small borough for the API's tests: zones, open devices, household meters, readings,
alerts and one key per scope. Built once per session in its own database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.keys import key_hash, new_key
from devices.model import Reading, StatusChange
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage import alerts as alert_store
from storage import api_keys
from storage.alerts import AlertRecord, Rule
from storage.api_keys import KeyScope
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.registry import upsert, upsert_zones
from storage.writer import Store

# Whole hours, two days back: every hourly and daily bucket holds data in both modes.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
HOURS = 30


def square(lon: float, lat: float, size: float = 0.02) -> dict[str, object]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


ZONES = [
    Zone("ward-a", "ward", "Ward A", square(-0.16, 51.53)),
    Zone("ward-b", "ward", "Ward B", square(-0.12, 51.53)),
    Zone("pz-a1", "parking_zone", "Parking zone A1", square(-0.16, 51.53, 0.01)),
]
# Twelve homes in ward A (enough to publish a total), two in ward B (too few).
HOMES_A = [f"hh-{i:04d}" for i in range(1, 13)]
HOMES_B = ["hh-0101", "hh-0102"]
OWN_HOUSEHOLD = "hh-0001"
OTHER_HOUSEHOLD = "hh-0002"
OWN_METER = "meter-0001"
OTHER_METER = "meter-0002"
CONSENT = {"hh-0001": "half_hourly", "hh-0002": "monthly"}


def devices() -> list[Device]:
    out = [
        Device(
            "aq-1",
            "air_quality",
            "Roadside A",
            51.535,
            -0.155,
            attributes={"site_type": "roadside"},
        ),
        Device("aq-2", "air_quality", "Background A", 51.545, -0.145),
        Device("aq-3", "air_quality", "Roadside B", 51.535, -0.115),
        Device(
            "bay-1", "parking_bay", "Bay 1", 51.531, -0.159, attributes={"restriction": "residents"}
        ),
        Device("bay-2", "parking_bay", "Bay 2", 51.532, -0.158),
        Device("wx-1", "weather", "Roof station"),
    ]
    for i, household in enumerate(HOMES_A + HOMES_B):
        in_b = household in HOMES_B
        out.append(
            Device(
                f"meter-{household.removeprefix('hh-')}",
                "smart_meter",
                latitude=51.54 + i * 0.0005,
                longitude=(-0.11 if in_b else -0.15) + i * 0.0001,
                attributes={"household_id": household},
                consent=CONSENT.get(household, "daily"),  # type: ignore[arg-type]
            )
        )
    return [validate(d, DEVICE_TYPES) for d in out]


def readings() -> list[Reading]:
    rows = []
    for hour in range(HOURS):
        ts = T0 + timedelta(hours=hour)
        for i, device_id in enumerate(("aq-1", "aq-2", "aq-3")):
            rows.append(
                Reading(
                    device_id,
                    "air_quality",
                    ts,
                    hour,
                    {"no2": 20.0 + i + hour % 5, "battery_pct": 90.0},
                )
            )
        rows.append(Reading("bay-1", "parking_bay", ts, hour, {"occupied": hour % 2 == 0}))
        rows.append(Reading("wx-1", "weather", ts, hour, {"temperature_c": 7.5}))
        for j, household in enumerate(HOMES_A + HOMES_B):
            device_id = f"meter-{household.removeprefix('hh-')}"
            rows.append(
                Reading(
                    device_id,
                    "smart_meter",
                    ts,
                    hour,
                    {"electricity_import_kwh": 1000.0 * (j + 1) + hour * 0.5, "power_w": 300.0 + j},
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class City:
    url: str
    keys: dict[str, str]
    """Scope (``resident`` is the own household's, ``resident-other`` another's) → key."""
    alert_ids: dict[str, int]


async def build(url: str) -> City:
    """Fill a migrated database (plain PostgreSQL mode)."""
    async with await connect(url, autocommit=True) as conn:
        await upsert_zones(conn, ZONES)
        await upsert(conn, devices())
    prepared = Prepared()
    for r in readings():
        columns = DEVICE_TYPES[r.device_type].columns
        prepared.rows.setdefault(r.device_type, []).append(
            (r.device_id, r.ts, r.seq, r.ts, *[r.values.get(c) for c in columns])
        )
    prepared.statuses.append(StatusChange("bay-2", False, T0))
    store = await Store.open(url, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()
    async with await connect(url, autocommit=True) as conn:
        keys: dict[str, str] = {}
        holders: list[tuple[str, KeyScope, str | None]] = [
            ("developer", "developer", None),
            ("officer", "officer", None),
            ("admin", "admin", None),
            ("resident", "resident", OWN_HOUSEHOLD),
            ("resident-other", "resident", OTHER_HOUSEHOLD),
        ]
        for label, scope, household in holders:
            key = new_key()
            await api_keys.create(
                conn,
                name=f"test {label}",
                scope=scope,
                key_hash=key_hash(key),
                household_id=household,
            )
            keys[label] = key
        await alert_store.save_rules(
            conn,
            [
                Rule("zone-daqi", "zone_daqi"),
                Rule("device-offline", "device_offline"),
            ],
        )
        alert_ids: dict[str, int] = {}
        for label, rule, subject, zone, message in (
            ("zone", "zone-daqi", "ward-a", "ward-a", "Air quality in Ward A is high"),
            ("bay", "device-offline", "bay-2", "ward-a", "bay-2 went offline"),
            ("meter", "device-offline", OTHER_METER, "ward-a", f"{OTHER_METER} went offline"),
        ):
            at = T0 + timedelta(hours=len(alert_ids))
            saved = await alert_store.save(
                conn,
                AlertRecord(
                    None,
                    rule,
                    subject,
                    "open",
                    "high" if label == "zone" else "offline",
                    7.0 if label == "zone" else None,
                    message,
                    zone,
                    at,
                    at,
                ),
                "opened",
                "civicpulse-alerts",
            )
            assert saved.alert_id is not None
            alert_ids[label] = saved.alert_id
    return City(url, keys, alert_ids)

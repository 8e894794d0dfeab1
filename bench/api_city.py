"""The API benchmark's city: the sample city's zones, bays and monitors (registered with
``civicpulse city load`` by :mod:`bench.api`), a day of simulated bay sensor reports, and one
household with a year of energy reports for the resident's page.

Bay reports come from the simulators' parking model (:class:`simulators.signals.parking.BayModel`:
arrivals by time of day and restriction, log-normal stays, heartbeats, sensor flicker), written
through ingest's write path (:class:`storage.writer.Store`), so that the API's live board
catches up from exactly what ingest would have stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from devices.types import DEVICE_TYPES
from simulators.model import Bay
from simulators.signals.calendar import ScalarClock
from simulators.signals.parking import BayModel
from storage import delivery, energy
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.registry import list_devices, list_zones, zones_of
from storage.writer import Store

LONDON = ZoneInfo("Europe/London")
_CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class BenchCity:
    bays: int
    reports: int
    """Bay sensor reports written (a day of them)."""
    zone: str
    """The parking zone with the most bays: the one the benchmark asks about."""
    zone_bays: int
    resident_token: str | None


async def _write(url: str, rows: list[tuple[object, ...]]) -> None:
    store = await Store.open(url, Mode.POSTGRES, DEVICE_TYPES)
    try:
        for i in range(0, len(rows), _CHUNK):
            prepared = Prepared()
            prepared.rows["parking_bay"] = rows[i : i + _CHUNK]
            await store.write(prepared)
    finally:
        await store.close()


async def simulate_bays(url: str, *, hours: float, seed: int) -> int:
    """A day (``hours``) of every registered bay's sensor reports, up to now; how many."""
    async with await connect(url, autocommit=True) as conn:
        bays = await list_devices(conn, device_type="parking_bay")
    clock = ScalarClock(LONDON)
    t1 = datetime.now(UTC).timestamp()
    t0 = t1 - hours * 3600.0
    columns = DEVICE_TYPES["parking_bay"].columns
    rows: list[tuple[object, ...]] = []
    for device in bays:
        a = device.attributes
        model = BayModel(
            device.device_id,
            Bay(
                bay_id=str(a.get("bay_id", device.device_id)),
                street=str(a.get("street", "")),
                parking_zone=str(a.get("parking_zone", "")),
                restriction=a.get("restriction", "pay_and_display"),
                max_stay_minutes=a.get("max_stay_minutes"),
                controlled_hours=str(a.get("controlled_hours", "Mon-Sat 08:30-18:30")),
            ),
            seed,
            clock,
        )
        for seq, event in enumerate(model.events(t0, t1)):
            ts = datetime.fromtimestamp(event.ts, UTC)
            values = {"occupied": event.occupied, "battery_pct": event.battery_pct}
            rows.append((device.device_id, ts, seq, ts, *[values.get(c) for c in columns]))
    await _write(url, rows)
    return len(rows)


async def resident(url: str) -> str | None:
    """A household (the city's one meter) with twelve monthly reports; its page's token."""
    async with await connect(url, autocommit=True) as conn:
        meters = await list_devices(conn, device_type="smart_meter")
        if not meters:
            return None
        meter = meters[0]
        household = str(meter.attributes["household_id"])
        await energy.save_programme(conn, energy.Programme("bench", "Home energy reports"))
        first = date.today().replace(day=1)
        for back in range(1, 13):
            end = _months_before(first, back - 1)
            start = _months_before(first, back)
            await energy.replace_nudges(
                conn,
                "bench",
                start,
                end,
                [
                    energy.NudgeRow(
                        household,
                        meter.device_id,
                        "ready",
                        rating=("great", "good", "above_average")[back % 3],
                        usage_kwh=180.0 + 10 * back,
                        average_kwh=230.0,
                        efficient_kwh=160.0,
                        peers=42,
                        figures={
                            "period": f"{start:%B %Y}",
                            "suggestions": [
                                {"name": "heating", "text": "Turn the thermostat down by 1°C."}
                            ],
                            "insights": [{"name": "evening", "text": "Most of your use is 5-8pm."}],
                        },
                    )
                ],
            )
        chosen = await delivery.household_preferences(conn, [household])
    return chosen[household].token


def _months_before(first: date, months: int) -> date:
    year, month = divmod(first.year * 12 + first.month - 1 - months, 12)
    return date(year, month + 1, 1)


async def build(url: str, *, hours: float, seed: int) -> BenchCity:
    reports = await simulate_bays(url, hours=hours, seed=seed)
    token = await resident(url)
    async with await connect(url, autocommit=True) as conn:
        bays = {d.device_id for d in await list_devices(conn, device_type="parking_bay")}
        memberships = await zones_of(conn)
        parking = {z.zone_id for z in await list_zones(conn) if z.kind == "parking_zone"}
    per_zone: dict[str, int] = {}
    for device in bays:
        for zone in memberships.get(device, ()):
            if zone in parking:
                per_zone[zone] = per_zone.get(zone, 0) + 1
    zone = max(per_zone, key=lambda z: per_zone[z])
    return BenchCity(len(bays), reports, zone, per_zone[zone], token)

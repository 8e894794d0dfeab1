"""A street of 25 flats in three wards, compared with each other for last month: the energy API's,
the open data's and the resident's page's tests read it.

Ward A holds flats 0-10, ward B flats 11-13 (too few to publish), ward C flats 14-24. Flat ``i``
uses ``5 + i`` kWh a day, so every figure is known in advance. A detached house far away has no
similar homes (its report is withheld) and no ward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics.nudges import Period, run_period
from api.keys import key_hash, new_key
from devices.registry import Zone
from storage import api_keys, energy
from storage import delivery as preferences
from storage.connection import connect
from storage.energy import NudgeRow, Programme
from storage.migrate import migrate
from storage.registry import upsert_zones
from tests.analytics.homes import city, last_month
from tests.conftest import create_database, drop_database

PROGRAMME = Programme("home-energy-reports", "Home energy reports", min_peers=10)
FLATS = {f"m-{i:02d}": 5.0 + i for i in range(25)}
WARDS = {"ward-a": range(0, 11), "ward-b": range(11, 14), "ward-c": range(14, 25)}
OWN = "hh-m-00"
"""The household whose page and key the tests use (the lowest use: rated great)."""
OTHER = "hh-m-24"
LONELY = "hh-lonely"
DELIVERED = "hh-m-20"


def _band(zone_id: str, south: float, north: float) -> Zone:
    ring = [[-0.141, south], [-0.139, south], [-0.139, north], [-0.141, north], [-0.141, south]]
    return Zone(
        zone_id,
        "ward",
        zone_id.replace("-", " ").title(),
        {"type": "Polygon", "coordinates": [ring]},
    )


EARLIER_REASON = "12 days of this period have no readings"


def earlier(period: Period) -> Period:
    """The month before ``period``."""
    return Period.month(f"{period.start - timedelta(days=1):%Y-%m}")


def ward_of(flat: int) -> str:
    return next(w for w, flats in WARDS.items() if flat in flats)


@dataclass(frozen=True, slots=True)
class EnergyCity:
    url: str
    period: Period
    tokens: dict[str, str]
    """Household → the token of its page link."""
    keys: dict[str, str]
    """``resident`` (OWN's), ``resident-other`` (OTHER's), ``officer``, ``developer``."""

    def kwh(self, flat: int) -> float:
        return (5.0 + flat) * self.period.days


async def build(url: str) -> EnergyCity:
    """Fill a migrated database: the street, its wards, last month's reports, page tokens."""
    period = last_month()
    async with await connect(url, autocommit=True) as conn:
        await city(url, conn, FLATS, period)
        # Flats sit 0.0003° of latitude apart from 51.54: ward edges fall between them.
        await upsert_zones(
            conn,
            [
                _band("ward-a", 51.5395, 51.54315),
                _band("ward-b", 51.54315, 51.54405),
                _band("ward-c", 51.54405, 51.5480),
            ],
        )
        await energy.save_programme(conn, PROGRAMME)
        await run_period(conn, PROGRAMME, period)
        # An earlier month in which the household's meter was away: no comparison.
        await energy.replace_nudges(
            conn,
            PROGRAMME.programme_id,
            earlier(period).start,
            earlier(period).end,
            [NudgeRow(OWN, "m-00", "withheld", withheld_reason=EARLIER_REASON, figures={})],
        )
        # Flat 20's report went by email; nobody else's went yet.
        key = f"nudge/{PROGRAMME.programme_id}/{period.start}/{DELIVERED}"
        claimed = await preferences.claim(
            conn, "nudge", key, DELIVERED, "email", now=datetime.now(UTC)
        )
        assert claimed is not None
        await preferences.finish(conn, claimed[0], "sent")
        households = [f"hh-{d}" for d in FLATS] + [LONELY]
        chosen = await preferences.household_preferences(conn, households)
        keys: dict[str, str] = {}
        for label, scope, household in (
            ("resident", "resident", OWN),
            ("resident-other", "resident", OTHER),
            ("officer", "officer", None),
            ("admin", "admin", None),
            ("developer", "developer", None),
        ):
            key = new_key()
            await api_keys.create(
                conn,
                name=f"test {label}",
                scope=scope,  # type: ignore[arg-type]
                key_hash=key_hash(key),
                household_id=household,
            )
            keys[label] = key
    return EnergyCity(url, period, {h: p.token for h, p in chosen.items()}, keys)


def energy_database(server: str) -> Iterator[EnergyCity]:
    """A fresh database holding the street (dropped afterwards)."""
    url = create_database(server)
    try:
        asyncio.run(migrate(url, timescaledb="off"))
        yield asyncio.run(build(url))
    finally:
        drop_database(server, url)

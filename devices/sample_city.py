"""A seeded sample city over Camden, London: wards, parking zones, an air-quality management area,
streets with parking bays, homes with smart meters, air-quality monitors and a weather station.

Pure and deterministic. The ward and street names are real Camden names; the geometry is
synthetic (rectangles and straight streets inside the borough's bounding box), good enough for
demos, tests and docs, and never to be mistaken for official boundaries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from devices.registry import Device, Zone

# Roughly Camden's extent, WGS84.
WEST, EAST, SOUTH, NORTH = -0.214, -0.107, 51.517, 51.572

_WARDS = (
    "Hampstead Town",
    "Belsize",
    "Kentish Town South",
    "Frognal",
    "Camden Square",
    "Regent's Park",
    "West Hampstead",
    "Camden Town",
    "Holborn and Covent Garden",
)
_STREETS = (
    # name, start (lon, lat), end (lon, lat), main road?
    ("Camden High Street", (-0.1428, 51.5330), (-0.1392, 51.5419), True),
    ("Kentish Town Road", (-0.1392, 51.5419), (-0.1408, 51.5520), True),
    ("Euston Road", (-0.1440, 51.5246), (-0.1240, 51.5290), True),
    ("Finchley Road", (-0.1790, 51.5430), (-0.1960, 51.5560), True),
    ("Haverstock Hill", (-0.1540, 51.5430), (-0.1650, 51.5530), True),
    ("Camden Road", (-0.1390, 51.5410), (-0.1250, 51.5490), True),
    ("Gloucester Avenue", (-0.1520, 51.5380), (-0.1470, 51.5430), False),
    ("Agar Grove", (-0.1330, 51.5430), (-0.1230, 51.5470), False),
    ("Belsize Park Gardens", (-0.1640, 51.5450), (-0.1600, 51.5500), False),
    ("Fortess Road", (-0.1390, 51.5540), (-0.1360, 51.5600), False),
)
_RESTRICTIONS = (
    ("pay_and_display", 0.45, 240, "Mon-Sat 08:30-18:30"),
    ("residents", 0.40, None, "Mon-Fri 08:30-18:30"),
    ("disabled", 0.08, None, "24/7"),
    ("loading", 0.07, 40, "Mon-Sat 07:00-19:00"),
)


@dataclass(frozen=True, slots=True)
class City:
    zones: tuple[Zone, ...]
    devices: tuple[Device, ...]


def _rectangle(west: float, south: float, east: float, north: float) -> dict[str, object]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def zones() -> list[Zone]:
    out = []
    columns, rows = 3, 3
    width, height = (EAST - WEST) / columns, (NORTH - SOUTH) / rows
    for i, name in enumerate(_WARDS):
        row, column = divmod(i, columns)
        west, north = WEST + column * width, NORTH - row * height
        slug = name.lower().replace("'", "").replace(" and ", " ").replace(" ", "-")
        out.append(
            Zone(
                f"ward-{slug}", "ward", name, _rectangle(west, north - height, west + width, north)
            )
        )
    # Controlled parking zones (synthetic split: north, central, south).
    middle = (WEST + EAST) / 2
    out.append(Zone("cpz-ca-n", "parking_zone", "CPZ CA-N", _rectangle(WEST, 51.548, EAST, NORTH)))
    out.append(
        Zone("cpz-ca-c", "parking_zone", "CPZ CA-C", _rectangle(WEST, 51.533, middle, 51.548))
    )
    out.append(
        Zone("cpz-ca-e", "parking_zone", "CPZ CA-E", _rectangle(middle, 51.533, EAST, 51.548))
    )
    out.append(Zone("cpz-ca-s", "parking_zone", "CPZ CA-S", _rectangle(WEST, SOUTH, EAST, 51.533)))
    # Camden is an air quality management area in its entirety.
    out.append(Zone("aqma-camden", "aqma", "Camden AQMA", _rectangle(WEST, SOUTH, EAST, NORTH)))
    return out


def build(*, homes: int = 300, bays: int = 200, monitors: int = 12, seed: int = 2026) -> City:
    """The sample city; the counts scale it (10,000+ devices for city-scale simulation)."""
    rng = random.Random(seed)
    devices: list[Device] = []
    installed = date(2026, 1, 5)
    for i in range(bays):
        street, start, end, _ = _STREETS[i % len(_STREETS)]
        t = rng.random()
        lon = start[0] + t * (end[0] - start[0]) + rng.uniform(-0.0002, 0.0002)
        lat = start[1] + t * (end[1] - start[1]) + rng.uniform(-0.0002, 0.0002)
        restriction, max_stay, hours = _pick_restriction(rng)
        devices.append(
            Device(
                device_id=f"cam-bay-{i + 1:05d}",
                device_type="parking_bay",
                name=f"{street} bay {i + 1}",
                latitude=round(lat, 6),
                longitude=round(lon, 6),
                vendor="Nwave",
                model="NPD-2",
                firmware_version="3.4.1",
                installed_on=installed + timedelta(days=rng.randint(0, 200)),
                attributes={
                    "bay_id": f"B{i + 1:05d}",
                    "street": street,
                    "parking_zone": _cpz(lon, lat),
                    "restriction": restriction,
                    **({"max_stay_minutes": max_stay} if max_stay else {}),
                    "controlled_hours": hours,
                },
            )
        )
    for i in range(homes):
        property_type = rng.choices(("flat", "terrace", "semi", "detached"), (55, 30, 10, 5))[0]
        area = {
            "flat": ("<50", "50-100"),
            "terrace": ("50-100", "100-150"),
            "semi": ("100-150",),
            "detached": ("100-150", ">150"),
        }[property_type]
        devices.append(
            Device(
                device_id=f"cam-meter-{i + 1:05d}",
                device_type="smart_meter",
                latitude=round(rng.uniform(SOUTH + 0.002, NORTH - 0.002), 6),
                longitude=round(rng.uniform(WEST + 0.002, EAST - 0.002), 6),
                vendor="EDMI",
                model="ES-10A",
                firmware_version="2.1.0",
                installed_on=installed - timedelta(days=rng.randint(0, 2000)),
                attributes={
                    "household_id": f"hh-{rng.getrandbits(48):012x}",
                    "property_type": property_type,
                    "floor_area_band": rng.choice(area),
                    "heating_fuel": rng.choices(("gas", "electric", "other"), (80, 15, 5))[0],
                    "occupants_band": rng.choices(("1", "2", "3-4", "5+"), (30, 35, 28, 7))[0],
                },
                consent=rng.choices(("monthly", "daily", "half_hourly"), (15, 50, 35))[0],
            )
        )
    for i in range(monitors):
        roadside = i % 3 != 2
        street, start, end, _ = _STREETS[i % 6]
        if roadside:
            lon, lat = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        else:
            lon, lat = (
                rng.uniform(WEST + 0.01, EAST - 0.01),
                rng.uniform(SOUTH + 0.01, NORTH - 0.01),
            )
        devices.append(
            Device(
                device_id=f"cam-aq-{i + 1:03d}",
                device_type="air_quality",
                name=f"{street} monitor" if roadside else f"Background monitor {i + 1}",
                latitude=round(lat, 6),
                longitude=round(lon, 6),
                vendor="Vortex IoT",
                model="AQ-300",
                firmware_version="1.8.2",
                installed_on=installed,
                attributes={
                    "site_type": "roadside" if roadside else "urban_background",
                    "inlet_height_m": 2.5 if roadside else 4.0,
                },
            )
        )
    devices.append(
        Device(
            device_id="cam-wx-001",
            device_type="weather",
            name="Camden weather station",
            latitude=51.5390,
            longitude=-0.1426,
            vendor="Davis",
            model="Vantage Pro2",
            firmware_version="4.2",
            installed_on=installed,
        )
    )
    return City(tuple(zones()), tuple(devices))


def _pick_restriction(rng: random.Random) -> tuple[str, int | None, str]:
    names = [r[0] for r in _RESTRICTIONS]
    weights = [r[1] for r in _RESTRICTIONS]
    chosen = rng.choices(range(len(names)), weights)[0]
    name, _, max_stay, hours = _RESTRICTIONS[chosen]
    return name, max_stay, hours


def _cpz(lon: float, lat: float) -> str:
    if lat >= 51.548:
        return "CA-N"
    if lat >= 51.533:
        return "CA-C" if lon < (WEST + EAST) / 2 else "CA-E"
    return "CA-S"

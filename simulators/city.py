"""A synthetic city: devices placed on streets and in zones, with plausible registry attributes.

The layout is a sketch of Camden, London: main roads (where kerbside and roadside monitors stand),
controlled parking zones with their hours (one beside the stadium for match days), wards, and a
housing mix that is mostly flats. Everything follows from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from simulators.geo import Point, along, distance_m
from simulators.model import AirSite, Bay, CityDevice, Household, WeatherSite
from simulators.signals.noise import stable_key

BOX = ((51.517, 51.572), (-0.214, -0.107))
"""(latitude range, longitude range) of the city."""

MAIN_ROADS: dict[str, tuple[Point, ...]] = {
    "euston_road": ((51.5276, -0.1381), (51.5282, -0.1300), (51.5299, -0.1235)),
    "camden_high_street": ((51.5343, -0.1387), (51.5391, -0.1426), (51.5416, -0.1462)),
    "kentish_town_road": ((51.5410, -0.1440), (51.5455, -0.1425), (51.5500, -0.1410)),
    "finchley_road": ((51.5420, -0.1750), (51.5500, -0.1800), (51.5580, -0.1850)),
    "camden_road": ((51.5390, -0.1420), (51.5450, -0.1300), (51.5500, -0.1200)),
    "holloway_road": ((51.5480, -0.1120), (51.5540, -0.1160), (51.5600, -0.1210)),
}
"""Centre lines of busy roads (lat, lon)."""


@dataclass(frozen=True, slots=True)
class ParkingZone:
    name: str
    centre: Point
    controlled_hours: str


PARKING_ZONES: tuple[ParkingZone, ...] = (
    ParkingZone("CA-B", (51.5390, -0.1430), "Mon-Sun 08:30-18:30"),
    ParkingZone("CA-E", (51.5270, -0.1330), "Mon-Fri 08:30-18:30, Sat 08:30-13:30"),
    ParkingZone("CA-F", (51.5500, -0.1410), "Mon-Fri 08:30-18:30"),
    ParkingZone("CA-H", (51.5560, -0.1780), "Mon-Sat 09:00-19:00"),
    ParkingZone("CA-K", (51.5650, -0.1450), "Mon-Fri 10:00-12:00"),
    ParkingZone("CA-L", (51.5450, -0.1950), "Mon-Fri 09:00-18:30"),
    ParkingZone("CA-S", (51.5530, -0.1130), "Mon-Sat 08:30-18:30"),
)
STADIUM: Point = (51.5549, -0.1084)
"""A football ground at the city's eastern edge; zone CA-S surrounds it."""

_STREETS = (
    "Arlington Road", "Parkway", "Delancey Street", "Albert Street", "Inverness Street",
    "Pratt Street", "Plender Street", "Bayham Street", "Greenland Road", "Jeffreys Street",
    "Leighton Road", "Lady Margaret Road", "Fortess Road", "Highgate Road", "Gaisford Street",
    "Royal College Street", "Agar Grove", "Torriano Avenue", "Drayton Park", "Gillespie Road",
    "Aubert Park", "Avenell Road", "Fernlea Road", "Belsize Park", "England's Lane",
    "Fellows Road", "Adelaide Road", "Goldhurst Terrace", "Compayne Gardens", "Fairhazel Gardens",
)  # fmt: skip


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _ward(p: Point) -> str:
    (lat0, lat1), (lon0, lon1) = BOX
    row = min(2, max(0, int(3 * (p[0] - lat0) / (lat1 - lat0))))
    col = min(5, max(0, int(6 * (p[1] - lon0) / (lon1 - lon0))))
    return f"ward-{row * 6 + col + 1:02d}"


def _random_point(rng: random.Random) -> Point:
    (lat0, lat1), (lon0, lon1) = BOX
    return round(rng.uniform(lat0, lat1), 6), round(rng.uniform(lon0, lon1), 6)


def _air_quality(rng: random.Random, device_id: str) -> CityDevice:
    site = _pick(rng, {"kerbside": 0.25, "roadside": 0.35, "urban_background": 0.4})
    if site == "urban_background":
        p = _random_point(rng)
        height = rng.uniform(2.0, 4.0)
    else:
        road = MAIN_ROADS[rng.choice(sorted(MAIN_ROADS))]
        offset = rng.uniform(1.0, 4.0) if site == "kerbside" else rng.uniform(5.0, 15.0)
        p = along(road, rng.random(), offset * rng.choice((-1.0, 1.0)))
        height = rng.uniform(1.5, 2.5) if site == "kerbside" else rng.uniform(2.0, 3.0)
    p = (round(p[0], 6), round(p[1], 6))
    attributes = AirSite(site_type=site, inlet_height_m=round(height, 1))  # type: ignore[arg-type]
    return CityDevice(device_id, "air_quality", p[0], p[1], (_ward(p),), attributes)


def _streets(rng: random.Random, count: int) -> list[tuple[str, ParkingZone, tuple[Point, Point]]]:
    streets = []
    for i in range(count):
        zone = PARKING_ZONES[i % len(PARKING_ZONES)]
        a = (zone.centre[0] + rng.gauss(0, 0.004), zone.centre[1] + rng.gauss(0, 0.006))
        b = (a[0] + rng.uniform(-0.002, 0.002), a[1] + rng.uniform(-0.003, 0.003))
        name = _STREETS[i % len(_STREETS)] + ("" if i < len(_STREETS) else f" {i // len(_STREETS)}")
        streets.append((name, zone, (a, b)))
    return streets


def _bay(
    rng: random.Random, device_id: str, street: tuple[str, ParkingZone, tuple[Point, Point]]
) -> CityDevice:
    name, zone, line = street
    p = along(line, rng.random(), rng.choice((-5.0, 5.0)))
    p = (round(p[0], 6), round(p[1], 6))
    restriction = _pick(
        rng, {"pay_and_display": 0.45, "residents": 0.4, "disabled": 0.08, "loading": 0.07}
    )
    max_stay = {
        "pay_and_display": rng.choice((120, 120, 240, None)),
        "residents": None,
        "disabled": rng.choice((180, None)),
        "loading": rng.choice((20, 30, 40)),
    }[restriction]
    bay = Bay(
        bay_id=f"{zone.name}-{device_id.rsplit('-', 1)[-1]}",
        street=name,
        parking_zone=zone.name,
        restriction=restriction,  # type: ignore[arg-type]
        max_stay_minutes=max_stay,
        controlled_hours=zone.controlled_hours,
    )
    return CityDevice(device_id, "parking_bay", p[0], p[1], (_ward(p), zone.name), bay)


def _meter(rng: random.Random, device_id: str, number: int) -> CityDevice:
    p = _random_point(rng)
    prop = _pick(rng, {"flat": 0.45, "terrace": 0.25, "semi": 0.18, "detached": 0.12})
    area = {
        "flat": {"<50": 0.45, "50-100": 0.45, "100-150": 0.1},
        "terrace": {"50-100": 0.5, "100-150": 0.4, ">150": 0.1},
        "semi": {"50-100": 0.35, "100-150": 0.45, ">150": 0.2},
        "detached": {"100-150": 0.4, ">150": 0.6},
    }[prop]
    household = Household(
        household_id=f"hh-{number:06d}",
        property_type=prop,  # type: ignore[arg-type]
        floor_area_band=_pick(rng, area),  # type: ignore[arg-type]
        heating_fuel=_pick(rng, {"gas": 0.8, "electric": 0.15, "other": 0.05}),  # type: ignore[arg-type]
        occupants_band=_pick(rng, {"1": 0.3, "2": 0.33, "3-4": 0.28, "5+": 0.09}),  # type: ignore[arg-type]
        consent=_pick(rng, {"half_hourly": 0.5, "daily": 0.4, "monthly": 0.1}),  # type: ignore[arg-type]
    )
    return CityDevice(device_id, "smart_meter", p[0], p[1], (_ward(p),), household)


def build_city(counts: Mapping[str, int], *, seed: int, prefix: str) -> list[CityDevice]:
    """Devices of each type (``counts``: type name -> how many), reproducible from ``seed``."""
    devices: list[CityDevice] = []
    rng = random.Random(stable_key(seed, "city", "air_quality"))
    devices += [
        _air_quality(rng, f"{prefix}-aq-{i:05d}") for i in range(counts.get("air_quality", 0))
    ]
    rng = random.Random(stable_key(seed, "city", "parking_bay"))
    bays = counts.get("parking_bay", 0)
    streets = _streets(rng, max(min(bays, len(PARKING_ZONES)), bays // 15))
    devices += [_bay(rng, f"{prefix}-bay-{i:05d}", streets[i % len(streets)]) for i in range(bays)]
    rng = random.Random(stable_key(seed, "city", "smart_meter"))
    devices += [
        _meter(rng, f"{prefix}-meter-{i:05d}", i) for i in range(counts.get("smart_meter", 0))
    ]
    rng = random.Random(stable_key(seed, "city", "weather"))
    for i in range(counts.get("weather", 0)):
        p = _random_point(rng)
        heat = 1.2 - 0.8 * min(1.0, distance_m(p, (51.535, -0.135)) / 4000.0)
        site = WeatherSite(urban_heat_c=round(heat, 2))
        devices.append(CityDevice(f"{prefix}-wx-{i:05d}", "weather", p[0], p[1], (_ward(p),), site))
    return devices

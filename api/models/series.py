"""Time series: readings, their latest value, and hourly, daily or monthly rollups."""

from __future__ import annotations

from pydantic import BaseModel, Field

from analytics.privacy import Reason
from api.models.common import Grain, Stats, Timestamp, Units, frozen
from api.pagination import Links

_READING = {
    "ts": "2026-11-25T08:00:00+00:00",
    "seq": 1841,
    "values": {"no2": 41.0, "pm25": 12.5, "battery_pct": 96.0},
}
_STATS = {"n": 12, "sum": 502.8, "min": 38.2, "max": 44.9, "avg": 41.9}
_UNITS = {"no2": "µg/m³", "pm25": "µg/m³", "battery_pct": "%"}


class Reading(BaseModel):
    model_config = frozen(_READING)
    ts: Timestamp = Field(description="When the device measured (its own clock)")
    seq: int | None = Field(description="The device's message counter, when it sends one")
    values: dict[str, float | bool | None] = Field(description="Field → value, in `units`")


class ReadingsPage(BaseModel):
    """A device's readings in ``[start, end)``, oldest first, a page at a time."""

    model_config = frozen(
        {
            "device_id": "aq-camden-001",
            "device_type": "air_quality",
            "units": _UNITS,
            "start": "2026-11-24T08:00:00+00:00",
            "end": "2026-11-25T08:00:00+00:00",
            "items": [_READING],
            "links": {"next": None},
        }
    )
    device_id: str
    device_type: str
    units: Units
    start: Timestamp
    end: Timestamp
    items: list[Reading]
    links: Links


class LatestReading(BaseModel):
    """A device's newest reading (``reading`` is ``null`` before its first)."""

    model_config = frozen(
        {
            "device_id": "aq-camden-001",
            "device_type": "air_quality",
            "units": _UNITS,
            "reading": _READING,
        }
    )
    device_id: str
    device_type: str
    units: Units
    reading: Reading | None


class Bucket(BaseModel):
    """One device's hour, day or month."""

    model_config = frozen(
        {"bucket": "2026-11-25T08:00:00+00:00", "samples": 12, "stats": {"no2": _STATS}}
    )
    bucket: Timestamp = Field(description="Start of the hour, day (UTC) or month")
    samples: int = Field(description="Readings in the bucket")
    stats: dict[str, Stats]


class DeviceRollups(BaseModel):
    """A device's rollups over ``[start, end)``; ``links.next`` continues after ``end``."""

    model_config = frozen(
        {
            "device_id": "aq-camden-001",
            "device_type": "air_quality",
            "grain": "hourly",
            "units": _UNITS,
            "start": "2026-11-24T00:00:00+00:00",
            "end": "2026-11-25T00:00:00+00:00",
            "items": [
                {"bucket": "2026-11-24T08:00:00+00:00", "samples": 12, "stats": {"no2": _STATS}}
            ],
            "links": {"next": None},
        }
    )
    device_id: str
    device_type: str
    grain: Grain
    units: Units
    start: Timestamp
    end: Timestamp
    items: list[Bucket]
    links: Links


class ZoneBucket(BaseModel):
    """A zone's devices of one type over one bucket: counts and sums add up; the mean is over
    every reading in the zone, not a mean of the devices' means."""

    model_config = frozen(
        {
            "bucket": "2026-11-25T08:00:00+00:00",
            "devices": 14,
            "samples": 168,
            "stats": {"no2": _STATS},
            "withheld": {},
        }
    )
    bucket: Timestamp
    devices: int = Field(description="Devices that reported in the bucket")
    samples: int
    stats: dict[str, Stats | None] = Field(
        description="Per field; `null` when withheld (see `withheld`)"
    )
    withheld: dict[str, Reason] = Field(
        description="Household data: fields withheld, and why (fewer than the minimum of"
        " households, or one household dominating the total)"
    )


class ZoneRollups(BaseModel):
    model_config = frozen(
        {
            "zone_id": "ward-camden-town",
            "device_type": "air_quality",
            "grain": "hourly",
            "units": _UNITS,
            "start": "2026-11-24T00:00:00+00:00",
            "end": "2026-11-25T00:00:00+00:00",
            "disclosure": None,
            "items": [
                {
                    "bucket": "2026-11-24T08:00:00+00:00",
                    "devices": 14,
                    "samples": 168,
                    "stats": {"no2": _STATS},
                    "withheld": {},
                }
            ],
            "links": {"next": None},
        }
    )
    zone_id: str
    device_type: str
    grain: Grain
    units: Units
    start: Timestamp
    end: Timestamp
    disclosure: str | None = Field(
        description="For household data: the rule applied before publishing each bucket"
    )
    items: list[ZoneBucket]
    links: Links

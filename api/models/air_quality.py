"""Air quality: the UK Daily Air Quality Index (DAQI) of monitors and zones with Defra's health
advice, a monitor's daily DAQI, and its year against the UK limits and WHO 2021 guidelines."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import Timestamp, frozen
from api.models.geojson import Point
from api.pagination import Links

Band = Literal["Low", "Moderate", "High", "Very High"]
_ADVICE = {
    "general": "Enjoy your usual outdoor activities.",
    "at_risk": "Adults and children with lung problems, and adults with heart problems, who"
    " experience symptoms, should consider reducing strenuous physical activity, particularly"
    " outdoors.",
}
_SUB = {
    "pollutant": "no2",
    "index": 4,
    "concentration": 212.4,
    "averaging": "hourly mean",
    "period_start": "2026-11-25T07:00:00+00:00",
    "period_end": "2026-11-25T08:00:00+00:00",
    "capture": "12 of 12 readings (9 needed)",
    "missing": None,
}
_LEVEL = {"index": 4, "band": "Moderate", "colour": "#FFFF00", "health": _ADVICE}
_MONITOR = {
    "type": "Feature",
    "id": "cam-aq-001",
    "geometry": {"type": "Point", "coordinates": [-0.141, 51.5375]},
    "properties": {
        "name": "Camden High Street monitor",
        "site_type": "roadside",
        "zones": ["aqma-camden", "ward-camden-town"],
        "at": "2026-11-25T08:14:03+00:00",
        **_LEVEL,
        "pollutants": ["no2"],
        "sub_indices": [_SUB],
        "qc": {"pm25": ["stuck"]},
        "distance_m": None,
    },
}
_ZONE = {
    "zone_id": "ward-camden-town",
    "name": "Camden Town",
    "at": "2026-11-25T08:14:03+00:00",
    **_LEVEL,
    "monitor_id": "cam-aq-001",
    "pollutant": "no2",
    "monitors": [{"monitor_id": "cam-aq-001", "index": 4, "pollutant": "no2"}],
    "reporting": 1,
}
_DAY = {
    "day": "2026-11-24",
    "index": 3,
    "band": "Low",
    "pollutant": "no2",
    "sub_indices": {"no2": 3, "pm25": 2},
}
_RESULT = {
    "key": "uk_no2_annual",
    "pollutant": "no2",
    "framework": "UK limit value / LAQM objective",
    "metric": "annual mean",
    "description": "no2 annual mean 40 µg/m³",
    "level_ugm3": 40.0,
    "allowed": 0,
    "value": 43.2,
    "exceedances": None,
    "outcome": "exceeded",
    "valid": 8406,
    "expected": 8760,
    "capture": 0.96,
    "source": "Air Quality Standards Regulations 2010 / LAQM objective",
}


class HealthAdvice(BaseModel):
    """Defra's health messages for the band (COMEAP)."""

    model_config = frozen(_ADVICE)
    general: str = Field(description="For the general population")
    at_risk: str = Field(
        description="For adults and children with lung or heart problems (and older people)"
    )


class SubIndex(BaseModel):
    """One pollutant's DAQI over its averaging period."""

    model_config = frozen(_SUB)
    pollutant: str
    index: int | None = Field(description="1-10; `null` when the period lacks data")
    concentration: float | None = Field(description="The period's mean, µg/m³ (unrounded)")
    averaging: str
    period_start: Timestamp
    period_end: Timestamp
    capture: str = Field(description="Readings (or valid hours) in the period, and how many count")
    missing: str | None = Field(description="Why there is no index")


class MonitorDaqi(BaseModel):
    model_config = frozen(_MONITOR["properties"])
    name: str | None
    site_type: str
    zones: list[str]
    at: Timestamp = Field(description="The instant the index is for (periods end by then)")
    index: int | None = Field(description="The highest sub-index; `null` without enough data")
    band: Band | None
    colour: str | None = Field(description="UK-AIR's colour for the index")
    health: HealthAdvice | None
    pollutants: list[str] = Field(description="The pollutant(s) setting the index")
    sub_indices: list[SubIndex]
    qc: dict[str, list[str]] = Field(
        description="Pollutants with readings of the last two hours that quality control left"
        " out (out_of_range, stuck, spike, drift)"
    )
    distance_m: float | None = Field(description="From the point asked about, when one was")


class MonitorFeature(BaseModel):
    model_config = frozen(_MONITOR)
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Point | None
    properties: MonitorDaqi


class MonitorCollection(BaseModel):
    """Monitors with their current DAQI; a GeoJSON FeatureCollection."""

    model_config = frozen({"type": "FeatureCollection", "features": [_MONITOR]})
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[MonitorFeature]


class MonitorIndex(BaseModel):
    model_config = frozen(_ZONE["monitors"][0])  # type: ignore[index]
    monitor_id: str
    index: int | None
    pollutant: str | None


class ZoneDaqi(BaseModel):
    """A zone's DAQI: the highest of its monitors', as Defra reports a region by its highest
    site."""

    model_config = frozen(_ZONE)
    zone_id: str
    name: str
    at: Timestamp
    index: int | None
    band: Band | None
    colour: str | None
    health: HealthAdvice | None
    monitor_id: str | None = Field(description="The monitor setting the index")
    pollutant: str | None
    monitors: list[MonitorIndex]
    reporting: int = Field(description="Monitors with an index")


class ZoneDaqiList(BaseModel):
    model_config = frozen({"items": [_ZONE]})
    items: list[ZoneDaqi]


class DailyDaqi(BaseModel):
    model_config = frozen(_DAY)
    day: date = Field(description="The local (Europe/London) calendar day")
    index: int | None
    band: Band | None
    pollutant: str | None
    sub_indices: dict[str, int | None]


class DaqiHistory(BaseModel):
    """A monitor's DAQI per local day, after quality control."""

    model_config = frozen(
        {
            "device_id": "cam-aq-001",
            "start": "2026-11-18",
            "end": "2026-11-24",
            "items": [_DAY],
            "links": {"next": None},
        }
    )
    device_id: str
    start: date
    end: date = Field(description="The last day, inclusive")
    items: list[DailyDaqi]
    links: Links


class ComplianceResult(BaseModel):
    model_config = frozen(_RESULT)
    key: str
    pollutant: str
    framework: str
    metric: str
    description: str
    level_ugm3: float
    allowed: int = Field(description="Exceedances allowed a year (counting metrics)")
    value: float | None = Field(
        description="The statistic (µg/m³), or the number of exceedances for counting metrics"
    )
    exceedances: int | None
    outcome: Literal["met", "exceeded", "insufficient data capture"]
    valid: int = Field(description="Periods with valid data")
    expected: int
    capture: float
    source: str


class Compliance(BaseModel):
    """A monitor's calendar year (local days) against the UK limits and WHO 2021 guidelines."""

    model_config = frozen({"device_id": "cam-aq-001", "year": 2025, "results": [_RESULT]})
    device_id: str
    year: int
    results: list[ComplianceResult]

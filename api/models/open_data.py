"""Open data: the catalogue (DCAT in JSON-LD) and the datasets' rows."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.privacy import Reason
from api.models.common import Timestamp, frozen
from api.pagination import Links

OGL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
"""The Open Government Licence v3.0."""
CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "title": "dct:title",
    "description": "dct:description",
    "identifier": "dct:identifier",
    "publisher": "dct:publisher",
    "name": "foaf:name",
    "license": {"@id": "dct:license", "@type": "@id"},
    "datasets": "dcat:dataset",
    "keywords": "dcat:keyword",
    "themes": "dcat:theme",
    "temporal": "dct:temporal",
    "start": {"@id": "dcat:startDate", "@type": "xsd:date"},
    "end": {"@id": "dcat:endDate", "@type": "xsd:date"},
    "spatial": "dct:spatial",
    "bbox": "dcat:bbox",
    "accrual_periodicity": {"@id": "dct:accrualPeriodicity", "@type": "@id"},
    "temporal_resolution": {"@id": "dcat:temporalResolution", "@type": "xsd:duration"},
    "landing_page": {"@id": "dcat:landingPage", "@type": "@id"},
    "distributions": "dcat:distribution",
    "media_type": "dcat:mediaType",
    "download_url": {"@id": "dcat:downloadURL", "@type": "@id"},
    "access_url": {"@id": "dcat:accessURL", "@type": "@id"},
}
_LD = {"serialize_by_alias": True, "validate_by_name": True, "frozen": True}


class Publisher(BaseModel):
    model_config = ConfigDict(
        **_LD,  # type: ignore[typeddict-item]
        json_schema_extra={
            "examples": [{"@type": "foaf:Agent", "name": "London Borough of Camden"}]
        },
    )
    type: Literal["foaf:Agent"] = Field(default="foaf:Agent", alias="@type")
    name: str


class Temporal(BaseModel):
    """The days the dataset holds data for (`null` before its first)."""

    model_config = frozen({"start": "2025-01-01", "end": "2026-11-29"})
    start: date | None
    end: date | None


class Spatial(BaseModel):
    """Where: the borough's zones' bounding box (west, south, east, north; WGS84)."""

    model_config = frozen({"bbox": [-0.2139, 51.5127, -0.1052, 51.5730], "zones": 18})
    bbox: list[float] | None
    zones: int = Field(description="Zones the dataset covers")


class Column(BaseModel):
    model_config = frozen(
        {"name": "no2", "description": "Nitrogen dioxide, hourly mean", "unit": "µg/m³"}
    )
    name: str
    description: str
    unit: str = Field(description="Empty for words, counts and times")


class Distribution(BaseModel):
    model_config = ConfigDict(
        **_LD,  # type: ignore[typeddict-item]
        json_schema_extra={
            "examples": [
                {
                    "@type": "dcat:Distribution",
                    "title": "CSV",
                    "media_type": "text/csv",
                    "download_url": "https://api.example/v1/open-data/zone-daqi?format=csv",
                    "license": OGL,
                }
            ]
        },
    )
    type: Literal["dcat:Distribution"] = Field(default="dcat:Distribution", alias="@type")
    title: str
    media_type: str
    download_url: str
    license: str


class Dataset(BaseModel):
    model_config = ConfigDict(
        **_LD,  # type: ignore[typeddict-item]
        json_schema_extra={
            "examples": [
                {
                    "@id": "https://api.example/v1/open-data/zone-daqi",
                    "@type": "dcat:Dataset",
                    "identifier": "zone-daqi",
                    "title": "Daily Air Quality Index by zone",
                    "description": "…",
                    "keywords": ["air quality", "DAQI"],
                    "themes": ["environment"],
                    "publisher": {"@type": "foaf:Agent", "name": "London Borough of Camden"},
                    "license": OGL,
                    "temporal": {"start": "2025-01-01", "end": "2026-11-29"},
                    "spatial": {"bbox": [-0.21, 51.51, -0.1, 51.57], "zones": 18},
                    "accrual_periodicity": "http://purl.org/cld/freq/daily",
                    "temporal_resolution": "P1D",
                    "landing_page": "https://api.example/v1/open-data",
                    "columns": [],
                    "distributions": [],
                }
            ]
        },
    )
    id: str = Field(alias="@id")
    type: Literal["dcat:Dataset"] = Field(default="dcat:Dataset", alias="@type")
    identifier: str
    title: str
    description: str
    keywords: list[str]
    themes: list[str]
    publisher: Publisher
    license: str
    temporal: Temporal
    spatial: Spatial
    accrual_periodicity: str
    temporal_resolution: str = Field(description="ISO 8601 duration of one row")
    landing_page: str
    columns: list[Column]
    distributions: list[Distribution]


class Catalogue(BaseModel):
    """The open data catalogue, DCAT in JSON-LD (`@context` maps its names to DCAT terms)."""

    model_config = ConfigDict(
        **_LD,  # type: ignore[typeddict-item]
        json_schema_extra={
            "examples": [
                {
                    "@context": {"dcat": "http://www.w3.org/ns/dcat#"},
                    "@id": "https://api.example/v1/open-data",
                    "@type": "dcat:Catalog",
                    "title": "Camden sensor open data",
                    "description": "…",
                    "publisher": {"@type": "foaf:Agent", "name": "London Borough of Camden"},
                    "license": OGL,
                    "datasets": [],
                }
            ]
        },
    )
    context: dict[str, Any] = Field(alias="@context")
    id: str = Field(alias="@id")
    type: Literal["dcat:Catalog"] = Field(default="dcat:Catalog", alias="@type")
    title: str
    description: str
    publisher: Publisher
    license: str
    datasets: list[Dataset]


_MEANS = {"pm25": 11.2, "pm10": 18.4, "no2": 38.9, "o3": None, "so2": None}


class MonitorHour(BaseModel):
    model_config = frozen(
        {
            "monitor_id": "aq-camden-001",
            "hour": "2026-11-25T08:00:00+00:00",
            "readings": 12,
            **_MEANS,
        }
    )
    monitor_id: str
    hour: Timestamp = Field(description="Start of the hour (UTC)")
    readings: int
    pm25: float | None
    pm10: float | None
    no2: float | None
    o3: float | None
    so2: float | None


class AirQualityHours(BaseModel):
    """Hourly mean concentrations per monitor (µg/m³), as measured (not ratified)."""

    model_config = frozen(
        {
            "dataset": "air-quality-hourly",
            "license": OGL,
            "start": "2026-11-24T00:00:00+00:00",
            "end": "2026-11-25T00:00:00+00:00",
            "items": [
                {
                    "monitor_id": "aq-camden-001",
                    "hour": "2026-11-24T08:00:00+00:00",
                    "readings": 12,
                    **_MEANS,
                }
            ],
            "links": {"next": None},
        }
    )
    dataset: str
    license: str
    start: Timestamp
    end: Timestamp
    items: list[MonitorHour]
    links: Links


class ZoneDay(BaseModel):
    model_config = frozen(
        {
            "zone_id": "ward-camden-town",
            "day": "2026-11-24",
            "index": 4,
            "band": "Moderate",
            "pollutant": "pm25",
            "monitor_id": "aq-camden-001",
            "monitors": 3,
        }
    )
    zone_id: str
    day: date = Field(description="A local (Europe/London) day")
    index: int | None = Field(description="DAQI 1-10; `null` without enough readings")
    band: str | None
    pollutant: str | None = Field(description="The pollutant setting the index")
    monitor_id: str | None = Field(description="The monitor setting it")
    monitors: int = Field(description="Monitors with an index that day")


class ZoneDaqiDays(BaseModel):
    """Each zone's Daily Air Quality Index, day by day (its monitors' highest)."""

    model_config = frozen(
        {
            "dataset": "zone-daqi",
            "license": OGL,
            "start": "2026-11-18",
            "end": "2026-11-25",
            "items": [],
            "links": {"next": None},
        }
    )
    dataset: str
    license: str
    start: date
    end: date = Field(description="Exclusive")
    items: list[ZoneDay]
    links: Links


class ZoneHour(BaseModel):
    model_config = frozen(
        {
            "zone_id": "pz-camden-ca-f",
            "hour": "2026-11-25T08:00:00+00:00",
            "bays": 46,
            "reports": 190,
            "occupied_share": 0.83,
        }
    )
    zone_id: str
    hour: Timestamp
    bays: int = Field(description="Bays that reported in the hour")
    reports: int = Field(description="Their reports (on every change, and hourly)")
    occupied_share: float | None = Field(description="Share of the reports saying occupied, 0-1")


class ParkingHours(BaseModel):
    """Parking occupancy per zone and hour."""

    model_config = frozen(
        {
            "dataset": "parking-occupancy",
            "license": OGL,
            "start": "2026-11-24T00:00:00+00:00",
            "end": "2026-11-25T00:00:00+00:00",
            "items": [],
            "links": {"next": None},
        }
    )
    dataset: str
    license: str
    start: Timestamp
    end: Timestamp
    items: list[ZoneHour]
    links: Links


class EnergyMonth(BaseModel):
    model_config = frozen(
        {
            "month": "2026-10-01",
            "zone_id": "ward-camden-town",
            "measure": "electricity_kwh",
            "households": 412,
            "total": 101264.2,
            "mean": 245.8,
            "withheld": None,
        }
    )
    month: date
    zone_id: str | None = Field(description="A ward; `null` for the month over every ward")
    measure: Literal["electricity_kwh", "gas_m3"]
    households: int | None = Field(description="`null` when withheld")
    total: float | None
    mean: float | None = Field(description="Per household")
    withheld: Reason | None = Field(
        description="`few_contributors` (under 10 households), `dominance` (one household over"
        " half the total) or, for a month's total, `complementary` (a ward of the month is"
        " withheld, and the total less the other wards would give it away)"
    )


class EnergyMonths(BaseModel):
    """Household energy use per ward and month, k-anonymous."""

    model_config = frozen(
        {
            "dataset": "energy-monthly",
            "license": OGL,
            "start": "2025-11-01",
            "end": "2026-11-01",
            "disclosure": "published only from 10 households up …",
            "items": [],
        }
    )
    dataset: str
    license: str
    start: date
    end: date = Field(description="Exclusive")
    disclosure: str
    items: list[EnergyMonth]

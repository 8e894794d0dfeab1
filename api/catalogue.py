"""The open datasets: what each holds, in words, for the catalogue and its page. Pure.

Every dataset is open under the Open Government Licence v3.0, served without a key as JSON and
CSV from ``/v1/open-data/<identifier>``; the catalogue (``/v1/open-data``) describes them in
DCAT terms, so data portals (data.gov.uk, CKAN) can harvest it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api.models.open_data import (
    CONTEXT,
    OGL,
    Catalogue,
    Column,
    Dataset,
    Distribution,
    Publisher,
    Spatial,
    Temporal,
)

FREQUENCY = "http://purl.org/cld/freq/"
_POLLUTANT_UNIT = "µg/m³"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    identifier: str
    title: str
    description: str
    keywords: tuple[str, ...]
    themes: tuple[str, ...]
    frequency: str
    """Dublin Core collection frequency: how often rows are added."""
    resolution: str
    columns: tuple[Column, ...]


def _c(name: str, description: str, unit: str = "") -> Column:
    return Column(name=name, description=description, unit=unit)


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "air-quality-hourly",
        "Air quality: hourly means per monitor",
        "The mean concentration of each pollutant each monitor measured, hour by hour, as"
        " measured: readings that fail the platform's checks on arrival are left out, but the"
        " data is not ratified. Monitors measure some pollutants, not all: the others are"
        " empty.",
        ("air quality", "pollution", "PM2.5", "PM10", "nitrogen dioxide", "ozone"),
        ("environment", "health"),
        "continuous",
        "PT1H",
        (
            _c("monitor_id", "The monitor (see /v1/devices?type=air_quality)"),
            _c("hour", "Start of the hour, UTC (ISO 8601)"),
            _c("readings", "Readings in the hour"),
            _c("pm25", "Fine particulate matter PM2.5, hourly mean", _POLLUTANT_UNIT),
            _c("pm10", "Particulate matter PM10, hourly mean", _POLLUTANT_UNIT),
            _c("no2", "Nitrogen dioxide, hourly mean", _POLLUTANT_UNIT),
            _c("o3", "Ozone, hourly mean", _POLLUTANT_UNIT),
            _c("so2", "Sulphur dioxide, hourly mean", _POLLUTANT_UNIT),
        ),
    ),
    DatasetSpec(
        "zone-daqi",
        "Daily Air Quality Index by zone",
        "Each zone's Daily Air Quality Index (DAQI, 1-10) for every local day: its monitors'"
        " highest, each from the day's readings after quality checks, by Defra's method. A day"
        " without enough readings has no index.",
        ("air quality", "DAQI", "Daily Air Quality Index"),
        ("environment", "health"),
        "daily",
        "P1D",
        (
            _c("zone_id", "The zone (see /v1/zones)"),
            _c("day", "The day, Europe/London"),
            _c("index", "DAQI, 1 (low) to 10 (very high); empty without enough readings"),
            _c("band", "Low, Moderate, High or Very High"),
            _c("pollutant", "The pollutant setting the index"),
            _c("monitor_id", "The monitor setting it"),
            _c("monitors", "Monitors with an index that day"),
        ),
    ),
    DatasetSpec(
        "parking-occupancy",
        "Parking occupancy per zone and hour",
        "How full each zone's sensor-equipped parking bays were, hour by hour: the share of"
        " the bays' reports that said occupied. Bays report on every change and at least"
        " hourly, so the share follows occupancy without being a time-weighted measure.",
        ("parking", "occupancy", "transport"),
        ("transport",),
        "continuous",
        "PT1H",
        (
            _c("zone_id", "The zone (see /v1/zones)"),
            _c("hour", "Start of the hour, UTC (ISO 8601)"),
            _c("bays", "Bays that reported in the hour"),
            _c("reports", "Their reports"),
            _c("occupied_share", "Share of the reports saying occupied, 0 to 1"),
        ),
    ),
    DatasetSpec(
        "energy-monthly",
        "Household energy use per ward and month",
        "Smart-meter electricity (kWh) and gas (m³) used by consenting households, per ward"
        " and calendar month, and over every ward. k-anonymous: a figure is withheld under 10"
        " households or when one household uses more than half of it, and a month's total"
        " whenever a ward of the month is withheld.",
        ("energy", "electricity", "gas", "smart meters", "households"),
        ("energy",),
        "monthly",
        "P1M",
        (
            _c("month", "First day of the month"),
            _c("zone_id", "The ward; empty for the month over every ward"),
            _c("measure", "electricity_kwh or gas_m3"),
            _c("households", "Households with a value; empty when withheld"),
            _c("total", "Their total use", "kWh or m³"),
            _c("mean", "Use per household", "kWh or m³"),
            _c("withheld", "Why withheld: few_contributors, dominance, or (totals) complementary"),
        ),
    ),
)
SPECS: Mapping[str, DatasetSpec] = {d.identifier: d for d in DATASETS}


@dataclass(frozen=True, slots=True)
class Coverage:
    days: tuple[str, str] | None
    """ISO dates of the first and last day with data."""
    zones: int


def catalogue(
    base: str, *, publisher: str, bbox: list[float] | None, coverage: Mapping[str, Coverage]
) -> Catalogue:
    """The catalogue; ``base`` is the API's address (``https://api.example``)."""
    home = f"{base}/v1/open-data"
    agent = Publisher(name=publisher)
    datasets = []
    for spec in DATASETS:
        found = coverage[spec.identifier]
        url = f"{home}/{spec.identifier}"
        datasets.append(
            Dataset.model_validate(
                {
                    "@id": url,
                    "identifier": spec.identifier,
                    "title": spec.title,
                    "description": spec.description,
                    "keywords": list(spec.keywords),
                    "themes": list(spec.themes),
                    "publisher": agent,
                    "license": OGL,
                    "temporal": Temporal.model_validate(
                        {"start": found.days[0], "end": found.days[1]}
                        if found.days
                        else {"start": None, "end": None}
                    ),
                    "spatial": Spatial(bbox=bbox, zones=found.zones),
                    "accrual_periodicity": FREQUENCY + spec.frequency,
                    "temporal_resolution": spec.resolution,
                    "landing_page": home,
                    "columns": list(spec.columns),
                    "distributions": [
                        Distribution(
                            title=title,
                            media_type=media,
                            download_url=f"{url}?format={fmt}",
                            license=OGL,
                        )
                        for title, media, fmt in (
                            ("CSV", "text/csv", "csv"),
                            ("JSON", "application/json", "json"),
                        )
                    ],
                }
            )
        )
    return Catalogue.model_validate(
        {
            "@context": CONTEXT,
            "@id": home,
            "title": f"{publisher}: sensor open data",
            "description": "Air quality, parking and household energy from the borough's"
            " sensors, free to use under the Open Government Licence v3.0. Each dataset is"
            " JSON and CSV, with no key needed, and pages by time: follow `links.next`.",
            "publisher": agent,
            "license": OGL,
            "datasets": datasets,
        }
    )

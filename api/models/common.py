"""Shared pieces of the API's bodies: times with their offset, statistics, units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema


def _iso(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with its UTC offset",
            "examples": ["2026-11-25T08:00:00+00:00"],
        }
    ),
]
"""A time in ISO 8601 with its offset (``2026-11-25T08:00:00+00:00``); never a naive time."""

Grain = Literal["hourly", "daily", "monthly"]
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
"""Device and zone ids (the device contract's characters)."""


def frozen(*examples: Any) -> ConfigDict:
    """A body's configuration: immutable, with its examples in the schema."""
    listed: list[Any] = list(examples)
    return ConfigDict(frozen=True, json_schema_extra={"examples": listed})


class Stats(BaseModel):
    """One field's statistics over a bucket (booleans count as 0 and 1: ``avg`` of
    ``occupied`` is the occupied share)."""

    model_config = frozen({"n": 12, "sum": 502.8, "min": 38.2, "max": 44.9, "avg": 41.9})
    n: int = Field(description="Readings of the field in the bucket")
    sum: float | None
    min: float | None = Field(description="`null` where publishing it would single out one home")
    max: float | None = Field(description="`null` where publishing it would single out one home")
    avg: float | None


FIELD_EXAMPLE = {
    "name": "no2",
    "kind": "float",
    "unit": "µg/m³",
    "description": "Nitrogen dioxide",
    "minimum": 0.0,
    "maximum": 2000.0,
}


class FieldInfo(BaseModel):
    """A measured quantity of a device type, with its unit."""

    model_config = frozen(FIELD_EXAMPLE)
    name: str
    kind: Literal["float", "bool"]
    unit: str = Field(description="SI or customary unit; empty for booleans")
    description: str
    minimum: float | None = Field(description="Plausible range: values outside are refused")
    maximum: float | None


Units = Annotated[
    dict[str, str],
    Field(
        description="Each field's unit (see `/v1/device-types`)",
        examples=[{"no2": "µg/m³", "pm25": "µg/m³", "battery_pct": "%"}],
    ),
]

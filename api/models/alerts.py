"""Alerts with their audit trail, and subscriptions to an area's alerts."""

from __future__ import annotations

from datetime import time
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.models.common import ID_PATTERN, Timestamp, frozen
from api.pagination import Links

_ALERT = {
    "alert_id": 4211,
    "rule_id": "zone-daqi",
    "kind": "zone_daqi",
    "subject": "ward-camden-town",
    "state": "open",
    "level": "high",
    "value": 7.0,
    "message": "Air quality in Camden Town is high (DAQI 7)",
    "zone_id": "ward-camden-town",
    "opened_at": "2026-11-25T07:40:00+00:00",
    "updated_at": "2026-11-25T08:05:00+00:00",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "escalated_at": None,
    "resolved_at": None,
}
_EVENT = {
    "at": "2026-11-25T07:40:00+00:00",
    "action": "opened",
    "actor": "civicpulse-alerts",
    "detail": {"level": "high", "value": 7.0},
}


class Alert(BaseModel):
    model_config = frozen(_ALERT)
    alert_id: int
    rule_id: str
    kind: str | None = Field(description="The rule's kind (`zone_daqi`, `bay_overstay`, …)")
    subject: str = Field(description="What the alert is about: a zone or a device id")
    state: Literal["open", "acknowledged", "resolved"]
    level: str
    value: float | None
    message: str
    zone_id: str | None
    opened_at: Timestamp
    updated_at: Timestamp
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None = Field(description="Who took it on (officers and admins see it)")
    escalated_at: Timestamp | None
    resolved_at: Timestamp | None


class AlertPage(BaseModel):
    model_config = frozen({"items": [_ALERT], "links": {"next": None}})
    items: list[Alert]
    links: Links


class AlertEvent(BaseModel):
    model_config = frozen(_EVENT)
    at: Timestamp
    action: str = Field(description="opened, updated, acknowledged, escalated, resolved, …")
    actor: str | None = Field(description="Who (officers and admins see it)")
    detail: dict[str, Any]


class AlertDetail(Alert):
    """An alert and its audit trail, oldest first."""

    model_config = frozen({**_ALERT, "history": [_EVENT]})
    history: list[AlertEvent]


# No control characters anywhere (the database refuses NUL in text).
EMAIL = r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,255}\.[^@\s\x00-\x1f]{2,}$"
PHONE = r"^\+?[0-9][0-9 ]{6,19}$"
WEBHOOK = r"^https://[^\s/?#\x00-\x1f]+[^\s\x00-\x1f]*$"
TOPIC = r"^[^#+\x00-\x1f]{1,200}$"


def _forbid(*examples: Any) -> ConfigDict:
    """A request body's configuration: unknown members are refused (422)."""
    listed: list[Any] = list(examples)
    return ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": listed})


class ZoneArea(BaseModel):
    """A zone: a ward, a parking zone."""

    model_config = _forbid({"zone_id": "ward-camden-town"})
    zone_id: str = Field(pattern=ID_PATTERN, description="A zone id (see `/v1/zones`)")


class CircleArea(BaseModel):
    """A point (WGS84) and a radius around it."""

    model_config = _forbid({"lon": -0.14, "lat": 51.54, "radius_m": 500})
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    radius_m: float = Field(default=500.0, gt=0, le=20_000, description="Metres")


class QuietHours(BaseModel):
    model_config = _forbid({"start": "22:00:00", "end": "07:00:00"})
    start: time
    end: time


class Channels(BaseModel):
    """Where to send alerts; at least one. Kept only to deliver them, never shown again."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"examples": [{"email": "resident@example.org"}], "minProperties": 1},
    )
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL)
    sms: str | None = Field(default=None, max_length=24, pattern=PHONE, description="A mobile")
    webhook: str | None = Field(
        default=None, max_length=500, pattern=WEBHOOK, description="An https:// URL"
    )
    mqtt: str | None = Field(default=None, pattern=TOPIC, description="A topic, no wildcards")

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    @model_validator(mode="after")
    def _one(self) -> Self:
        if not self.given():
            raise ValueError("give at least one of email, sms, webhook, mqtt")
        return self


Interest = Literal["air_quality", "parking", "device_health"]
Level = Literal["moderate", "high", "very_high"]


class SubscriptionRequest(BaseModel):
    """An area and what to hear about in it."""

    model_config = _forbid(
        {
            "area": {"zone_id": "ward-camden-town"},
            "kinds": ["air_quality"],
            "min_level": "high",
            "channels": {"email": "resident@example.org"},
        },
        {
            "area": {"lon": -0.14, "lat": 51.54, "radius_m": 500},
            "kinds": ["parking"],
            "channels": {"webhook": "https://example.org/hooks/civicpulse"},
            "quiet": {"start": "22:00:00", "end": "07:00:00"},
            "max_per_day": 2,
        },
    )
    area: ZoneArea | CircleArea
    kinds: list[Interest] = Field(default=["air_quality"], min_length=1, max_length=3)
    min_level: Level = Field(default="moderate", description="Air quality: from this level up")
    channels: Channels
    quiet: QuietHours | None = Field(default=None, description="Hold messages in these hours")
    max_per_day: int = Field(default=4, ge=1, le=48)


class Subscription(BaseModel):
    """A subscription as made. The token is its only key: keep it to unsubscribe."""

    model_config = frozen(
        {
            "token": "x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD",
            "area": {"zone_id": "ward-camden-town"},
            "kinds": ["air_quality"],
            "min_level": "high",
            "channels": ["email"],
            "quiet": None,
            "max_per_day": 4,
            "unsubscribe": "/v1/alerts/subscriptions/x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD",
        }
    )
    token: str
    area: ZoneArea | CircleArea
    kinds: list[str]
    min_level: str
    channels: list[str] = Field(description="The channels given (their addresses are not shown)")
    quiet: QuietHours | None
    max_per_day: int
    unsubscribe: str = Field(description="`DELETE` this path to unsubscribe")

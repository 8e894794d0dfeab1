"""The alert service a deployment runs, from its settings."""

from __future__ import annotations

from alerts.air_quality import AirQuality
from alerts.evaluators import DeviceHealth, Evaluator
from alerts.health import DeviceChecks
from alerts.parking import Parking
from alerts.service import AlertService, ServiceConfig
from civicpulse.settings import Settings
from delivery.dispatch import Dispatcher
from delivery.setup import senders_from
from devices.types import DEVICE_TYPES


def evaluators() -> list[Evaluator]:
    return [DeviceHealth(DEVICE_TYPES), DeviceChecks(DEVICE_TYPES), AirQuality(), Parking()]


def build_service(settings: Settings, *, tick_s: float = 15.0) -> AlertService:
    config = ServiceConfig(
        database_url=settings.require_database_url(), tick_s=tick_s, public_url=settings.public_url
    )
    return AlertService(config, Dispatcher(senders_from(settings)), evaluators())

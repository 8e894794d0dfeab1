from __future__ import annotations

import pytest

from devices.contract import parse_topic, status_topic, telemetry_topic, valid_device_id


def test_topics_round_trip() -> None:
    assert parse_topic(telemetry_topic("aq-0001")) == ("aq-0001", "telemetry")
    assert parse_topic(status_topic("bay:17.a")) == ("bay:17.a", "status")


@pytest.mark.parametrize(
    "topic",
    [
        "civicpulse/v2/devices/a/telemetry",
        "civicpulse/v1/devices/a/commands",
        "civicpulse/v1/devices//telemetry",
        "civicpulse/v1/devices/a b/telemetry",
        "civicpulse/v1/devices/a/telemetry/extra",
        "other/v1/devices/a/telemetry",
        "civicpulse/v1/devices/" + "x" * 65 + "/telemetry",
    ],
)
def test_non_contract_topics_are_refused(topic: str) -> None:
    assert parse_topic(topic) is None


def test_device_ids() -> None:
    assert valid_device_id("meter-000123")
    assert not valid_device_id("")
    assert not valid_device_id("a/b")
    assert not valid_device_id("a+b")
    assert not valid_device_id("a#")

"""Controlled parking hours as councils write them (devices.hours), and the registry taking them."""

from __future__ import annotations

import pytest

from civicpulse.errors import RegistryError
from devices.hours import ControlledHours
from devices.registry import Device, validate
from devices.types import DEVICE_TYPES


def test_several_day_ranges_and_several_times_a_day() -> None:
    hours = ControlledHours.parse("Mon-Fri 08:30-18:30, Sat 08:30-13:30")
    assert hours.active(0, 8.5) and not hours.active(0, 18.5)
    assert hours.active(5, 13.0) and not hours.active(5, 13.5) and not hours.active(6, 12.0)
    peaks = ControlledHours.parse("Mon-Fri 07:00-10:00 16:00-19:00; Sat 10:00-12:00")
    assert peaks.active(2, 7.0) and not peaks.active(2, 12.0) and peaks.active(2, 18.9)
    assert peaks.active(5, 11.0) and not peaks.active(5, 16.5)
    assert ControlledHours.parse("Fri-Mon 22:00-24:00").active(6, 23.0)  # wraps the week
    assert ControlledHours.parse("At any time").active(6, 3.0)
    assert not ControlledHours.parse("none").active(2, 12.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("daytime", "cannot read 'daytime'"),
        ("Mon-Fri 8.30-18.30", "cannot read the times '8.30-18.30'"),
        ("Mon-Fri 18:30-08:30", "is not a time range within a day"),
        ("Mon-Fri 08:75-09:00", "is not a time range within a day"),
        ("Mon-Fri 08:30-18:30, Someday 09:00-10:00", "cannot read 'someday 09:00-10:00'"),
    ],
)
def test_unreadable_hours_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControlledHours.parse(text)


def test_the_registry_accepts_what_the_simulators_and_councils_write() -> None:
    bay = Device(
        "b1", "parking_bay", attributes={"controlled_hours": "Mon-Fri 08:30-18:30, Sat 08:30-13:30"}
    )
    assert validate(bay, DEVICE_TYPES).attributes["controlled_hours"].startswith("Mon-Fri")
    with pytest.raises(RegistryError, match="attribute controlled_hours cannot read 'daytime'"):
        validate(
            Device("b2", "parking_bay", attributes={"controlled_hours": "daytime"}), DEVICE_TYPES
        )

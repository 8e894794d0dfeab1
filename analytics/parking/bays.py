"""A parking bay as the analytics see it: where it is counted and which rules apply to it.

Built from the registry attributes of a ``parking_bay`` device (``devices/attributes.py``:
``bay_id``, ``street``, ``parking_zone``, ``max_stay_minutes``, ``controlled_hours``). Controlled
hours are read by :class:`devices.hours.ControlledHours`, the one parser the registry and the
simulators use too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from devices.hours import ControlledHours

LONDON = ZoneInfo("Europe/London")
"""Controlled hours and weekday profiles are in local time; every instant elsewhere is UTC."""

ANY_TIME = ControlledHours.parse("At any time")


@dataclass(frozen=True, slots=True)
class BayInfo:
    """One bay: its device, the street and zone it is counted in, and its maximum stay."""

    device_id: str
    zone: str = ""
    street: str = ""
    max_stay_minutes: int | None = None
    hours: ControlledHours = ANY_TIME
    """When ``max_stay_minutes`` applies (local time)."""
    bay_id: str | None = None
    """The council's bay reference, for display; the device id is the key."""

    @classmethod
    def from_attributes(cls, device_id: str, attributes: Mapping[str, Any]) -> BayInfo:
        """From validated registry attributes. ``ValueError`` if the controlled hours are unreadable.

        A bay with no ``controlled_hours`` attribute is controlled at any time: on a UK plate a
        maximum stay with no times written applies at all times. ``"none"`` means never.
        """
        text = attributes.get("controlled_hours")
        max_stay = attributes.get("max_stay_minutes")
        return cls(
            device_id=device_id,
            zone=str(attributes.get("parking_zone") or ""),
            street=str(attributes.get("street") or ""),
            max_stay_minutes=int(max_stay) if max_stay is not None else None,
            hours=ANY_TIME if text is None else ControlledHours.parse(str(text)),
            bay_id=str(attributes["bay_id"]) if attributes.get("bay_id") else None,
        )


Grouping = Literal["bay", "street", "zone", "all"]
ALL = "all"
"""The label of the one group when grouping by ``"all"``."""


def group_of(bay: BayInfo, by: Grouping) -> str:
    """The label ``bay`` is counted under: its device id, street, zone, or :data:`ALL`."""
    if by == "bay":
        return bay.device_id
    if by == "street":
        return bay.street
    if by == "zone":
        return bay.zone
    return ALL


def group_index(bays: Sequence[BayInfo], by: Grouping) -> tuple[list[str], npt.NDArray[np.intp]]:
    """Group labels (in first-seen order) and each bay's position among them."""
    positions: dict[str, int] = {}
    index = [positions.setdefault(group_of(bay, by), len(positions)) for bay in bays]
    return list(positions), np.array(index, dtype=np.intp)

"""Free, occupied and unknown bays per zone and per street, and the FIWARE words for them.

FIWARE Smart Data Models, ``dataModel.Parking`` (domain.md §5.3): a ``ParkingSpot``'s ``status``
is one of ``free``, ``occupied``, ``closed``, ``unknown``; an ``OnStreetParking`` carries
``totalSpotNumber`` and ``availableSpotNumber`` (at most the total). Our three sensed statuses
are already those words; ``closed`` is not sensed but declared (a suspended bay, roadworks), so
it comes in as a set of bays and wins over what the sensor says. A closed bay still counts in
the total, as FIWARE's ``totalSpotNumber`` counts spots, not spots in use.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from analytics.parking.bays import BayInfo, Grouping, group_of
from analytics.parking.state import NEVER_SEEN, BayState, Status

FiwareStatus = Literal["free", "occupied", "closed", "unknown"]


@dataclass(frozen=True, slots=True)
class Availability:
    """Bay counts of one group (a zone, a street, or all)."""

    free: int = 0
    occupied: int = 0
    unknown: int = 0
    closed: int = 0

    @property
    def total(self) -> int:
        return self.free + self.occupied + self.unknown + self.closed

    def fiware(self) -> dict[str, int]:
        """The counts as ``OnStreetParking`` attributes (NGSI-LD property values)."""
        return {"totalSpotNumber": self.total, "availableSpotNumber": self.free}


def fiware_status(status: Status, *, closed: bool = False) -> FiwareStatus:
    """A ``ParkingSpot.status`` value for a bay in ``status``."""
    if closed:
        return "closed"
    if status is Status.FREE:
        return "free"
    if status is Status.OCCUPIED:
        return "occupied"
    return "unknown"


def availability(
    bays: Iterable[BayInfo],
    states: Mapping[str, BayState],
    *,
    by: Grouping,
    closed: Collection[str] = (),
) -> dict[str, Availability]:
    """Counts per group, from each bay's state (keyed by device id; a missing bay is unknown).

    The reference for :class:`~analytics.parking.live.LiveBays`, which keeps the same counts
    up to date change by change.
    """
    counts: dict[str, list[int]] = {}
    for bay in bays:
        row = counts.setdefault(group_of(bay, by), [0, 0, 0, 0])
        row[position(states.get(bay.device_id, NEVER_SEEN).status, bay.device_id in closed)] += 1
    return {label: Availability(*row) for label, row in counts.items()}


def position(status: Status, closed: bool) -> int:
    """The position of a bay in an :class:`Availability` row: free, occupied, unknown, closed."""
    if closed:
        return 3
    return (Status.FREE, Status.OCCUPIED, Status.UNKNOWN).index(status)

"""Every parking bay's live state in this API process, and each zone's counts.

The parking analytics decide what a bay's state is (:class:`analytics.parking.LiveBays`:
debounced, ordered by device time, ``unknown`` once the heartbeat is missed) and what a zone's
counts are (:func:`analytics.parking.availability`). This adapter only feeds them from storage,
as the alert service's parking evaluator does: after a gap in the change feed it replays the last
day of stored readings, then applies the readings each change names, and the wall clock
(:meth:`BayBoard.advance`) for the changes nobody reports.

Counts are kept per registry zone (any kind: a controlled parking zone, a ward), the zones of
``/v1/zones``: counted by the analytics' :func:`~analytics.parking.availability` after a
catch-up, then moved bay by bay as :class:`~analytics.parking.LiveBays` reports changes (a
bay's status leaves one count for another, as ``LiveBays`` keeps its own counts), so that a
change costs its bay's few zones and serving a zone's counts a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analytics.parking import (
    ALL,
    Availability,
    BayChange,
    BayInfo,
    BayState,
    LiveBays,
    availability,
)
from analytics.parking.availability import position
from analytics.parking.feed import AHEAD, HISTORY, bay_series, observe_change
from devices.types import PARKING_BAY
from storage.connection import Conn
from storage.feed import Change
from storage.readings import readings
from storage.registry import list_devices, list_zones, zones_of


@dataclass(frozen=True, slots=True)
class BayPlace:
    """A bay as the API shows it: the analytics' view plus where it is."""

    info: BayInfo
    name: str | None
    lon: float | None
    lat: float | None
    zones: tuple[str, ...]
    """Registry zones (explicit and by geometry), by id."""
    restriction: str | None
    controlled_hours: str | None
    """As the registry has it (``info.hours`` is the parsed form)."""


@dataclass(frozen=True, slots=True)
class ZoneCounts:
    zone_id: str
    counts: Availability
    changed_at: datetime
    """When these counts began (or when this process first counted them)."""


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    zone_id: str
    kind: str
    name: str
    geometry: Mapping[str, object] | None


@dataclass(slots=True)
class BayBoard:
    """The bays' states and the zones' counts; one per process, fed by :class:`~api.live.hub.Hub`."""

    places: dict[str, BayPlace] = field(default_factory=dict)
    zones: dict[str, ZoneInfo] = field(default_factory=dict)
    """Every registry zone, bays or not."""
    members: dict[str, list[BayInfo]] = field(default_factory=dict)
    """Zone → its bays."""
    counts: dict[str, ZoneCounts] = field(default_factory=dict)
    live: LiveBays | None = None

    async def load(self, conn: Conn, now: datetime) -> bool:
        """Read the registry's bays and zones; whether a bay was added or changed."""
        memberships = await zones_of(conn)
        self.zones = {
            z.zone_id: ZoneInfo(z.zone_id, z.kind, z.name, z.geometry)
            for z in await list_zones(conn)
        }
        places: dict[str, BayPlace] = {}
        for d in await list_devices(conn, device_type=PARKING_BAY.name):
            try:
                info = BayInfo.from_attributes(d.device_id, d.attributes)
            except ValueError:
                continue  # unreadable hours: the registry refuses them, so only legacy rows
            restriction = d.attributes.get("restriction")
            hours = d.attributes.get("controlled_hours")
            places[d.device_id] = BayPlace(
                info,
                d.name,
                d.longitude,
                d.latitude,
                tuple(memberships.get(d.device_id, ())),
                str(restriction) if restriction else None,
                str(hours) if hours else None,
            )
        changed = places != self.places
        self.places = places
        self.members = {}
        for place in places.values():
            for zone in place.zones:
                self.members.setdefault(zone, []).append(place.info)
        if self.live is not None:
            for place in places.values():
                self.live.add_bay(place.info, now=now.timestamp())
        return changed

    async def catch_up(self, conn: Conn, now: datetime) -> set[str]:
        """Rebuild every bay from its stored history (at start, and after a gap in the feed);
        the zones whose counts changed."""
        await self.load(conn, now)
        self.live = LiveBays((p.info for p in self.places.values()), now=now.timestamp())
        rows = await readings(
            conn,
            PARKING_BAY,
            start=now - HISTORY,
            end=now + AHEAD,
            fields=["occupied"],
            limit=100_000_000,
        )
        for device, series in bay_series(rows).items():
            if device in self.places:
                self.live.rebuild(device, series, now=now.timestamp())
        return self._recount(set(self.zones), now)

    async def on_change(self, conn: Conn, change: Change, now: datetime) -> set[str]:
        """Apply the readings a change of the feed names; the zones whose counts changed."""
        if self.live is None or change.device_type != PARKING_BAY.name:
            return set()
        recounted: set[str] = set()
        if any(d not in self.places for d in change.device_ids):
            await self.load(conn, now)  # a bay registered since: learn it, count it
            recounted = self._recount(set(self.zones), now)
        moved = await observe_change(conn, self.live, change, now)
        return recounted | self._move(moved, now)

    def advance(self, now: datetime) -> set[str]:
        """Apply the changes due by ``now`` (confirmations, missed heartbeats)."""
        if self.live is None:
            return set()
        return self._move(self.live.advance(now.timestamp()).changes, now)

    def state(self, device_id: str) -> BayState:
        assert self.live is not None
        return self.live.state(device_id)

    def zone_counts(self, zone_id: str) -> ZoneCounts:
        """A registry zone's counts (zeros for a zone without bays)."""
        found = self.counts.get(zone_id)
        if found is None:
            return ZoneCounts(zone_id, Availability(), datetime.now(UTC))
        return found

    def street_counts(self, zone_id: str | None = None) -> dict[str, Availability]:
        """Counts per street, of all bays or of one zone's."""
        if self.live is None:
            return {}
        if zone_id is None:
            return self.live.availability("street")
        bays = self.members.get(zone_id, [])
        return availability(bays, {b.device_id: self.state(b.device_id) for b in bays}, by="street")

    def _move(self, changes: Iterable[BayChange], now: datetime) -> set[str]:
        """Move each changed bay from its old status's count to its new one, in its zones."""
        rows: dict[str, list[int]] = {}
        for change in changes:
            place = self.places.get(change.device_id)
            before = position(change.before.status, False)
            after = position(change.after.status, False)
            if place is None or before == after:
                continue
            for zone in place.zones:
                row = rows.get(zone)
                if row is None:
                    c = self.zone_counts(zone).counts
                    row = rows[zone] = [c.free, c.occupied, c.unknown, c.closed]
                row[before] -= 1
                row[after] += 1
        changed = set()
        for zone, row in rows.items():
            counts = Availability(*row)
            if self.zone_counts(zone).counts != counts:
                self.counts[zone] = ZoneCounts(zone, counts, now)
                changed.add(zone)
        return changed

    def _recount(self, zones: Iterable[str], now: datetime) -> set[str]:
        assert self.live is not None
        changed = set()
        for zone in zones:
            bays = self.members.get(zone, [])
            states = {b.device_id: self.live.state(b.device_id) for b in bays}
            counts = availability(bays, states, by="all").get(ALL, Availability())
            before = self.counts.get(zone)
            if before is None or before.counts != counts:
                self.counts[zone] = ZoneCounts(zone, counts, now)
                changed.add(zone)
        return changed

"""One ingest process per client id: a lease in the database. Pure.

Two processes with the same MQTT client id take the broker session from each other for ever:
each connection closes the other's, and Mosquitto 2.0 says nothing but "connection closed" to
the one cut off. So an ingest process holds a lease on its client id in the shared database,
renewed while it runs and released when it stops, and a second process with the same id is
refused at start with the reason. A holder that stopped without releasing (SIGKILL, a lost
host) does not block for long: on the same host a dead pid frees the lease at once, elsewhere
the lease lapses after :data:`TTL_S` without renewal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TTL_S = 30.0
RENEW_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Holder:
    host: str
    pid: int
    renewed_at: float

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "renewed_at": self.renewed_at}

    @classmethod
    def from_json(cls, value: Any) -> Holder | None:
        try:
            return cls(str(value["host"]), int(value["pid"]), float(value["renewed_at"]))
        except (TypeError, KeyError, ValueError):
            return None


def lease_key(client_id: str) -> str:
    return f"ingest.lease.{client_id}"


def acquire(
    current: Any, me: Holder, pid_alive: Callable[[int], bool]
) -> tuple[Any, Holder | None]:
    """The new stored value, and the other holder that keeps the lease (``None``: it is ours)."""
    holder = Holder.from_json(current)
    if holder is None or (holder.host, holder.pid) == (me.host, me.pid):
        return me.to_json(), None
    if holder.host == me.host and not pid_alive(holder.pid):
        return me.to_json(), None
    if me.renewed_at - holder.renewed_at > TTL_S:
        return me.to_json(), None
    return current, holder


def renew(current: Any, me: Holder) -> tuple[Any, bool]:
    """Renew our lease; False if another process holds it now (ours lapsed meanwhile)."""
    holder = Holder.from_json(current)
    if holder is not None and (holder.host, holder.pid) != (me.host, me.pid):
        return current, False
    return me.to_json(), True


def release(current: Any, me: Holder) -> tuple[Any, None]:
    """Give the lease up if it is ours (an empty value: no holder)."""
    holder = Holder.from_json(current)
    if holder is not None and (holder.host, holder.pid) == (me.host, me.pid):
        return {}, None
    return current, None

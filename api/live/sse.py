"""Server-Sent Events on the wire (the WHATWG HTML standard's ``text/event-stream``). Pure.

An event is ``id:``, ``event:`` and ``data:`` lines and a blank line; a line starting with
``:`` is a comment, which clients ignore (a heartbeat: it keeps proxies from closing an idle
connection and lets the server notice a client that went away). ``retry:`` tells the client how
long to wait before reconnecting; it then sends the last id it saw as ``Last-Event-ID``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": keep-alive\n\n"
HEADERS = {
    "Cache-Control": "no-store",
    # Nginx (and proxies that honour it) would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its id (a resume point), its name, and its JSON data."""

    id: str
    name: str
    data: bytes
    """JSON, on one line (``orjson`` never writes a newline)."""

    def encode(self) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (
            self.id.encode(),
            self.name.encode(),
            self.data,
        )


def event(id: str, name: str, data: object) -> Event:
    return Event(id, name, orjson.dumps(data))


def retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def last_event_id(header: str | None) -> str | None:
    """The ``Last-Event-ID`` a reconnecting client sent (``None`` when absent or blank)."""
    if header is None:
        return None
    value = header.strip()
    # Ids never hold line breaks or NUL (the standard ignores such ids); nor do ours.
    if not value or len(value) > 100 or any(c in value for c in "\r\n\0"):
        return None
    return value

"""Turn a batch of received MQTT messages into rows to store. Pure: no I/O."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from devices.codec import decode_message
from devices.contract import Limits, parse_topic
from devices.model import Decoded, DeviceType, Reason, Rejection
from storage.batch import Prepared, QuarantineRow

logger = logging.getLogger(__name__)


class InMessage(NamedTuple):
    """A message as received, before decoding. ``epoch`` names the broker connection.

    A NamedTuple rather than a frozen dataclass: one is built per message on paho's network
    thread, the ingest bottleneck, and a tuple costs a fraction of a frozen ``__init__``.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    epoch: int
    received_at: float


def prepare(
    messages: Iterable[InMessage],
    lookup: Callable[[str], DeviceType | None],
    limits: Limits,
    types: Mapping[str, DeviceType],
) -> Prepared:
    """Decode every message; readings become table rows in column order, the rest quarantine."""
    out = Prepared()
    rows = out.rows
    arrival, received_at = -1.0, datetime.min
    for message in messages:
        if message.received_at != arrival:  # one clock reading per socket read: reuse it
            arrival = message.received_at
            received_at = datetime.fromtimestamp(arrival, UTC)
        try:
            decoded = decode_message(message.topic, message.payload, received_at, lookup, limits)
        except Exception as error:  # a codec bug must not crash-loop ingest on redelivery
            logger.exception("decoder raised on %s", message.topic)
            detail = f"{type(error).__name__}: {error}"[:500]
            decoded = Decoded(rejections=(Rejection(Reason.DECODER_ERROR, detail),))
        for reading in decoded.readings:
            columns = types[reading.device_type].columns
            values = reading.values
            table_rows = rows.get(reading.device_type)
            if table_rows is None:
                table_rows = rows[reading.device_type] = []
            table_rows.append(
                (
                    reading.device_id,
                    reading.ts,
                    reading.seq,
                    received_at,
                    *[values.get(c) for c in columns],
                )
            )
        if decoded.rejections:
            parsed = parse_topic(message.topic)
            device_id = parsed[0] if parsed else None
            for rejection in decoded.rejections:
                whole = rejection.item is None or rejection.excerpt is None
                out.quarantine.append(
                    QuarantineRow(
                        received_at=received_at,
                        topic=message.topic,
                        device_id=device_id,
                        item=-1 if rejection.item is None else rejection.item,
                        reason=rejection.reason,
                        detail=rejection.detail,
                        payload=message.payload if whole else rejection.excerpt or b"",
                    )
                )
        if decoded.status is not None:
            out.statuses.append(decoded.status)
    return out


def storage_rejection(message: InMessage, detail: str) -> QuarantineRow:
    """Quarantine a message the database refused even though it decoded (e.g. a numeric overflow)."""
    parsed = parse_topic(message.topic)
    return QuarantineRow(
        received_at=datetime.fromtimestamp(message.received_at, UTC),
        topic=message.topic,
        device_id=parsed[0] if parsed else None,
        item=-1,
        reason=Reason.STORAGE_REJECTED,
        detail=detail,
        payload=message.payload,
    )

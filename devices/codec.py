"""Decode MQTT messages of the device contract into readings and rejections. Pure: no I/O.

``decode_message`` never raises on bad input: every problem becomes a :class:`Rejection` with a
reason and a human-readable detail, so that ingest can quarantine it and keep running. Telemetry
goes to the device type's own ``decode`` when its plugin has one (a binary format, a network
server's uplinks), else to the contract's JSON/SenML codec; either way :func:`decode_item`
validates each reading against the type's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from devices.contract import Limits, parse_topic
from devices.model import Decoded, DeviceType, Reading, Reason, Rejection, StatusChange, Value
from devices.senml import is_senml, senml_items

DeviceLookup = Callable[[str], DeviceType | None]

_MAX_SEQ = 2**63 - 1
_STATUS_WORDS = {"online": True, "offline": False}


def decode_message(
    topic: str,
    payload: bytes,
    received_at: datetime,
    lookup: DeviceLookup,
    limits: Limits,
) -> Decoded:
    """Decode one message; ``lookup`` maps a device id to its type (``None`` if unregistered)."""
    parsed = parse_topic(topic)
    if parsed is None:
        return _reject(Reason.BAD_TOPIC, f"not a civicpulse/v1 device topic: {topic[:200]!r}")
    device_id, channel = parsed
    device_type = lookup(device_id)
    if device_type is None:
        return _reject(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
    if len(payload) > limits.max_payload_bytes:
        return _reject(
            Reason.PAYLOAD_TOO_LARGE,
            f"{len(payload)} bytes, the limit is {limits.max_payload_bytes}",
        )
    if channel == "status":
        return _decode_status(device_id, payload, received_at)
    if device_type.decode is not None:
        return device_type.decode(
            payload,
            device_type=device_type,
            device_id=device_id,
            received_at=received_at,
            limits=limits,
        )
    return decode_json_payload(
        payload,
        device_type=device_type,
        device_id=device_id,
        received_at=received_at,
        limits=limits,
    )


def decode_json_payload(
    payload: bytes,
    *,
    device_type: DeviceType,
    device_id: str,
    received_at: datetime,
    limits: Limits,
) -> Decoded:
    """The contract's own telemetry format: one JSON object, a JSON array of them, or SenML."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return _reject(Reason.BAD_JSON, f"not JSON: {error}")
    if isinstance(document, dict):
        result = decode_item(document, device_type, device_id, received_at, limits)
        if isinstance(result, Rejection):
            return Decoded(rejections=(result,))
        return Decoded(readings=(result,))
    if not isinstance(document, list) or not document:
        return _reject(
            Reason.BAD_STRUCTURE, "payload must be a JSON object, a non-empty array or SenML"
        )
    if len(document) > limits.max_batch_items:
        return _reject(
            Reason.BATCH_TOO_LARGE,
            f"{len(document)} items, the limit is {limits.max_batch_items}",
        )
    items: list[tuple[int, Any]]
    early: list[Rejection] = []
    if is_senml(document):
        items, early = senml_items(document, device_type, received_at)
    else:
        items = list(enumerate(document))
    readings: list[Reading] = []
    rejections: list[Rejection] = list(early)
    for index, item in items:
        if not isinstance(item, dict):
            rejections.append(
                Rejection(
                    Reason.BAD_STRUCTURE,
                    "batch items must be JSON objects",
                    index,
                    orjson.dumps(item),
                )
            )
            continue
        result = decode_item(item, device_type, device_id, received_at, limits)
        if isinstance(result, Rejection):
            rejections.append(Rejection(result.reason, result.detail, index, orjson.dumps(item)))
        else:
            readings.append(result)
    return Decoded(readings=tuple(readings), rejections=tuple(rejections))


def decode_item(
    item: Mapping[str, Any],
    device_type: DeviceType,
    device_id: str,
    received_at: datetime,
    limits: Limits,
) -> Reading | Rejection:
    """Validate one reading object against its device type."""
    ts = received_at
    seq: int | None = None
    values: dict[str, Value] = {}
    specs = device_type.by_name
    for key, value in item.items():
        spec = specs.get(key)
        if spec is not None:
            if spec.kind == "float":
                kind = type(value)
                if kind is not float and kind is not int:
                    return Rejection(
                        Reason.WRONG_TYPE, f"{key} must be a number, got {value!r:.60}"
                    )
                if (spec.minimum is not None and value < spec.minimum) or (
                    spec.maximum is not None and value > spec.maximum
                ):
                    return Rejection(
                        Reason.OUT_OF_RANGE,
                        f"{key}={value} is outside {spec.minimum}..{spec.maximum} {spec.unit}",
                    )
                values[key] = float(value)
            elif type(value) is bool:
                values[key] = value
            else:
                return Rejection(
                    Reason.WRONG_TYPE, f"{key} must be true or false, got {value!r:.60}"
                )
        elif key == "ts":
            parsed = parse_timestamp(value)
            if isinstance(parsed, Rejection):
                return parsed
            ts = parsed
        elif key == "seq":
            if type(value) is not int or not 0 <= value <= _MAX_SEQ:
                return Rejection(
                    Reason.BAD_SEQ, f"seq must be an integer 0..2^63-1, got {value!r:.60}"
                )
            seq = value
        elif key == "device_id":
            if value != device_id:
                return Rejection(
                    Reason.BAD_STRUCTURE,
                    f"device_id {value!r:.80} in the payload differs from the topic's {device_id!r}",
                )
        else:
            return Rejection(
                Reason.UNKNOWN_FIELD, f"{key[:80]!r} is not a field of {device_type.name}"
            )
    if not any(name in values for name in device_type.required_any):
        return Rejection(
            Reason.MISSING_FIELD,
            f"a {device_type.name} reading needs one of: {', '.join(device_type.required_any)}",
        )
    if ts - received_at > limits.max_future_skew:
        return Rejection(
            Reason.TIMESTAMP_IN_FUTURE,
            f"ts {ts.isoformat()} is more than {limits.max_future_skew} after arrival",
        )
    if received_at - ts > limits.max_age:
        return Rejection(
            Reason.TIMESTAMP_TOO_OLD,
            f"ts {ts.isoformat()} is older than {limits.max_age.days} days",
        )
    return Reading(device_id, device_type.name, ts, seq, values)


def parse_timestamp(value: object) -> datetime | Rejection:
    """Parse an RFC 3339 timestamp; it must carry a UTC offset."""
    if not isinstance(value, str):
        return Rejection(Reason.BAD_TIMESTAMP, f"ts must be an RFC 3339 string, got {value!r:.60}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return Rejection(Reason.BAD_TIMESTAMP, f"ts {value[:60]!r} is not RFC 3339")
    if ts.tzinfo is None:
        return Rejection(Reason.BAD_TIMESTAMP, f"ts {value[:60]!r} has no UTC offset")
    return ts.astimezone(UTC)


def _decode_status(device_id: str, payload: bytes, received_at: datetime) -> Decoded:
    if not payload:
        return Decoded()  # an empty retained message clears the retained status: nothing to store
    text = payload.strip().lower()
    ts = received_at
    word: object = text.decode("utf-8", "replace")
    if text.startswith(b"{"):
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            return _reject(Reason.BAD_JSON, f"status is not JSON: {error}")
        word = document.get("status") if isinstance(document, dict) else None
        if isinstance(document, dict) and "ts" in document:
            parsed = parse_timestamp(document["ts"])
            if isinstance(parsed, Rejection):
                return Decoded(rejections=(parsed,))
            ts = parsed
    online = _STATUS_WORDS.get(word) if isinstance(word, str) else None
    if online is None:
        return _reject(Reason.BAD_STATUS, f"status must be 'online' or 'offline', got {word!r:.60}")
    return Decoded(status=StatusChange(device_id, online, ts))


def _reject(reason: Reason, detail: str) -> Decoded:
    return Decoded(rejections=(Rejection(reason, detail),))

"""SenML (RFC 8428, JSON) support: turn a SenML pack into contract reading objects. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from devices.model import DeviceType, Reason, Rejection

_SENML_KEYS = frozenset(
    {"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vb", "vs", "vd", "t", "ut"}
)
_RELATIVE_LIMIT = 2**28  # RFC 8428 §4.5.3: smaller times are relative to now


def is_senml(document: list[Any]) -> bool:
    """A JSON array is read as SenML when its first record has a SenML name or base name."""
    first = document[0]
    return isinstance(first, dict) and ("n" in first or "bn" in first)


def senml_items(
    pack: list[Any], device_type: DeviceType, received_at: datetime
) -> tuple[list[tuple[int, dict[str, Any]]], list[Rejection]]:
    """Resolve a SenML pack into reading objects, one per distinct time.

    Returns the reading objects (indexed by their first record) and the records rejected.
    Names resolve as base name + name; the field is the part after the last ``:`` or ``/``.
    """
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    by_time: dict[float, tuple[int, dict[str, Any]]] = {}
    rejected: list[Rejection] = []
    now = received_at.timestamp()
    for index, record in enumerate(pack):
        if not isinstance(record, dict) or not _SENML_KEYS.issuperset(record):
            rejected.append(_bad(index, record, "a SenML record is an object of SenML keys"))
            continue
        try:
            base_name = _text(record.get("bn", base_name))
            base_time = _number(record.get("bt", base_time))
            base_unit = record.get("bu", base_unit)
            base_value = _number(record.get("bv", base_value))
            name = base_name + _text(record.get("n", ""))
            when = base_time + _number(record.get("t", 0.0))
        except (TypeError, ValueError) as error:
            rejected.append(_bad(index, record, str(error)))
            continue
        field = name.replace("/", ":").rsplit(":", 1)[-1]
        spec = device_type.by_name.get(field)
        if spec is None:
            rejected.append(
                Rejection(
                    Reason.UNKNOWN_FIELD,
                    f"{field[:80]!r} is not a field of {device_type.name}",
                    index,
                    orjson.dumps(record),
                )
            )
            continue
        unit = record.get("u", base_unit)
        if unit is not None and spec.senml_unit is not None and unit != spec.senml_unit:
            rejected.append(
                _bad(index, record, f"{field} must be in {spec.senml_unit}, got {unit!r}")
            )
            continue
        if spec.kind == "bool":
            value: Any = record.get("vb")
        elif "v" in record:
            value = record["v"] + base_value if _is_number(record["v"]) else record["v"]
        else:
            value = None
        if value is None:
            rejected.append(
                _bad(index, record, f"{field} needs a {'vb' if spec.kind == 'bool' else 'v'}")
            )
            continue
        if when < _RELATIVE_LIMIT:
            when += now
        slot = by_time.setdefault(when, (index, {"ts": _rfc3339(when)}))
        slot[1][field] = value
    return list(by_time.values()), rejected


def _rfc3339(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return "invalid"


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _number(value: object) -> float:
    if not _is_number(value):
        raise TypeError(f"expected a number, got {value!r:.60}")
    return float(value)  # type: ignore[arg-type]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r:.60}")
    return value


def _bad(index: int, record: object, detail: str) -> Rejection:
    return Rejection(Reason.BAD_SENML, detail, index, orjson.dumps(record))

"""Frozen data types of the device contract: field specifications, readings and rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from devices.contract import Limits

FieldKind = Literal["float", "bool"]
Value = float | bool


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One measured quantity a device type may report.

    ``minimum``/``maximum`` are physical plausibility bounds (inclusive): a value outside them is
    a sensor fault or a corrupt payload, never a reading to store.
    """

    name: str
    kind: FieldKind
    unit: str
    description: str
    senml_unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None


class PayloadDecoder(Protocol):
    """A type's own telemetry format (binary, a network server's uplink JSON, …).

    Called with a telemetry payload of a registered device of this type, within the contract's
    size limit; returns readings and rejections, and never raises on bad input (a raise is
    quarantined as ``decoder_error``). Types without one use the contract's JSON/SenML codec.
    """

    def __call__(
        self,
        payload: bytes,
        *,
        device_type: DeviceType,
        device_id: str,
        received_at: datetime,
        limits: Limits,
    ) -> Decoded: ...


@dataclass(frozen=True, slots=True)
class DeviceType:
    """A device type plugin: everything about one kind of device, in one place.

    Its fields decide the columns of its readings table and of its hourly and daily rollups
    (``civicpulse db migrate`` creates and extends them), the codec's validation, and the
    registry's attributes (``devices.attributes``).
    """

    name: str
    description: str
    table: str
    fields: tuple[FieldSpec, ...]
    required_any: tuple[str, ...]
    expected_interval_s: int
    """How often a healthy device of this type reports (readings or heartbeats), in seconds."""
    samples: tuple[bytes, ...] = ()
    personal: bool = False
    """Readings describe a household: readers see them only through the consent views, at the
    granularity each household allowed (``<prefix>_*_permitted``)."""
    decode: PayloadDecoder | None = None
    """The type's own payload decoder; ``None`` for the contract's JSON/SenML codec."""
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    columns: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Column names of the type's table after the common ones, in table order."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "columns", tuple(f.name for f in self.fields))

    @property
    def prefix(self) -> str:
        """The stem of its rollup relations: ``<prefix>_hourly``, ``<prefix>_daily``."""
        return self.table.removesuffix("_readings")


class Reason(StrEnum):
    """Why a message (or one item of a batch) was quarantined. Values are stable: stored and exported."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_JSON = "bad_json"
    BAD_STRUCTURE = "bad_structure"
    BATCH_TOO_LARGE = "batch_too_large"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    MISSING_FIELD = "missing_field"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    BAD_SEQ = "bad_seq"
    BAD_SENML = "bad_senml"
    BAD_STATUS = "bad_status"
    STORAGE_REJECTED = "storage_rejected"
    DECODER_ERROR = "decoder_error"
    """A bug in a codec raised instead of rejecting: kept for replay once fixed."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading of one device at one instant, ready to store."""

    device_id: str
    device_type: str
    ts: datetime
    seq: int | None
    values: dict[str, Value]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message, or one item of a batch message, that cannot be stored as a reading."""

    reason: Reason
    detail: str
    item: int | None = None
    """Index of the rejected item in a batch payload; ``None`` when the whole message is rejected."""
    excerpt: bytes | None = None
    """The rejected item re-encoded, for batch items; the whole raw payload is kept separately."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device's connection state from its retained status topic or MQTT will."""

    device_id: str
    online: bool
    ts: datetime


@dataclass(frozen=True, slots=True)
class Decoded:
    """The outcome of decoding one MQTT message: what to store and what to quarantine."""

    readings: tuple[Reading, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    status: StatusChange | None = None

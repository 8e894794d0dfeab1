"""Device health from what the platform has seen. Pure.

Liveness is judged by *arrival* time, completeness by *device* time and ``seq``. So a device that
comes back from an outage and sends its buffered backlog is ``recovering`` — it is talking now,
its readings are old — instead of the false "stopped publishing" alarm that arrival-blind or
timestamp-blind checks raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

State = Literal["ok", "recovering", "late", "offline", "never_seen"]

LATE_AFTER_INTERVALS = 2.0
"""Silent for more than this many expected intervals (plus a minute's tolerance): late."""
LOW_BATTERY_PCT = 20.0
WEAK_SIGNAL_DBM = -110.0


@dataclass(frozen=True, slots=True)
class Observations:
    """What the database knows about one device."""

    device_id: str
    device_type: str
    expected_interval: timedelta
    firmware_version: str | None
    last_received_at: datetime | None
    last_ts: datetime | None
    battery_pct: float | None
    rssi_dbm: float | None
    readings_total: int
    quarantined_total: int
    last_quarantined_at: datetime | None
    online: bool | None
    """The latest retained status (``None``: the device never published one)."""
    status_at: datetime | None
    window_readings: int
    window_distinct_seq: int
    window_seq_min: int | None
    window_seq_max: int | None


@dataclass(frozen=True, slots=True)
class Health:
    device_id: str
    device_type: str
    state: State
    last_seen: datetime | None
    silence: timedelta | None
    completeness: float | None
    """Share of expected readings present in the window: from ``seq`` gaps when the device sends
    ``seq``, else from the expected interval; ``None`` without readings in the window."""
    battery_pct: float | None
    rssi_dbm: float | None
    firmware_version: str | None
    quarantine_rate: float | None
    warnings: tuple[str, ...]


def assess(obs: Observations, *, now: datetime, window: timedelta) -> Health:
    heard = [t for t in (obs.last_received_at, obs.last_quarantined_at) if t is not None]
    last_seen = max(heard) if heard else None
    silence = now - last_seen if last_seen is not None else None
    interval = obs.expected_interval
    late_after = interval * LATE_AFTER_INTERVALS + timedelta(minutes=1)
    state: State
    if last_seen is None or silence is None:
        state = "never_seen"
    elif obs.online is False and obs.status_at is not None and obs.status_at >= last_seen:
        state = "offline"  # its will fired (or it said goodbye) after the last message
    elif silence > late_after:
        state = "late"
    elif (
        obs.last_received_at is not None
        and obs.last_ts is not None
        and obs.last_received_at - obs.last_ts > late_after
    ):
        state = "recovering"  # talking now, but what arrives is old: a backlog is draining
    else:
        state = "ok"

    completeness: float | None = None
    if obs.window_seq_min is not None and obs.window_seq_max is not None:
        span = obs.window_seq_max - obs.window_seq_min + 1
        completeness = min(1.0, obs.window_distinct_seq / span) if span > 0 else None
    elif obs.window_readings:
        expected = max(1.0, window / interval)
        completeness = min(1.0, obs.window_readings / expected)

    total = obs.readings_total + obs.quarantined_total
    quarantine_rate = obs.quarantined_total / total if total else None
    warnings = []
    if obs.battery_pct is not None and obs.battery_pct < LOW_BATTERY_PCT:
        warnings.append(f"battery {obs.battery_pct:.0f}%")
    if obs.rssi_dbm is not None and obs.rssi_dbm < WEAK_SIGNAL_DBM:
        warnings.append(f"weak signal {obs.rssi_dbm:.0f} dBm")
    if quarantine_rate is not None and quarantine_rate > 0.05:
        warnings.append(f"{quarantine_rate:.0%} of messages quarantined")
    if completeness is not None and completeness < 0.9:
        warnings.append(f"only {completeness:.0%} of readings arrived")
    return Health(
        obs.device_id,
        obs.device_type,
        state,
        last_seen,
        silence,
        completeness,
        obs.battery_pct,
        obs.rssi_dbm,
        obs.firmware_version,
        quarantine_rate,
        tuple(warnings),
    )

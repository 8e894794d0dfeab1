"""The checks behind the device-health rules ``low_battery``, ``data_gap`` and
``quarantine_rate``, and their parameters. Pure: no I/O; times are Unix seconds.

Each check has a margin or a window that keeps a value wobbling on its threshold from opening
and clearing alerts in turn: a battery must rise *above* its threshold plus a margin before its
alert may clear; completeness and quarantine share are measured over windows of hours, so one
message more or less moves them little. The lifecycle's ``clear_after`` comes on top.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

logger = logging.getLogger(__name__)


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    """A numeric rule parameter; a missing or unusable one is its default (and said so)."""
    value = params.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        logger.warning(
            "rule parameter %s=%r is not a usable number; using %s", name, value, default
        )
        return default
    return number


def device_types(params: Mapping[str, Any]) -> frozenset[str] | None:
    """``device_types``: the rule applies to these types only (absent: to every type)."""
    value = params.get("device_types")
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else (str(v) for v in value))


@dataclass(frozen=True, slots=True)
class BatteryParams:
    below_pct: float = 20.0
    """Opens when the latest battery reading is below this."""
    clear_margin_pct: float = 5.0
    """Clears only once the battery has risen above ``below_pct`` + this."""
    critical_pct: float = 10.0
    """Below this the alert rises to ``battery_critical`` (announced again)."""

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> BatteryParams:
        d = cls()
        return cls(
            _number(params, "below_pct", d.below_pct),
            _number(params, "clear_margin_pct", d.clear_margin_pct),
            _number(params, "critical_pct", d.critical_pct),
        )


@dataclass(frozen=True, slots=True)
class GapParams:
    min_completeness_pct: float = 75.0
    """Opens when less than this share of the expected readings arrived in the window."""
    window_hours: float = 6.0
    settle_minutes: float = 15.0
    """A device back from a silence is not judged for this long: its backlog may still come."""

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> GapParams:
        d = cls()
        return cls(
            _number(params, "min_completeness_pct", d.min_completeness_pct),
            max(_number(params, "window_hours", d.window_hours), 0.1),
            _number(params, "settle_minutes", d.settle_minutes),
        )

    @property
    def window_s(self) -> float:
        return self.window_hours * 3600.0


@dataclass(frozen=True, slots=True)
class QuarantineParams:
    max_share_pct: float = 10.0
    """Opens when more than this share of the device's messages was quarantined …"""
    min_quarantined: int = 5
    """… and at least this many were (one bad message in two is not an alert)."""
    window_minutes: float = 60.0

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> QuarantineParams:
        d = cls()
        return cls(
            _number(params, "max_share_pct", d.max_share_pct),
            int(_number(params, "min_quarantined", d.min_quarantined)),
            max(_number(params, "window_minutes", d.window_minutes), 1.0),
        )


def battery_low(pct: float, *, was_low: bool, params: BatteryParams) -> bool:
    """Whether a battery at ``pct`` is (still) low: below the threshold opens; once low, it
    stays low until it rises above the threshold plus the margin."""
    if was_low:
        return pct <= params.below_pct + params.clear_margin_pct
    return pct < params.below_pct


def completeness(
    times: Sequence[float], *, start: float, interval: float, min_span: float = 0.0
) -> float | None:
    """The share of the readings expected between ``start`` (or the device's first reading, if
    later) and its last reading that arrived, judged by device time.

    ``times`` are the device's reading times, sorted, possibly with one before ``start`` (so a
    hole that began before the window counts for its part inside it). A gap of ``g`` between two
    readings lost ``round(g / interval) - 1`` of them: jitter (1.4 intervals) loses none, extra
    readings between heartbeats (a bay reporting each change) make up for nothing, and a reboot
    that restarts ``seq`` does not matter. The silence after the last reading is left to
    ``device_offline``. ``None`` when there is nothing to judge: fewer than two readings, or a
    judged span shorter than ``min_span`` (a device installed an hour ago has no six-hour record)
    or than half an interval.
    """
    if len(times) < 2 or interval <= 0:
        return None
    begin = max(start, times[0])
    span = times[-1] - begin
    if span < max(min_span, interval / 2):
        return None
    missing = 0.0
    for a, b in pairwise(times):
        if b <= start or b <= a:
            continue
        lost = math.floor((b - a) / interval + 0.5) - 1
        if lost > 0:
            missing += lost * (b - max(a, start)) / (b - a)
    expected = span / interval + 1.0  # a reading at each end of the span
    return max(0.0, 1.0 - missing / expected)


def quarantine_share(quarantined: int, accepted: int) -> float | None:
    total = quarantined + accepted
    return quarantined / total if total else None


def quarantine_high(quarantined: int, accepted: int, params: QuarantineParams) -> bool:
    share = quarantine_share(quarantined, accepted)
    return (
        share is not None
        and quarantined >= params.min_quarantined
        and share * 100.0 > params.max_share_pct
    )

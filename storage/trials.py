"""Trial estimates as ``civicpulse analytics trial estimate`` made them (psycopg adapter).

An estimate is a programme's effect between a period before its reports (``pre``) and one
after (``post``): one effect for the programme, one per zone. Running the same estimate again
replaces it. Effects are aggregates over the trial's arms; which of them may be shown (zones
with few households in an arm) is the API's decision, not this module's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from psycopg.rows import dict_row

from storage.connection import Conn
from storage.errors import storage_operation

PROGRAMME_AREA = "*"
"""The ``area`` of the programme-wide effect (zone ids never contain ``*``)."""


class EffectLike(Protocol):
    """What an estimated effect carries (``analytics.energy.Effect`` is one)."""

    @property
    def relative(self) -> float: ...
    @property
    def relative_ci(self) -> tuple[float, float]: ...
    @property
    def absolute(self) -> float: ...
    @property
    def absolute_ci(self) -> tuple[float, float]: ...
    @property
    def p_value(self) -> float: ...
    @property
    def treated(self) -> int: ...
    @property
    def control(self) -> int: ...
    @property
    def excluded(self) -> int: ...
    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True, slots=True)
class StoredEffect:
    area: str
    """:data:`PROGRAMME_AREA`, or a zone id."""
    relative: float | None
    relative_ci: tuple[float, float] | None
    absolute: float | None
    absolute_ci: tuple[float, float] | None
    p_value: float | None
    treated: int | None
    control: int | None
    excluded: int | None
    confidence: float | None

    @property
    def estimated(self) -> bool:
        """``False`` when an arm had too few households for an estimate."""
        return self.relative is not None


@dataclass(frozen=True, slots=True)
class StoredEstimate:
    programme_id: str
    pre: tuple[date, date]
    post: tuple[date, date]
    """``[start, end)`` of each period."""
    households: int
    estimated_at: datetime
    effects: tuple[StoredEffect, ...]
    """The programme's first, then the zones' by id."""


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _row(effect: EffectLike | None) -> tuple[Any, ...]:
    if effect is None:
        return (None,) * 11
    return (
        _finite(effect.relative),
        _finite(effect.relative_ci[0]),
        _finite(effect.relative_ci[1]),
        _finite(effect.absolute),
        _finite(effect.absolute_ci[0]),
        _finite(effect.absolute_ci[1]),
        _finite(effect.p_value),
        effect.treated,
        effect.control,
        effect.excluded,
        effect.confidence,
    )


@storage_operation("save a trial estimate")
async def save_estimate(
    conn: Conn,
    programme_id: str,
    *,
    pre: tuple[date, date],
    post: tuple[date, date],
    households: int,
    programme: EffectLike | None,
    zones: Mapping[str, EffectLike | None],
) -> None:
    """Store an estimate in place of an earlier one of the same programme and periods."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "DELETE FROM trial_estimates WHERE programme_id = %s AND pre_start = %s"
            " AND post_start = %s",
            (programme_id, pre[0], post[0]),
        )
        await cur.execute(
            "INSERT INTO trial_estimates (programme_id, pre_start, pre_end, post_start, post_end,"
            " households) VALUES (%s, %s, %s, %s, %s, %s)",
            (programme_id, pre[0], pre[1], post[0], post[1], households),
        )
        rows = [(PROGRAMME_AREA, programme), *sorted(zones.items())]
        await cur.executemany(
            "INSERT INTO trial_effects (programme_id, pre_start, post_start, area, relative,"
            " relative_low, relative_high, absolute, absolute_low, absolute_high, p_value,"
            " treated, control, excluded, confidence)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(programme_id, pre[0], post[0], area, *_row(effect)) for area, effect in rows],
        )


def _pair(low: float | None, high: float | None) -> tuple[float, float] | None:
    return None if low is None or high is None else (low, high)


def _effect(row: Mapping[str, Any]) -> StoredEffect:
    return StoredEffect(
        area=row["area"],
        relative=row["relative"],
        relative_ci=_pair(row["relative_low"], row["relative_high"]),
        absolute=row["absolute"],
        absolute_ci=_pair(row["absolute_low"], row["absolute_high"]),
        p_value=row["p_value"],
        treated=row["treated"],
        control=row["control"],
        excluded=row["excluded"],
        confidence=row["confidence"],
    )


@storage_operation("read trial estimates")
async def estimates(conn: Conn, programme_id: str | None = None) -> list[StoredEstimate]:
    """Stored estimates (of one programme, or all), newest post period first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM trial_estimates WHERE %(p)s::text IS NULL OR programme_id = %(p)s"
            " ORDER BY post_start DESC, pre_start DESC, programme_id",
            {"p": programme_id},
        )
        heads = await cur.fetchall()
        await cur.execute(
            "SELECT * FROM trial_effects WHERE %(p)s::text IS NULL OR programme_id = %(p)s"
            " ORDER BY area <> %(all)s, area",
            {"p": programme_id, "all": PROGRAMME_AREA},
        )
        effects: dict[tuple[str, date, date], list[StoredEffect]] = {}
        for row in await cur.fetchall():
            key = (row["programme_id"], row["pre_start"], row["post_start"])
            effects.setdefault(key, []).append(_effect(row))
    return [
        StoredEstimate(
            programme_id=h["programme_id"],
            pre=(h["pre_start"], h["pre_end"]),
            post=(h["post_start"], h["post_end"]),
            households=int(h["households"]),
            estimated_at=h["estimated_at"],
            effects=tuple(effects.get((h["programme_id"], h["pre_start"], h["post_start"]), ())),
        )
        for h in heads
    ]

"""Rollups the storage layer does not make itself. Pure.

**Household data over a zone, fit to publish**: per day, the households' totals, with any total
that would single one household out withheld. The rules are ``analytics.privacy``'s primary
suppression: a total needs at least ``k`` households (10), and no household may hold more than
half of it. Minimum and maximum are never published (each is one household's value).

No secondary suppression is needed because nothing published adds up the cells, and the API
keeps it so: household aggregates are served for wards only, which partition the borough (a
parking zone inside a ward could be subtracted from it to leave a few homes), and at one grain
only, daily (a day's total minus its published hours would reveal a withheld hour).

**Monthly rollups of non-household types**, summed from daily ones (household types have their
own monthly consent view).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics.privacy import DOMINANCE_SHARE, MIN_CONTRIBUTORS, Reason, primary_reason
from storage.readings import FieldStats, RollupRow

PUBLISHABLE_ZONE_KINDS = ("ward",)
PUBLISHABLE_GRAIN = "daily"


@dataclass(frozen=True, slots=True)
class HouseholdBucket:
    bucket: datetime
    devices: int
    samples: int
    stats: dict[str, FieldStats | None]
    withheld: dict[str, Reason]


def disclosure(k: int = MIN_CONTRIBUTORS, dominance: float = DOMINANCE_SHARE) -> str:
    return (
        f"household totals: published only from {k} households up, and when no household holds"
        f" more than {dominance:.0%} of the total; minimum and maximum never published"
    )


def household_buckets(
    rows: Iterable[RollupRow],
    fields: Sequence[str],
    *,
    k: int = MIN_CONTRIBUTORS,
    dominance: float = DOMINANCE_SHARE,
) -> list[HouseholdBucket]:
    """Per-device rollups of one zone's homes → one publishable row per bucket."""
    by_bucket: dict[datetime, list[RollupRow]] = {}
    for row in rows:
        by_bucket.setdefault(row.bucket, []).append(row)
    out = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        stats: dict[str, FieldStats | None] = {}
        withheld: dict[str, Reason] = {}
        for name in fields:
            present = [m.stats[name] for m in members if name in m.stats and m.stats[name].n]
            n = sum(s.n for s in present)
            sums = [s.sum for s in present if s.sum is not None]
            total = sum(sums)
            reason = primary_reason(
                len(present), total, max(sums, default=0.0), k=k, dominance=dominance
            )
            if reason is not None:
                stats[name] = None
                withheld[name] = reason
            else:
                avg = total / n if n else None
                stats[name] = FieldStats(n, total if sums else None, None, None, avg)
        out.append(
            HouseholdBucket(
                bucket,
                devices=len(members),
                samples=sum(m.samples for m in members),
                stats=stats,
                withheld=withheld,
            )
        )
    return out


def month_of(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_from_daily(rows: Iterable[RollupRow]) -> list[RollupRow]:
    """Daily rollups (ordered by device, then day) summed into calendar months (UTC)."""
    out: dict[tuple[str, datetime], RollupRow] = {}
    for row in rows:
        key = (row.device_id, month_of(row.bucket))
        seen = out.get(key)
        if seen is None:
            out[key] = RollupRow(row.device_id, key[1], row.samples, dict(row.stats))
            continue
        merged = {
            name: _merge(seen.stats[name], stats) if name in seen.stats else stats
            for name, stats in row.stats.items()
        }
        out[key] = RollupRow(row.device_id, key[1], seen.samples + row.samples, merged)
    return list(out.values())


def _merge(a: FieldStats, b: FieldStats) -> FieldStats:
    def both(
        x: float | None, y: float | None, pick: Callable[[float, float], float]
    ) -> float | None:
        return y if x is None else x if y is None else pick(x, y)

    n = a.n + b.n
    total = both(a.sum, b.sum, lambda x, y: x + y)
    return FieldStats(
        n,
        total,
        both(a.min, b.min, min),
        both(a.max, b.max, max),
        None if total is None or not n else total / n,
    )

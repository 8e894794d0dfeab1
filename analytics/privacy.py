"""What may be published of household data aggregated by zone: k-anonymity with suppression.

Household electricity data for periods under a month is personal data; a DNO may publish it only
anonymised or aggregated [domain.md §4.5]. The minimum count per aggregate is **not verified**
(DNO plans suggest 5, official statistics use 10 and a dominance rule), so both rules are
parameters with the conservative defaults:

- **primary suppression**: a cell (one zone's aggregate) is withheld when it has fewer than ``k``
  contributors (10), or when one contributor dominates it, holding more than ``dominance``
  (50 %) of its total (the others could then nearly read that household's use off the cell);
- **secondary suppression**: the cells of a group add up to a published group total (the city's
  figure). Whatever is suppressed in a group can be recovered *as a sum* by subtracting the
  published cells from the total, so that sum must itself pass the primary rules. One suppressed
  cell fails by definition: the next smallest published cell (the one whose loss costs least) is
  suppressed with it, and so on until the recoverable sum is safe;
- the **group total** passes the same primary rules; when it is withheld nothing can be
  subtracted from it, and its cells need no secondary suppression.

One level of totals: a grand total over groups would need the same treatment across groups.
Contributors of different cells are different households (zones partition them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Reason = Literal["few_contributors", "dominance", "complementary"]
MIN_CONTRIBUTORS = 10
DOMINANCE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Cell:
    """One aggregate to publish: a zone's total over its households."""

    key: str
    contributors: int
    total: float
    largest: float
    """The largest single contributor's value."""
    group: str = ""
    """Cells of one group add up to that group's published total."""


@dataclass(frozen=True, slots=True)
class Decision:
    key: str
    published: bool
    reason: Reason | None


@dataclass(frozen=True, slots=True)
class Publication:
    cells: tuple[Decision, ...]
    """One decision per cell, in the input order."""
    totals: tuple[Decision, ...]
    """One decision per group total (keyed by group), in order of first appearance."""

    def published(self) -> set[str]:
        return {d.key for d in self.cells if d.published}


def primary_reason(
    contributors: int, total: float, largest: float, *, k: int, dominance: float
) -> Reason | None:
    """Why an aggregate may not be published on its own, or ``None``."""
    if contributors < k:
        return "few_contributors"
    if total > 0 and largest > dominance * total:
        return "dominance"
    return None


def suppress(
    cells: Sequence[Cell], *, k: int = MIN_CONTRIBUTORS, dominance: float = DOMINANCE_SHARE
) -> Publication:
    """Primary and secondary suppression of ``cells`` (see the module's rules)."""
    reasons: list[Reason | None] = [
        primary_reason(c.contributors, c.total, c.largest, k=k, dominance=dominance) for c in cells
    ]
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(cell.group, []).append(i)
    totals: list[Decision] = []
    for group, members in groups.items():
        total_reason = primary_reason(
            sum(cells[i].contributors for i in members),
            sum(cells[i].total for i in members),
            max(cells[i].largest for i in members),
            k=k,
            dominance=dominance,
        )
        totals.append(Decision(group, total_reason is None, total_reason))
        if total_reason is None:
            _complement(cells, members, reasons, k=k, dominance=dominance)
    return Publication(
        cells=tuple(Decision(c.key, r is None, r) for c, r in zip(cells, reasons, strict=True)),
        totals=tuple(totals),
    )


def _complement(
    cells: Sequence[Cell],
    members: list[int],
    reasons: list[Reason | None],
    *,
    k: int,
    dominance: float,
) -> None:
    """Suppress the smallest published cells until the group's suppressed sum is safe."""
    hidden = [i for i in members if reasons[i] is not None]
    shown = sorted(
        (i for i in members if reasons[i] is None), key=lambda i: (cells[i].total, cells[i].key)
    )
    while hidden and shown:
        unsafe = primary_reason(
            sum(cells[i].contributors for i in hidden),
            sum(cells[i].total for i in hidden),
            max(cells[i].largest for i in hidden),
            k=k,
            dominance=dominance,
        )
        if unsafe is None:
            return
        extra = shown.pop(0)
        reasons[extra] = "complementary"
        hidden.append(extra)

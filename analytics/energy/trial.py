"""The randomised trial: who gets the nudges, and what the nudges did.

**Assignment** is stratified: households are grouped into strata (heating fuel x property type x
quartile of pre-period use within that fuel and type, :func:`strata`), and within each stratum a
seeded shuffle sends ``share`` of them to treatment. A stratum of ``m`` gets ``floor(share·m)``
or one more treated household, the extra one drawn with probability ``frac(share·m)``, so every
stratum is balanced to within one household and the expected share is exact. Stratifying on
what predicts use makes the arms alike where it matters and narrows the interval.

**Estimate**: difference in differences on weather-normalised use (:mod:`.prism`), pre vs post
period, treatment vs control. Each household's change is ``log(post) - log(pre)``; the effect is
``exp(mean change treated - mean change control) - 1`` (so -0.03 is 3 % less), with a **Welch
t interval** (unequal variances, Welch-Satterthwaite degrees of freedom; scipy's t quantile).
Why this form:

- with two periods, the DiD regression with household fixed effects *is* the difference of
  mean per-household changes, and its household-clustered (robust) variance is the two-sample
  unequal-variance one; Welch adds the small-sample degrees of freedom that small zones need;
- the change removes each home's level (homes differ threefold; that variance would swamp a
  2 % effect) and the control arm's change removes what hit everyone (the weather left over
  after normalising, prices, the season);
- logs make the effect a share of each home's own use, which is how nudges act (Allcott 2011:
  about -2 %, larger in high users) and weigh every home equally; the interval maps through
  ``exp`` exactly, so its coverage carries over;
- the estimate ignores the strata: with the same share treated in every stratum that is
  unbiased and, if anything, conservative.

An absolute effect (mean change treated minus control, in the unit of the input) comes with its
own Welch interval. Households without a positive pre and post value are excluded and counted.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from analytics.energy.calendar import Bools, Floats, Ints


def _codes(labels: ArrayLike) -> Ints:
    values = np.asarray(labels).reshape(-1)
    result: Ints = np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return result


def _combine(columns: list[Ints]) -> Ints:
    stacked = np.column_stack(columns)
    result: Ints = np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return result


def strata(*labels: ArrayLike, usage: ArrayLike | None = None, quantiles: int = 4) -> Ints:
    """Stratum of each household: its labels and, given ``usage``, its usage quantile within them.

    Households without usage (NaN) form their own stratum within their labels.
    """
    columns = [_codes(label) for label in labels]
    if usage is not None:
        use = np.asarray(usage, dtype=np.float64).reshape(-1)
        group = _combine(columns) if columns else np.zeros(use.size, dtype=np.int64)
        order = np.lexsort((use, group))  # NaN last within each group
        sizes = np.bincount(group)
        finite = np.bincount(group, weights=np.isfinite(use)).astype(np.int64)
        position = np.empty(use.size, dtype=np.int64)
        position[order] = np.arange(use.size) - (np.cumsum(sizes) - sizes)[group[order]]
        q = (position * quantiles) // np.maximum(finite[group], 1)
        columns.append(np.where(np.isfinite(use), q, quantiles))
    if not columns:
        raise ValueError("strata need at least one label or usage")
    return _combine(columns)


def assign(stratum: ArrayLike, *, seed: int, share: float = 0.5) -> Bools:
    """Treatment (True) or control for each household, balanced within each stratum."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be between 0 and 1, not {share}")
    codes = _codes(stratum)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(codes.size), codes))
    sizes = np.bincount(codes)
    treated = np.floor(share * sizes + rng.random(sizes.size)).astype(np.int64)
    rank = np.empty(codes.size, dtype=np.int64)
    rank[order] = np.arange(codes.size) - (np.cumsum(sizes) - sizes)[codes[order]]
    result: Bools = rank < treated[codes]
    return result


@dataclass(frozen=True, slots=True)
class Effect:
    """The estimated effect of the nudges, with its confidence interval."""

    relative: float
    """-0.03: treated households used 3 % less than they would have."""
    relative_ci: tuple[float, float]
    absolute: float
    """Mean change treated minus mean change control, in the input's unit per household."""
    absolute_ci: tuple[float, float]
    p_value: float
    """Two-sided, of no relative effect."""
    treated: int
    control: int
    excluded: int
    """Households left out for a missing or non-positive pre or post value."""
    confidence: float


def _welch(a: Floats, b: Floats, confidence: float) -> tuple[float, tuple[float, float], float]:
    """Difference of means ``a - b``, its Welch interval and two-sided p-value."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff, se = float(a.mean() - b.mean()), float(np.sqrt(va + vb))
    if se == 0.0:
        return diff, (diff, diff), 0.0 if diff != 0.0 else 1.0
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    p = float(2.0 * stats.t.sf(abs(diff) / se, df))
    return diff, (diff - half, diff + half), p


def estimate_effect(
    pre: ArrayLike,
    post: ArrayLike,
    treated: ArrayLike,
    *,
    confidence: float = 0.95,
    min_per_arm: int = 2,
) -> Effect | None:
    """Difference in differences of ``pre`` → ``post`` use; ``None`` with too few per arm."""
    before = np.asarray(pre, dtype=np.float64).reshape(-1)
    after = np.asarray(post, dtype=np.float64).reshape(-1)
    arm = np.asarray(treated, dtype=np.bool_).reshape(-1)
    if not before.size == after.size == arm.size:
        raise ValueError("pre, post and treated must have one value per household")
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(before) & np.isfinite(after) & (before > 0) & (after > 0)
        log_change = np.log(after) - np.log(before)
    t, c = ok & arm, ok & ~arm
    if min(int(t.sum()), int(c.sum())) < max(min_per_arm, 2):
        return None
    rel, (rel_lo, rel_hi), p = _welch(log_change[t], log_change[c], confidence)
    level_change = after - before
    ab, ab_ci, _ = _welch(level_change[t], level_change[c], confidence)
    return Effect(
        relative=float(np.expm1(rel)),
        relative_ci=(float(np.expm1(rel_lo)), float(np.expm1(rel_hi))),
        absolute=ab,
        absolute_ci=ab_ci,
        p_value=p,
        treated=int(t.sum()),
        control=int(c.sum()),
        excluded=int((~ok).sum()),
        confidence=confidence,
    )


def effects_by(
    groups: Sequence[Hashable],
    pre: ArrayLike,
    post: ArrayLike,
    treated: ArrayLike,
    *,
    confidence: float = 0.95,
    min_per_arm: int = 2,
) -> dict[Hashable, Effect | None]:
    """:func:`estimate_effect` per group (a programme, a zone: any key per household)."""
    keys = list(groups)
    before = np.asarray(pre, dtype=np.float64).reshape(-1)
    after = np.asarray(post, dtype=np.float64).reshape(-1)
    arm = np.asarray(treated, dtype=np.bool_).reshape(-1)
    if len(keys) != before.size:
        raise ValueError(f"{len(keys)} group keys for {before.size} households")
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    return {
        key: estimate_effect(
            before[rows], after[rows], arm[rows], confidence=confidence, min_per_arm=min_per_arm
        )
        for key, rows in members.items()
    }

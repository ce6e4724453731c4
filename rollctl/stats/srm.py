"""Sample-ratio mismatch: do the arms hold the share of units the stage says they should?

Method: Pearson's χ² goodness-of-fit of units per arm against the stage's expected split (as
scipy.stats.chisquare, checked in tests; gbstats `utils.check_srm`, Eppo and Statsig use the same test).
Because the check is re-run at every look and is not sequentially valid, the threshold is strict
(p < 0.001, GrowthBook and Eppo's default). At large n a negligible imbalance is "significant", so an SRM
is declared only when it is also practically large: some arm's share is off by at least
`min_relative_deviation` of its expected share (Statsig's "≥ 0.1 % deviation" and Mozilla's
minimum-deviation rule, experimenter#16010).
Fewer than 8 units in an arm (GrowthBook's minimum) makes the check inconclusive, never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.special import chdtrc

MIN_UNITS_PER_ARM = 8


@dataclass(frozen=True)
class SrmResult:
    status: Literal["pass", "fail", "warn", "inconclusive"]
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    expected_shares: tuple[float, ...]
    observed_shares: tuple[float, ...]
    chi2: float | None
    p_value: float | None
    max_relative_deviation: float | None


def srm_check(observed: Sequence[int], expected_shares: Sequence[float], *, p_threshold: float = 0.001,
              min_relative_deviation: float = 0.02) -> SrmResult:
    """χ² of `observed` units per arm against `expected_shares` (which need not sum to 1)."""
    total = sum(observed)
    weight = sum(expected_shares)
    shares = tuple(w / weight for w in expected_shares)
    expected = tuple(total * s for s in shares)
    obs_shares = tuple((o / total) if total else 0.0 for o in observed)
    if total == 0 or min(observed) < MIN_UNITS_PER_ARM or any(s <= 0 for s in shares):
        return SrmResult("inconclusive", tuple(observed), expected, shares, obs_shares, None, None, None)
    # Σ (O − E)² / E, p from the χ² survival function with k − 1 degrees of freedom: scipy.special, not
    # scipy.stats, whose import cost more than the rest of a big `decide`'s Python work.
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p = chdtrc(len(observed) - 1, stat)
    deviation = max(abs(o - s) / s for o, s in zip(obs_shares, shares, strict=True))
    significant = float(p) < p_threshold
    if significant and deviation >= min_relative_deviation:
        status: Literal["pass", "fail", "warn", "inconclusive"] = "fail"
    elif significant:
        status = "warn"
    else:
        status = "pass"
    return SrmResult(status, tuple(observed), expected, shares, obs_shares, float(stat), float(p), deviation)

"""Anytime-valid (peek-safe) confidence sequences, shared by `decide` and `power --sequential`.

Method: the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences" (arXiv 2103.06476v7),
as GrowthBook's gbstats implements it (frequentist/tests.py):

    rho = sqrt((-2 ln a + ln(-2 ln a + 1)) / N*)                      eq. 161 (one-sided: a -> 2a)
    two-sided half-width = s * sqrt(2 (N rho^2 + 1) / (N^2 rho^2) * ln(sqrt(N rho^2 + 1) / a))   eq. 9
    one-sided half-width = s * sqrt(2 (N rho^2 + 1) / (N rho)^2 * ln(1 + sqrt(N rho^2 + 1) / (2 a)))  eq. 134

where N is the number of observations so far (both arms together), s^2 = SE^2 * N is the per-observation
variance implied by the standard error of the estimate, and N* ("tuning") is the sample size at which the
sequence is tightest: rollctl sets it to the planned sample size. Re-checking daily keeps the error rate.
"""

from __future__ import annotations

import math


def rho(alpha: float, tuning_n: float, *, one_sided: bool) -> float:
    """Mixture parameter tuned so the boundary is tightest at `tuning_n` observations (eq. 161)."""
    if not 0 < alpha < 0.5 or tuning_n <= 0:
        raise ValueError("alpha must be in (0, 0.5) and tuning_n positive")
    a = 2 * alpha if one_sided else alpha
    return math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning_n)


def multiplier(n: float, alpha: float, tuning_n: float, *, one_sided: bool) -> float:
    """Half-width of the sequence divided by the standard error of the estimate at `n` observations.

    A fixed-horizon interval would use z (1.96 two-sided at alpha 0.05); this is larger, the price of
    being allowed to look at every day's data.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    r = rho(alpha, tuning_n, one_sided=one_sided)
    nr2 = n * r * r
    if one_sided:
        # eq. 134: sqrt(s^2 * 2(N rho^2 + 1)/(N rho)^2 * ln(1 + sqrt(N rho^2 + 1)/(2 alpha))), s^2 = SE^2 N
        width_sq = n * 2 * (nr2 + 1) / (n * r) ** 2 * math.log(1 + math.sqrt(nr2 + 1) / (2 * alpha))
    else:
        # eq. 9: sqrt(s^2) * sqrt(2(N rho^2 + 1)/(N^2 rho^2) * ln(sqrt(N rho^2 + 1)/alpha))
        width_sq = n * 2 * (nr2 + 1) / (n * n * r * r) * math.log(math.sqrt(nr2 + 1) / alpha)
    return math.sqrt(width_sq)


def one_sided_multiplier_at(n: float, alpha: float, mixture_rho: float) -> float:
    """The one-sided multiplier (eq. 134) at level `alpha` with the mixture parameter held at `mixture_rho`.

    With ρ held fixed the sequences at different levels are nested (the multiplier falls as alpha grows), which
    is what makes a p-value out of them well defined; `multiplier` instead re-tunes ρ for every level.
    """
    nr2 = n * mixture_rho * mixture_rho
    return math.sqrt(2 * (nr2 + 1) / nr2 * math.log(1 + math.sqrt(nr2 + 1) / (2 * alpha)))


def one_sided_p_value(z_bad: float, n: float, tuning_n: float, alpha: float) -> float:
    """Anytime-valid one-sided p-value of H0 "no change in the bad direction", with ρ held at the configured
    `alpha` (tuned at `tuning_n`), the construction GrowthBook's gbstats uses for its one-sided sequential
    tests (a bisection on alpha over [1e-5, 0.4999] with ρ fixed): the smallest level at which the one-sided
    sequence excludes 0, p = sqrt(Nρ²+1) / (2 (exp(z² Nρ² / (2 (Nρ²+1))) − 1)), solved in closed form instead of
    by bisection. `z_bad` = estimate in the bad direction / SE. Clamped to [P_MIN, P_MAX]: 0.5 (no evidence)
    when the estimate is not in the bad direction or no level below 0.5 excludes 0.

    Why this one: every sequence of the family shares ρ, so they are nested and p ≤ a exactly when the
    bound reported at level a (with the same ρ) excludes 0; re-tuning ρ for every level (rollctl's earlier
    construction) is also valid but not monotone in alpha near 0.5, and returned 0.5 early in a stage where
    this gives a finite value.
    """
    if not math.isfinite(z_bad) or n <= 0 or z_bad <= 0:
        return P_MAX
    r = rho(alpha, tuning_n, one_sided=True)
    nr2 = n * r * r
    exponent = z_bad * z_bad * nr2 / (2 * (nr2 + 1))
    if exponent > 700:  # exp overflows: the bound excludes 0 at every level in range
        return P_MIN
    level = math.sqrt(nr2 + 1) / (2 * math.expm1(exponent))
    return min(max(level, P_MIN), P_MAX)


P_MIN, P_MAX = 1e-5, 0.5
"""The p-values' range: gbstats' bisection floor, and 0.5 for "no evidence of harm at any level"."""


def half_width(se: float, n: float, alpha: float, tuning_n: float, *, one_sided: bool) -> float:
    """Half-width of the confidence sequence for an estimate with standard error `se` at `n` observations."""
    return se * multiplier(n, alpha, tuning_n, one_sided=one_sided)

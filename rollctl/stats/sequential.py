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


def half_width(se: float, n: float, alpha: float, tuning_n: float, *, one_sided: bool) -> float:
    """Half-width of the confidence sequence for an estimate with standard error `se` at `n` observations."""
    return se * multiplier(n, alpha, tuning_n, one_sided=one_sided)

"""Small tests and intervals in closed form over scipy.special, for the commands whose statistics are only these.

Each returns the same value as the scipy.stats / statsmodels function named beside it (checked in tests against
them), without importing scipy.stats or statsmodels: those imports (scipy.stats with every distribution, and
statsmodels with pandas) take 0.5 s, a third of a shadow-report on a small export, and run single-threaded before
anything else on a big one. scipy.special holds the distribution functions scipy.stats itself evaluates; the
normal quantile is `rollctl.stats.power`'s (the standard library's, as decide uses it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import bdtr, ndtr, stdtr, stdtrit

from rollctl.stats.power import normal_ppf


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z (scipy.stats `2 * norm.sf(abs(z))`). `ndtr`, not the standard
    library's cdf (`power.normal_cdf`), which computes 1 + erf and so loses the far tail: 0 beyond |z| = 8.3."""
    return float(2.0 * ndtr(-abs(z)))


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (scipy.stats `t.ppf(p, df)`, which is `stdtrit(df, p)`)."""
    return float(stdtrit(df, p))


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (scipy.stats `2 * t.sf(abs(t), df)`)."""
    return float(2.0 * stdtr(df, -abs(t)))


def sign_test_p_value(successes: int, trials: int) -> float:
    """Exact two-sided test of Binomial(trials, 1/2) (scipy.stats `binomtest(k, n, 0.5).pvalue`).

    At p = 1/2 the distribution is symmetric, so the outcomes at most as likely as the observed one are the two
    tails beyond min(k, n - k), each of probability P(X <= min(k, n - k)) (`bdtr`, the binomial CDF): the
    p-value is twice that, capped at 1 (k = n / 2 gives 1). This is also statsmodels' exact McNemar test on the
    discordant pairs (`mcnemar(table, exact=True)`).
    """
    if trials <= 0:
        return 1.0
    smaller = min(successes, trials - successes)
    return min(1.0, 2.0 * float(bdtr(smaller, trials, 0.5)))


def mcnemar_exact_test(worse: int, better: int, n: int, *, alpha: float = 0.05) -> tuple[float, float, float, float,
                                                                                      float]:
    """McNemar's exact test on n pairs, `worse` and `better` the two kinds of discordant pair: (p, delta, se,
    lower, upper) with delta = (worse − better) / n and its Wald interval at 1 − alpha.

    p is the exact two-sided binomial test of `worse` among the discordant pairs at 1/2 (`sign_test_p_value`,
    statsmodels `mcnemar(table, exact=True)`; 1 with no discordant pair); SE = sqrt(b + c − (b − c)² / n) / n
    (Agresti, Categorical Data Analysis, §10.1). The one McNemar of rollctl: eval-gate's stable cases and
    shadow-report's binary tails both call it. n must be positive.
    """
    discordant = worse + better
    p = sign_test_p_value(worse, discordant) if discordant else 1.0
    delta = (worse - better) / n
    se = math.sqrt(max(discordant - (worse - better) ** 2 / n, 0.0)) / n
    z = normal_ppf(1 - alpha / 2)
    return p, delta, se, delta - z * se, delta + z * se


def wilson_interval(successes: float, n: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson (1927) score interval for a proportion (statsmodels `proportion_confint(method="wilson")`).

    centre = (p + z²/2n) / (1 + z²/n), half-width = z sqrt(p(1 - p)/n + z²/4n²) / (1 + z²/n), with
    z = z_{1-a/2}; `successes` may be fractional (ties counted as half a win).
    """
    z = normal_ppf(1 - alpha / 2)
    z2 = z * z
    p = successes / n
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return centre - half, centre + half


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values, in the input order: the i-th smallest p times (m − i + 1),
    made monotone by a running maximum, capped at 1; reject where adjusted ≤ alpha (statsmodels
    `multipletests(method="holm")`)."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: p_values[k])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg_adjusted(p_values: Sequence[float]) -> list[float]:
    """Benjamini & Hochberg's (1995) step-up adjusted p-values, in the input order: the i-th smallest p times
    m / i, made monotone by a running minimum from the largest down, capped at 1; reject where adjusted ≤ alpha
    controls the false discovery rate (statsmodels `multipletests(method="fdr_bh")`)."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 1.0
    for rank, i in reversed(list(enumerate(sorted(range(m), key=lambda k: p_values[k])))):
        running = min(running, m * p_values[i] / (rank + 1))
        adjusted[i] = running
    return adjusted

"""Paired comparison of two arms evaluated on the same cases: the statistics behind `rollctl eval-gate`.

Every function takes small per-case summaries (numpy arrays of per-case means, cluster labels, discordant
counts), never raw rows. Sources:

- Evan Miller, "Adding Error Bars to Evals: A Statistical Approach to Language Model Evaluations"
  (arXiv 2411.00640, 2024): question-level means over repeats (§ on resampling), paired differences and the
  correlation between arms (§ "Analyze paired differences"), clustered standard errors (Appendix A), and the
  sample-size / minimum-detectable-effect formula with K resamples (§ "Power analysis").
- McNemar (1947), exact form: the discordant pairs are Binomial(b + c, 1/2) under no change; the two-sided
  p-value is 2·P(X ≤ min(b, c)) capped at 1 (as statsmodels `mcnemar(exact=True)`).
- Cluster-robust ("CR1") standard error of a mean: Liang & Zeger (1986); the C/(C−1) small-sample factor as
  in inspect_ai's `stderr(cluster=...)`; t with C−1 degrees of freedom (Cameron & Miller 2015, §VI).
- Percentile bootstrap: Efron & Tibshirani (1993), ch. 13; resampling whole clusters (the cluster bootstrap,
  Field & Welsh 2007) when cases share a source.
- Clopper–Pearson (1934) exact bound for zero events: with 0 of n, the one-sided (1−α) upper bound of the
  rate is 1 − α^(1/n) (≈ 3/n at α = 0.05, the "rule of three").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from rollctl.stats.closed_form import mcnemar_exact_test, wilson_interval

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test on cases that are stable (pass or fail in every repeat) in both arms."""

    b: int
    """baseline pass, candidate fail"""
    c: int
    """baseline fail, candidate pass"""
    n: int
    """cases in the 2×2 table"""
    p_value: float | None
    difference: float | None
    """(c − b) / n"""
    se: float | None
    """sqrt(b + c − (c − b)²/n) / n (Miller; the usual large-sample paired-proportion SE)"""
    ci_low: float | None
    ci_high: float | None


def mcnemar_exact(b: int, c: int, n: int, alpha: float) -> McNemarResult:
    """McNemar's exact test and the paired difference of proportions (c − b)/n with its Wald interval.

    The p-value is the exact binomial test of c among b + c discordant pairs at 1/2 (scipy `binomtest`);
    with no discordant pairs there is no evidence of change and p = 1. `closed_form.mcnemar_exact_test`
    computes it; the interval is clipped to [−1, 1] here, where it is a difference of two pass rates.
    """
    if n <= 0:
        return McNemarResult(b, c, n, None, None, None, None, None)
    p_value, diff, se, low, high = mcnemar_exact_test(c, b, n, alpha=alpha)
    return McNemarResult(b, c, n, min(p_value, 1.0), diff, se, max(low, -1.0), min(high, 1.0))


@dataclass(frozen=True)
class PairedDifference:
    """Mean per-case difference candidate − baseline with its intervals."""

    n: int
    estimate: float | None
    se: float | None
    df: float | None
    method: str
    """paired_t | cluster_robust_t | exact_zero_discordance | constant_difference | too_few_cases"""
    clusters: int | None
    ci_low: float | None
    """two-sided (1 − alpha) interval"""
    ci_high: float | None
    lower_bound: float | None
    """one-sided (1 − alpha) lower bound: the non-inferiority bound"""
    upper_bound: float | None
    """one-sided (1 − alpha) upper bound: below −margin means significantly worse"""
    t_statistic: float | None
    p_value: float | None
    """two-sided p of the paired t-test of no difference (scipy `ttest_rel` when not clustered)"""
    p_value_noninferiority: float | None
    """one-sided p of H0: difference ≤ −margin"""


def _cluster_codes(clusters: npt.NDArray[np.int64] | None, n: int) -> npt.NDArray[np.int64]:
    """Cluster index per case; cases without a cluster are their own cluster."""
    if clusters is None:
        return np.arange(n, dtype=np.int64)
    return clusters


def cluster_robust_se(d: FloatArray, clusters: npt.NDArray[np.int64]) -> tuple[float, int]:
    """CR1 standard error of the mean of `d`: sqrt(C/(C−1) · Σ_c (Σ_{i∈c} (d_i − d̄))²) / n.

    Miller (2024), Appendix A, with the finite-cluster factor C/(C−1) as in inspect_ai `stderr(cluster=)`.
    Returns (se, number of clusters).
    """
    n = d.size
    _, inverse = np.unique(clusters, return_inverse=True)
    n_clusters = int(inverse.max()) + 1 if n else 0
    if n_clusters < 2:
        return math.nan, n_clusters
    resid_sums = np.bincount(inverse, weights=d - d.mean(), minlength=n_clusters)
    se = math.sqrt(n_clusters / (n_clusters - 1) * float(np.sum(resid_sums**2))) / n
    return se, n_clusters


def paired_difference(
    baseline: FloatArray,
    candidate: FloatArray,
    *,
    alpha: float,
    margin: float,
    clusters: npt.NDArray[np.int64] | None = None,
) -> PairedDifference:
    """Paired difference of per-case means with a t interval (Miller: paired differences; CLT on them).

    Without clusters this is the paired t-test (scipy `ttest_rel`), df = n − 1. With clusters the SE is the
    cluster-robust one and df = C − 1. When every difference is zero the SE is 0 and a t interval would claim
    certainty; the bound then comes from the exact zero-event bound: the share of cases that changed is at
    most 1 − α^(1/n) (Clopper–Pearson), so the difference is within ± that share.
    """
    d = candidate - baseline
    n = int(d.size)
    if n < 2:
        est = float(d.mean()) if n else None
        return PairedDifference(n, est, None, None, "too_few_cases", None, None, None, None, None, None, None, None)
    mean = float(d.mean())
    n_clusters: int | None = None
    if clusters is not None:
        se, n_clusters = cluster_robust_se(d, clusters)
        df = float(n_clusters - 1)
        method = "cluster_robust_t"
        if not math.isfinite(se):
            # One cluster holds every case: no between-cluster variation to estimate from.
            return PairedDifference(n, mean, None, None, "too_few_clusters", n_clusters, None, None, None, None,
                                    None, None, None)
    else:
        se = float(d.std(ddof=1)) / math.sqrt(n)
        df = float(n - 1)
        method = "paired_t"
    if se <= 1e-15 * max(1.0, abs(mean)):
        if abs(mean) < 1e-15:
            one = 1.0 - alpha ** (1.0 / n)
            two = 1.0 - (alpha / 2) ** (1.0 / n)
            # Exact: P(no changed case | share changed = margin) = (1 − margin)^n.
            p_ni = (1.0 - margin) ** n if margin > 0 else 1.0
            return PairedDifference(n, 0.0, 0.0, None, "exact_zero_discordance", n_clusters, -two, two, -one, one,
                                    None, 1.0, p_ni)
        return PairedDifference(n, mean, 0.0, None, "constant_difference", n_clusters, mean, mean, mean, mean,
                                None, None, 0.0 if mean > -margin else 1.0)
    t_two = float(stats.t.ppf(1 - alpha / 2, df))
    t_one = float(stats.t.ppf(1 - alpha, df))
    t_stat = mean / se
    p_two = float(2 * stats.t.sf(abs(t_stat), df))
    p_ni = float(stats.t.sf((mean + margin) / se, df))
    return PairedDifference(
        n=n, estimate=mean, se=se, df=df, method=method, clusters=n_clusters,
        ci_low=max(mean - t_two * se, -1.0), ci_high=min(mean + t_two * se, 1.0),
        lower_bound=max(mean - t_one * se, -1.0), upper_bound=min(mean + t_one * se, 1.0),
        t_statistic=t_stat, p_value=p_two, p_value_noninferiority=p_ni,
    )


def paired_bootstrap_ci(
    baseline: FloatArray,
    candidate: FloatArray,
    *,
    alpha: float,
    seed: int,
    n_resamples: int = 1000,
    clusters: npt.NDArray[np.int64] | None = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean paired difference, resampling cases (or whole clusters).

    Efron & Tibshirani (1993) ch. 13; the cluster bootstrap resamples clusters and divides the resampled sum
    of differences by the resampled number of cases. Seeded: the same inputs give the same interval.
    Memory stays bounded by drawing the resamples in chunks.
    """
    d = candidate - baseline
    n = d.size
    if n < 2 or n_resamples < 10:
        return None
    codes = _cluster_codes(clusters, n)
    _, inverse = np.unique(codes, return_inverse=True)
    n_clusters = int(inverse.max()) + 1
    if n_clusters < 2:
        return None
    sums = np.bincount(inverse, weights=d, minlength=n_clusters)
    sizes = np.bincount(inverse, minlength=n_clusters).astype(np.float64)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, 4_000_000 // n_clusters))
    means = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        k = min(chunk, n_resamples - done)
        idx = rng.integers(0, n_clusters, size=(k, n_clusters))
        means[done:done + k] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
        done += k
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def correlation(baseline: FloatArray, candidate: FloatArray) -> float | None:
    """Pearson correlation of per-case scores between arms (Miller: report it; pairing gains with it).

    None when either arm is constant (all pass or all fail): the correlation is undefined.
    """
    if baseline.size < 3 or np.ptp(baseline) == 0 or np.ptp(candidate) == 0:
        return None
    return float(np.corrcoef(baseline, candidate)[0, 1])


@dataclass(frozen=True)
class PowerPlan:
    """What this eval set can detect, and what it would take to detect the target effect."""

    power: float
    alpha: float
    mde: float | None
    """smallest drop detectable at `power` with a one-sided test at `alpha`"""
    target_effect: float
    cases_needed: int | None
    repeats_needed: int | None
    """repeats per arm at the current number of cases; None when no number of repeats suffices or unknown"""
    repeats_note: str
    variance_between: float | None
    """ω²: variance of the true per-case difference"""
    variance_within_baseline: float | None
    variance_within_candidate: float | None


def power_plan(
    *,
    n: int,
    var_diff: float | None,
    within_baseline: float | None,
    within_candidate: float | None,
    repeats_baseline: float,
    repeats_candidate: float,
    alpha: float,
    power: float,
    target: float,
    design_effect: float = 1.0,
) -> PowerPlan:
    """Miller (2024), power analysis with K resamples, for a one-sided non-inferiority test.

    n = (z_{1−α} + z_{power})² · (ω² + σ_A²/K_A + σ_B²/K_B) / δ²; MDE = (z_{1−α} + z_{power}) · sqrt(Var/n).
    The observed variance of the per-case mean differences estimates ω² + σ_A²/K_A + σ_B²/K_B directly.
    A floor keeps the MDE honest when the arms agreed on every case (observed variance 0): a drop δ in a
    pass rate needs at least δ·n discordant cases, whose variance is δ(1 − δ), so δ ≥ z²/(n + z²).
    Repeats for a fixed n: K = (σ_A² + σ_B²) / (n·δ²/z² − ω²), only when that denominator is positive.
    `design_effect` (clustered SE² / naive SE²) inflates the variance when cases share clusters.
    """
    z = float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
    if n < 2 or var_diff is None:
        return PowerPlan(power, alpha, None, target, None, None, "needs at least two paired cases", None, None, None)
    var = max(var_diff, 0.0) * max(design_effect, 1.0)
    floor = z * z / (n + z * z)
    mde = max(z * math.sqrt(var / n), floor)
    var_for_n = var if var > 0 else target * (1 - target)
    cases_needed = math.ceil(z * z * var_for_n / (target * target)) if target > 0 else None
    repeats_needed: int | None = None
    omega2: float | None = None
    if within_baseline is None or within_candidate is None:
        note = "one repeat per case: run at least two repeats to estimate what more repeats would buy"
    else:
        omega2 = max(var - within_baseline / repeats_baseline - within_candidate / repeats_candidate, 0.0)
        denom = n * target * target / (z * z) - omega2
        if within_baseline + within_candidate <= 0:
            note = "no case varied across repeats: more repeats would not help"
        elif denom <= 0:
            note = "no number of repeats suffices at this number of cases: add cases"
        else:
            repeats_needed = max(1, math.ceil((within_baseline + within_candidate) / denom))
            note = "repeats per arm needed at the current number of cases"
    return PowerPlan(power, alpha, mde, target, cases_needed, repeats_needed, note, omega2,
                     within_baseline, within_candidate)


def mean_interval(values: FloatArray, *, alpha: float, binary: bool,
                  clusters: npt.NDArray[np.int64] | None = None) -> tuple[float | None, float | None]:
    """Interval for one arm's pass rate / mean score.

    Binary per-case values (one repeat, or every case stable): Wilson score interval (`closed_form.wilson_interval`,
    statsmodels' `proportion_confint(method="wilson")`), good at small n and near 0/1 (Bowyer et al. 2025 warn
    against CLT intervals there). Fractional per-case means (Miller: question-level averages): t interval on them,
    with the cluster-robust SE when clusters are given.
    """
    n = values.size
    if n == 0:
        return None, None
    if binary and clusters is None:
        return wilson_interval(round(float(values.sum())), n, alpha=alpha)
    if n < 2:
        return None, None
    mean = float(values.mean())
    if clusters is not None:
        se, k = cluster_robust_se(values, clusters)
        df = k - 1
    else:
        se = float(values.std(ddof=1)) / math.sqrt(n)
        df = n - 1
    if not math.isfinite(se) or df < 1:
        return None, None
    if se == 0:
        return wilson_interval(round(float(values.sum())), n, alpha=alpha)
    t = float(stats.t.ppf(1 - alpha / 2, df))
    return max(mean - t * se, 0.0), min(mean + t * se, 1.0)

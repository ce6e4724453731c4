"""Paired statistics for shadow traffic: both arms answered the same request.

- Paired mean difference with a cluster-robust standard error (requests clustered by user):
  SE = (1/n) sqrt(C/(C-1) * sum_c (S_c - n_c * dbar)^2), S_c and n_c the per-user sum of differences
  and count (Miller 2024, "Adding Error Bars to Evals", clustered SE; Liang & Zeger 1986 sandwich with
  the usual C/(C-1) small-sample factor), t interval with C - 1 degrees of freedom. Without users every
  request is its own cluster and this is the ordinary paired t interval.
- McNemar's exact test for a binary tail metric on pairs: the two-sided binomial test on the discordant pairs
  (McNemar 1947; statsmodels `mcnemar(exact=True)`, the same value, checked in tests).
- Quantile differences (p50/p95/p99 of each arm): a seeded cluster bootstrap that resamples users
  (Field & Welsh 2007, "Bootstrapping clustered data"; the pairs stay intact, so the difference is
  paired), percentile interval. Replicates are computed on a fine quantile grid of the pooled values
  (histogram with 4,096 bins, linear interpolation inside a bin), so each replicate costs one weighted
  bincount instead of a sort of every row; the point estimate uses the exact sample quantiles.
- Minimum detectable increase of a binary tail rate on pairs (McNemar's design): Connor 1987, "Sample size
  for testing differences in proportions for the paired-sample design", Biometrics 43(1):207-211,
  n = (z_{1-a/2} sqrt(psi) + z_{power} sqrt(psi - delta^2))^2 / delta^2, solved for delta.
- Multiplicity across segments: Holm 1979 or Benjamini-Hochberg 1995 adjusted p-values (statsmodels
  `multipletests(method="holm" | "fdr_bh")`, the same values, checked in tests).

Distribution functions come from `rollctl.stats.closed_form` (scipy.special) and `rollctl.stats.power` (the
normal), not scipy.stats or statsmodels,
whose imports would be a third of a small report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from rollctl.stats.closed_form import (
    benjamini_hochberg_adjusted,
    holm_adjusted,
    mcnemar_exact_test,
    t_quantile,
    t_two_sided_p,
)
from rollctl.stats.power import normal_ppf

QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
_BINS = 4096


@dataclass(frozen=True)
class PairedMean:
    """Mean of candidate - baseline over pairs, with a cluster-robust interval."""

    n: int
    clusters: int
    baseline_mean: float | None
    candidate_mean: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative: float | None
    """delta / baseline mean, when the baseline mean is not zero"""


def paired_mean(
    n: int,
    sum_b: float,
    sum_c: float,
    cluster_sums: NDArray[np.float64],
    cluster_counts: NDArray[np.float64],
    *,
    alpha: float = 0.05,
) -> PairedMean:
    """Paired difference from sufficient statistics: totals and per-cluster sums of the differences."""
    clusters = int(cluster_counts.size)
    if n == 0:
        return PairedMean(0, clusters, None, None, None, None, None, None, None)
    mb, mc = sum_b / n, sum_c / n
    dbar = mc - mb
    rel = dbar / mb if mb != 0 else None
    if clusters < 2:
        return PairedMean(n, clusters, mb, mc, dbar, None, None, None, rel)
    resid = cluster_sums - cluster_counts * dbar
    var = clusters / (clusters - 1) * float(np.sum(resid * resid)) / (n * n)
    se = math.sqrt(max(var, 0.0))
    if se == 0:
        return PairedMean(n, clusters, mb, mc, dbar, dbar, dbar, None, rel)
    t = t_quantile(1 - alpha / 2, clusters - 1)
    p = t_two_sided_p(dbar / se, clusters - 1)
    return PairedMean(n, clusters, mb, mc, dbar, dbar - t * se, dbar + t * se, p, rel)


@dataclass(frozen=True)
class McNemar:
    """A binary tail metric (error, JSON break, refusal, timeout) in each arm of the same pairs."""

    n: int
    baseline_count: int
    candidate_count: int
    baseline_rate: float | None
    candidate_rate: float | None
    new_only: int
    """baseline fine, candidate has it (b)"""
    fixed_only: int
    """baseline had it, candidate fine (c)"""
    p_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None


def mcnemar(n: int, baseline_count: int, candidate_count: int, new_only: int, fixed_only: int,
            *, alpha: float = 0.05) -> McNemar:
    """Exact McNemar test and the paired difference of rates with its Wald interval.

    Delta = (b - c)/n with SE = sqrt(b + c - (b - c)^2 / n) / n (llm_eval_tools §5.4), where here b
    counts pairs newly broken by the candidate and c pairs it fixed.
    """
    if n == 0:
        return McNemar(0, 0, 0, None, None, 0, 0, None, None, None, None)
    p, delta, _se, low, high = mcnemar_exact_test(new_only, fixed_only, n, alpha=alpha)
    return McNemar(
        n=n, baseline_count=baseline_count, candidate_count=candidate_count,
        baseline_rate=baseline_count / n, candidate_rate=candidate_count / n,
        new_only=new_only, fixed_only=fixed_only, p_value=p,
        delta=delta, ci_low=low, ci_high=high,
    )


def mcnemar_mde(n: int, discordant: int, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Smallest increase of a paired binary rate (new - old) that n pairs detect with McNemar's test.

    Connor (1987) gives the pairs needed to detect delta = p_new_only - p_fixed_only when a share psi of
    the pairs is discordant: n = (z_{1-a/2} sqrt(psi) + z_{power} sqrt(psi - delta^2))^2 / delta^2
    (two-sided test at alpha; the normal approximation to the exact test used in the verdict), psi the
    discordant share under the alternative. Here it is solved for delta given n, with psi = the observed
    discordant share (the background churn: pairs broken in one arm only) + delta (the pairs the rise would
    newly break), so a clean tail (no discordance) gives about (z_a + z_b)^2 / n, the rule-of-three regime,
    instead of a meaningless 0. Holm's adjustment across the four tails makes the real test a little stricter.
    """
    if n <= 0:
        return None
    za = normal_ppf(1 - alpha / 2)
    zb = normal_ppf(power)
    psi_obs = min(max(discordant / n, 0.0), 1.0)

    def gap(delta: float) -> float:
        psi = min(psi_obs + delta, 1.0)
        return math.sqrt(n) * delta - za * math.sqrt(psi) - zb * math.sqrt(max(psi - delta * delta, 0.0))

    if gap(1.0) <= 0:
        return 1.0  # even a rate going from 0 to 1 would not be detected reliably with this few pairs
    # gap < 0 below the MDE and > 0 above it; at delta = 0 it is 0 when no pair is discordant, so the bracket
    # starts just above 0. Bisection, not scipy's brentq: importing scipy.optimize was 0.19 s of every report.
    # A hundred halvings of [1e-12, 1] leave an interval of 1e-30: the root to the last bit of a double.
    low, high = 1e-12, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        if gap(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class QuantileDiff:
    """One quantile of each arm and a bootstrap interval on candidate - baseline."""

    q: float
    baseline: float | None
    candidate: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None


def quantile_bootstrap(
    baseline: NDArray[np.float64],
    candidate: NDArray[np.float64],
    cluster: NDArray[np.int64] | None,
    *,
    quantiles: Sequence[float] = QUANTILES,
    reps: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    max_clusters: int = 10_000,
) -> tuple[QuantileDiff, ...]:
    """Quantiles of each arm over pairs where both values exist, with cluster-bootstrap intervals.

    `cluster` holds a dense 0..C-1 code per pair (the user), or None to resample pairs. Above
    `max_clusters` clusters the replicates are drawn from a seeded random subset of m clusters and their
    spread is rescaled by sqrt(m / C) around the full-data estimate (the m-out-of-n bootstrap, Bickel,
    Götze & van Zwet 1997): the standard error of a sample quantile shrinks as 1/sqrt(C), and this keeps
    the cost of each replicate bounded on millions of pairs.
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    n = b.size
    if n < 2:
        return tuple(QuantileDiff(q, None, None, None, None, None) for q in quantiles)
    full_codes = cluster if cluster is not None else np.arange(n)
    total_clusters = int(full_codes.max()) + 1
    keep, counts = _resampling_plan(seed, total_clusters, max_clusters, reps)
    scale = 1.0
    sub_b, sub_c, sub_codes = b, c, full_codes
    if keep is not None:
        rows = keep[full_codes]
        sub_b, sub_c = b[rows], c[rows]
        _, sub_codes = np.unique(full_codes[rows], return_inverse=True)
        scale = math.sqrt(max_clusters / total_clusters)
    # Every quantile of an array in one call (one partition, not one per quantile: 0.3 s on 1 M pairs x 4 metrics).
    qb_all, qc_all = np.quantile(b, list(quantiles)), np.quantile(c, list(quantiles))
    point = [(float(x), float(y)) for x, y in zip(qb_all, qc_all, strict=True)]
    if sub_b is b:
        sub_point = [qc - qb for qb, qc in point]
    else:
        sub_point = [float(x) for x in np.quantile(sub_c, list(quantiles)) - np.quantile(sub_b, list(quantiles))]
    deltas = _replicates(sub_b, sub_c, sub_codes, quantiles, counts)
    out = []
    for j, q in enumerate(quantiles):
        qb, qc = point[j]
        col = deltas[:, j][np.isfinite(deltas[:, j])]
        if col.size < 10:
            out.append(QuantileDiff(q, qb, qc, qc - qb, None, None))
            continue
        lo, hi = np.quantile(col, [alpha / 2, 1 - alpha / 2])
        # Percentile interval, recentred on the full-data estimate when replicates came from a subset.
        lo = (qc - qb) + scale * (float(lo) - sub_point[j])
        hi = (qc - qb) + scale * (float(hi) - sub_point[j])
        out.append(QuantileDiff(q, qb, qc, qc - qb, float(lo), float(hi)))
    return tuple(out)


@lru_cache(maxsize=4)
def _resampling_plan(seed: int, total_clusters: int, max_clusters: int,
                     reps: int) -> tuple[NDArray[np.bool_] | None, NDArray[np.float64]]:
    """The seeded draws of a cluster bootstrap: which clusters the replicates come from (None: all of them) and
    how often each replicate draws each (multinomial counts, clusters x replicates).

    They depend only on these arguments, so the metrics of one report (latency, TTFT, tokens, cost: the same
    users) share one draw instead of four (the multinomial was a third of each metric's bootstrap on 1 M
    pairs). Read-only: the cache hands the same arrays out again.
    """
    rng = np.random.default_rng(seed)
    keep = None
    drawn = total_clusters
    if total_clusters > max_clusters:
        keep = np.zeros(total_clusters, dtype=bool)
        keep[rng.choice(total_clusters, size=max_clusters, replace=False)] = True
        keep.flags.writeable = False
        drawn = max_clusters
    counts = np.ascontiguousarray(rng.multinomial(drawn, np.full(drawn, 1.0 / drawn), size=reps).T, dtype=np.float64)
    counts.flags.writeable = False
    return keep, counts


def _replicates(
    b: NDArray[np.float64], c: NDArray[np.float64], codes: NDArray[np.int64], quantiles: Sequence[float],
    counts: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Bootstrap replicates of quantile(c) - quantile(b), resampling clusters with replacement.

    All replicates at once: the sparse per-cluster histogram (clusters x bins), transposed, times the
    multinomial counts (clusters x replicates) gives every replicate's weighted histogram in one product.
    """
    from scipy import sparse

    reps = counts.shape[1]
    pooled = np.concatenate([b, c])
    edges = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, _BINS + 1)))
    if edges.size < 2:
        return np.zeros((reps, len(quantiles)))  # every value identical: no spread to resample
    nb = edges.size - 1
    n_clusters = counts.shape[0]
    hists = []
    for values in (b, c):
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, nb - 1)
        per_cluster = sparse.csr_matrix((np.ones(values.size), (codes, bins)), shape=(n_clusters, nb))
        hists.append(np.ascontiguousarray((per_cluster.T @ counts).T, dtype=np.float64))
    return np.column_stack([_grid_quantiles(hists[1], edges, q) - _grid_quantiles(hists[0], edges, q)
                            for q in quantiles])


def _grid_quantiles(hist: NDArray[np.float64], edges: NDArray[np.float64], q: float) -> NDArray[np.float64]:
    """Quantile q of each row's weighted histogram, interpolating linearly inside the bin that holds it."""
    cum = np.cumsum(hist, axis=1)
    total = cum[:, -1]
    target = q * total
    idx = np.minimum((cum < target[:, None]).sum(axis=1), hist.shape[1] - 1)
    rows = np.arange(hist.shape[0])
    before = np.where(idx > 0, cum[rows, np.maximum(idx - 1, 0)], 0.0)
    width = hist[rows, idx]
    frac = np.where(width > 0, (target - before) / np.where(width > 0, width, 1.0), 0.0)
    out = edges[idx] + frac * (edges[idx + 1] - edges[idx])
    return np.where(total > 0, out, np.nan)


def adjust(p_values: Sequence[float | None], method: str) -> list[float | None]:
    """Adjusted p-values across a family (Holm: 'holm', Benjamini-Hochberg: 'fdr_bh'); None stays None."""
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    if method not in ("holm", "fdr_bh"):
        raise ValueError(f"unknown correction {method!r}")
    values = [p for _, p in present]
    adjusted = holm_adjusted(values) if method == "holm" else benjamini_hochberg_adjusted(values)
    for (i, _), a in zip(present, adjusted, strict=True):
        out[i] = float(a)
    return out

"""Guardrail and primary-metric tests for `decide`: peek-safe, one-sided, Holm across guardrails.

Each comparison is an estimate with a standard error (delta method on per-unit sums for rates and means,
the cluster-adjusted outer-CI variance for quantiles) and is judged with the asymptotic confidence
sequence of `rollctl.stats.sequential` (Waudby-Smith et al. 2023, as in gbstats), tuned to the planned
sample size, so a daily re-run keeps its error rate.

A guardrail with bad direction d and tolerance τ (on the absolute or relative scale) is tested twice,
each one-sided, with b = the change in the bad direction:

- harm: H0 b ≤ 0. Its sequential p-values (`sequential.one_sided_p_value`: the smallest level at which the
  one-sided sequence, its ρ held at the configured alpha as gbstats holds it, excludes 0) are Holm-adjusted
  across guardrails (statsmodels `multipletests(method="holm")`; GrowthBook Safe Rollouts' "threshold 0"
  test). ROLLBACK needs harm
  AND b̂ > τ (the issue's rule: the bound excludes 0 on the bad side and the estimate exceeds the
  tolerance).
- within tolerance: H0 b ≥ τ, rejected when b̂ + half-width < τ (a non-inferiority test at alpha; GO
  needs every guardrail to pass, an intersection-union test, so no multiplicity correction is needed).

The reported interval is [harm bound, tolerance bound] (for an increase-is-bad metric), i.e. two
one-sided sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rollctl.stats.closed_form import holm_adjusted
from rollctl.stats.power import TestDesign, Variances, sample_size_total
from rollctl.stats.ratio import Difference, RatioMoments
from rollctl.stats.sequential import multiplier, one_sided_multiplier_at, one_sided_p_value, rho


@dataclass(frozen=True)
class GuardrailInput:
    name: str
    bad_direction: Literal["increase", "decrease"]
    scale: Literal["absolute", "relative"]
    tolerance: float
    diff: Difference | None
    """None: the metric could not be computed (reason in `problem`)."""
    problem: str | None = None


@dataclass(frozen=True)
class GuardrailTest:
    name: str
    status: Literal["breached", "within_tolerance", "inconclusive", "not_computable"]
    harm_detected: bool
    estimate: float | None
    """On the plan's scale, signed in the metric's own direction (candidate − baseline)."""
    se: float | None
    ci_low: float | None
    ci_high: float | None
    harm_p_value: float | None
    harm_p_value_holm: float | None
    harm_alpha: float | None
    """The Holm step's level used for the harm bound."""
    tolerance: float
    problem: str | None


def _scale(diff: Difference, scale: str) -> tuple[float, float]:
    if scale == "relative":
        return diff.relative, diff.se_relative
    return diff.absolute, diff.se_absolute


def evaluate_guardrails(inputs: Sequence[GuardrailInput], *, alpha: float, n: float,
                        tuning_n: float) -> list[GuardrailTest]:
    """Harm (Holm across guardrails) and within-tolerance tests for every guardrail at `n` units."""
    usable: list[int] = []
    p_values: list[float] = []
    stats: dict[int, tuple[float, float, float]] = {}
    for i, g in enumerate(inputs):
        if g.diff is None:
            continue
        est, se = _scale(g.diff, g.scale)
        if not (math.isfinite(est) and math.isfinite(se)) or se <= 0:
            continue
        sign = 1.0 if g.bad_direction == "increase" else -1.0
        stats[i] = (est, se, sign)
        usable.append(i)
        p_values.append(one_sided_p_value(sign * est / se, n, tuning_n, alpha))
    reject: list[bool] = [False] * len(usable)
    adjusted: list[float] = list(p_values)
    step_alpha: dict[int, float] = {}
    if usable:
        adjusted = holm_adjusted(p_values)
        reject = [a <= alpha for a in adjusted]
        order = sorted(range(len(usable)), key=lambda k: p_values[k])
        for rank, k in enumerate(order):
            step_alpha[usable[k]] = alpha / (len(usable) - rank)
    mixture_rho = rho(alpha, tuning_n, one_sided=True)
    out: list[GuardrailTest] = []
    for i, g in enumerate(inputs):
        if i not in stats:
            problem = g.problem or "no variance: too few units or a constant metric"
            out.append(GuardrailTest(g.name, "not_computable", False, None, None, None, None, None, None, None,
                                     g.tolerance, problem))
            continue
        est, se, sign = stats[i]
        k = usable.index(i)
        a_i = step_alpha[i]
        bad = sign * est
        # Both bounds with ρ held at the configured alpha, as the p-values are: the harm bound at the Holm
        # step's level then excludes 0 exactly when the Holm test rejects.
        harm_bound = bad - se * one_sided_multiplier_at(n, a_i, mixture_rho)
        tol_bound = bad + se * one_sided_multiplier_at(n, alpha, mixture_rho)
        harm = reject[k]
        if harm and bad > g.tolerance:
            status: Literal["breached", "within_tolerance", "inconclusive", "not_computable"] = "breached"
        elif tol_bound < g.tolerance:
            status = "within_tolerance"
        else:
            status = "inconclusive"
        low, high = (harm_bound, tol_bound) if sign > 0 else (-tol_bound, -harm_bound)
        out.append(GuardrailTest(g.name, status, harm, est, se, low, high, p_values[k], adjusted[k], a_i,
                                 g.tolerance, None))
    return out


@dataclass(frozen=True)
class PrimaryTest:
    status: Literal["worse", "better", "no_significant_difference", "not_computable"]
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None


def evaluate_primary(diff: Difference | None, *, good_direction: str, scale: str, alpha: float, n: float,
                 tuning_n: float) -> PrimaryTest:
    """Two-sided confidence sequence at alpha: worse / better only when it excludes 0."""
    if diff is None:
        return PrimaryTest("not_computable", None, None, None, None)
    est, se = _scale(diff, scale)
    if not (math.isfinite(est) and math.isfinite(se)) or se <= 0:
        return PrimaryTest("not_computable", None, None, None, None)
    hw = se * multiplier(n, alpha, tuning_n, one_sided=False)
    low, high = est - hw, est + hw
    good = 1.0 if good_direction == "increase" else -1.0
    if (good > 0 and high < 0) or (good < 0 and low > 0):
        status: Literal["worse", "better", "no_significant_difference", "not_computable"] = "worse"
    elif (good > 0 and low > 0) or (good < 0 and high < 0):
        status = "better"
    else:
        status = "no_significant_difference"
    return PrimaryTest(status, est, se, low, high)


# ---------------------------------------------------------------------------------------------------
# Planned sample size (the same normal approximation as `rollctl power`, with the sequential multiplier)
# ---------------------------------------------------------------------------------------------------

def planned_total_units(unit_variance: float, candidate_share: float, mde: float, *, alpha: float,
                        power: float, one_sided: bool = False) -> float | None:
    """Total units N (both arms) at which a change of `mde` is detected with `power` by the sequence.

    The same calculation as `rollctl power --sequential` (`stats.power.sample_size_total`): the normal
    approximation with the confidence sequence's critical value tuned at N* = N, σ² the per-unit
    (linearised) variance in both arms and p the candidate's share of units. None when it cannot be planned.
    """
    if not (unit_variance > 0 and 0 < candidate_share < 1 and mde > 0):
        return None
    design = TestDesign(alpha=alpha, power=power, sides=1 if one_sided else 2, sequential=True,
                        treatment_share=candidate_share)
    return sample_size_total(mde, Variances(treatment=lambda _delta: unit_variance, control=unit_variance), design)


def units_until_resolved(bad_estimate: float, se_now: float, n_now: float, tolerance: float, *, alpha: float,
                         tuning_n: float) -> float | None:
    """Units (total) at which the tolerance bound would fall below the tolerance if the estimate held.

    SE shrinks as 1/sqrt(N). None when the estimate itself is at or beyond the tolerance (more data can
    only confirm a breach, not clear it).
    """
    if not (se_now > 0 and n_now > 0) or bad_estimate >= tolerance:
        return None
    gap = tolerance - bad_estimate

    def width(n: float) -> float:
        return se_now * math.sqrt(n_now / n) * multiplier(n, alpha, tuning_n, one_sided=True)

    if width(n_now) < gap:
        return n_now
    hi = n_now * 2
    while width(hi) >= gap:
        hi *= 2
        if hi > n_now * 1e6:
            return None
    lo = n_now
    for _ in range(60):
        mid = (lo + hi) / 2
        if width(mid) < gap:
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------------------------------------------
# Quantiles that respect clustering (p95 latency over requests clustered in users)
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuantileArm:
    """One arm's quantile inputs: n requests, the sample quantile and the order statistics around it,
    and the per-unit moments of I(value ≤ quantile) over requests (for the cluster adjustment)."""

    n: int
    nu: float
    quantile: float
    lower: float
    upper: float
    indicator: RatioMoments


def quantile_rank_levels(n: int, nu: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Levels of the order statistics bounding the outer CI: ν ∓ z·sqrt(ν(1−ν)/n) (Deng et al. 2018)."""
    half = z * math.sqrt(nu * (1 - nu) / n) if n > 0 else 1.0
    return max(nu - half, 0.0), min(nu + half, 1.0)


def quantile_variance(arm: QuantileArm, z: float = 1.959963984540054) -> float | None:
    """Var(q̂) with the cluster adjustment of Yao, Li & Lu (2024, Algorithm 1), as in gbstats.

    Outer CI (Deng, Knoblich & Yu 2018): σ²_iid = ((Y_(U) − Y_(L)) / (2z))². Requests of one user are
    correlated, so it is scaled by Var_cluster(Ī) / (ν(1−ν)/n), where Var_cluster(Ī) is the delta-method
    variance of the share of requests ≤ q̂ with users as the unit. None (inconclusive) when n is too small
    for the quantile (n ≤ z²ν/(1−ν) or n ≤ z²(1−ν)/ν) or the variance degenerates.
    """
    nu, n = arm.nu, arm.n
    if n <= z * z * nu / (1 - nu) or n <= z * z * (1 - nu) / nu:
        return None
    iid = ((arm.upper - arm.lower) / (2 * z)) ** 2
    v_cluster = arm.indicator.variance_of_ratio()
    if math.isnan(v_cluster):
        return None
    v = iid * v_cluster / (nu * (1 - nu) / n)
    if v <= 0:
        return None
    return v


def quantile_difference(baseline: QuantileArm, candidate: QuantileArm) -> Difference | None:
    """Candidate − baseline quantile, absolute and relative (delta method), None when not computable."""
    vc, vt = quantile_variance(baseline), quantile_variance(candidate)
    if vc is None or vt is None:
        return None
    qc, qt = baseline.quantile, candidate.quantile
    absolute = qt - qc
    se_abs = math.sqrt(vc + vt)
    if qc == 0:
        return Difference(qc, qt, absolute, se_abs, math.nan, math.nan)
    var_rel = vt / (qc * qc) + vc * qt * qt / qc ** 4
    return Difference(qc, qt, absolute, se_abs, absolute / abs(qc), math.sqrt(var_rel))

"""The paired statistics of eval-gate against statsmodels / scipy, and their error rates by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from rollctl.stats.paired import (
    cluster_robust_se,
    correlation,
    mcnemar_exact,
    mean_interval,
    paired_bootstrap_ci,
    paired_difference,
    power_plan,
)


@pytest.mark.parametrize(("b", "c", "n"), [(1, 2, 120), (0, 12, 120), (15, 0, 119), (7, 9, 50), (0, 0, 30),
                                           (3, 3, 10), (40, 25, 200)])
def test_mcnemar_exact_matches_statsmodels(b: int, c: int, n: int) -> None:
    ours = mcnemar_exact(b, c, n, 0.05)
    table = [[n - b - c, b], [c, 0]]
    ref = mcnemar(table, exact=True)
    assert ours.p_value == pytest.approx(min(ref.pvalue, 1.0), abs=1e-12)
    assert ours.difference == pytest.approx((c - b) / n)
    assert ours.se == pytest.approx(math.sqrt(b + c - (c - b) ** 2 / n) / n)


def test_paired_t_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(3)
    base = rng.binomial(3, 0.8, 150) / 3
    cand = np.clip(base + rng.normal(-0.02, 0.2, 150), 0, 1)
    res = paired_difference(base, cand, alpha=0.05, margin=0.03)
    ref = stats.ttest_rel(cand, base)
    assert res.method == "paired_t"
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (res.ci_low, res.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    one = stats.ttest_rel(cand, base, alternative="greater").confidence_interval(0.95)
    assert res.lower_bound == pytest.approx(one.low)
    ni = stats.ttest_1samp(cand - base, -0.03, alternative="greater")
    assert res.p_value_noninferiority == pytest.approx(ni.pvalue, rel=1e-9)


def test_cluster_robust_se_matches_statsmodels_ols_cluster() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(30), 4)
    d = rng.normal(0, 0.3, 30)[groups] + rng.normal(0, 0.2, groups.size)
    se, k = cluster_robust_se(d, groups)
    fit = sm.OLS(d, np.ones_like(d)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert k == 30
    assert se == pytest.approx(float(fit.bse[0]), rel=1e-9)
    res = paired_difference(np.zeros_like(d), d, alpha=0.05, margin=0.0, clusters=groups)
    assert res.method == "cluster_robust_t" and res.df == 29
    assert res.se == pytest.approx(se)


def test_zero_discordant_pairs_give_the_exact_zero_event_bound() -> None:
    x = np.array([1.0] * 100 + [0.0] * 20)
    res = paired_difference(x, x.copy(), alpha=0.05, margin=0.05)
    assert res.method == "exact_zero_discordance"
    assert res.estimate == 0.0
    assert res.lower_bound == pytest.approx(-(1 - 0.05 ** (1 / 120)))
    assert res.lower_bound is not None and res.lower_bound > -0.05
    assert all(v is not None and math.isfinite(v) for v in (res.ci_low, res.ci_high, res.upper_bound))


def test_single_case_has_no_interval_and_no_nan() -> None:
    res = paired_difference(np.array([1.0]), np.array([0.0]), alpha=0.05, margin=0.0)
    assert res.method == "too_few_cases"
    assert res.lower_bound is None and res.upper_bound is None and res.estimate == -1.0


def test_bootstrap_is_seeded_and_close_to_t_on_many_cases() -> None:
    rng = np.random.default_rng(11)
    base = rng.binomial(1, 0.8, 2000).astype(float)
    cand = np.where(rng.random(2000) < 0.1, 1 - base, base)
    a = paired_bootstrap_ci(base, cand, alpha=0.05, seed=7, n_resamples=2000)
    b = paired_bootstrap_ci(base, cand, alpha=0.05, seed=7, n_resamples=2000)
    assert a == b and a is not None
    t = paired_difference(base, cand, alpha=0.05, margin=0)
    assert a[0] == pytest.approx(t.ci_low, abs=0.004)
    assert a[1] == pytest.approx(t.ci_high, abs=0.004)


def test_correlation_undefined_for_a_constant_arm() -> None:
    assert correlation(np.ones(10), np.r_[np.ones(9), 0.0]) is None
    x = np.array([0, 1, 1, 0, 1, 1.0])
    assert correlation(x, x) == pytest.approx(1.0)


def test_power_plan_follows_millers_formula() -> None:
    z = stats.norm.ppf(0.95) + stats.norm.ppf(0.8)
    plan = power_plan(n=120, var_diff=0.05, within_baseline=0.06, within_candidate=0.06, repeats_baseline=3,
                      repeats_candidate=3, alpha=0.05, power=0.8, target=0.05)
    assert plan.mde == pytest.approx(z * math.sqrt(0.05 / 120))
    assert plan.cases_needed == math.ceil(z**2 * 0.05 / 0.05**2)
    omega2 = 0.05 - 0.06 / 3 - 0.06 / 3
    assert plan.variance_between == pytest.approx(omega2)
    denom = 120 * 0.05**2 / z**2 - omega2
    assert plan.repeats_needed is None if denom <= 0 else plan.repeats_needed == math.ceil(0.12 / denom)
    floor = power_plan(n=120, var_diff=0.0, within_baseline=None, within_candidate=None, repeats_baseline=1,
                       repeats_candidate=1, alpha=0.05, power=0.8, target=0.05)
    assert floor.mde == pytest.approx(z**2 / (120 + z**2))
    assert floor.repeats_needed is None and "two repeats" in floor.repeats_note


def test_wilson_interval_for_binary_arm() -> None:
    from statsmodels.stats.proportion import proportion_confint

    x = np.array([1.0] * 107 + [0.0] * 13)
    low, high = mean_interval(x, alpha=0.05, binary=True)
    ref = proportion_confint(107, 120, alpha=0.05, method="wilson")
    assert (low, high) == (pytest.approx(ref[0]), pytest.approx(ref[1]))


def _false_pass_rate(sims: int, n: int, margin: float, seed: int) -> float:
    """Share of runs that PASS when the candidate is exactly `margin` worse (the boundary of the null)."""
    rng = np.random.default_rng(seed)
    passes = 0
    for _ in range(sims):
        p = rng.uniform(0.5, 1.0, n)
        base = rng.binomial(3, p) / 3
        cand = rng.binomial(3, np.clip(p - margin, 0, 1)) / 3
        res = paired_difference(base, cand, alpha=0.05, margin=margin)
        passes += res.lower_bound is not None and res.lower_bound > -margin
    return passes / sims


def test_non_inferiority_false_pass_rate_is_at_most_alpha_fast() -> None:
    rate = _false_pass_rate(400, 150, 0.05, seed=1)
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)


@pytest.mark.slow
def test_non_inferiority_false_pass_rate_is_at_most_alpha_full() -> None:
    rate = _false_pass_rate(5000, 120, 0.05, seed=2)
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 5000)


def _clustered_false_pass_rate(sims: int, seed: int) -> tuple[float, float]:
    """False-pass rate at the null boundary with cluster-correlated differences: clustered vs naive SE."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(40), 5)
    hits_cl = hits_naive = 0
    for _ in range(sims):
        d = -0.05 + rng.normal(0, 0.15, 40)[groups] + rng.normal(0, 0.1, groups.size)
        zeros = np.zeros_like(d)
        cl = paired_difference(zeros, d, alpha=0.05, margin=0.05, clusters=groups)
        naive = paired_difference(zeros, d, alpha=0.05, margin=0.05)
        hits_cl += cl.lower_bound is not None and cl.lower_bound > -0.05
        hits_naive += naive.lower_bound is not None and naive.lower_bound > -0.05
    return hits_cl / sims, hits_naive / sims


def test_clustered_bound_keeps_alpha_where_naive_does_not_fast() -> None:
    clustered, naive = _clustered_false_pass_rate(400, seed=3)
    assert clustered <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    assert naive > 0.1  # ignoring clusters would pass a candidate that is margin-worse far too often


@pytest.mark.slow
def test_clustered_bound_keeps_alpha_full() -> None:
    clustered, _ = _clustered_false_pass_rate(5000, seed=4)
    assert clustered <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 5000)

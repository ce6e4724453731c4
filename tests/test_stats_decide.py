"""decide's statistics against independent computations: gbstats golden values, scipy, statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from rollctl.stats.closed_form import holm_adjusted
from rollctl.stats.guardrails import (
    GuardrailInput,
    QuantileArm,
    evaluate_guardrails,
    evaluate_primary,
    planned_total_units,
    quantile_difference,
    quantile_rank_levels,
    units_until_resolved,
)
from rollctl.stats.power import normal_cdf, normal_isf, normal_ppf
from rollctl.stats.ratio import Difference, RatioMoments, difference
from rollctl.stats.sequential import half_width, multiplier, one_sided_multiplier_at, one_sided_p_value
from rollctl.stats.sequential import rho as sequential_rho
from rollctl.stats.srm import srm_check


def mean_moments(total: float, total_sq: float, n: int) -> RatioMoments:
    """A per-unit mean as a ratio with N_u = 1."""
    return RatioMoments(n=n, sum_y=total, sum_y2=total_sq, sum_n=n, sum_n2=n, sum_yn=total)


def test_gbstats_sequential_golden_values() -> None:
    # gbstats tests/frequentist/test_tests.py: stat_a with n = 3000, N* = 1000 -> 0.50336, CI (-0.55844, 1.56516)
    a = mean_moments(1396.87, 52377.9767, 3000)
    b = mean_moments(2422.7, 134698.29, 3461)
    d = difference(a, b)
    assert d.relative == pytest.approx(0.50336, abs=5e-6)
    hw = half_width(d.se_relative, 3000 + 3461, 0.05, 1000, one_sided=False)
    assert d.relative - hw == pytest.approx(-0.55844, abs=5e-5)
    assert d.relative + hw == pytest.approx(1.56516, abs=5e-5)


def test_gbstats_fixed_horizon_absolute_golden_values() -> None:
    # Welch t-test on the absolute difference: 0.29, CI (0.04538, 0.53462)
    a = mean_moments(1396.87, 52377.9767, 3407)
    b = mean_moments(2422.7, 134698.29, 3461)
    d = difference(a, b)
    va, vb = a.var_y / a.n, b.var_y / b.n
    dof = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    t = stats.t.ppf(0.975, dof)
    assert d.absolute == pytest.approx(0.29, abs=1e-5)
    assert (d.absolute - t * d.se_absolute, d.absolute + t * d.se_absolute) == pytest.approx((0.04538, 0.53462),
                                                                                               abs=5e-5)


def test_fixed_horizon_interval_matches_statsmodels_z() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.gamma(2.0, 3.0, 800), rng.gamma(2.2, 3.0, 1200)
    d = difference(mean_moments(x.sum(), (x * x).sum(), len(x)), mean_moments(y.sum(), (y * y).sum(), len(y)))
    low, high = CompareMeans(DescrStatsW(y), DescrStatsW(x)).zconfint_diff(alpha=0.05, usevar="unequal")
    z = stats.norm.ppf(0.975)
    assert d.absolute - z * d.se_absolute == pytest.approx(low, rel=1e-6)
    assert d.absolute + z * d.se_absolute == pytest.approx(high, rel=1e-6)


def test_sequential_multiplier_is_wider_than_fixed_and_tightest_at_tuning() -> None:
    tuning = 5000
    at = multiplier(tuning, 0.05, tuning, one_sided=False)
    assert at == pytest.approx(3.04, abs=0.01)  # research notes: 3.04 at N = N* = 5000
    assert multiplier(500, 0.05, tuning, one_sided=False) == pytest.approx(3.86, abs=0.01)
    assert multiplier(200_000, 0.05, tuning, one_sided=False) == pytest.approx(3.43, abs=0.01)
    # at N = N* the multiplier does not depend on N* (N·ρ² is a constant of alpha there)
    assert multiplier(1000.0, 0.05, 1000.0, one_sided=False) == pytest.approx(at, abs=1e-9)


@pytest.mark.parametrize(("counts", "p"), [([5050, 4950], 0.317), ([5200, 4800], 6.3e-5)])
def test_srm_golden_p_values(counts: list[int], p: float) -> None:
    result = srm_check(counts, [50, 50])
    assert result.p_value == pytest.approx(p, rel=0.01)
    assert result.p_value == pytest.approx(stats.chisquare(counts).pvalue, rel=1e-12)
    assert result.status == ("pass" if p > 0.001 else "fail")


def test_srm_needs_practical_size_and_enough_units() -> None:
    big = srm_check([10_015_000, 9_985_000], [50, 50])  # p < 0.001 but 0.15 % off: not practically large
    assert big.p_value is not None and big.p_value < 0.001 and big.status == "warn"
    assert srm_check([3, 400], [5, 95]).status == "inconclusive"
    assert srm_check([5500, 4500], [50, 50]).status == "fail"


def _gbstats_one_sided_p_value(z_bad: float, n: float, tuning_n: float, alpha: float) -> float:
    """The reference construction, written out independently: gbstats' one-sided sequential p-value is a
    bisection on the level over [1e-5, 0.4999] (tolerance 1e-6, 100 steps) of the one-sided half-width
    (Waudby-Smith et al. eq. 134) with ρ fixed at the configured alpha (eq. 161 with 2α)."""
    a2 = 2 * alpha
    rho = math.sqrt((-2 * math.log(a2) + math.log(-2 * math.log(a2) + 1)) / tuning_n)

    def excludes_zero(level: float) -> bool:
        width = math.sqrt(2 * (n * rho**2 + 1) / (n * rho) ** 2 * math.log(1 + math.sqrt(n * rho**2 + 1)
                                                                             / (2 * level)))
        return z_bad / math.sqrt(n) > width  # z = est/SE and SE = s/sqrt(N): compare est/s with the width

    lo, hi = 1e-5, 0.4999
    if excludes_zero(lo):
        return lo
    if not excludes_zero(hi):
        return 0.5
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if excludes_zero(mid) else (mid, hi)
        if hi - lo < 1e-6:
            break
    return hi


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1])
@pytest.mark.parametrize(("n", "tuning"), [(20_000, 20_000), (1_000, 20_000), (200_000, 20_000), (500, 500)])
def test_one_sided_p_value_matches_the_gbstats_construction(alpha: float, n: int, tuning: int) -> None:
    for z in (0.3, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0):
        ours = one_sided_p_value(z, n, tuning, alpha)
        reference = _gbstats_one_sided_p_value(z, n, tuning, alpha)
        assert ours == pytest.approx(reference, abs=2e-6), (z, ours, reference)


def test_one_sided_p_value_is_the_level_where_the_bound_touches_zero() -> None:
    n, tuning, alpha = 20_000, 20_000, 0.05
    r = sequential_rho(alpha, tuning, one_sided=True)
    for z in (3.0, 3.5, 4.0, 5.0):
        p = one_sided_p_value(z, n, tuning, alpha)
        assert one_sided_multiplier_at(n, p, r) == pytest.approx(z, rel=1e-9)
    # At the configured level, holding ρ changes nothing: the decision bound is the usual one.
    assert one_sided_multiplier_at(n, alpha, r) == pytest.approx(multiplier(n, alpha, tuning, one_sided=True))
    assert one_sided_p_value(0.5, n, tuning, alpha) == 0.5 and one_sided_p_value(-2.0, n, tuning, alpha) == 0.5
    # Early in a stage (a twentieth of the planned units) a z of 4 gets a finite p-value (0.098), where re-tuning
    # ρ for every level (rollctl's earlier construction) found no level below 0.5 at all.
    early = one_sided_p_value(4.0, 1_000, tuning, alpha)
    assert 0.05 < early < 0.2


def diff(abs_: float, se: float, base: float = 0.1) -> Difference:
    return Difference(base, base + abs_, abs_, se, abs_ / base, se / base)


def test_guardrail_outcomes_and_holm() -> None:
    inputs = [
        GuardrailInput("breach", "increase", "absolute", 0.005, diff(0.03, 0.005)),
        GuardrailInput("fine", "increase", "absolute", 0.05, diff(0.001, 0.005)),
        GuardrailInput("unsure", "increase", "absolute", 0.01, diff(0.008, 0.005)),
        GuardrailInput("drop", "decrease", "absolute", 0.005, diff(-0.03, 0.005)),
        GuardrailInput("missing", "increase", "absolute", 0.01, None, "no values"),
    ]
    out = {t.name: t for t in evaluate_guardrails(inputs, alpha=0.05, n=10_000, tuning_n=10_000)}
    assert out["breach"].status == "breached" and out["drop"].status == "breached"
    assert out["fine"].status == "within_tolerance" and out["unsure"].status == "inconclusive"
    assert out["missing"].status == "not_computable" and out["missing"].problem == "no values"
    assert out["drop"].ci_high is not None and out["drop"].ci_high < 0  # decrease: harm bound is the upper one
    ps = [out[k].harm_p_value for k in ("breach", "fine", "unsure", "drop")]
    _, adjusted, _, _ = multipletests(ps, alpha=0.05, method="holm")
    assert [out[k].harm_p_value_holm for k in ("breach", "fine", "unsure", "drop")] == pytest.approx(list(adjusted))


def test_harm_within_tolerance_is_not_a_rollback() -> None:
    out = evaluate_guardrails([GuardrailInput("x", "increase", "absolute", 0.05, diff(0.02, 0.002))],
                              alpha=0.05, n=50_000, tuning_n=50_000)[0]
    assert out.harm_detected and out.status == "within_tolerance"


def test_primary_two_sided() -> None:
    worse = evaluate_primary(diff(-0.05, 0.01), good_direction="increase", scale="absolute", alpha=0.05, n=1e4,
                             tuning_n=1e4)
    assert worse.status == "worse"
    assert evaluate_primary(diff(-0.01, 0.01), good_direction="increase", scale="absolute", alpha=0.05, n=1e4,
                            tuning_n=1e4).status == "no_significant_difference"
    assert evaluate_primary(None, good_direction="increase", scale="absolute", alpha=0.05, n=1e4,
                            tuning_n=1e4).status == "not_computable"


def test_planned_units_is_statsmodels_with_the_sequential_critical_value() -> None:
    sd, mde, p = 0.4, 0.02, 0.5
    ours = planned_total_units(sd * sd, p, mde, alpha=0.05, power=0.8)
    fixed_per_arm = NormalIndPower().solve_power(effect_size=mde / sd, alpha=0.05, power=0.8)
    c = multiplier(1000.0, 0.05, 1000.0, one_sided=False)  # the sequence at N = N*, whatever N*
    inflation = ((c + stats.norm.ppf(0.8)) / (stats.norm.ppf(0.975) + stats.norm.ppf(0.8))) ** 2
    # statsmodels' two-sided power adds the far tail (~1e-6 relative here)
    assert ours == pytest.approx(2 * fixed_per_arm * inflation, rel=1e-5)
    assert planned_total_units(0.0, p, mde, alpha=0.05, power=0.8) is None


def test_units_until_resolved() -> None:
    need = units_until_resolved(0.01, 0.01, 10_000, 0.02, alpha=0.05, tuning_n=10_000)
    assert need is not None and need > 10_000
    se_then = 0.01 * math.sqrt(10_000 / need)
    assert 0.01 + se_then * multiplier(need, 0.05, 10_000, one_sided=True) == pytest.approx(0.02, rel=1e-3)
    assert units_until_resolved(0.03, 0.01, 10_000, 0.02, alpha=0.05, tuning_n=10_000) is None


def _quantile_arm(values: np.ndarray, users: np.ndarray, nu: float = 0.95) -> QuantileArm:
    n = len(values)
    lo, hi = quantile_rank_levels(n, nu)
    q = float(np.quantile(values, nu, method="inverted_cdf"))
    lower = float(np.quantile(values, lo, method="inverted_cdf"))
    upper = float(np.quantile(values, hi, method="inverted_cdf"))
    ind = (values <= q).astype(float)
    ys = np.bincount(users, weights=ind)
    ns = np.bincount(users).astype(float)
    keep = ns > 0
    ys, ns = ys[keep], ns[keep]
    mom = RatioMoments(n=int(keep.sum()), sum_y=ys.sum(), sum_y2=(ys * ys).sum(), sum_n=ns.sum(),
                       sum_n2=(ns * ns).sum(), sum_yn=(ys * ns).sum())
    return QuantileArm(n=n, nu=nu, quantile=q, lower=lower, upper=upper, indicator=mom)


def _clustered(rng: np.random.Generator, users: int) -> tuple[np.ndarray, np.ndarray]:
    per_user = rng.geometric(0.25, users)
    user_effect = rng.normal(0, 0.35, users)
    ids = np.repeat(np.arange(users), per_user)
    values = np.exp(7.3 + user_effect[ids] + rng.normal(0, 0.3, len(ids)))
    return values, ids


def test_clustered_quantile_se_matches_a_user_level_bootstrap() -> None:
    rng = np.random.default_rng(11)
    (vb, ib), (vc, ic) = _clustered(rng, 1500), _clustered(rng, 1500)
    d = quantile_difference(_quantile_arm(vb, ib), _quantile_arm(vc, ic))
    assert d is not None
    boots = []
    groups_b = [vb[ib == u] for u in range(1500)]
    groups_c = [vc[ic == u] for u in range(1500)]
    for _ in range(300):
        sb = np.concatenate([groups_b[k] for k in rng.integers(0, 1500, 1500)])
        sc = np.concatenate([groups_c[k] for k in rng.integers(0, 1500, 1500)])
        boots.append(np.quantile(sc, 0.95) - np.quantile(sb, 0.95))
    boot_se = float(np.std(boots, ddof=1))
    assert d.se_absolute == pytest.approx(boot_se, rel=0.2)
    # and the naive iid outer-CI SE is clearly smaller: clustering matters
    naive = math.sqrt(sum(((a.upper - a.lower) / (2 * 1.959964)) ** 2 for a in (_quantile_arm(vb, ib),
                                                                               _quantile_arm(vc, ic))))
    assert naive < 0.9 * d.se_absolute


def test_quantile_too_small_is_not_computable() -> None:
    rng = np.random.default_rng(1)
    small = _quantile_arm(rng.random(30), np.arange(30), nu=0.99)
    assert quantile_difference(small, small) is None


# decide's statistics avoid importing scipy.stats and statsmodels (a second of every run): the stand-ins
# must give the libraries' numbers.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
                min_size=1, max_size=12))
def test_holm_matches_statsmodels(ps: list[float]) -> None:
    reject, adjusted, _, _ = multipletests(ps, alpha=0.05, method="holm")
    assert holm_adjusted(ps) == pytest.approx(list(adjusted), rel=1e-12, abs=1e-15)
    assert [a <= 0.05 for a in holm_adjusted(ps)] == list(reject)


@pytest.mark.parametrize("p", [1e-300, 1e-12, 1e-6, 0.001, 0.025, 0.05, 0.2, 0.5, 0.8, 0.975, 0.999, 1 - 1e-12])
def test_normal_quantiles_match_scipy(p: float) -> None:
    assert normal_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-12)
    assert normal_isf(p) == pytest.approx(stats.norm.isf(p), rel=1e-9)
    assert normal_cdf(stats.norm.ppf(p)) == pytest.approx(p, rel=1e-9)
    assert normal_ppf(0.0) == -math.inf and normal_isf(0.0) == math.inf


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=8, max_value=10**6), min_size=2, max_size=5),
       st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=5, max_size=5))
def test_srm_chi_square_matches_scipy(counts: list[int], weights: list[float]) -> None:
    shares = weights[: len(counts)]
    result = srm_check(counts, shares)
    expected = [sum(counts) * w / sum(shares) for w in shares]
    reference = stats.chisquare(counts, f_exp=expected)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-300)

"""Power formulas against statsmodels, the inflation factors, and Miller's eval-set planning."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower, TTestIndPower, normal_sample_size_one_tail
from statsmodels.stats.proportion import proportion_effectsize, samplesize_proportions_2indep_onetail

from rollctl.stats import power as pw
from rollctl.stats.sequential import multiplier

P0, P1 = 0.10, 0.11


def per_arm(n_total: float) -> int:
    return math.ceil(n_total / 2 - 1e-9)


def test_unpooled_proportions_match_statsmodels_with_the_same_variance() -> None:
    """rollctl's method (unpooled, the Wald test decide runs): 14,749 per arm for 10 % → 11 %."""
    n = pw.sample_size_total(P1 - P0, pw.proportion_variances(P0), pw.TestDesign())
    sd = math.sqrt(P0 * (1 - P0) + P1 * (1 - P1))
    ref = normal_sample_size_one_tail(P1 - P0, 0.8, 0.025, std_null=sd, std_alternative=sd)
    assert n / 2 == pytest.approx(ref, rel=1e-9)
    d = (P1 - P0) / math.sqrt((P0 * (1 - P0) + P1 * (1 - P1)) / 2)
    assert per_arm(n) == math.ceil(NormalIndPower().solve_power(d, power=0.8, alpha=0.05)) == 14_749


def test_pooled_null_variant_pins_samplesize_proportions_2indep_onetail() -> None:
    design = pw.TestDesign()
    n = pw.sample_size_total(P1 - P0, pw.pooled_null_proportion_variances(P0, design), design)
    ref = samplesize_proportions_2indep_onetail(P1 - P0, P0, 0.8, alpha=0.05)
    assert n / 2 == pytest.approx(ref, rel=1e-9)
    assert per_arm(n) == 14_751
    one = pw.TestDesign(sides=1)
    n1 = pw.sample_size_total(P1 - P0, pw.pooled_null_proportion_variances(P0, one), one)
    assert n1 / 2 == pytest.approx(samplesize_proportions_2indep_onetail(P1 - P0, P0, 0.8, alternative="larger"))


def test_unequal_allocation_matches_statsmodels_ratio() -> None:
    """A 5:95 canary: statsmodels' nobs1 is the treatment arm, nobs2 = 19·nobs1."""
    design = pw.TestDesign(treatment_share=0.05)
    n = pw.sample_size_total(P1 - P0, pw.pooled_null_proportion_variances(P0, design), design)
    ref = samplesize_proportions_2indep_onetail(P1 - P0, P0, 0.8, ratio=19, alpha=0.05)
    assert 0.05 * n == pytest.approx(ref, rel=1e-9)


def test_means_with_cohens_h_match_normal_and_t_power() -> None:
    """A mean metric with standardized effect h: 14,745 (NormalIndPower 14,744.1; TTestIndPower 14,745.1)."""
    h = proportion_effectsize(P1, P0)
    n = per_arm(pw.sample_size_total(h, pw.constant_variances(1.0), pw.TestDesign()))
    normal = NormalIndPower().solve_power(h, power=0.8, alpha=0.05)
    t = TTestIndPower().solve_power(h, power=0.8, alpha=0.05)
    assert abs(n - normal) <= 1 and abs(n - t) <= 1
    assert n == 14_745
    one = per_arm(pw.sample_size_total(h, pw.constant_variances(1.0), pw.TestDesign(sides=1)))
    assert abs(one - NormalIndPower().solve_power(h, power=0.8, alpha=0.05, alternative="larger")) <= 1


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("sides", [1, 2])
def test_power_mde_and_n_are_inverse(sequential: bool, sides: int) -> None:
    design = pw.TestDesign(sides=sides, sequential=sequential, treatment_share=0.05, guardrails=3)
    v = pw.proportion_variances(0.08, inflation=1.7)
    n = pw.sample_size_total(0.016, v, design)
    assert pw.power_at(0.016, n, v, design) == pytest.approx(0.8, abs=1e-6)
    assert pw.mde_absolute(n, v, design, max_abs_delta=0.92) == pytest.approx(0.016, rel=1e-6)
    down = pw.mde_absolute(n, v, design, direction=-1, max_abs_delta=0.08)
    assert down is not None and down < 0.016  # p(1-p) is smaller below 8 %


def test_sequential_uses_decides_confidence_sequence_at_the_planned_total() -> None:
    design = pw.TestDesign(sequential=True)
    v = pw.constant_variances(1.0)
    n = pw.sample_size_total(0.05, v, design)
    c = multiplier(n, 0.05, n, one_sided=False)
    assert n == pytest.approx((c + 0.8416212335729143) ** 2 * 4 / 0.05**2, rel=1e-9)
    assert c == pytest.approx(3.035, abs=1e-3)
    factors = pw.test_factors(design)
    assert factors.sequential == pytest.approx(((c + 0.8416212335729143) / (1.959963984540054 + 0.8416212335729143))
                                               ** 2)
    assert factors.sequential == pytest.approx(1.915, abs=1e-3)
    fixed = pw.sample_size_total(0.05, v, pw.TestDesign())
    assert n / fixed == pytest.approx(factors.sequential, rel=1e-9)
    # Power at fewer users than planned uses the sequence tuned for the plan (wider than at N*).
    assert pw.critical_value(design, n / 10, tuning_n=n) > c


def test_guardrail_factor_is_bonferroni() -> None:
    three = pw.TestDesign(guardrails=3, sides=1)
    assert three.alpha_per_test == pytest.approx(0.05 / 3)
    f = pw.test_factors(three)
    assert f.guardrails == pytest.approx(((2.128045234184984 + 0.8416212335729143) / (1.6448536269514729
                                          + 0.8416212335729143)) ** 2, rel=1e-6)
    v = pw.constant_variances(1.0)
    ratio = pw.sample_size_total(0.1, v, three) / pw.sample_size_total(0.1, v, pw.TestDesign(sides=1))
    assert ratio == pytest.approx(f.guardrails)


def test_design_effect_and_its_inverse() -> None:
    assert pw.design_effect(5, 0.05) == pytest.approx(1.2)
    assert pw.effective_cluster_size(sum_m=10, sum_m2=1 + 81) == pytest.approx(8.2)  # sizes 1 and 9
    assert pw.icc_from_design_effect(1.2, 5) == pytest.approx(0.05)
    assert pw.response_variance_factor(0.25) == pytest.approx(4 / 3)


@pytest.mark.parametrize(("days", "rounded"), [(0.3, 7), (6.99, 7), (7.0, 7), (7.01, 14), (20, 21), (28, 28)])
def test_days_round_up_to_whole_weeks(days: float, rounded: int) -> None:
    assert pw.round_up_to_weeks(days) == rounded


def test_days_take_the_slower_arm() -> None:
    assert pw.days_needed(1000, 1000, 10_000, 0.05, 0.95) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pw.sample_size_total(0.0, pw.constant_variances(1.0), pw.TestDesign()),
        lambda: pw.TestDesign(power=1.0),
        lambda: pw.TestDesign(power=0.0),
        lambda: pw.TestDesign(treatment_share=0.0),
        lambda: pw.TestDesign(alpha=0.0),
        lambda: pw.TestDesign(sides=3),
        lambda: pw.proportion_variances(0.0),
        lambda: pw.proportion_variances(1.0),
        lambda: pw.constant_variances(0.0),
        lambda: pw.design_effect(3, 1.5),
        lambda: pw.response_variance_factor(1.0),
    ],
)
def test_impossible_requests_name_the_parameter_not_an_option(call) -> None:  # type: ignore[no-untyped-def]
    """The statistics do not know the command line: the error names the parameter, and its hint has a place for
    the caller's name of it (an option, a plan key)."""
    with pytest.raises(pw.PlanningInputError) as caught:
        call()
    assert "--" not in caught.value.message and "--" not in (caught.value.hint or "")
    assert caught.value.parameter.replace("_", "").isalpha()


def test_miller_worked_example() -> None:
    """δ = 3 points near p = 0.5: unpaired Var(d) ≈ 0.5 → ≈ 4,360 cases; paired with ρ = 0.5 → ≈ 2,180."""
    unpaired = pw.EvalVariance(omega2=0.5, sigma2_a=0.0, sigma2_b=0.0)
    paired = pw.EvalVariance(omega2=0.25, sigma2_a=0.0, sigma2_b=0.0)
    z2 = (1.959963984540054 + 0.8416212335729143) ** 2
    assert pw.eval_cases_needed(0.03, unpaired) == math.ceil(z2 * 0.5 / 0.0009)
    assert 4_350 <= pw.eval_cases_needed(0.03, unpaired) <= 4_370
    assert 2_175 <= pw.eval_cases_needed(0.03, paired) <= 2_185
    n = pw.eval_cases_needed(0.03, paired)
    assert pw.eval_power(n, 0.03, paired) == pytest.approx(0.8, abs=0.002)
    assert pw.eval_mde(n, paired) == pytest.approx(0.03, rel=1e-3)


def test_miller_repeats_and_when_none_suffice() -> None:
    var = pw.EvalVariance(omega2=0.02, sigma2_a=0.1, sigma2_b=0.1)
    z2 = (1.959963984540054 + 0.8416212335729143) ** 2
    k = pw.eval_repeats_needed(400, 0.05, var)
    assert k == math.ceil(0.2 / (400 * 0.0025 / z2 - 0.02))
    with_k = pw.EvalVariance(omega2=0.02, sigma2_a=0.1, sigma2_b=0.1, repeats_a=k, repeats_b=k)
    assert pw.eval_power(400, 0.05, with_k) >= 0.8
    assert pw.eval_repeats_needed(60, 0.05, var) is None  # ω² alone needs 63 cases
    assert pw.eval_repeats_needed(64, 0.05, var) is not None


def test_eval_components_law_of_total_variance() -> None:
    cases = [pw.CaseMoments("a", 3, 3.0, 3.0), pw.CaseMoments("b", 3, 0.0, 0.0),
             pw.CaseMoments("c", 3, 2.0, 2.0), pw.CaseMoments("d", 3, 1.0, 1.0)]
    comp = pw.eval_components(cases)
    assert comp is not None
    within = (0 + 0 + 1 / 3 + 1 / 3) / 4
    means = [1, 0, 2 / 3, 1 / 3]
    grand = sum(means) / 4
    var_means = sum((m - grand) ** 2 for m in means) / 3
    assert comp.within == pytest.approx(within)
    assert comp.between == pytest.approx(var_means - within / 3)


@settings(max_examples=60, deadline=None)
@given(
    p=st.floats(0.01, 0.9), rel=st.floats(0.02, 0.5), share=st.floats(0.02, 0.5), sides=st.sampled_from([1, 2]),
    sequential=st.booleans(), k=st.integers(1, 5), deff=st.floats(1.0, 5.0), power=st.floats(0.5, 0.95),
)
def test_plan_is_consistent_for_any_inputs(p: float, rel: float, share: float, sides: int, sequential: bool, k: int,
                                           deff: float, power: float) -> None:
    """Whatever the inputs: the plan reaches its power, the MDE at that N is the effect, more power costs more."""
    delta = min(p * rel, (1 - p) / 2)
    design = pw.TestDesign(power=power, sides=sides, sequential=sequential, guardrails=k, treatment_share=share)
    v = pw.proportion_variances(p, inflation=deff)
    n = pw.sample_size_total(delta, v, design)
    assert pw.power_at(delta, n, v, design) == pytest.approx(power, abs=1e-6)
    assert pw.mde_absolute(n, v, design, max_abs_delta=1 - p) == pytest.approx(delta, rel=1e-5)
    more = pw.TestDesign(power=min(power + 0.04, 0.99), sides=sides, sequential=sequential, guardrails=k,
                         treatment_share=share)
    assert pw.sample_size_total(delta, v, more) > n


@pytest.mark.parametrize(("share", "one_sided"), [(0.05, True), (0.5, False), (0.25, True)])
def test_sequential_plan_is_the_n_star_decide_tunes_for(share: float, one_sided: bool) -> None:
    """`decide` derives N* from the plan the same way: one formula, one number, on both sides of the rollout."""
    from rollctl.stats.guardrails import planned_total_units

    design = pw.TestDesign(sequential=True, sides=1 if one_sided else 2, treatment_share=share)
    ours = pw.sample_size_total(0.012, pw.constant_variances(0.3), design)
    theirs = planned_total_units(0.3, share, 0.012, alpha=0.05, power=0.8, one_sided=one_sided)
    assert theirs is not None and ours == pytest.approx(theirs, rel=1e-9)

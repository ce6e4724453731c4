"""The closed forms that stand in for scipy.stats / statsmodels calls, against those calls."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from rollctl.stats import closed_form as cf
from rollctl.stats.judge import _logistic_mle


@given(st.integers(min_value=1, max_value=3000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))))
def test_sign_test_is_scipys_two_sided_binomtest(case: tuple[int, int]) -> None:
    k, n = case
    # scipy counts outcomes within a relative 1e-7 of the observed one's probability as equally likely: on
    # thousands of trials near the centre that adds a sliver the exact doubling of one tail does not.
    assert cf.sign_test_p_value(k, n) == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-6)


@pytest.mark.parametrize(("k", "n", "expected"), [
    (2, 10, 2 * (1 + 10 + 45) / 1024),  # P(X <= 2) doubled
    (8, 10, 2 * (1 + 10 + 45) / 1024),  # the mirror image
    (5, 10, 1.0),  # the centre: capped at 1
    (0, 1, 1.0),
    (0, 20, 2 / 2**20),
    (3, 0, 1.0),  # no trials: no evidence
])
def test_sign_test_by_hand(k: int, n: int, expected: float) -> None:
    assert cf.sign_test_p_value(k, n) == pytest.approx(expected, rel=1e-12)


@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=400))
def test_sign_test_of_discordant_pairs_is_statsmodels_exact_mcnemar(b: int, c: int) -> None:
    if b + c == 0:
        return
    expected = mcnemar([[10, b], [c, 10]], exact=True).pvalue
    assert cf.sign_test_p_value(b, b + c) == pytest.approx(expected, rel=1e-9)


@given(st.integers(min_value=1, max_value=5000), st.floats(min_value=0.0, max_value=1.0),
       st.sampled_from([0.01, 0.05, 0.1, 0.2]))
def test_wilson_is_statsmodels_proportion_confint(n: int, share: float, alpha: float) -> None:
    successes = round(share * n * 2) / 2  # ties count half a win, so half-integers too
    low, high = cf.wilson_interval(successes, n, alpha=alpha)
    ref_low, ref_high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    assert (low, high) == pytest.approx((ref_low, ref_high), rel=1e-12, abs=1e-15)


@given(st.floats(min_value=1e-6, max_value=1 - 1e-6), st.integers(min_value=1, max_value=10_000),
       st.floats(min_value=-40.0, max_value=40.0))
def test_normal_and_t_are_scipy_stats(p: float, df: int, x: float) -> None:
    assert cf.normal_two_sided_p(x) == pytest.approx(2 * stats.norm.sf(abs(x)), rel=1e-12, abs=1e-300)
    assert cf.t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-10, abs=1e-12)
    assert cf.t_two_sided_p(x, df) == pytest.approx(2 * stats.t.sf(abs(x), df), rel=1e-10, abs=1e-300)


p_values = st.lists(st.one_of(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
                    min_size=1, max_size=30)


@given(p_values)
def test_holm_and_benjamini_hochberg_are_statsmodels_multipletests(ps: list[float]) -> None:
    assert cf.holm_adjusted(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]), rel=1e-12, abs=1e-15)
    assert cf.benjamini_hochberg_adjusted(ps) == pytest.approx(
        list(multipletests(ps, method="fdr_bh")[1]), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_logistic_mle_is_statsmodels_glm_with_frequency_weights(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(20, 400))
    x = np.column_stack([np.ones(rows), np.tanh(rng.normal(0.0, 1.0 + seed, rows))])
    truth = 1.0 / (1.0 + np.exp(-(rng.normal(0, 0.5) + rng.normal(0, 1.5) * x[:, 1])))
    y = np.where(rng.random(rows) < 0.2, 0.5, (rng.random(rows) < truth).astype(float))  # a fifth are ties
    weights = rng.integers(1, 50, rows).astype(float)
    got = _logistic_mle(y, x, weights)
    assert got is not None
    ref = sm.GLM(y, x, family=sm.families.Binomial(), freq_weights=weights).fit()
    assert list(got[0]) == pytest.approx(list(ref.params), rel=1e-8, abs=1e-10)
    assert list(got[1]) == pytest.approx(list(ref.bse), rel=1e-8)


def test_logistic_mle_on_separated_data_runs_away_instead_of_failing() -> None:
    # Wins exactly where the candidate is longer: no finite maximum. The caller reads the runaway b0 or b1.
    x = np.column_stack([np.ones(40), np.tanh(np.linspace(-2, 2, 40))])
    y = (x[:, 1] > 0).astype(float)
    got = _logistic_mle(y, x, np.ones(40))
    assert got is not None and abs(got[0][1]) > 20


@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 200))
def test_the_one_mcnemar_is_statsmodels_exact_test_with_the_wald_interval(worse: int, better: int, same: int) -> None:
    n = worse + better + same
    if n == 0:
        return
    p, delta, se, low, high = cf.mcnemar_exact_test(worse, better, n, alpha=0.05)
    table = [[same, worse], [better, 0]]
    expected_p = mcnemar(table, exact=True).pvalue if worse + better else 1.0
    assert p == pytest.approx(expected_p, rel=1e-9, abs=1e-300)
    assert delta == pytest.approx((worse - better) / n)
    expected_se = np.sqrt(max(worse + better - (worse - better) ** 2 / n, 0.0)) / n
    assert se == pytest.approx(expected_se) and low == pytest.approx(delta - stats.norm.ppf(0.975) * expected_se)
    assert high == pytest.approx(delta + stats.norm.ppf(0.975) * expected_se)

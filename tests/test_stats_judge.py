"""Judge statistics against hand-computed values and statsmodels / scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from rollctl.stats import judge as js


def test_win_rate_counts_ties_as_half_with_wilson_and_sign_test() -> None:
    r = js.win_rate(60, 20, 40)
    assert r.n == 120
    assert r.win_rate == pytest.approx(70 / 120)
    low, high = proportion_confint(70, 120, alpha=0.05, method="wilson")
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high))
    # Hand-computed Wilson bound: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    p, n, z = 70 / 120, 120, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert r.ci_low == pytest.approx(centre - half)
    assert r.ci_high == pytest.approx(centre + half)
    assert r.p_value == pytest.approx(stats.binomtest(60, 100, 0.5).pvalue)
    # Exact two-sided binomial tail by hand: 2 * P(X <= 40), X ~ Bin(100, 1/2)
    assert r.p_value == pytest.approx(2 * sum(math.comb(100, k) for k in range(41)) / 2**100)


def test_judge_errors_stay_visible() -> None:
    r = js.win_rate(10, 0, 10, errors=5)
    assert r.n == 20 and r.errors == 5
    assert r.error_rate == pytest.approx(5 / 25)
    assert r.win_rate == pytest.approx(0.5)
    assert r.win_rate_errors_as_losses == pytest.approx(10 / 25)


def test_no_decided_pairs_is_not_a_number() -> None:
    r = js.win_rate(0, 0, 0, errors=3)
    assert r.win_rate is None and r.p_value is None and r.error_rate == 1.0


@pytest.mark.parametrize(
    ("g1", "g2", "expected"),
    [
        ("candidate", "candidate", js.WIN),
        ("baseline", "baseline", js.LOSS),
        ("candidate", "baseline", js.TIE),  # flips with order: a tie (MT-Bench)
        ("baseline", "candidate", js.TIE),
        ("tie", "candidate", js.TIE),  # a tie in either order is a tie
        ("candidate", "tie", js.TIE),
        ("tie", "tie", js.TIE),
        ("candidate", None, js.WIN),  # one order only: that verdict
        (None, "baseline", js.LOSS),
        ("error", "candidate", js.ERROR),  # errors are counted, not dropped
        (None, None, js.ERROR),
        ("nonsense", "candidate", js.ERROR),
    ],
)
def test_mt_bench_order_rule(g1: str | None, g2: str | None, expected: str) -> None:
    assert js.combine_orders(g1, g2) == expected


def test_order_stats() -> None:
    o = js.order_stats(both_orders=10, consistent=4, decisive=16, first_position=12)
    assert o.order_consistency == pytest.approx(0.4)
    assert o.first_position_rate == pytest.approx(0.75)
    assert o.first_position_p_value == pytest.approx(stats.binomtest(12, 16, 0.5).pvalue)
    assert js.order_stats(0, 0, 0, 0).order_consistency is None


def _planted_length_bias(seed: int, bias: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic judge: true logit 0 at equal length, plus a length effect; candidate `shift` longer."""
    rng = np.random.default_rng(seed)
    n = 4000
    dlen = rng.normal(shift, 200.0, n)
    sd = 200.0
    p = 1 / (1 + np.exp(-(0.0 + bias * np.tanh(dlen / sd))))
    y = (rng.random(n) < p).astype(float)
    return y, dlen


def test_length_controlled_removes_a_planted_length_bias() -> None:
    # Same quality (b0 = 0), but the judge likes length and the candidate is longer: raw moves, LC does not.
    y, dlen = _planted_length_bias(seed=3, bias=1.5, shift=150.0)
    lc = js.length_controlled(y, dlen)
    raw = float(y.mean())
    assert raw > 0.6
    assert lc.win_rate is not None and lc.ci_low is not None and lc.ci_high is not None
    assert lc.ci_low < 0.5 < lc.ci_high
    assert abs(lc.win_rate - 0.5) < 0.05
    assert lc.length_coef is not None and lc.length_coef > 1.0
    # Without a length difference, raw and controlled agree.
    y0, d0 = _planted_length_bias(seed=4, bias=1.5, shift=0.0)
    lc0 = js.length_controlled(y0, d0)
    assert lc0.win_rate == pytest.approx(float(y0.mean()), abs=0.03)


def test_length_controlled_matches_statsmodels_logit() -> None:
    import statsmodels.api as sm

    y, dlen = _planted_length_bias(seed=5, bias=0.8, shift=50.0)
    x = sm.add_constant(np.tanh(dlen / np.std(dlen, ddof=1)))
    fit = sm.Logit(y, x).fit(disp=0)
    lc = js.length_controlled(y, dlen)
    assert lc.win_rate == pytest.approx(1 / (1 + math.exp(-fit.params[0])), rel=1e-6)
    assert lc.length_coef == pytest.approx(fit.params[1], rel=1e-6)


@pytest.mark.parametrize(
    ("y", "d", "reason"),
    [
        (np.ones(50), np.arange(50.0), "LC_SEPARATION"),
        # The candidate wins exactly when it is the longer answer: the length coefficient has no finite maximum.
        ((np.linspace(-200, 200, 40) > 0).astype(float), np.linspace(-200, 200, 40), "LC_SEPARATION"),
        (np.r_[np.zeros(20), np.ones(20), 0.5], np.r_[np.linspace(-200, -1, 20), np.linspace(1, 200, 20), 0.0],
         "LC_SEPARATION"),
        (np.r_[np.ones(25), np.zeros(25)], np.zeros(50), "LC_NO_LENGTH_VARIATION"),
        (np.ones(3), np.arange(3.0), "LC_TOO_FEW_PAIRS"),
    ],
)
def test_length_controlled_degenerate_inputs_give_a_reason(y: np.ndarray, d: np.ndarray, reason: str) -> None:
    lc = js.length_controlled(y, d)
    assert lc.win_rate is None and lc.reason == reason


def test_numeric_preference_is_a_one_sample_t() -> None:
    v = np.array([0.5, -0.2, 0.1, 0.4, 0.0, 0.3, -0.1, 0.2])
    r = js.numeric_preference(v)
    t = stats.ttest_1samp(v, 0.0)
    assert r.mean == pytest.approx(v.mean())
    assert r.p_value == pytest.approx(t.pvalue)
    ci = t.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high))


def test_mde_shrinks_with_pairs() -> None:
    m100 = js.win_rate_mde(100)
    m400 = js.win_rate_mde(400)
    assert m100 is not None and m400 is not None
    assert m100 == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(0.25 / 100))
    assert m400 == pytest.approx(m100 / 2)
    assert js.win_rate_mde(0) is None


def test_length_control_on_grouped_rows_equals_the_fit_on_every_pair() -> None:
    # The fit runs on distinct (length difference, outcome) rows with frequency weights; statsmodels on one
    # row per pair must give the same estimate, interval and p-value.
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    n = 5000
    d = rng.integers(-300, 300, n).astype(float)
    p = 1 / (1 + np.exp(-(0.2 + 0.6 * np.tanh(d / np.std(d, ddof=1)))))
    y = np.where(rng.random(n) < 0.2, 0.5, (rng.random(n) < p).astype(float))
    got = js.length_controlled(y, d)
    x = sm.add_constant(np.tanh(d / np.std(d, ddof=1)), has_constant="add")
    ref = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    assert got.length_coef == pytest.approx(float(ref.params[1]), rel=1e-9)
    assert got.win_rate == pytest.approx(1 / (1 + np.exp(-float(ref.params[0]))), rel=1e-9)
    low = float(ref.params[0]) - stats.norm.ppf(0.975) * float(ref.bse[0])
    assert got.ci_low == pytest.approx(1 / (1 + np.exp(-low)), rel=1e-9)
    assert got.length_coef_p_value == pytest.approx(float(ref.pvalues[1]), rel=1e-6, abs=1e-300)


def test_length_control_from_counted_rows_equals_the_fit_on_every_pair() -> None:
    """shadow-report passes (outcome, length difference, count) rows grouped in SQL, not one row per pair."""
    rng = np.random.default_rng(11)
    n = 3000
    d = rng.integers(-200, 200, n).astype(float)
    p = 1 / (1 + np.exp(-(-0.3 + 0.8 * np.tanh(d / np.std(d, ddof=1)))))
    y = np.where(rng.random(n) < 0.15, 0.5, (rng.random(n) < p).astype(float))
    rows, counts = np.unique(np.column_stack([d, y]), axis=0, return_counts=True)
    grouped = js.length_controlled(rows[:, 1], rows[:, 0], counts=counts.astype(float))
    every = js.length_controlled(y, d)
    assert grouped.n == every.n == n
    for field in ("win_rate", "ci_low", "ci_high", "length_coef", "length_coef_p_value"):
        assert getattr(grouped, field) == pytest.approx(getattr(every, field), rel=1e-9)
    few = js.length_controlled(rows[:2, 1], rows[:2, 0], counts=np.array([3.0, 4.0]))
    assert few.reason == "LC_TOO_FEW_PAIRS"

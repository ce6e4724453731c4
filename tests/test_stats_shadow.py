"""Paired statistics for shadow pairs: McNemar, clustered paired means, the quantile cluster bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from rollctl.core.shadow_report import histogram
from rollctl.stats import shadow as ss


def test_mcnemar_matches_statsmodels_and_binomial() -> None:
    # 200 pairs: baseline broken in 10, candidate in 25; 20 newly broken, 5 fixed.
    m = ss.mcnemar(200, 10, 25, 20, 5)
    table = [[200 - 10 - 20, 20], [5, 5]]
    assert m.p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue)
    assert m.p_value == pytest.approx(stats.binomtest(5, 25, 0.5).pvalue)
    assert m.delta == pytest.approx(15 / 200)
    se = np.sqrt(25 - 15**2 / 200) / 200
    assert m.ci_low == pytest.approx(15 / 200 - stats.norm.ppf(0.975) * se)
    assert m.candidate_rate == pytest.approx(25 / 200)


def test_mcnemar_mde_solves_connors_sample_size_formula() -> None:
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    for n, discordant in ((500, 40), (2000, 300), (10_000, 150), (10_000, 0), (5_000_000, 3), (60, 20)):
        d = ss.mcnemar_mde(n, discordant)
        assert d is not None
        psi = discordant / n + d  # background discordance + the pairs the rise newly breaks
        # Connor (1987): pairs needed to detect d with discordance psi.
        needed = (za * np.sqrt(psi) + zb * np.sqrt(psi - d * d)) ** 2 / d**2
        assert needed == pytest.approx(n, rel=1e-6)
    # More pairs detect less; more discordance (noise) detects less.
    assert ss.mcnemar_mde(4000, 0) < ss.mcnemar_mde(1000, 0)  # type: ignore[operator]
    assert ss.mcnemar_mde(1000, 200) > ss.mcnemar_mde(1000, 20)  # type: ignore[operator]
    assert ss.mcnemar_mde(0, 0) is None
    assert ss.mcnemar_mde(3, 0) == 1.0


def test_mcnemar_mde_has_about_the_promised_power() -> None:
    # Pairs where a tail is clean in the baseline and the candidate breaks `mde` of them: the exact McNemar
    # test (a binomial test on discordant pairs) should reject in about 80% of seeded replications.
    n, fixed_rate = 2000, 0.01
    rng = np.random.default_rng(7)
    mde = ss.mcnemar_mde(n, int(n * fixed_rate * 2))
    assert mde is not None
    rejections = 0
    reps = 400
    for _ in range(reps):
        new = rng.binomial(n, fixed_rate + mde)
        fixed = rng.binomial(n, fixed_rate)
        rejections += ss.mcnemar(n, fixed, new, new, fixed).p_value < 0.05  # type: ignore[operator]
    assert 0.72 < rejections / reps < 0.9


def test_mcnemar_without_discordant_pairs() -> None:
    m = ss.mcnemar(50, 3, 3, 0, 0)
    assert m.p_value == 1.0 and m.delta == 0.0
    assert ss.mcnemar(0, 0, 0, 0, 0).p_value is None


def test_paired_mean_without_clusters_is_the_paired_t() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(100, 10, 80)
    c = b + rng.normal(2, 3, 80)
    d = c - b
    pm = ss.paired_mean(80, float(b.sum()), float(c.sum()), d, np.ones(80))
    t = stats.ttest_rel(c, b)
    assert pm.delta == pytest.approx(d.mean())
    assert pm.p_value == pytest.approx(t.pvalue)
    ci = t.confidence_interval(0.95)
    assert (pm.ci_low, pm.ci_high) == pytest.approx((ci.low, ci.high))


def test_paired_mean_clustered_interval_is_wider_when_users_share_effects() -> None:
    rng = np.random.default_rng(2)
    users = np.repeat(np.arange(50), 10)
    d = rng.normal(0, 1, 50)[users] + rng.normal(0, 0.3, 500)
    sums = np.bincount(users, weights=d)
    counts = np.bincount(users).astype(float)
    clustered = ss.paired_mean(500, 0.0, float(d.sum()), sums, counts)
    naive = ss.paired_mean(500, 0.0, float(d.sum()), d, np.ones(500))
    assert clustered.ci_high is not None and naive.ci_high is not None
    assert clustered.ci_high - clustered.ci_low > 2 * (naive.ci_high - naive.ci_low)


def test_quantile_bootstrap_is_seeded_and_exact_at_the_point() -> None:
    rng = np.random.default_rng(3)
    b = rng.lognormal(6.5, 0.4, 3000)
    c = b * 1.1
    u = rng.integers(0, 600, 3000)
    ss._resampling_plan.cache_clear()
    r1 = ss.quantile_bootstrap(b, c, u, reps=100, seed=7)
    ss.quantile_bootstrap(b * 2, c, u, reps=100, seed=7, max_clusters=50)  # other draws cached in between
    r2 = ss.quantile_bootstrap(b, c, u, reps=100, seed=7)  # the cached draws
    ss._resampling_plan.cache_clear()
    assert r1 == r2 == ss.quantile_bootstrap(b, c, u, reps=100, seed=7)
    assert r1 != ss.quantile_bootstrap(b, c, u, reps=100, seed=8)
    p95 = r1[1]
    assert p95.baseline == pytest.approx(np.quantile(b, 0.95))
    assert p95.delta == pytest.approx(np.quantile(c, 0.95) - np.quantile(b, 0.95))
    assert p95.ci_low is not None and p95.ci_high is not None
    assert p95.ci_low < p95.delta < p95.ci_high


def test_adjust_passes_the_method_and_keeps_missing() -> None:
    from statsmodels.stats.multitest import multipletests

    ps = [0.01, None, 0.04, 0.03]
    holm = ss.adjust(ps, "holm")
    ref = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    assert holm[1] is None
    assert [holm[0], holm[2], holm[3]] == pytest.approx(list(ref))
    bh = ss.adjust(ps, "fdr_bh")
    assert [bh[0], bh[2], bh[3]] == pytest.approx(list(multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]))


def _coverage(sims: int, *, users: int, per_user: int, max_clusters: int, seed: int) -> float:
    """Share of seeded simulations whose 95% p95-difference interval holds the true difference.

    Truth: latency b ~ user effect + noise; candidate = b + 50 ms shift exactly, so the true p95
    difference is 50 ms. Users share an effect, so resampling pairs alone would under-cover.
    """
    rng = np.random.default_rng(seed)
    hits = 0
    for s in range(sims):
        u = np.repeat(np.arange(users), per_user)
        base = 800 + rng.normal(0, 150, users)[u] + rng.normal(0, 60, u.size)
        cand = base + 50.0
        r = ss.quantile_bootstrap(base, cand, u, quantiles=(0.95,), reps=200, seed=s,
                                  max_clusters=max_clusters)[0]
        assert r.ci_low is not None and r.ci_high is not None
        # the shift is exact, so every replicate difference is 50 up to grid resolution: use a noisy arm
        hits += int(r.ci_low - 1e-6 <= 50.0 <= r.ci_high + 1e-6)
    return hits / sims


def _coverage_noisy(sims: int, *, users: int, per_user: int, max_clusters: int, seed: int) -> float:
    """Coverage when the candidate adds its own user-level and request-level noise."""
    rng = np.random.default_rng(seed)
    # The true p95 difference of this model, from one very large draw.
    big_u = np.repeat(np.arange(200_000), 1)
    tb = 800 + rng.normal(0, 150, 200_000)[big_u] + rng.normal(0, 60, big_u.size)
    tc = tb + 40 + rng.normal(0, 80, 200_000)[big_u] + rng.normal(0, 60, big_u.size)
    truth = float(np.quantile(tc, 0.95) - np.quantile(tb, 0.95))
    hits = 0
    for s in range(sims):
        u = np.repeat(np.arange(users), per_user)
        ue = rng.normal(0, 150, users)[u]
        base = 800 + ue + rng.normal(0, 60, u.size)
        cand = base + 40 + rng.normal(0, 80, users)[u] + rng.normal(0, 60, u.size)
        r = ss.quantile_bootstrap(base, cand, u, quantiles=(0.95,), reps=200, seed=s,
                                  max_clusters=max_clusters)[0]
        assert r.ci_low is not None and r.ci_high is not None
        hits += int(r.ci_low <= truth <= r.ci_high)
    return hits / sims


def test_bootstrap_coverage_fast() -> None:
    assert _coverage(5, users=200, per_user=5, max_clusters=10_000, seed=1) == 1.0
    cov = _coverage_noisy(40, users=400, per_user=5, max_clusters=10_000, seed=11)
    assert cov >= 0.8  # 40 simulations: nominal 95%, the lower 99.9% binomial bound is about 0.8


@pytest.mark.slow
def test_bootstrap_coverage_full() -> None:
    cov = _coverage_noisy(400, users=500, per_user=5, max_clusters=10_000, seed=12)
    assert 0.92 <= cov <= 0.98
    # The m-out-of-n path (replicates from a subset of users, rescaled) keeps coverage too.
    cov_sub = _coverage_noisy(300, users=3000, per_user=3, max_clusters=500, seed=13)
    assert 0.91 <= cov_sub <= 0.98


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.integers(0, 40))
def test_histogram_counts_each_value_in_the_bin_its_edges_say(values: list[float], shift: int) -> None:
    """The plot's histogram bins by count and range; every value (clipped to the 0.5-99.5 % range, edges
    included) lands where a search of the edges puts it."""
    b = np.asarray(values)
    c = np.round(b * 1.5 + shift, 2)
    hist = histogram(b, c)
    if hist is None:
        return
    edges = np.asarray(hist.edges)
    lo, hi = edges[0], edges[-1]
    assert np.allclose(edges, np.linspace(lo, hi, 41))
    assert list(hist.baseline) == list(np.histogram(np.clip(b, lo, hi), edges)[0])
    assert list(hist.candidate) == list(np.histogram(np.clip(c, lo, hi), edges)[0])

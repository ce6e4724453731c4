"""Seeded simulations: decide's advertised error rates (fast versions here, full ones with `make slow`).

The guardrail rule is simulated at the level of per-user summaries (per-day request and event counts
per user, re-aggregated to cumulative per-unit moments each day) and judged by exactly the functions
`decide` uses; the assignment mistakes run through the whole analysis on small trace tables.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest

from rollctl.core.decide import analyse
from rollctl.db import connect
from rollctl.load.loader import create_tables
from rollctl.plan import parse_plan
from rollctl.stats.guardrails import GuardrailInput, evaluate_guardrails
from rollctl.stats.ratio import difference
from rollctl.stats.srm import srm_check
from tests.decide_sim import moments_through, simulate_units, trace_table

RATES = {"thumbs_down": 0.08, "error": 0.01}
RULES = (("thumbs_down", "relative", 0.20), ("error", "absolute", 0.005))


@pytest.fixture(autouse=True)
def _no_forced_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # statsmodels' multipletests calls gc.collect() on every call (~0.1 s); harmless once per CLI run,
    # but it would dominate thousands of simulated looks.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    yield


def first_rollback_day(seed: int, *, users: int, days: int, share: float, lift: dict[str, float],
                       tuning_n: float) -> int | None:
    """Re-check every day on cumulative data; the day of the first ROLLBACK, or None."""
    panel = simulate_units(np.random.default_rng(seed), users=users, days=days, share=share, rates=RATES, lift=lift)
    for day in range(days):
        inputs = []
        for name, scale, tol in RULES:
            base, cand = moments_through(panel, name, day, False), moments_through(panel, name, day, True)
            inputs.append(GuardrailInput(name, "increase", scale, tol, difference(base, cand)))  # type: ignore[arg-type]
        n = sum(moments_through(panel, "error", day, arm).n for arm in (False, True))
        if any(t.status == "breached" for t in evaluate_guardrails(inputs, alpha=0.05, n=n, tuning_n=tuning_n)):
            return day
    return None


def aa_rate(runs: int) -> float:
    # 20k users a week at a 5 % canary, re-checked daily for two weeks, N* tuned to one week's users.
    hits = [first_rollback_day(s, users=40_000, days=14, share=0.05, lift={}, tuning_n=20_000) for s in range(runs)]
    return sum(h is not None for h in hits) / runs


def regression_rate(runs: int) -> float:
    # the same traffic, candidate thumbs-down +40 % relative; ROLLBACK by day 7 (index 6)?
    hits = [first_rollback_day(1000 + s, users=20_000, days=7, share=0.05, lift={"thumbs_down": 0.4},
                               tuning_n=20_000) for s in range(runs)]
    return sum(h is not None and h <= 6 for h in hits) / runs


def test_aa_canary_rechecked_daily_rarely_rolls_back() -> None:
    rate = aa_rate(60)
    print(f"A/A 14 daily looks: rollback in {rate:.1%} of 60 runs")
    assert rate <= 0.05


def test_true_regression_rolls_back_within_a_week() -> None:
    rate = regression_rate(40)
    print(f"+40 % thumbs-down at 5 %: rollback by day 7 in {rate:.1%} of 40 runs")
    assert rate >= 0.8


@pytest.mark.slow
def test_aa_full() -> None:
    rate = aa_rate(1000)
    print(f"A/A 14 daily looks: rollback in {rate:.2%} of 1000 runs")
    assert rate <= 0.05


@pytest.mark.slow
def test_regression_full() -> None:
    rate = regression_rate(500)
    print(f"+40 % thumbs-down at 5 %: rollback by day 7 in {rate:.1%} of 500 runs")
    assert rate >= 0.8


PLAN = parse_plan({
    "rollout": {"change": "model", "baseline": "control", "candidate": "treatment", "salt": "sim_salt",
                "hash": "sha256", "stages": [5, 50, 100], "canary_min_days": 7, "planned_units": 2000},
    "guardrails": [{"metric": "thumbs_down_rate", "max_relative_increase": 0.2},
                   {"metric": "error_rate", "max_absolute_increase": 0.005}],
})


def verdict_on(df: object, stage: float) -> str:
    db = connect()
    try:
        create_tables(db)
        db.connection.register("sim_df", df)
        cols = ", ".join(df.columns)  # type: ignore[attr-defined]
        db.execute(f"INSERT INTO traces ({cols}) SELECT {cols} FROM sim_df")
        metrics = [PLAN.metric(g.metric) for g in PLAN.guardrails]
        return analyse(db, PLAN, stage=stage, as_of=None, metrics=metrics, has_cache=True).verdict
    finally:
        db.close()


def request_hashing_verdicts(seeds: range) -> list[str]:
    return [verdict_on(trace_table(s, users=2000, percent=5, request_hashing=True), 5) for s in seeds]


def test_request_id_hashing_never_goes() -> None:
    assert "go" not in request_hashing_verdicts(range(2))


@pytest.mark.slow
def test_request_id_hashing_never_goes_full() -> None:
    assert "go" not in request_hashing_verdicts(range(2, 32))


def test_srm_55_45_at_10k_never_goes() -> None:
    rng = np.random.default_rng(5)
    statuses = {srm_check(list(rng.multinomial(10_000, [0.55, 0.45])), [50, 50]).status for _ in range(2000)}
    assert statuses == {"fail"}
    df = trace_table(9, users=10_000, percent=50, candidate_share_override=0.45)
    assert verdict_on(df, 50) != "go"

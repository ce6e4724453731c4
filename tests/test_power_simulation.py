"""Seeded simulations: the analytic plan reaches its power on data drawn to the same parameters.

Fast versions run in CI (1,000 simulated canaries: Monte Carlo SE ≈ 1.3 points); the full versions
(`make slow`, 5,000 each: SE ≈ 0.6 points) check the same ±3 points more tightly.
"""

from __future__ import annotations

import math

import pytest

from rollctl.stats import power as pw
from rollctl.stats.power_sim import SimulationSpec, simulate_power

CASES = {
    # name: (kind, baseline, sd, icc, sizes, weights, sides, sequential, treatment share)
    "deff_equal_clusters": ("proportion", 0.2, 0.0, 0.1, (4,), (1.0,), 2, False, 0.5),
    "deff_unequal_clusters": ("proportion", 0.2, 0.0, 0.05, (1, 9), (1.0, 1.0), 1, False, 0.5),
    "sequential_two_sided": ("proportion", 0.2, 0.0, 0.1, (4,), (1.0,), 2, True, 0.5),
    "sequential_one_sided_canary": ("proportion", 0.2, 0.0, 0.1, (3,), (1.0,), 1, True, 0.2),
    "normal_clustered_sequential": ("normal", 400.0, 180.0, 0.2, (2, 6), (1.0, 1.0), 1, True, 0.5),
}


def _plan(name: str, runs: int, seed: int, *, ignore_design_effect: bool = False) -> tuple[float, float]:
    kind, base, sd, icc, sizes, weights, sides, sequential, share = CASES[name]
    total_w = sum(weights)
    m_bar = sum(s * w for s, w in zip(sizes, weights, strict=True)) / total_w
    m_eff = sum(s * s * w for s, w in zip(sizes, weights, strict=True)) / total_w / m_bar
    deff = 1.0 if ignore_design_effect else pw.design_effect(m_eff, icc)
    design = pw.TestDesign(sides=sides, sequential=sequential, treatment_share=share)
    if kind == "proportion":
        v = pw.proportion_variances(base, inflation=deff / m_bar)
        delta = 0.2 * base
    else:
        v = pw.constant_variances(sd * sd * deff / m_bar)
        delta = 0.1 * base
    n = pw.sample_size_total(delta, v, design)
    n_t, n_c = math.ceil(share * n), math.ceil((1 - share) * n)
    spec = SimulationSpec(kind=kind, baseline=base, delta=delta, sd=sd, icc=icc, cluster_sizes=sizes,  # type: ignore[arg-type]
                          cluster_weights=weights, n_treatment=n_t, n_control=n_c, design=design, tuning_n=n,
                          looks=7, runs=runs, seed=seed)
    result = simulate_power(spec)
    return result.power, result.power_any_look


@pytest.mark.parametrize("name", list(CASES))
def test_simulated_power_matches_plan_fast(name: str) -> None:
    power, any_look = _plan(name, runs=1000, seed=11)
    assert abs(power - 0.8) <= 0.03, power
    assert any_look >= power


def test_ignoring_the_design_effect_underpowers_the_canary() -> None:
    """The check can fail: a plan that treats requests as independent users misses its power."""
    power, _ = _plan("deff_equal_clusters", runs=1000, seed=3, ignore_design_effect=True)
    assert power < 0.7


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_simulated_power_matches_plan_full(name: str) -> None:
    power, any_look = _plan(name, runs=5000, seed=2026)
    print(f"{name}: simulated power {power:.4f} at the planned end, {any_look:.4f} at any daily look")
    assert abs(power - 0.8) <= 0.03
    assert any_look >= power

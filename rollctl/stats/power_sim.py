"""Monte Carlo check of a power calculation on data drawn to the same parameters (seeded).

Users arrive in random order and each sends m requests, m drawn from the planned (or measured) distribution
of requests per user. Within-user correlation comes from a per-user propensity:

- 0/1 metrics: a beta-binomial user propensity π_u ~ Beta(p(1/ρ − 1), (1 − p)(1/ρ − 1)), whose ICC is ρ
  (Ridout, Demétrio & Firth 1999, "Estimating intraclass correlation for binary data");
- continuous metrics: a random intercept u ~ N(0, ρσ²) plus request noise N(0, (1 − ρ)σ²), ICC ρ.

Each run is analysed the way `decide` analyses a canary: per-user sums, the delta-method standard error of
the ratio ΣY/ΣN in each arm (unpooled), and a one- or two-sided test at α/K, either once at the end (fixed
horizon) or at every look with the confidence-sequence multiplier tuned at the planned total N*. The share of
runs that reject at the planned end is the simulated power (the analytic answer's definition), with its
binomial Monte Carlo standard error; the share that reject at any look is reported beside it (peeking with
a confidence sequence can only add power, so the analytic plan is conservative for daily looks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rollctl.stats import sequential
from rollctl.stats.power import TestDesign, z_critical

_MAX_CELLS = 4_000_000
"""Users × runs simulated at once: bounds memory to a few tens of MB."""


@dataclass(frozen=True)
class SimulationSpec:
    kind: Literal["proportion", "normal"]
    baseline: float
    """Baseline rate (proportion) or mean per request (normal)."""
    delta: float
    """Absolute effect in the treatment arm."""
    sd: float
    """Per-request SD (normal only; proportions use p(1 − p))."""
    icc: float
    cluster_sizes: tuple[int, ...]
    cluster_weights: tuple[float, ...]
    n_treatment: int
    n_control: int
    design: TestDesign
    tuning_n: float
    looks: int = 1
    runs: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class SimulationResult:
    power: float
    """Share of runs rejecting at the planned end (the analytic answer's definition)."""
    monte_carlo_se: float
    runs: int
    looks: int
    power_any_look: float
    """Share of runs rejecting at any look (daily peeks with the confidence sequence): never below `power`."""


def _draw_arm(rng: np.random.Generator, spec: SimulationSpec, n: int, runs: int, delta: float) -> np.ndarray:
    """Per-user (y, m) sums, shape (2, runs, n)."""
    sizes = np.asarray(spec.cluster_sizes, dtype=np.int64)
    weights = np.asarray(spec.cluster_weights, dtype=float)
    m = rng.choice(sizes, size=(runs, n), p=weights / weights.sum())
    if spec.kind == "proportion":
        p = spec.baseline + delta
        if spec.icc > 0:
            scale = 1 / spec.icc - 1
            pi = rng.beta(p * scale, (1 - p) * scale, size=(runs, n))
        else:
            pi = np.full((runs, n), p)
        y = rng.binomial(m, pi).astype(float)
    else:
        mean = spec.baseline + delta
        u = rng.normal(0.0, spec.sd * math.sqrt(spec.icc), size=(runs, n))
        noise = rng.normal(0.0, 1.0, size=(runs, n)) * np.sqrt(m) * spec.sd * math.sqrt(1 - spec.icc)
        y = m * (mean + u) + noise
    return np.stack([y, m.astype(float)])


def _cum_moments(arm: np.ndarray, cut: Sequence[int]) -> tuple[np.ndarray, ...]:
    """n, ΣY, ΣY², ΣN, ΣN², ΣYN over the first `cut[j]` users, shape (runs, looks)."""
    y, m = arm
    idx = np.asarray(cut) - 1
    pick = [np.cumsum(v, axis=1)[:, idx] for v in (y, y * y, m, m * m, y * m)]
    n = np.broadcast_to(np.asarray(cut, dtype=float), pick[0].shape)
    return (n, *pick)


def _ratio_and_var(n: np.ndarray, sy: np.ndarray, syy: np.ndarray, sm: np.ndarray, smm: np.ndarray,
                   sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R = ΣY/ΣN and Var(R̂) by the delta method (the formula of `rollctl.stats.ratio.RatioMoments`)."""
    r = sy / sm
    var_y = (syy - sy * sy / n) / (n - 1)
    var_m = (smm - sm * sm / n) / (n - 1)
    cov = (sym - sy * sm / n) / (n - 1)
    mean_m = sm / n
    unit = np.maximum((var_y - 2 * r * cov + r * r * var_m) / (mean_m * mean_m), 0.0)
    return r, unit / n


def simulate_power(spec: SimulationSpec) -> SimulationResult:
    """Share of seeded simulated canaries in which the planned test detects the planned effect."""
    rng = np.random.default_rng(spec.seed)
    looks = max(1, spec.looks if spec.design.sequential else 1)
    cut_t = [max(2, math.ceil(spec.n_treatment * (j + 1) / looks)) for j in range(looks)]
    cut_c = [max(2, math.ceil(spec.n_control * (j + 1) / looks)) for j in range(looks)]
    design = spec.design
    if design.sequential:
        crit = np.array([
            sequential.multiplier(t + c, design.alpha_per_test, spec.tuning_n, one_sided=design.sides == 1)
            for t, c in zip(cut_t, cut_c, strict=True)
        ])
    else:
        crit = np.array([z_critical(design)])
    direction = 1.0 if spec.delta >= 0 else -1.0
    per_batch = max(1, _MAX_CELLS // max(1, spec.n_treatment + spec.n_control))
    rejected = 0
    rejected_any = 0
    done = 0
    while done < spec.runs:
        runs = min(per_batch, spec.runs - done)
        t = _cum_moments(_draw_arm(rng, spec, spec.n_treatment, runs, spec.delta), cut_t)
        c = _cum_moments(_draw_arm(rng, spec, spec.n_control, runs, 0.0), cut_c)
        r_t, v_t = _ratio_and_var(*t)
        r_c, v_c = _ratio_and_var(*c)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (r_t - r_c) / np.sqrt(v_t + v_c)
        z = np.nan_to_num(z, nan=0.0)
        hit = np.abs(z) > crit if design.sides == 2 else direction * z > crit
        rejected += int(hit[:, -1].sum())
        rejected_any += int(hit.any(axis=1).sum())
        done += runs
    power = rejected / spec.runs
    return SimulationResult(power=power, monte_carlo_se=math.sqrt(max(power * (1 - power), 1e-12) / spec.runs),
                            runs=spec.runs, looks=looks, power_any_look=rejected_any / spec.runs)


def sizes_for_mean(mean_requests: float) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Equal clusters of (fractional) size M: floor/ceil mixed so the mean is M (m̄_eff ≈ M)."""
    lo = max(1, math.floor(mean_requests))
    frac = mean_requests - lo
    if frac <= 1e-9:
        return (lo,), (1.0,)
    return (lo, lo + 1), (1 - frac, frac)

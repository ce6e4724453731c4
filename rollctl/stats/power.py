"""Sample size, minimum detectable effect (MDE) and power, with the variance LLM traffic really has.

Base method: the normal approximation to the Wald test with **unpooled** variances,

    N = (z_crit·σ_null + z_β·σ_alt)² / δ²,   σ² = σ²_T/w_T + σ²_C/w_C   (per total unit, w = arm share)

(Chow, Shao & Wang, "Sample Size Calculations in Clinical Research", 2nd ed., §4.2 and §4.6; statsmodels
`normal_sample_size_one_tail`). rollctl uses σ_null = σ_alt = the unpooled σ because `decide` tests with
the unpooled (delta-method) standard error, whose estimate under the alternative is σ_alt: planning with
the variance the analysis will use keeps the promised power honest, and the same formula covers means,
per-user ratio metrics and unequal (canary) allocations. For 10 % → 11 %, α 0.05 two-sided, power 0.8 it
gives 14,748 per arm; statsmodels `samplesize_proportions_2indep_onetail` gives 14,751 because it puts the
pooled SD under H0 (a score test); `NormalIndPower` with Cohen's h gives 14,744 (arcsine scale). The
pooled-null variant is available here (`null_variance`) so tests can pin all of them. Like statsmodels, the
opposite tail of a two-sided test is ignored (it adds < α/2 of power).

Inflation factors, each its own multiplier on the variance (and so on the sample size):

- design effect of repeat requests per user (Kish 1965): 1 + (m̄_eff − 1)·ICC with m̄_eff = Σm²/Σm, or the
  measured Var_delta/Var_iid of the per-user ratio (Deng, Knoblich & Lu 2018);
- response stochasticity: 1/(1 − s), s = share of the per-request variance that random answers to the same
  input add on top of a deterministic change (law of total variance, as in Miller 2024 §3);
- peek-safe testing: ((c_seq + z_β)/(z + z_β))², c_seq = the confidence-sequence multiplier of
  `rollctl.stats.sequential` (Waudby-Smith et al. 2103.06476) tuned at N* = the planned total, as `decide`;
- K guardrails: planning at the Bonferroni level α/K, ((z_{α/K} + z_β)/(z_α + z_β))². `decide` controls the
  family with Holm, whose first (smallest-p) step is exactly α/K; Bonferroni is the level a guardrail is
  guaranteed to be tested at, so planning with it is safe (slightly conservative for the others).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from rollctl.stats import sequential

# Solving for N: the search range in total units (both arms).
_N_MIN = 2.0
_N_MAX = 1e13


@dataclass(frozen=True)
class TestDesign:
    """How the canary will be tested: error rates, sides, the family of guardrails, peeking, the split."""

    alpha: float = 0.05
    power: float = 0.8
    sides: int = 2
    guardrails: int = 1
    sequential: bool = False
    treatment_share: float = 0.5
    """Share of the experiment's units in the treatment arm (5:95 → 0.05)."""

    def __post_init__(self) -> None:
        check_design(self.alpha, self.power, self.sides, self.guardrails, self.treatment_share,
                     sequential_test=self.sequential)

    @property
    def control_share(self) -> float:
        return 1.0 - self.treatment_share

    @property
    def alpha_per_test(self) -> float:
        """α for one guardrail: the Bonferroni bound α/K (see the module docstring)."""
        return self.alpha / self.guardrails


class PlanningInputError(ValueError):
    """A planning input outside its domain, named by its parameter (`alpha`, `mde`, `daily_users`, ...).

    The statistics do not know where a value came from, an option of `rollctl power` or a key of a rollout
    plan, so `hint` holds `{name}` where the caller's name for the parameter goes; the core words it for its
    user (`rollctl power`: a `UsageError` naming the option; decide: a `PlanError` naming the plan key).
    """

    def __init__(self, message: str, parameter: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.parameter, self.hint = message, parameter, hint

    def fix_for(self, name: str) -> str | None:
        return None if self.hint is None else self.hint.format(name=name)

    @property
    def option(self) -> str:
        """The parameter as a command-line option (`daily_users` -> `--daily-users`)."""
        return "--" + self.parameter.replace("_", "-")


def check_design(alpha: float | None, power: float | None, sides: int, guardrails: int, treatment_share: float,
                 *, sequential_test: bool = False) -> None:
    """Refuse impossible requests, naming the parameter and how to fix it."""
    if alpha is not None and not 0 < alpha < 1:
        raise PlanningInputError(f"alpha must be between 0 and 1 (got {alpha})", "alpha", "e.g. {name} 0.05")
    if alpha is not None and sequential_test and alpha / guardrails >= (0.25 if sides == 1 else 0.5):
        raise PlanningInputError("alpha is too large for a peek-safe test", "alpha",
                                "use {name} below 0.25 one-sided / 0.5 two-sided")
    if power is not None and not 0 < power < 1:
        raise PlanningInputError(f"power must be strictly between 0 and 1 (got {power}); a power of 1 needs "
                                "infinitely many users", "power", "e.g. {name} 0.8")
    if sides not in (1, 2):
        raise PlanningInputError(f"sides must be 1 or 2 (got {sides})", "sides", "{name} 1 for a guardrail")
    if guardrails < 1:
        raise PlanningInputError(f"the number of guardrails must be at least 1 (got {guardrails})", "guardrails")
    if not 0 < treatment_share < 1:
        raise PlanningInputError("each arm needs a positive share of the units (an allocation of 0 % never finishes)",
                                "ratio", "e.g. {name} 5:95")


# The standard normal from the standard library (Wichura's AS241 inverse, erfc tails: the same values as
# scipy.stats.norm to double precision, checked in tests): scipy.stats costs ~0.5-1 s to import, which was a
# tenth of a 10 M-row `decide`.
_NORMAL = NormalDist()


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


def normal_ppf(p: float) -> float:
    """z with Φ(z) = p (scipy.stats.norm.ppf), ±inf at the ends."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return _NORMAL.inv_cdf(p)


def normal_isf(a: float) -> float:
    """The upper-tail critical value z_{1−a} (scipy.stats.norm.isf), by symmetry exact for tiny a."""
    return -normal_ppf(a)


def z_critical(design: TestDesign) -> float:
    """Fixed-horizon critical value for one guardrail: z_{1−α/K} one-sided, z_{1−α/(2K)} two-sided."""
    a = design.alpha_per_test / (2 if design.sides == 2 else 1)
    return float(normal_isf(a))


def z_power(power: float) -> float:
    return float(normal_ppf(power))


def critical_value(design: TestDesign, n_total: float, tuning_n: float | None = None) -> float:
    """The multiplier on the standard error at which the test rejects after `n_total` units.

    Sequential: the confidence-sequence multiplier `decide` uses, tuned at N* = `tuning_n` (the planned total
    of both arms; when None, N* = n_total, the plan itself). At N = N* it no longer depends on N: ρ²N* is a
    constant of α, so the multiplier is 3.04 (two-sided, α 0.05) for every plan size.
    """
    if not design.sequential:
        return z_critical(design)
    tuning = n_total if tuning_n is None else tuning_n
    return sequential.multiplier(n_total, design.alpha_per_test, tuning, one_sided=design.sides == 1)


def unit_variance_factor(var_treatment: float, var_control: float, design: TestDesign) -> float:
    """N·Var(Δ̂) for N total units split by the design: σ²_T/w_T + σ²_C/w_C."""
    return var_treatment / design.treatment_share + var_control / design.control_share


@dataclass(frozen=True)
class Variances:
    """Per-unit variance of each arm as a function of the absolute effect δ (proportions depend on it)."""

    treatment: Callable[[float], float]
    control: float
    null: Callable[[float], float] | None = None
    """Per-unit variance factor under H0 (pooled), for the statsmodels score-test variant only."""


def _k(v: Variances, delta: float, design: TestDesign) -> float:
    return unit_variance_factor(v.treatment(delta), v.control, design)


def sample_size_total(delta: float, v: Variances, design: TestDesign) -> float:
    """Total units N (both arms, continuous) to detect the absolute effect δ with the design's power.

    Fixed horizon: closed form. Sequential: the critical value is that of a confidence sequence tuned at
    N* = N, so solve N = (c(N) + z_β)²·K/δ² by bracketing root-finding (brentq) on N; with N* = N the
    multiplier turns out constant, so this converges at once, but it stays correct if the tuning changes.
    """
    if delta == 0 or not math.isfinite(delta):
        raise PlanningInputError("the minimum detectable effect must be non-zero", "mde", "e.g. {name} 0.2")
    k = _k(v, delta, design)
    zb = z_power(design.power)
    if v.null is not None and not design.sequential:
        k0 = v.null(delta)
        return (z_critical(design) * math.sqrt(k0) + zb * math.sqrt(k)) ** 2 / (delta * delta)
    if not design.sequential:
        return (z_critical(design) + zb) ** 2 * k / (delta * delta)

    def gap(n: float) -> float:
        return (critical_value(design, n) + zb) ** 2 * k / (delta * delta) - n

    if gap(_N_MIN) <= 0:
        return _N_MIN
    from scipy.optimize import brentq  # only when solving: scipy's import is most of a quick run

    return float(brentq(gap, _N_MIN, _N_MAX, xtol=1e-6, rtol=1e-12))


def power_at(delta: float, n_total: float, v: Variances, design: TestDesign, tuning_n: float | None = None) -> float:
    """Probability of detecting δ with N units: Φ(|δ|/SE − c) (the opposite tail ignored, as above)."""
    se = math.sqrt(_k(v, delta, design) / n_total)
    c = critical_value(design, n_total, tuning_n)
    return float(normal_cdf(abs(delta) / se - c))


def mde_absolute(n_total: float, v: Variances, design: TestDesign, *, direction: int = 1,
                 max_abs_delta: float | None = None) -> float | None:
    """Smallest |δ| detectable with N units at the design's power; None when no δ in range is detectable.

    Solves δ = (c + z_β)·sqrt(K(δ)/N) by brentq (K depends on δ for proportions: σ²_T = p_T(1 − p_T)).
    `direction` +1 looks for an increase, −1 for a decrease; `max_abs_delta` bounds the search (a rate
    cannot leave (0, 1)).
    """
    c = critical_value(design, n_total)
    zb = z_power(design.power)

    def gap(d: float) -> float:
        return d - (c + zb) * math.sqrt(_k(v, direction * d, design) / n_total)

    hi = max_abs_delta * (1 - 1e-9) if max_abs_delta is not None else 1e12
    lo = 1e-15
    if gap(hi) < 0:
        return None
    if gap(lo) >= 0:
        return lo
    from scipy.optimize import brentq

    return float(brentq(gap, lo, hi, xtol=1e-14, rtol=1e-12))


# ---- the variance of one metric kind ------------------------------------------------------------------


def proportion_variances(baseline_rate: float, *, inflation: float = 1.0, direction: int = 1) -> Variances:
    """Bernoulli per-observation variances p(1 − p) of both arms, treatment at p + δ, times `inflation`."""
    p = baseline_rate
    if not 0 < p < 1:
        raise PlanningInputError(f"the baseline rate must be strictly between 0 and 1 (got {p}); a rate of 0 or 1 "
                                "has no variance to plan with", "baseline_rate", "e.g. {name} 0.08")

    def treatment(delta: float) -> float:
        q = p + delta
        if not 0 < q < 1:
            raise PlanningInputError(f"the treatment rate {q:g} (baseline {p:g} + effect {delta:g}) is outside (0, 1)",
                                    "mde", "use a smaller {name}")
        return q * (1 - q) * inflation

    return Variances(treatment=treatment, control=p * (1 - p) * inflation)


def pooled_null_proportion_variances(baseline_rate: float, design: TestDesign) -> Variances:
    """The statsmodels `samplesize_proportions_2indep_onetail` variant: pooled p̄ under H0 (score test)."""
    base = proportion_variances(baseline_rate)
    p, w_t = baseline_rate, design.treatment_share

    def null(delta: float) -> float:
        pooled = w_t * (p + delta) + (1 - w_t) * p
        return unit_variance_factor(pooled * (1 - pooled), pooled * (1 - pooled), design)

    return Variances(treatment=base.treatment, control=base.control, null=null)


def constant_variances(unit_variance: float) -> Variances:
    """Equal per-unit variance in both arms (means, ratio metrics): the effect shifts the mean only."""
    if not unit_variance > 0 or not math.isfinite(unit_variance):
        raise PlanningInputError("the metric has no variance to plan with (SD 0 or unknown)", "sd",
                                "give {name} > 0, or traces in which the metric varies")
    return Variances(treatment=lambda _d: unit_variance, control=unit_variance)


# ---- inflation factors --------------------------------------------------------------------------------


def effective_cluster_size(sum_m: float, sum_m2: float) -> float:
    """m̄_eff = Σm²/Σm: the cluster size that gives unequal clusters the same design effect (Kish)."""
    return sum_m2 / sum_m if sum_m > 0 else math.nan


def design_effect(m_eff: float, icc: float) -> float:
    """Kish's design effect 1 + (m̄_eff − 1)·ICC for m̄_eff observations per unit correlated by ICC."""
    if m_eff < 1:
        raise PlanningInputError(f"requests per user must be at least 1 (got {m_eff:g})", "requests_per_user")
    if not 0 <= icc <= 1:
        raise PlanningInputError(f"the ICC must be between 0 and 1 (got {icc:g})", "icc", "e.g. {name} 0.05")
    return 1 + (m_eff - 1) * icc


def icc_from_design_effect(deff: float, m_eff: float) -> float:
    """The ICC implied by a measured design effect (inverse of Kish), clipped to [0, 1]."""
    if m_eff <= 1:
        return 0.0
    return min(max((deff - 1) / (m_eff - 1), 0.0), 1.0)


def response_variance_factor(share: float) -> float:
    """1/(1 − s): the per-observation variance when random answers add the share s of it."""
    if not 0 <= share < 1:
        raise PlanningInputError(f"the response-variance share must be in [0, 1) (got {share:g})",
                                "response_variance_share", "e.g. {name} 0.25")
    return 1 / (1 - share)


def z_ratio_factor(critical: float, reference_critical: float, power: float) -> float:
    """((c + z_β)/(c_ref + z_β))²: how much a larger critical value inflates the sample size."""
    zb = z_power(power)
    return ((critical + zb) / (reference_critical + zb)) ** 2


@dataclass(frozen=True)
class TestFactors:
    """The two multipliers that come from how the test is run, not from the data."""

    sequential: float
    guardrails: float
    critical_value: float
    reference_critical_value: float


def test_factors(design: TestDesign) -> TestFactors:
    """Peek-safe and multiple-guardrail multipliers against a single fixed-horizon test at α.

    Their product is ((c_seq(α/K) + z_β)/(z_α + z_β))², split as guardrails = ((z_{α/K} + z_β)/(z_α + z_β))²
    and sequential = ((c_seq(α/K) + z_β)/(z_{α/K} + z_β))². With N* = N the sequential multiplier does not
    depend on N (see `critical_value`), so the factor is exact, not an approximation at one N.
    """
    single = TestDesign(alpha=design.alpha, power=design.power, sides=design.sides, guardrails=1,
                        sequential=False, treatment_share=design.treatment_share)
    fixed_k = TestDesign(alpha=design.alpha, power=design.power, sides=design.sides, guardrails=design.guardrails,
                         sequential=False, treatment_share=design.treatment_share)
    z_ref, z_k = z_critical(single), z_critical(fixed_k)
    c = critical_value(design, 1e6)
    return TestFactors(
        sequential=z_ratio_factor(c, z_k, design.power),
        guardrails=z_ratio_factor(z_k, z_ref, design.power),
        critical_value=c,
        reference_critical_value=z_ref,
    )


def days_needed(n_treatment: float, n_control: float, daily_users: float, treatment_traffic: float,
                control_traffic: float) -> float:
    """Days for both arms to collect their users, each getting its share of the new users per day."""
    if daily_users <= 0:
        raise PlanningInputError("daily users must be positive", "daily_users", "e.g. {name} 20000")
    return max(n_treatment / (daily_users * treatment_traffic), n_control / (daily_users * control_traffic))


def round_up_to_weeks(days: float) -> int:
    """Whole weeks, never below 7 days: weekday and weekend traffic differ, so a canary covers full weeks."""
    return max(7, 7 * math.ceil(days / 7 - 1e-9))


# ---- eval-set planning (Miller 2024) ----------------------------------------------------------------


@dataclass(frozen=True)
class EvalVariance:
    """Variance components of a paired eval comparison (Miller, "Adding Error Bars to Evals", §5).

    omega2: Var(x_A − x_B) of the per-case true (mean) scores; sigma2_a/b: mean within-case variance of a
    single repeat's score (response randomness); repeats_a/b: K_A, K_B repeats averaged per case.
    """

    omega2: float
    sigma2_a: float
    sigma2_b: float
    repeats_a: int = 1
    repeats_b: int = 1

    def per_case(self) -> float:
        """Var(d_i) of one case's paired difference of repeat means: ω² + σ²_A/K_A + σ²_B/K_B."""
        return self.omega2 + self.sigma2_a / self.repeats_a + self.sigma2_b / self.repeats_b


def _eval_z(alpha: float, power: float, sides: int) -> float:
    check_design(alpha, power, sides, 1, 0.5)
    return float(normal_isf(alpha / sides)) + z_power(power)


def eval_cases_needed(delta: float, var: EvalVariance, *, alpha: float = 0.05, power: float = 0.8,
                      sides: int = 2) -> int:
    """Miller's n = (z_{α/2} + z_β)²·(ω² + σ²_A/K_A + σ²_B/K_B)/δ², rounded up."""
    if delta == 0:
        raise PlanningInputError("the difference to detect must be non-zero", "mde", "e.g. {name} 0.05")
    n = _eval_z(alpha, power, sides) ** 2 * var.per_case() / (delta * delta)
    return max(2, math.ceil(n - 1e-9))


def eval_mde(n_cases: int, var: EvalVariance, *, alpha: float = 0.05, power: float = 0.8, sides: int = 2) -> float:
    """Miller's δ_min = (z_{α/2} + z_β)·sqrt((ω² + σ²_A/K_A + σ²_B/K_B)/n)."""
    return _eval_z(alpha, power, sides) * math.sqrt(var.per_case() / n_cases)


def eval_power(n_cases: int, delta: float, var: EvalVariance, *, alpha: float = 0.05, sides: int = 2) -> float:
    """Power of the paired test over n cases: Φ(|δ|/SE − z_{α/2})."""
    check_design(alpha, None, sides, 1, 0.5)
    se = math.sqrt(var.per_case() / n_cases)
    if se == 0:
        return 1.0
    return float(normal_cdf(abs(delta) / se - normal_isf(alpha / sides)))


def eval_repeats_needed(n_cases: int, delta: float, var: EvalVariance, *, alpha: float = 0.05,
                        power: float = 0.8, sides: int = 2) -> int | None:
    """Miller's K = (σ²_A + σ²_B)/(n·δ²/(z_{α/2} + z_β)² − ω²) with K_A = K_B; None when no K suffices.

    No number of repeats helps when the per-case difference ω² alone already exceeds what n cases can
    afford: repeats only average away response randomness, never the spread between cases.
    """
    budget = n_cases * delta * delta / _eval_z(alpha, power, sides) ** 2 - var.omega2
    if budget <= 0:
        return None
    within = var.sigma2_a + var.sigma2_b
    if within <= 0:
        return 1
    return max(1, math.ceil(within / budget - 1e-9))


@dataclass(frozen=True)
class CaseMoments:
    """Per-case repeats of one variant: count, Σs, Σs² (the SQL reduction)."""

    case_id: str
    k: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        return self.total / self.k

    @property
    def within_variance(self) -> float:
        """σ̂²_i = Σ(s − s̄)²/(K − 1); NaN with one repeat."""
        if self.k < 2:
            return math.nan
        return max((self.total_sq - self.total * self.total / self.k) / (self.k - 1), 0.0)


@dataclass(frozen=True)
class EvalComponents:
    """Var(x) (between cases) and E[σ²] (within a case) of one variant, with how many cases fed them."""

    between: float
    within: float
    mean: float
    cases: int
    cases_with_repeats: int
    repeats: int


def eval_components(cases: Sequence[CaseMoments]) -> EvalComponents | None:
    """Law of total variance (Miller §3): Var(s̄_i) = Var(x) + E[σ²]/K, so Var(x) = Var(s̄_i) − E[σ²]/K̄.

    E[σ²] is the mean of σ̂²_i over cases with ≥ 2 repeats (0 when no case has repeats: then response
    randomness cannot be told apart and is counted inside Var(x)). None with fewer than 2 cases.
    """
    if len(cases) < 2:
        return None
    means = [c.mean for c in cases]
    grand = sum(means) / len(means)
    var_means = sum((m - grand) ** 2 for m in means) / (len(means) - 1)
    repeated = [c for c in cases if c.k >= 2]
    within = sum(c.within_variance for c in repeated) / len(repeated) if repeated else 0.0
    k_bar = round(sum(c.k for c in cases) / len(cases))
    between = max(var_means - within / max(k_bar, 1), 0.0)
    return EvalComponents(between=between, within=within, mean=grand, cases=len(cases),
                          cases_with_repeats=len(repeated), repeats=max(k_bar, 1))


def paired_omega2(pairs: Sequence[tuple[CaseMoments, CaseMoments]], a: EvalComponents,
                  b: EvalComponents) -> float:
    """ω² = Var(s̄_A − s̄_B) − σ²_A/K_A − σ²_B/K_B over cases both variants ran (floored at 0)."""
    diffs = [x.mean - y.mean for x, y in pairs]
    if len(diffs) < 2:
        return math.nan
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return max(var - a.within / a.repeats - b.within / b.repeats, 0.0)

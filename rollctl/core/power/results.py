"""What `rollctl power` and `rollctl power eval` are asked and return (no DuckDB: renderers import these at
run time), and the one check every request passes: its numbers are finite."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from rollctl.core.results import Reason
from rollctl.errors import UsageError
from rollctl.stats.power import PlanningInputError

MetricKind = Literal["proportion", "mean", "ratio"]
SolvedFor = Literal["n", "mde", "power"]

MIN_REPEATED_INPUTS = 20
"""Inputs answered more than once needed before the response-variance share is estimated from traces."""
BASELINE_NAMES = ("control", "baseline", "main")


@dataclass(frozen=True)
class PowerRequest:
    """What the user asked, as given on the command line (None = not given)."""

    metric: MetricKind | None = None
    baseline_rate: float | None = None
    baseline_mean: float | None = None
    sd: float | None = None
    mde: float | None = None
    relative: bool = False
    n_per_arm: int | None = None
    days: float | None = None
    power: float | None = None
    alpha: float = 0.05
    sides: int = 2
    ratio: tuple[float, float] | None = None
    requests_per_user: float | None = None
    icc: float | None = None
    response_variance_share: float | None = None
    sequential: bool = False
    guardrails: int = 1
    daily_users: float | None = None
    canary_percent: float | None = None
    from_traces: tuple[str, ...] = ()
    metric_name: str | None = None
    baseline_variant: str | None = None
    simulate: bool = False
    simulations: int = 500
    seed: int = 0


@dataclass(frozen=True)
class TraceEstimates:
    """What `--from-traces` measured on the baseline arm (printed so the user can check it)."""

    paths: tuple[str, ...]
    metric: str
    baseline_variant: str
    users: int
    requests: int
    requests_per_user: float
    effective_requests_per_user: float
    """Σm²/Σm: the cluster size that carries the design effect of unequal users."""
    baseline: float
    sd_per_request: float
    unit_variance: float
    """Delta-method variance of the per-user ratio (Var_delta per user)."""
    design_effect: float
    """Var_delta / Var_iid: the measured inflation from repeat requests by the same user."""
    icc: float
    """ICC implied by the design effect and Σm²/Σm (Kish inverted)."""
    response_variance_share: float | None
    repeated_inputs: int
    daily_users: float | None
    """New users per day across all arms: distinct users in the window / calendar days."""
    days_observed: int
    users_all_arms: int
    baseline_daily_users: float | None
    """New users per day of the baseline arm alone (the plan uses all arms: the traffic a canary splits)."""
    first: str | None = None
    """The first and last served request's time (UTC, ISO-8601): the window the estimates come from."""
    last: str | None = None


@dataclass(frozen=True)
class InflationPart:
    name: str
    factor: float
    explanation: str


@dataclass(frozen=True)
class Inflation:
    """Multipliers on the observations needed against a deterministic change with one observation per user."""

    total: float
    design_effect: float
    response_variance: float
    sequential: float
    guardrails: float
    parts: tuple[InflationPart, ...]


@dataclass(frozen=True)
class MdeValue:
    absolute: float
    relative: float | None
    """Against the baseline (None when the baseline is 0 or unknown)."""
    treatment_value: float | None


@dataclass(frozen=True)
class CurvePoint:
    """Power at the plan's effect for a number of users (and the days it takes), for a power curve."""

    n_total: int
    n_treatment: int
    n_control: int
    days: float | None
    power: float


@dataclass(frozen=True)
class SimulationCheck:
    runs: int
    seed: int
    looks: int
    target_power: float
    simulated_power: float
    monte_carlo_se: float
    simulated_power_any_look: float


@dataclass(frozen=True)
class PowerResult:
    """The plan: users per arm, days, the MDE or power, and where the extra variance comes from."""

    schema_version: str
    exit_code: int
    reasons: tuple[Reason, ...]
    solved_for: SolvedFor
    metric: dict[str, object]
    n_per_arm: dict[str, int] | None
    """Users in each arm ("treatment", "control")."""
    n_total: int | None
    requests_total: int | None
    mde: MdeValue | None
    power: float | None
    naive_n_per_arm: dict[str, int] | None
    """What a calculator would say: independent observations of a deterministic change, fixed horizon, one test."""
    inflation: Inflation
    days: float | None
    days_rounded: int | None
    daily_users: float | None
    allocation: dict[str, float | None]
    test: dict[str, object]
    inputs: dict[str, object]
    estimates: TraceEstimates | None
    curve: tuple[CurvePoint, ...]
    simulation: SimulationCheck | None = None

@dataclass(frozen=True)
class EvalRequest:
    sd_diff: float | None = None
    response_sd: float | None = None
    from_evals: tuple[str, ...] = ()
    baseline_variant: str | None = None
    candidate_variant: str | None = None
    score: Literal["passed", "score"] = "passed"
    correlation: float = 0.5
    mde: float | None = None
    cases: int | None = None
    repeats: int | None = None
    power: float | None = None
    alpha: float = 0.05
    sides: int = 2


@dataclass(frozen=True)
class EvalPowerResult:
    """Cases and repeats needed to detect δ with a paired comparison (Miller 2024)."""

    schema_version: str
    exit_code: int
    reasons: tuple[Reason, ...]
    solved_for: SolvedFor
    cases: int
    """Cases in the plan: the solved number, or the given / current one."""
    cases_needed: int | None
    """Cases needed for --mde at the target power and the planned repeats."""
    current_cases: int | None
    """--cases, or the cases in the eval file."""
    power_at_current_cases: float | None
    repeats: int
    repeats_needed: int | None
    """K for both variants that reaches the target power with the current cases; None when no K suffices."""
    no_repeats_suffice: bool
    mde: float | None
    power: float | None
    target_power: float
    omega2: float
    sigma2_a: float
    sigma2_b: float
    sd_diff_per_case: float
    """sqrt(ω² + σ²_A/K + σ²_B/K): the SD of one case's paired difference at the planned repeats."""
    response_variance_share: float | None
    """σ²/(Var(x) + σ²) of the baseline: what repeats can average away (pass to `power --response-variance-share`)."""
    mde_with_infinite_repeats: float
    """The smallest difference the current cases could detect if every case were repeated forever."""
    inputs: dict[str, object]
    estimated: dict[str, object] | None

def require_finite(req: PowerRequest | EvalRequest) -> None:
    """Every number given must be a finite number: NaN slips past range checks (every comparison with it is
    false) and an infinity overflows the formulas."""
    for f in dataclasses.fields(req):
        value = getattr(req, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + f.name.rstrip("_").replace("_", "-")
            raise UsageError(f"{flag} must be a finite number (got {value})", field=f.name,
                             fix=f"pass a number, e.g. {flag} 0.05")


P = ParamSpec("P")
R = TypeVar("R")


def worded_for_options(planner: Callable[P, R]) -> Callable[P, R]:
    """A planner whose statistics' range errors reach the user as usage errors naming `rollctl power`'s options
    (`--daily-users`, `--mde`): the statistics name parameters only, and here they are options."""

    @functools.wraps(planner)
    def planning(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return planner(*args, **kwargs)
        except PlanningInputError as exc:
            raise UsageError(exc.message, field=exc.parameter, fix=exc.fix_for(exc.option)) from None

    return planning

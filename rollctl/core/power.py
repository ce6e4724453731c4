"""`rollctl power`: how many users and days a canary needs, and why more than for a UI change.

Power is a planning command, not a gate: its result has no go/no-go `verdict`. `exit_code` is 0 when the
asked quantity was computed and 3 when it cannot be (no effect inside the metric's range is detectable with
the users given); impossible requests raise `UsageError` (exit 2). `reasons` carries warnings and
assumptions (SNAKE_CASE codes), never a verdict.

Units: `n_*` count users (the randomization unit). The inflation is measured in observations against a
calculator that treats every observation as an independent user of a deterministic change: with m̄
requests per user the users needed are (naive observations × inflation) / m̄.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rollctl.core.results import SCHEMA_VERSION, Reason, iso_utc, skipped_lines_reason
from rollctl.db import Database
from rollctl.errors import UsageError
from rollctl.exit_codes import ExitCode
from rollctl.load import LoadOptions, load_inputs, require_fields
from rollctl.metrics import metric_named
from rollctl.sql import power as q
from rollctl.sql.units import ratio_moments
from rollctl.stats import power as pw
from rollctl.stats.power_sim import SimulationSpec, simulate_power, sizes_for_mean
from rollctl.text_distance import edit_distance_moments

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


# ---- allocation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    treatment_share: float
    """Share of experiment users in treatment."""
    treatment_traffic: float | None
    """Share of all daily users routed to treatment (None: no traffic model)."""
    control_traffic: float | None


def allocation(ratio: tuple[float, float] | None, canary_percent: float | None, has_daily: bool) -> Allocation:
    """Split and traffic shares from --ratio and --canary-percent.

    A canary of P % with no --ratio compares it with everybody else ((100 − P) %); with a ratio t:c the
    control arm gets P·c/t % (a held-back control, as in a 50/50 monitored ramp step).
    """
    if ratio is not None:
        t, c = ratio
        if t <= 0 or c <= 0:
            raise UsageError("both sides of --ratio must be positive (an allocation of 0 % never finishes)",
                             field="ratio", fix="e.g. --ratio 5:95")
        share = t / (t + c)
    if canary_percent is not None:
        if not 0 < canary_percent < 100:
            raise UsageError(f"--canary-percent must be between 0 and 100, exclusive (got {canary_percent:g})",
                             field="canary_percent", fix="e.g. --canary-percent 5")
        p_t = canary_percent / 100
        if ratio is None:
            return Allocation(p_t, p_t, 1 - p_t)
        p_c = p_t * ratio[1] / ratio[0]
        if p_c > 1 - p_t + 1e-12:
            raise UsageError(f"a {canary_percent:g} % canary with --ratio {ratio[0]:g}:{ratio[1]:g} needs "
                             f"{p_c:.0%} of traffic for control, more than is left", field="ratio",
                             fix="lower the control side of --ratio or leave it out")
        return Allocation(share, p_t, p_c)
    if ratio is None:
        share = 0.5
    return Allocation(share, share if has_daily else None, 1 - share if has_daily else None)


def parse_ratio(text: str) -> tuple[float, float]:
    """'5:95', '5/95' or '1' (treatment per control) → (treatment, control)."""
    parts = text.replace("/", ":").split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"--ratio {text!r} is not treatment:control", field="ratio", fix="e.g. --ratio 5:95") \
            from None
    if len(values) == 1:
        return values[0], 1.0
    if len(values) != 2:
        raise UsageError(f"--ratio {text!r} is not treatment:control", field="ratio", fix="e.g. --ratio 5:95")
    return values[0], values[1]


# ---- metric model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricModel:
    """Everything the formulas need about the metric, manual or measured."""

    kind: MetricKind
    name: str
    baseline: float | None
    var_request: float
    """Per-observation variance as given (manual) or measured (total)."""
    requests_per_user: float
    m_eff: float
    design_effect: float
    icc: float
    response_share: float
    response_applied: bool
    """True: the share inflates the given variance; False: the measured variance already contains it."""
    direction: int
    cluster_sizes: tuple[tuple[int, int], ...]
    estimates: TraceEstimates | None


def _manual_model(req: PowerRequest, reasons: list[Reason]) -> MetricModel:
    kind = req.metric or "proportion"
    if kind == "proportion":
        if req.baseline_rate is None:
            raise UsageError("--metric proportion needs --baseline-rate", field="baseline_rate",
                             fix="e.g. --baseline-rate 0.08, or --from-traces PATH --metric-name thumbs_down_rate")
        if not 0 < req.baseline_rate < 1:
            raise UsageError(f"the baseline rate must be strictly between 0 and 1 (got {req.baseline_rate:g}); "
                             "a rate of 0 or 1 has no variance to plan with", field="baseline_rate")
        if req.response_variance_share:
            raise UsageError(
                "--response-variance-share does not apply to a 0/1 rate: its per-request variance is p(1 − p) "
                "whatever makes it random, so response randomness is already in --baseline-rate",
                field="response_variance_share",
                fix="leave it out; the clustering of one user's requests is --icc (or measure it with --from-traces)")
        baseline: float | None = req.baseline_rate
        var = req.baseline_rate * (1 - req.baseline_rate)
    else:
        if req.sd is None or not req.sd > 0:
            raise UsageError(f"--metric {kind} needs --sd > 0 (the SD of one request's value)", field="sd",
                             fix="e.g. --sd 180, or --from-traces PATH --metric-name latency_mean_ms")
        baseline = req.baseline_mean
        var = req.sd * req.sd
        if kind == "ratio" and (req.requests_per_user is None or req.icc is None):
            raise UsageError("--metric ratio needs the per-user moments: --requests-per-user and --icc "
                             "(or --from-traces)", field="requests_per_user")
    m = req.requests_per_user if req.requests_per_user is not None else 1.0
    if req.icc is not None and req.requests_per_user is None:
        raise UsageError("--icc needs --requests-per-user", field="requests_per_user", fix="e.g. --requests-per-user 4")
    icc = req.icc if req.icc is not None else 0.0
    if req.requests_per_user is not None and req.icc is None and m > 1:
        reasons.append(Reason("ICC_ASSUMED_ZERO", "no --icc given: repeat requests of one user are treated as "
                                                  "independent, which understates the users needed"))
    deff = pw.design_effect(m, icc)
    share = req.response_variance_share or 0.0
    pw.response_variance_factor(share)
    sizes, weights = sizes_for_mean(m)
    return MetricModel(
        kind=kind, name=kind, baseline=baseline, var_request=var, requests_per_user=m, m_eff=m,
        design_effect=deff, icc=icc, response_share=share, response_applied=True,
        direction=_direction(req.mde, harmful=1),
        cluster_sizes=tuple((s, max(1, round(w * 1_000_000))) for s, w in zip(sizes, weights, strict=True)),
        estimates=None,
    )


def _pick_baseline(db: Database, wanted: str | None) -> str:
    variants = q.variant_users(db)
    names = [v for v, _ in variants]
    if not names:
        raise UsageError("the traces have no variant with users", field="variant", fix="map one with --map variant=...")
    if wanted is not None:
        if wanted not in names:
            raise UsageError(f"--baseline {wanted!r} is not a variant in the traces", field="baseline",
                             fix="variants: " + ", ".join(names))
        return wanted
    if len(names) == 1:
        return names[0]
    for name in BASELINE_NAMES:
        if name in names:
            return name
    raise UsageError("the traces hold several variants and none is called control/baseline/main",
                     field="baseline", fix="name it with --baseline NAME (variants: " + ", ".join(names) + ")")


def _trace_model(db: Database, req: PowerRequest, options: LoadOptions, reasons: list[Reason]) -> MetricModel:
    if req.metric is not None:
        raise UsageError("--metric and --from-traces both describe the metric", field="metric",
                         fix="with --from-traces, name the metric with --metric-name")
    for name, value in (("--baseline-rate", req.baseline_rate), ("--baseline-mean", req.baseline_mean),
                        ("--sd", req.sd), ("--requests-per-user", req.requests_per_user), ("--icc", req.icc)):
        if value is not None:
            raise UsageError(f"{name} and --from-traces both describe the metric", field=name.strip("-"),
                             fix="use one: the traces, or the numbers")
    if req.metric_name is None:
        raise UsageError("--from-traces needs --metric-name", field="metric_name",
                         fix="e.g. --metric-name thumbs_down_rate")
    metric = metric_named(req.metric_name)
    is_text = metric.kind == "text_distance"
    if not is_text and (metric.kind != "ratio" or metric.numerator is None or metric.denominator is None):
        raise UsageError(f"power from traces supports per-user ratio metrics; {metric.name} is a {metric.kind} "
                         "metric", field="metric_name", fix="e.g. thumbs_down_rate, error_rate, latency_mean_ms")
    report = load_inputs(db, list(req.from_traces), options)
    require_fields(report, "traces", ["user_id", "variant", *metric.required_fields], command="power")
    if report.skipped_lines:
        reasons.append(skipped_lines_reason(report.skipped_lines))
    base = _pick_baseline(db, req.baseline_variant)
    served = "coalesce(served, TRUE)"  # shadow computations were never seen by a user
    found = report.found_fields("traces")
    if is_text:
        # Edit distance: the same per-user moments as decide (rapidfuzz over streamed text); the per-request
        # variance is that of d itself, so request_id is not needed.
        arms = edit_distance_moments(db, variants=[base], where_sql=served)
        if base not in arms:
            raise UsageError(f"no request of variant {base} has both output and final_text: there is no edit "
                             "distance to plan with", field="metric_name",
                             fix="map final_text (what the user sent) with --map final_text=<your field>")
        user_m = arms[base].moments
        var_request = arms[base].request_variance
        observations = arms[base].requests
    else:
        user_m = ratio_moments(db, [metric], variants=[base], where_sql=served)[base].metrics[metric.name]
        if "request_id" in found:
            req_m = ratio_moments(db, [metric], unit="request_id", variants=[base], where_sql=served)[base] \
                .metrics[metric.name]
            var_request = req_m.unit_variance()
            observations = req_m.n
        elif metric.is_proportion:
            r = user_m.ratio
            var_request = r * (1 - r)
            observations = int(user_m.sum_n)
        else:
            raise UsageError("power from traces needs request_id to measure the per-request variance",
                             field="request_id", fix="use --map request_id=<your field>")
    unit_var = user_m.unit_variance()
    baseline = user_m.ratio
    if user_m.n < 2 or not math.isfinite(unit_var) or not math.isfinite(var_request) or var_request <= 0:
        raise UsageError(f"the {metric.name} of variant {base} does not vary in these traces (or has fewer than 2 "
                         "users): there is no variance to plan with", field="metric_name",
                         fix="use more traces or another metric")
    if metric.is_proportion and not 0 < baseline < 1:
        raise UsageError(f"the measured baseline rate of {metric.name} is {baseline:g}: a rate of 0 or 1 has no "
                         "variance to plan with", field="metric_name")
    m_bar = observations / user_m.n
    m_eff = pw.effective_cluster_size(user_m.sum_n, user_m.sum_n2)
    deff = unit_var * m_bar / var_request
    icc = pw.icc_from_design_effect(deff, m_eff)
    if deff < 1:
        reasons.append(Reason("DESIGN_EFFECT_BELOW_ONE", f"the measured design effect is {deff:.2f} (< 1): one "
                              "user's requests vary less together than independent ones; planning uses it as measured"))
    # Response randomness: pooled within-input variance among inputs answered more than once.
    share: float | None = None
    rep = q.repeated_inputs(db, metric, base) if "input" in found and not is_text else q.RepeatedInputs(0, 0, 0.0, 0)
    if rep.inputs >= MIN_REPEATED_INPUTS and rep.within_df > 0:
        share = min(max(rep.within_ss / rep.within_df / var_request, 0.0), 0.95)
    elif is_text and req.response_variance_share is None:
        reasons.append(Reason("RESPONSE_VARIANCE_NOT_ESTIMATED", f"the response randomness of {metric.name} is not "
                              "estimated from repeated inputs; it stays inside the measured variance"))
    elif req.response_variance_share is None:
        reasons.append(Reason("RESPONSE_VARIANCE_NOT_ESTIMATED",
                              f"only {rep.inputs} input(s) were answered more than once (need "
                              f"{MIN_REPEATED_INPUTS}); the response randomness stays inside the measured variance"))
    if req.response_variance_share is not None:
        pw.response_variance_factor(req.response_variance_share)
        share = req.response_variance_share
    traffic = q.traffic(db)
    daily = traffic.users / traffic.days if traffic.days > 0 else None
    base_traffic = q.traffic(db, base)
    base_daily = base_traffic.users / traffic.days if traffic.days > 0 else None
    if daily is None and req.daily_users is None:
        reasons.append(Reason("NO_TIMESTAMPS", "the traces have no timestamps: give --daily-users to get days"))
    estimates = TraceEstimates(
        paths=tuple(req.from_traces), metric=metric.name, baseline_variant=base, users=user_m.n,
        requests=observations, requests_per_user=m_bar, effective_requests_per_user=m_eff, baseline=baseline,
        sd_per_request=math.sqrt(var_request), unit_variance=unit_var, design_effect=deff, icc=icc,
        response_variance_share=share, repeated_inputs=rep.inputs, daily_users=daily,
        days_observed=traffic.days, users_all_arms=traffic.users, baseline_daily_users=base_daily,
        first=iso_utc(traffic.first), last=iso_utc(traffic.last),
    )
    used_share = share or 0.0
    if metric.is_proportion and used_share > 0:
        reasons.append(Reason("RESPONSE_SHARE_NOT_A_MULTIPLIER_FOR_RATES",
                              f"{used_share:.0%} of the variance of {metric.name} is among requests with the same "
                              "input, but a 0/1 rate's variance is p(1 − p) whatever makes it random: no multiplier"))
        used_share = 0.0
    return MetricModel(
        kind="proportion" if metric.is_proportion else "ratio", name=metric.name, baseline=baseline,
        var_request=var_request, requests_per_user=m_bar, m_eff=m_eff, design_effect=deff, icc=icc,
        response_share=used_share, response_applied=False,
        direction=_direction(req.mde, harmful=-1 if metric.higher_is_better else 1),
        cluster_sizes=tuple(q.cluster_sizes(db, metric, base)), estimates=estimates,
    )


def _direction(mde: float | None, *, harmful: int) -> int:
    """The sign of --mde is the direction of the change; solving for the MDE looks in the harmful one."""
    if mde is None:
        return harmful
    return -1 if mde < 0 else 1


def _variances(model: MetricModel, *, deterministic: bool) -> pw.Variances:
    """Per-user variances the test will face (or, `deterministic`, those a naive calculator assumes)."""
    if deterministic:
        scale = 1 - model.response_share if not model.response_applied else 1.0
        per_unit = scale
    else:
        response = pw.response_variance_factor(model.response_share) if model.response_applied else 1.0
        per_unit = model.design_effect * response / model.requests_per_user
    if model.kind == "proportion":
        assert model.baseline is not None
        return pw.proportion_variances(model.baseline, inflation=per_unit)
    return pw.constant_variances(model.var_request * per_unit)


# ---- the plan -----------------------------------------------------------------------------------------


def _require_finite(req: PowerRequest | EvalRequest) -> None:
    """Every number given must be a finite number: NaN slips past range checks (every comparison with it is
    false) and an infinity overflows the formulas."""
    for f in dataclasses.fields(req):
        value = getattr(req, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + f.name.rstrip("_").replace("_", "-")
            raise UsageError(f"{flag} must be a finite number (got {value})", field=f.name,
                             fix=f"pass a number, e.g. {flag} 0.05")


def plan_power(db: Database | None, req: PowerRequest, options: LoadOptions | None = None) -> PowerResult:
    """Solve for whichever of users, MDE or power is left out, with every inflation shown."""
    _require_finite(req)
    reasons: list[Reason] = []
    if req.days is not None and req.n_per_arm is not None:
        raise UsageError("give --n-per-arm or --days, not both", field="days")
    has_n = req.n_per_arm is not None or req.days is not None
    if req.mde is not None and has_n and req.power is not None:
        raise UsageError("--mde, a sample size and --power are all given: leave out the one to solve for",
                         field="power", fix="drop --power to get the power, or --mde to get the MDE")
    if req.mde is None and not has_n:
        raise UsageError("nothing to solve: give --mde (to get users and days) or --n-per-arm / --days (to get the "
                         "smallest detectable effect)", field="mde", fix="e.g. --mde 0.2 --relative")
    solved: SolvedFor = "n" if not has_n else ("mde" if req.mde is None else "power")
    power_target = req.power if req.power is not None else 0.8
    if req.mde is not None and req.mde == 0:
        raise UsageError("the minimum detectable effect must be non-zero", field="mde", fix="e.g. --mde 0.2 --relative")
    if req.n_per_arm is not None and req.n_per_arm < 2:
        raise UsageError("--n-per-arm must be at least 2", field="n_per_arm")
    if req.days is not None and not req.days > 0:
        raise UsageError("--days must be positive", field="days")
    if req.daily_users is not None and not req.daily_users > 0:
        raise UsageError("--daily-users must be positive", field="daily_users")
    if req.simulations < 10:
        raise UsageError("--simulations must be at least 10", field="simulations")

    if req.from_traces:
        if db is None:
            raise UsageError("--from-traces needs a database", field="from_traces")
        model = _trace_model(db, req, options or LoadOptions(), reasons)
    else:
        if req.metric_name is not None:
            raise UsageError("--metric-name needs --from-traces", field="metric_name")
        model = _manual_model(req, reasons)

    daily = req.daily_users if req.daily_users is not None else (
        model.estimates.daily_users if model.estimates is not None else None)
    alloc = allocation(req.ratio, req.canary_percent, daily is not None)
    design = pw.TestDesign(alpha=req.alpha, power=power_target, sides=req.sides, guardrails=req.guardrails,
                           sequential=req.sequential, treatment_share=alloc.treatment_share)
    variances = _variances(model, deterministic=False)
    naive_design = pw.TestDesign(alpha=req.alpha, power=power_target, sides=req.sides, guardrails=1,
                                 sequential=False, treatment_share=alloc.treatment_share)
    naive_variances = _variances(model, deterministic=True)
    if req.days is not None and (daily is None or alloc.treatment_traffic is None or alloc.control_traffic is None):
        raise UsageError("--days needs --daily-users (or --from-traces with timestamps)", field="days")

    # The absolute effect to detect (signed), when given.
    delta: float | None = None
    if req.mde is not None:
        if req.relative:
            if model.baseline is None or model.baseline == 0:
                raise UsageError("a relative MDE needs a non-zero baseline", field="mde",
                                 fix="give --baseline-mean, or an absolute --mde")
            delta = abs(req.mde) * abs(model.baseline) * model.direction
        else:
            delta = abs(req.mde) * model.direction

    # Units in the plan (continuous N over both arms) when given.
    n_given: float | None = None
    if req.n_per_arm is not None:
        n_given = req.n_per_arm / alloc.treatment_share
    elif req.days is not None:
        assert daily is not None and alloc.treatment_traffic is not None and alloc.control_traffic is not None
        n_given = req.days * daily * (alloc.treatment_traffic + alloc.control_traffic)

    mde_abs: float | None
    exit_code = ExitCode.GO
    if solved == "n":
        assert delta is not None
        n_cont = pw.sample_size_total(delta, variances, design)
        power_value: float | None = power_target
        mde_abs = delta
    elif solved == "mde":
        assert n_given is not None
        n_cont = n_given
        power_value = power_target
        max_abs = None
        if model.kind == "proportion":
            assert model.baseline is not None
            max_abs = (1 - model.baseline) if model.direction > 0 else model.baseline
        found = pw.mde_absolute(n_cont, variances, design, direction=model.direction, max_abs_delta=max_abs)
        mde_abs = found * model.direction if found is not None else None
        if mde_abs is None:
            exit_code = ExitCode.HOLD
            reasons.append(Reason("NO_DETECTABLE_EFFECT", "with these users no change inside the metric's range "
                                  "is detectable at this power"))
    else:
        assert n_given is not None and delta is not None
        n_cont = n_given
        mde_abs = delta
        power_value = pw.power_at(delta, n_cont, variances, design)

    n_t = math.ceil(alloc.treatment_share * n_cont - 1e-9)
    n_c = math.ceil((1 - alloc.treatment_share) * n_cont - 1e-9)
    if req.n_per_arm is not None:
        n_t = req.n_per_arm
    n_per_arm = {"treatment": n_t, "control": n_c}

    naive: dict[str, int] | None = None
    if mde_abs is not None:
        n_naive = pw.sample_size_total(mde_abs, naive_variances, naive_design)
        naive = {"treatment": math.ceil(alloc.treatment_share * n_naive - 1e-9),
                 "control": math.ceil((1 - alloc.treatment_share) * n_naive - 1e-9)}

    inflation = _inflation(model, design)
    days: float | None = None
    days_rounded: int | None = None
    if daily is not None and alloc.treatment_traffic is not None and alloc.control_traffic is not None:
        days = pw.days_needed(n_t, n_c, daily, alloc.treatment_traffic, alloc.control_traffic)
        days_rounded = pw.round_up_to_weeks(days)
        reasons.append(Reason("UNIQUE_USERS_PER_DAY", "days assume the given daily users are new users each day; "
                              "returning users make it slower (from traces: distinct users over the window / days)"))
    elif daily is None:
        reasons.append(Reason("NO_DAILY_USERS", "give --daily-users (and --canary-percent) to turn users into days"))
    if req.guardrails > 1:
        reasons.append(Reason("GUARDRAILS_BONFERRONI", f"planned at α/{req.guardrails} = "
                              f"{design.alpha_per_test:.4g} per guardrail (Bonferroni); decide applies Holm, "
                              "which tests the first guardrail at this level and the others at a looser one"))
    if req.sequential:
        reasons.append(Reason("SEQUENTIAL_FINAL_LOOK", "power is counted at the planned end; checking every day "
                              "with the confidence sequence can only add power"))

    curve = _curve(mde_abs, n_cont, variances, design, alloc, daily) if mde_abs is not None else ()
    sim = None
    if req.simulate and mde_abs is not None:
        sim = _simulate(model, mde_abs, n_t, n_c, design, n_cont, days_rounded, req, solved_power=solved == "power")
        if sim is not None and abs(sim.simulated_power - sim.target_power) > 3 * sim.monte_carlo_se + 0.01:
            reasons.append(Reason("SIMULATION_DISAGREES", f"simulated power {sim.simulated_power:.1%} vs planned "
                                  f"{sim.target_power:.1%}: the normal approximation is off for these inputs"))

    inputs: dict[str, object] = {
        "metric": model.kind, "metric_name": model.name, "baseline": model.baseline,
        "sd_per_request": math.sqrt(model.var_request), "mde": req.mde, "relative": req.relative,
        "n_per_arm": req.n_per_arm, "days": req.days, "power": power_target, "alpha": req.alpha,
        "sides": req.sides, "ratio": list(req.ratio) if req.ratio else None, "requests_per_user":
        model.requests_per_user, "effective_requests_per_user": model.m_eff, "icc": model.icc,
        "response_variance_share": model.response_share, "sequential": req.sequential,
        "guardrails": req.guardrails, "daily_users": daily, "canary_percent": req.canary_percent,
        "from_traces": list(req.from_traces) or None, "seed": req.seed,
    }
    return PowerResult(
        schema_version=SCHEMA_VERSION, exit_code=int(exit_code), reasons=tuple(reasons), solved_for=solved,
        metric={"kind": model.kind, "name": model.name, "baseline": model.baseline,
                "sd_per_request": math.sqrt(model.var_request), "direction": "increase" if model.direction > 0
                else "decrease"},
        n_per_arm=n_per_arm, n_total=n_t + n_c,
        requests_total=round((n_t + n_c) * model.requests_per_user),
        mde=_mde_value(mde_abs, model.baseline) if mde_abs is not None else None,
        power=power_value, naive_n_per_arm=naive, inflation=inflation, days=days, days_rounded=days_rounded,
        daily_users=daily,
        allocation={"treatment_share": alloc.treatment_share, "control_share": 1 - alloc.treatment_share,
                    "treatment_traffic": alloc.treatment_traffic, "control_traffic": alloc.control_traffic},
        test={"alpha": req.alpha, "alpha_per_guardrail": design.alpha_per_test, "sides": req.sides,
              "guardrails": req.guardrails, "sequential": req.sequential,
              "critical_value": pw.critical_value(design, n_cont),
              "fixed_horizon_critical_value": pw.z_critical(naive_design),
              "sequential_tuning_n": n_cont if req.sequential else None,
              "method": "normal approximation, unpooled variances (Wald test on per-user delta-method SEs)"},
        inputs=inputs, estimates=model.estimates, curve=curve, simulation=sim,
    )


def _mde_value(delta: float, baseline: float | None) -> MdeValue:
    rel = delta / abs(baseline) if baseline is not None and baseline != 0 else None
    return MdeValue(absolute=delta, relative=rel, treatment_value=baseline + delta if baseline is not None else None)


def _inflation(model: MetricModel, design: pw.TestDesign) -> Inflation:
    tf = pw.test_factors(design)
    response = pw.response_variance_factor(model.response_share)
    deff = model.design_effect
    parts = (
        InflationPart("repeat requests", deff,
                      f"each user sends {model.requests_per_user:.1f} requests on average (Σm²/Σm "
                      f"{model.m_eff:.1f}) and one user's requests go together (ICC {model.icc:.3f})"),
        InflationPart("response variance", response,
                      f"{model.response_share:.0%} of the per-request variance comes from answering the same "
                      "input differently" if model.kind != "proportion" else
                      "a 0/1 rate's variance is p(1 − p) whatever makes it random: no extra multiplier"),
        InflationPart("peek-safe testing", tf.sequential,
                      f"checking every day needs a {tf.critical_value:.2f}·SE bar instead of "
                      f"{pw.z_critical(design):.2f}·SE" if design.sequential else "one look at the planned end"),
        InflationPart("guardrails", tf.guardrails,
                      f"{design.guardrails} guardrails share α: each is tested at α/{design.guardrails}"
                      if design.guardrails > 1 else "one guardrail, tested at the full α"),
    )
    return Inflation(total=deff * response * tf.sequential * tf.guardrails, design_effect=deff,
                     response_variance=response, sequential=tf.sequential, guardrails=tf.guardrails, parts=parts)


def _curve(delta: float, n_plan: float, v: pw.Variances, design: pw.TestDesign, alloc: Allocation,
           daily: float | None) -> tuple[CurvePoint, ...]:
    """Power at the plan's effect for 10 % … 200 % of the plan's users (the test tuned for the plan)."""
    points = []
    for i in range(1, 21):
        n = n_plan * i / 10
        n_t = max(2, math.ceil(alloc.treatment_share * n - 1e-9))
        n_c = max(2, math.ceil((1 - alloc.treatment_share) * n - 1e-9))
        days = None
        if daily is not None and alloc.treatment_traffic is not None and alloc.control_traffic is not None:
            days = pw.days_needed(n_t, n_c, daily, alloc.treatment_traffic, alloc.control_traffic)
        power = pw.power_at(delta, n_t + n_c, v, design, tuning_n=n_plan)
        points.append(CurvePoint(n_total=n_t + n_c, n_treatment=n_t, n_control=n_c, days=days, power=power))
    return tuple(points)


def _simulate(model: MetricModel, delta: float, n_t: int, n_c: int, design: pw.TestDesign, n_plan: float,
              days_rounded: int | None, req: PowerRequest, *, solved_power: bool) -> SimulationCheck | None:
    """Monte Carlo on the plan's users; the target is the planned power (or the solved one)."""
    sizes = tuple(s for s, _ in model.cluster_sizes) or (1,)
    weights = tuple(float(w) for _, w in model.cluster_sizes) or (1.0,)
    response = pw.response_variance_factor(model.response_share) if model.response_applied else 1.0
    spec = SimulationSpec(
        kind="proportion" if model.kind == "proportion" else "normal",
        baseline=model.baseline if model.baseline is not None else 0.0, delta=delta,
        sd=math.sqrt(model.var_request * response), icc=model.icc, cluster_sizes=sizes, cluster_weights=weights,
        n_treatment=n_t, n_control=n_c, design=design, tuning_n=n_plan,
        looks=min(days_rounded or 7, 28), runs=req.simulations, seed=req.seed,
    )
    result = simulate_power(spec)
    return SimulationCheck(runs=result.runs, seed=req.seed, looks=result.looks,
                           target_power=pw.power_at(delta, n_t + n_c, _variances(model, deterministic=False), design,
                                                    tuning_n=n_plan) if solved_power else design.power,
                           simulated_power=result.power, monte_carlo_se=result.monte_carlo_se,
                           simulated_power_any_look=result.power_any_look)


# ---- eval-set planning --------------------------------------------------------------------------------


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


def _pick_eval_variant(names: Sequence[str], wanted: str | None, role: str, exclude: str | None = None) -> str | None:
    if wanted is not None:
        if wanted not in names:
            raise UsageError(f"--{role} {wanted!r} is not a variant in the eval results", field=role,
                             fix="variants: " + ", ".join(names))
        return wanted
    rest = [n for n in names if n != exclude]
    if role == "baseline":
        if len(names) == 1:
            return names[0]
        for n in BASELINE_NAMES:
            if n in names:
                return n
        raise UsageError("the eval results hold several variants", field="baseline",
                         fix="name the baseline with --baseline NAME (variants: " + ", ".join(names) + ")")
    return rest[0] if len(rest) == 1 else None


def plan_eval(db: Database | None, req: EvalRequest, options: LoadOptions | None = None) -> EvalPowerResult:
    """Cases, MDE or power of a paired eval comparison, and the repeats per case that would help."""
    _require_finite(req)
    reasons: list[Reason] = []
    power_target = req.power if req.power is not None else 0.8
    pw.check_design(req.alpha, power_target, req.sides, 1, 0.5)
    if req.mde is not None and req.mde == 0:
        raise UsageError("the difference to detect must be non-zero", field="mde", fix="e.g. --mde 0.05")
    if req.repeats is not None and req.repeats < 1:
        raise UsageError("--repeats must be at least 1", field="repeats")
    if req.cases is not None and req.cases < 2:
        raise UsageError("--cases must be at least 2", field="cases")
    if req.mde is not None and req.cases is not None and req.power is not None:
        raise UsageError("--mde, --cases and --power are all given: leave out the one to solve for", field="power")
    estimated: dict[str, object] | None = None
    file_cases: int | None = None
    if req.from_evals:
        if req.sd_diff is not None or req.response_sd is not None:
            raise UsageError("--sd-diff/--response-sd and --from-evals both describe the variance", field="sd_diff",
                             fix="use one")
        if not 0 <= req.correlation < 1:
            raise UsageError("--correlation must be in [0, 1)", field="correlation")
        assert db is not None
        report = load_inputs(db, list(req.from_evals), options or LoadOptions(keep_text=False))
        require_fields(report, "evals", ["case_id", "variant", req.score], command="power eval")
        if report.skipped_lines:
            reasons.append(skipped_lines_reason(report.skipped_lines))
        names = [v for v, _ in q.eval_variants(db)]
        if not names:
            raise UsageError("the eval results have no variant", field="variant", fix="use --map variant=...")
        a_name = _pick_eval_variant(names, req.baseline_variant, "baseline")
        assert a_name is not None
        b_name = _pick_eval_variant(names, req.candidate_variant, "candidate", exclude=a_name)
        a_cases = q.eval_case_moments(db, a_name, req.score)
        a = pw.eval_components(a_cases)
        if a is None:
            raise UsageError(f"variant {a_name} has fewer than 2 cases: nothing to estimate", field="case_id")
        file_cases = a.cases
        if b_name is not None:
            b_cases = q.eval_case_moments(db, b_name, req.score)
            b = pw.eval_components(b_cases)
            by_id = {c.case_id: c for c in b_cases}
            pairs = [(c, by_id[c.case_id]) for c in a_cases if c.case_id in by_id]
            if b is None or len(pairs) < 2:
                raise UsageError(f"variants {a_name} and {b_name} share fewer than 2 cases", field="case_id")
            omega2 = pw.paired_omega2(pairs, a, b)
            s2a, s2b = a.within, b.within
            file_cases = len(pairs)
            how = f"paired {a_name} vs {b_name} over {len(pairs)} shared cases"
        else:
            omega2 = 2 * a.between * (1 - req.correlation)
            s2a = s2b = a.within
            reasons.append(Reason("CORRELATION_ASSUMED", f"one variant only: the candidate is assumed to have the "
                                  f"baseline's variances and a per-case correlation of {req.correlation:g} "
                                  "(Miller: 0.3–0.7 between frontier models; higher for a prompt tweak)"))
            how = f"{a_name} alone, correlation {req.correlation:g}"
        if a.cases_with_repeats == 0:
            reasons.append(Reason("NO_REPEATS", "no case was run more than once: response randomness cannot be "
                                  "told apart from case difficulty"))
        total = a.between + a.within
        share = a.within / total if total > 0 else None
        repeats = req.repeats if req.repeats is not None else a.repeats
        estimated = {"baseline_variant": a_name, "candidate_variant": b_name, "how": how, "score": req.score,
                     "baseline_mean": a.mean, "between_case_variance": a.between, "within_case_variance": a.within,
                     "cases": a.cases, "cases_with_repeats": a.cases_with_repeats, "repeats_in_file": a.repeats}
    else:
        if req.sd_diff is None:
            raise UsageError("give --sd-diff (SD of the per-case difference in mean score) or --from-evals PATH",
                             field="sd_diff", fix="e.g. --sd-diff 0.3")
        if req.sd_diff < 0 or (req.response_sd is not None and req.response_sd < 0):
            raise UsageError("standard deviations cannot be negative", field="sd_diff")
        omega2 = req.sd_diff ** 2
        s2a = s2b = (req.response_sd or 0.0) ** 2
        share = None
        repeats = req.repeats if req.repeats is not None else 1
    var = pw.EvalVariance(omega2=omega2, sigma2_a=s2a, sigma2_b=s2b, repeats_a=repeats, repeats_b=repeats)
    if var.per_case() <= 0:
        raise UsageError("the per-case differences have no variance: any difference would be detected",
                         field="sd_diff", fix="check the inputs")
    current = req.cases if req.cases is not None else file_cases
    exit_code = ExitCode.GO
    cases_needed: int | None = None
    power_current: float | None = None
    if req.mde is None:
        solved: SolvedFor = "mde"
        if current is None:
            raise UsageError("to get the detectable difference, give --cases (or --from-evals) or --mde",
                             field="cases", fix="e.g. --cases 120")
        cases = current
        mde = pw.eval_mde(cases, var, alpha=req.alpha, power=power_target, sides=req.sides)
        power: float | None = power_target
    elif req.cases is not None and req.power is None:
        solved = "power"
        cases, mde = req.cases, req.mde
        power = pw.eval_power(cases, mde, var, alpha=req.alpha, sides=req.sides)
    else:
        solved = "n"
        mde = req.mde
        cases_needed = pw.eval_cases_needed(mde, var, alpha=req.alpha, power=power_target, sides=req.sides)
        cases = cases_needed
        power = power_target
    if current is not None and req.mde is not None:
        power_current = pw.eval_power(current, req.mde, var, alpha=req.alpha, sides=req.sides)
    at = current if current is not None else cases
    repeats_needed = pw.eval_repeats_needed(at, mde, var, alpha=req.alpha, power=power_target, sides=req.sides)
    no_k = repeats_needed is None
    if no_k:
        reasons.append(Reason("NO_REPEATS_SUFFICE", f"with {at} cases no number of repeats reaches "
                              f"{power_target:.0%} power for a difference of {mde:g}: repeats only average away "
                              "response randomness, not the spread between cases; add cases"))
    inf = pw.EvalVariance(omega2=omega2, sigma2_a=0.0, sigma2_b=0.0)
    mde_inf = pw.eval_mde(at, inf, alpha=req.alpha, power=power_target, sides=req.sides) if omega2 > 0 else 0.0
    return EvalPowerResult(
        schema_version=SCHEMA_VERSION, exit_code=int(exit_code), reasons=tuple(reasons), solved_for=solved,
        cases=cases, cases_needed=cases_needed, current_cases=current, power_at_current_cases=power_current,
        repeats=repeats, repeats_needed=repeats_needed,
        no_repeats_suffice=no_k, mde=mde, power=power, target_power=power_target, omega2=omega2, sigma2_a=s2a,
        sigma2_b=s2b, sd_diff_per_case=math.sqrt(var.per_case()), response_variance_share=share,
        mde_with_infinite_repeats=mde_inf,
        inputs={"sd_diff": req.sd_diff, "response_sd": req.response_sd, "from_evals": list(req.from_evals) or None,
                "score": req.score, "correlation": req.correlation, "mde": req.mde, "cases": req.cases,
                "repeats": req.repeats, "power": power_target, "alpha": req.alpha, "sides": req.sides},
        estimated=estimated,
    )

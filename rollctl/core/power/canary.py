"""`rollctl power`: solve for users, MDE or power of a canary with every inflation shown as its own factor
(per-user clustering, unequal allocation, sequential peeking, one-sided tests), a curve, and an optional
simulation check."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollctl.core.power.results import (
    CurvePoint,
    Inflation,
    InflationPart,
    MdeValue,
    PowerRequest,
    PowerResult,
    SimulationCheck,
    SolvedFor,
    require_finite,
    worded_for_options,
)
from rollctl.core.power.trace_model import MetricModel, model_from_options, model_from_traces, model_variances
from rollctl.core.results import SCHEMA_VERSION, Reason
from rollctl.db import Database
from rollctl.engines.spark import SparkEngine
from rollctl.errors import UsageError
from rollctl.exit_codes import ExitCode
from rollctl.load import LoadOptions
from rollctl.stats import power as pw
from rollctl.stats.power_sim import SimulationSpec, simulate_power


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

@worded_for_options
def plan_power(db: Database | SparkEngine | None, req: PowerRequest,
               options: LoadOptions | None = None) -> PowerResult:
    """Solve for whichever of users, MDE or power is left out, with every inflation shown."""
    require_finite(req)
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
        model = model_from_traces(db, req, options or LoadOptions(), reasons)
    else:
        if req.metric_name is not None:
            raise UsageError("--metric-name needs --from-traces", field="metric_name")
        model = model_from_options(req, reasons)

    daily = req.daily_users if req.daily_users is not None else (
        model.estimates.daily_users if model.estimates is not None else None)
    alloc = allocation(req.ratio, req.canary_percent, daily is not None)
    design = pw.TestDesign(alpha=req.alpha, power=power_target, sides=req.sides, guardrails=req.guardrails,
                           sequential=req.sequential, treatment_share=alloc.treatment_share)
    variances = model_variances(model, deterministic=False)
    naive_design = pw.TestDesign(alpha=req.alpha, power=power_target, sides=req.sides, guardrails=1,
                                 sequential=False, treatment_share=alloc.treatment_share)
    naive_variances = model_variances(model, deterministic=True)
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
    variances = model_variances(model, deterministic=False)
    return SimulationCheck(runs=result.runs, seed=req.seed, looks=result.looks,
                           target_power=pw.power_at(delta, n_t + n_c, variances, design,
                                                    tuning_n=n_plan) if solved_power else design.power,
                           simulated_power=result.power, monte_carlo_se=result.monte_carlo_se,
                           simulated_power_any_look=result.power_any_look)

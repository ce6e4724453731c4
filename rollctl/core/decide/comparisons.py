"""Each guardrail and primary metric as a `MetricResult`: the estimate, its peek-safe interval, the rule and
the status, and the day-by-day sequence for the report."""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

from rollctl.core.decide.results import MetricResult, SequencePoint, StratumResult, finite
from rollctl.metrics import Metric
from rollctl.plan import Guardrail, Plan, Primary
from rollctl.sql import decide as q
from rollctl.stats.guardrails import (
    GuardrailTest,
    evaluate_primary,
    units_until_resolved,
)
from rollctl.stats.ratio import Difference, RatioMoments, difference
from rollctl.stats.sequential import multiplier


def _sequence(name: str, daily: list[q.DailyArm], plan: Plan, *, scale: str, one_sided_sign: float | None,
              harm_alpha: float, tuning_n: float) -> tuple[SequencePoint, ...]:
    by_day: dict[date, dict[str, q.DailyArm]] = {}
    for d in daily:
        by_day.setdefault(d.day, {})[d.variant] = d
    out = []
    for day in sorted(by_day):
        arms = by_day[day]
        b, c = arms.get(plan.baseline), arms.get(plan.candidate)
        if b is None or c is None or name not in b.metrics:
            continue
        diff = difference(b.metrics[name], c.metrics[name])
        est, se = (diff.relative, diff.se_relative) if scale == "relative" else (diff.absolute, diff.se_absolute)
        n = float(b.cumulative_units + c.cumulative_units)
        low = high = None
        if math.isfinite(est) and math.isfinite(se) and se > 0 and n > 0:
            if one_sided_sign is None:
                hw = se * multiplier(n, plan.alpha, tuning_n, one_sided=False)
                low, high = est - hw, est + hw
            else:
                harm = se * multiplier(n, harm_alpha, tuning_n, one_sided=True)
                tol = se * multiplier(n, plan.alpha, tuning_n, one_sided=True)
                low, high = (est - harm, est + tol) if one_sided_sign > 0 else (est - tol, est + harm)
        out.append(SequencePoint(str(day), b.cumulative_units, c.cumulative_units, finite(est), low, high))
    return tuple(out)


def zero_event_bound(g: Guardrail, t: GuardrailTest, base: RatioMoments | None, cand: RatioMoments | None,
                      alpha: float) -> GuardrailTest:
    """A rate with no events in either arm has no variance, so the delta method cannot bound it. With zero
    events in m candidate requests the exact one-sided upper bound on the candidate's rate is
    1 − alpha^(1/m) ≈ −ln(alpha)/m (the "rule of three" at alpha 0.05); within tolerance when that bound is
    below an absolute tolerance. Otherwise the guardrail stays not computable."""
    if t.status != "not_computable" or base is None or cand is None or g.scale != "absolute" or \
            g.bad_direction != "increase" or base.sum_y != 0 or cand.sum_y != 0 or cand.sum_n <= 0:
        return t
    bound = 1 - alpha ** (1 / cand.sum_n)
    status: Literal["breached", "within_tolerance", "inconclusive", "not_computable"] = \
        "within_tolerance" if bound < g.tolerance else "inconclusive"
    return GuardrailTest(t.name, status, False, 0.0, None, -bound, bound, None, None, None, g.tolerance,
                         f"no events in either arm; zero-event upper bound {bound:.3g} on the candidate's rate")


def _diff_fields(diff: Difference | None) -> dict[str, float | None]:
    if diff is None:
        return {"baseline_value": None, "candidate_value": None, "estimate": None, "relative_estimate": None}
    return {"baseline_value": finite(diff.baseline), "candidate_value": finite(diff.candidate),
            "estimate": finite(diff.absolute), "relative_estimate": finite(diff.relative)}


def guardrail_result(g: Guardrail, t: GuardrailTest, m: Metric, diff: Difference | None, plan: Plan, n: float,
                      tuning_n: float, nb: int, nc: int, daily: list[q.DailyArm],
                      strata: tuple[StratumResult, ...]) -> MetricResult:
    to_resolve = None
    if t.status == "inconclusive" and t.estimate is not None and t.se is not None:
        sign = 1.0 if g.bad_direction == "increase" else -1.0
        units = units_until_resolved(sign * t.estimate, t.se, n, g.tolerance, alpha=plan.alpha, tuning_n=tuning_n)
        to_resolve = math.ceil(units) if units is not None else None
    seq: tuple[SequencePoint, ...] = ()
    # Daily sequences come from per-(unit, day) SQL sums only: quantiles and the edit distance
    # (rapidfuzz outside SQL) get their final interval and no daily points.
    if m.kind == "ratio":
        seq = _sequence(g.metric, daily, plan, scale=g.scale, one_sided_sign=1.0 if g.bad_direction == "increase"
                        else -1.0, harm_alpha=t.harm_alpha or plan.alpha, tuning_n=tuning_n)
    return MetricResult(
        name=g.metric, role="guardrail", kind=m.kind, unit=m.unit, scale=g.scale,
        **_diff_fields(diff),
        ci_low=finite(t.ci_low), ci_high=finite(t.ci_high), se=finite(t.se), tolerance=g.tolerance,
        bad_direction=g.bad_direction, rule=g.rule, status=t.status, harm_p_value=t.harm_p_value,
        harm_p_value_holm=t.harm_p_value_holm, units_to_resolve=to_resolve, baseline_units=nb, candidate_units=nc,
        problem=t.problem, sequence=seq, strata=strata,
    )


def primary_result(p: Primary, m: Metric, diff: Difference | None, problem: str | None, plan: Plan, n: float,
                    tuning_n: float, nb: int, nc: int, daily: list[q.DailyArm],
                    strata: tuple[StratumResult, ...]) -> MetricResult:
    scale: Literal["absolute", "relative"] = "relative" if p.min_detectable_relative_effect is not None else "absolute"
    t = evaluate_primary(diff if problem is None else None, good_direction=p.direction, scale=scale,
                         alpha=plan.alpha, n=n, tuning_n=tuning_n)
    seq = _sequence(p.metric, daily, plan, scale=scale, one_sided_sign=None, harm_alpha=plan.alpha,
                    tuning_n=tuning_n) if m.kind == "ratio" else ()
    mde = p.min_detectable_effect if p.min_detectable_effect is not None else p.min_detectable_relative_effect
    return MetricResult(
        name=p.metric, role="primary", kind=m.kind, unit=m.unit, scale=scale,
        **_diff_fields(diff),
        ci_low=finite(t.ci_low), ci_high=finite(t.ci_high), se=finite(t.se), tolerance=None,
        bad_direction="decrease" if p.direction == "increase" else "increase",
        rule=f"primary: must not be significantly worse (good direction: {p.direction}; MDE {mde:g})",
        status=t.status, harm_p_value=None, harm_p_value_holm=None, units_to_resolve=None, baseline_units=nb,
        candidate_units=nc, problem=problem, sequence=seq, strata=strata,
    )

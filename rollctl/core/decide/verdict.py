"""The verdict rule: ROLLBACK on a clear breach with a sound assignment, GO when everything holds, HOLD
otherwise, with every reason and the next step."""

from __future__ import annotations

import math

from rollctl.core.decide.results import Check, MetricResult, TimeNeeded, Verdict, pct
from rollctl.core.results import Reason
from rollctl.plan import Plan

_ASSIGNMENT_CHECKS = {"SAMPLE_RATIO_MISMATCH", "MIXED_EXPOSURE", "ASSIGNMENT_MISMATCH"}


def _fmt(x: float | None, scale: str, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if scale == "relative":
        return f"{x:+.1%}"
    if unit == "share of requests":
        return f"{x * 100:+.2f} pp"
    return f"{x:+.4g}{(' ' + unit) if unit in ('ms', 'USD') else ''}"


def _breach_message(r: MetricResult) -> str:
    est = r.relative_estimate if r.scale == "relative" else r.estimate
    return (f"{r.name}: candidate {r.candidate_value:.4g} vs baseline {r.baseline_value:.4g}, change "
            f"{_fmt(est, r.scale, r.unit)} (peek-safe one-sided interval {_fmt(r.ci_low, r.scale, r.unit)} to "
            f"{_fmt(r.ci_high, r.scale, r.unit)}, harm p = {r.harm_p_value_holm:.2g} Holm-adjusted) breaks the rule "
            f"{r.rule}")


def decide_verdict(plan: Plan, stage: float, checks: list[Check], metrics: list[MetricResult],
             time_needed: TimeNeeded) -> tuple[Verdict, list[Reason], str]:
    failing = [c for c in checks if c.status == "fail"]
    assignment_broken = [c for c in failing if c.code in _ASSIGNMENT_CHECKS]
    breached = [m for m in metrics if m.role == "guardrail" and m.status == "breached"]
    nxt = plan.next_stage(stage)
    reasons: list[Reason] = []
    if breached and not assignment_broken:
        for m in breached:
            reasons.append(Reason("GUARDRAIL_BREACHED", _breach_message(m)))
        for c in failing:
            reasons.append(Reason(c.code, c.message))
        return "rollback", reasons, f"roll back: set the candidate to 0 % (stage {pct(stage)} → 0 %)"
    for c in failing:
        reasons.append(Reason(c.code, c.message))
    for m in breached:
        reasons.append(Reason("GUARDRAIL_BREACH_UNTRUSTED", _breach_message(m) + "; but the assignment checks failed, "
                              "so the comparison cannot be trusted: fix the assignment, then re-run"))
    for m in metrics:
        if m.role == "guardrail" and m.status == "inconclusive":
            extra = ""
            if m.units_to_resolve is not None and time_needed.new_units_per_day:
                more = max(m.units_to_resolve - time_needed.units_now, 0)
                extra = (f"; about {m.units_to_resolve:,} units ({math.ceil(more / time_needed.new_units_per_day)} "
                         "more day(s)) to show it within tolerance if the estimate holds")
            elif m.units_to_resolve is None:
                extra = "; its estimate is at or beyond the tolerance, more data can only confirm a breach"
            est = m.relative_estimate if m.scale == "relative" else m.estimate
            bound = m.ci_high if m.bad_direction == "increase" else m.ci_low
            reasons.append(Reason("GUARDRAIL_INCONCLUSIVE", f"{m.name}: change {_fmt(est, m.scale, m.unit)}, bound "
                                  f"{_fmt(bound, m.scale, m.unit)} not yet inside the tolerance {m.rule}{extra}"))
        elif m.status == "not_computable":
            reasons.append(Reason("METRIC_NOT_COMPUTABLE", f"{m.name}: {m.problem or 'cannot be computed'}"))
        elif m.role == "primary" and m.status == "worse":
            est = m.relative_estimate if m.scale == "relative" else m.estimate
            low, high = _fmt(m.ci_low, m.scale, m.unit), _fmt(m.ci_high, m.scale, m.unit)
            reasons.append(Reason("PRIMARY_WORSE", f"{m.name}: significantly worse, change "
                                  f"{_fmt(est, m.scale, m.unit)} (interval {low} to {high})"))
    if not reasons:
        step = f"ramp {pct(stage)} → {pct(nxt)}" if nxt is not None else "rollout complete: candidate at 100 %"
        return "go", [Reason("ALL_CLEAR", f"every check passed and every guardrail is within tolerance: {step}")], step
    if time_needed.days_remaining:
        wait = f"re-run in about {time_needed.days_remaining} day(s)"
    else:
        wait = "fix the failing checks and re-run"
    return "hold", reasons, f"hold at {pct(stage)}: {wait}"

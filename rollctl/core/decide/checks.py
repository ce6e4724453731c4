"""The validity checks that make canary numbers lie when they fail: assignment audit, pinned models and one
change at a time, time window and weekly cycle, cache-hit skew, planned sample."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from rollctl.checks import is_pinned_model
from rollctl.core.decide.results import Check, TimeNeeded, finite, pct
from rollctl.core.results import iso_utc
from rollctl.plan import Plan
from rollctl.sql import decide as q
from rollctl.stats.guardrails import (
    planned_total_units,
)
from rollctl.stats.ratio import Difference, RatioMoments, difference


def assignment_audit(counts: tuple[int, int, int], units: int, plan: Plan, stage: float) -> Check:
    """The audit's check from its sums (`assignment.wrong_arm_counts` over every (unit, arm) row) and the
    number of distinct units."""
    assert plan.hash is not None and plan.salt is not None
    total, wrong_traces, wrong_units = counts
    share = wrong_traces / total if total else 0.0
    fig = {"hash": plan.hash, "stage": stage, "traces": total, "wrong_arm_traces": wrong_traces,
           "wrong_arm_units": wrong_units, "units": units, "share": share,
           "limit": plan.max_assignment_mismatch}
    if share > plan.max_assignment_mismatch:
        return Check("ASSIGNMENT_MISMATCH", "fail", f"{wrong_traces:,} of {total:,} traces ({share:.1%}) were served "
                     f"the arm their unit should not get under {plan.hash}(salt, {plan.unit}) at {pct(stage)}: "
                     "the flag system and the plan disagree (salt, hash or stage)", fig)
    return Check("ASSIGNMENT_AUDIT", "pass" if wrong_traces == 0 else "warn",
                 f"{wrong_traces:,} of {total:,} traces ({share:.2%}) served the wrong arm under {plan.hash}", fig)


def model_checks(arms: dict[str, dict[str, Any]], plan: Plan) -> list[Check]:
    out: list[Check] = []
    models = {a: tuple(arms.get(a, {}).get("models") or ()) for a in (plan.baseline, plan.candidate)}
    prompts = {a: tuple(arms.get(a, {}).get("prompt_versions") or ()) for a in (plan.baseline, plan.candidate)}
    unpinned = sorted({m for ms in models.values() for m in ms if not is_pinned_model(m)})
    fig: dict[str, Any] = {"models": {k: list(v) for k, v in models.items()},
                           "prompt_versions": {k: list(v) for k, v in prompts.items()}}
    if unpinned:
        out.append(Check("UNPINNED_MODEL", "fail" if plan.require_pinned_models else "warn",
                         f"model string(s) {', '.join(unpinned)} name no date or version: the provider can change "
                         "them under the canary; pin snapshots", fig))
    elif any(models.values()):
        out.append(Check("PINNED_MODELS", "pass", "every model string names a snapshot", fig))
    drift = {a: ms for a, ms in models.items() if len(ms) > 1}
    if drift:
        out.append(Check("MODEL_DRIFT", "fail", "; ".join(f"arm {a} was served by {len(ms)} model strings "
                                                          f"({', '.join(ms[:4])})" for a, ms in drift.items())
                         + ": provider drift or a mixed arm", fig))
    model_diff = bool(models[plan.baseline] or models[plan.candidate]) and \
        set(models[plan.baseline]) != set(models[plan.candidate])
    prompt_diff = bool(prompts[plan.baseline] and prompts[plan.candidate]) and \
        set(prompts[plan.baseline]) != set(prompts[plan.candidate])
    fig = {**fig, "model_differs": model_diff, "prompt_version_differs": prompt_diff, "change": plan.change}
    if model_diff and prompt_diff:
        out.append(Check("MORE_THAN_ONE_CHANGE", "fail", "both the model and the prompt version differ between the "
                         "arms: a regression could not be attributed; change one thing at a time", fig))
    elif plan.change == "model" and prompt_diff:
        out.append(Check("CHANGE_KIND_MISMATCH", "fail", "the plan says change = \"model\" but the arms differ in "
                         "prompt_version, not model", fig))
    elif plan.change != "model" and model_diff:
        out.append(Check("CHANGE_KIND_MISMATCH", "fail", f"the plan says change = \"{plan.change}\" but the arms "
                         "are served by different models", fig))
    else:
        out.append(Check("ONE_CHANGE", "pass", f"the arms differ only as a {plan.change} change would", fig))
    return out


def time_checks(cov: dict[str, Any], plan: Plan, stage: float,
                 as_of: datetime | None) -> tuple[dict[str, Any], list[Check], float]:
    first, last = cov["first"], cov["last"]
    end = as_of if as_of is not None and last is not None and as_of > last else last
    hours = (end - first).total_seconds() / 3600 if first is not None and end is not None else 0.0
    days, weekend_days, weekday_days = int(cov["days"] or 0), int(cov["weekend_days"] or 0), \
        int(cov["weekday_days"] or 0)
    window: dict[str, Any] = {"first": iso_utc(first), "last": iso_utc(last), "end": iso_utc(end), "hours": hours,
                              "days": days, "weekend_days": weekend_days, "weekday_days": weekday_days}
    checks: list[Check] = []
    if cov.get("stray_requests"):
        strays = cov["stray_days"]
        checks.append(Check("STRAY_TIMESTAMPS", "warn", f"{cov['stray_requests']:,} request(s) on "
                            f"{len(strays)} day(s) far from the rest of the traffic ({strays[0]}"
                            f"{' … ' + strays[-1] if len(strays) > 1 else ''}) are left out of the stage's "
                            "duration; check the export's clock", {**window, "stray_requests": cov["stray_requests"],
                                                                     "stray_days": strays}))
    short = 0.0
    if hours < plan.min_stage_hours:
        short = plan.min_stage_hours - hours
        checks.append(Check("STAGE_TOO_SHORT", "fail", f"the stage has run {hours:.1f} h of the plan's "
                            f"{plan.min_stage_hours:g} h minimum", {**window, "needed_hours": plan.min_stage_hours}))
    else:
        checks.append(Check("STAGE_DURATION", "pass", f"{hours:.1f} h ≥ {plan.min_stage_hours:g} h", window))
    if stage == plan.stages[0] and plan.canary_min_days > 0:
        need_h = plan.canary_min_days * 24 - 1  # an hour of slack: traffic starts and ends at random moments
        if hours < need_h or days < plan.canary_min_days:
            short = max(short, need_h - hours)
            checks.append(Check("CANARY_TOO_SHORT", "fail", f"the first stage spans {hours / 24:.1f} day(s) over "
                                f"{window['days']} calendar day(s); the plan asks for {plan.canary_min_days} (a "
                                "full weekly cycle)", {**window, "needed_days": plan.canary_min_days}))
        if weekend_days == 0:
            checks.append(Check("NO_WEEKEND_TRAFFIC", "fail", "no weekend day in the window: weekend users behave "
                                "differently; run through a Saturday and Sunday", window))
        if weekday_days == 0:
            checks.append(Check("NO_WEEKDAY_TRAFFIC", "fail", "no weekday in the window", window))
        if hours >= need_h and days >= plan.canary_min_days and weekend_days and weekday_days:
            checks.append(Check("WEEKLY_CYCLE", "pass", f"{window['days']} days incl. {window['weekend_days']} "
                                "weekend day(s)", window))
    return window, checks, short


def cache_skew_check(base: RatioMoments, cand: RatioMoments, limit: float) -> tuple[Check, bool]:
    d = difference(base, cand)
    fig = {"baseline_rate": finite(d.baseline), "candidate_rate": finite(d.candidate),
           "difference": finite(d.absolute), "se": finite(d.se_absolute), "limit": limit}
    if not math.isfinite(d.absolute):
        return Check("CACHE_HIT_RATE", "skipped", "no cache_hit values", fig), False
    z = abs(d.absolute) / d.se_absolute if d.se_absolute > 0 else math.inf
    if abs(d.absolute) > limit and z > 3:
        return Check("CACHE_HIT_SKEW", "warn", f"cache-hit rate {d.candidate:.1%} (candidate) vs {d.baseline:.1%} "
                     "(baseline): cached calls are faster and cheaper, so latency and cost differences are partly "
                     "the cache; metrics are also reported within cache-hit strata", fig), True
    return Check("CACHE_HIT_RATE", "pass", f"cache-hit rate {d.candidate:.1%} vs {d.baseline:.1%}", fig), False




def planned_units(plan: Plan, stage: float, base_moments: dict[str, RatioMoments],
                   diffs: dict[str, Difference | None]) -> tuple[float, str]:
    """N* for the sequences and the sample the stage must reach: the plan's planned_units, else the
    normal-approximation n (with the sequential multiplier) for the primary MDE, using the baseline's
    per-unit variance (known before the candidate's data: the baseline arm is the status quo)."""
    if plan.planned_units:
        return float(plan.planned_units), "planned_units in the plan"
    p = stage / 100 if 0 < stage < 100 else 0.5
    best: float | None = None
    basis = ""
    for prim in plan.primary:
        mom = base_moments.get(prim.metric)
        if mom is None:
            continue
        var = mom.unit_variance()
        mde = prim.min_detectable_effect
        if mde is None and prim.min_detectable_relative_effect is not None and math.isfinite(mom.ratio):
            mde = prim.min_detectable_relative_effect * abs(mom.ratio)
        if mde is None or math.isnan(var):
            continue
        n = planned_total_units(var, p, mde, alpha=plan.alpha, power=plan.power)
        if n is not None and (best is None or n > best):
            best, basis = n, f"primary {prim.metric}: detect {mde:g} with power {plan.power:g}"
    if best is None:
        for g in plan.guardrails:
            mom = base_moments.get(g.metric)
            if mom is None:
                continue
            var = mom.unit_variance()
            mde = g.tolerance if g.scale == "absolute" else g.tolerance * abs(mom.ratio)
            n = planned_total_units(var, p, mde, alpha=plan.alpha, power=plan.power, one_sided=True) \
                if not math.isnan(var) and mde > 0 else None
            if n is not None:
                best, basis = n, f"guardrail {g.metric}: detect its tolerance with power {plan.power:g}"
                break
    if best is None:
        return 1000.0, "no computable primary metric: N* = 1000"
    return math.ceil(best), basis


def planned_sample_check(cov: dict[str, Any], planned: float, basis: str, n_total: float, hours_short: float,
                  daily: list[q.DailyArm]) -> tuple[Check, TimeNeeded]:
    # Units first seen per day, over the last (up to) three days: returning users are not new, so the
    # early days of a stage overstate the rate at which the sample still grows.
    new_by_day: dict[date, int] = {}
    for d in daily:
        new_by_day[d.day] = new_by_day.get(d.day, 0) + d.new_units
    recent = [new_by_day[k] for k in sorted(new_by_day)[-3:]]
    days = max(int(cov["days"] or 0), 1)
    rate = sum(recent) / len(recent) if recent else n_total / days
    remaining = max(planned - n_total, 0.0)
    days_sample = math.ceil(remaining / rate) if remaining > 0 and rate > 0 else (0 if remaining == 0 else None)
    days_time = math.ceil(hours_short / 24) if hours_short > 0 else 0
    days_remaining = None if days_sample is None else max(days_sample, days_time)
    tn = TimeNeeded(planned_units=int(planned), units_now=int(n_total), units_remaining=int(math.ceil(remaining)),
                    new_units_per_day=rate, days_for_sample=days_sample, hours_for_minimum_time=hours_short,
                    days_remaining=days_remaining)
    fig = {"planned_units": int(planned), "units": int(n_total), "basis": basis, "new_units_per_day": rate}
    if remaining > 0:
        when = f"about {days_sample} more day(s) at {rate:,.0f} new units/day" if days_sample is not None else \
            "unknown time (no traffic)"
        return Check("SAMPLE_NOT_REACHED", "fail", f"{int(n_total):,} of the planned {int(planned):,} units "
                     f"({basis}); {int(math.ceil(remaining)):,} more needed, {when}", fig), tn
    return Check("SAMPLE_SIZE", "pass", f"{int(n_total):,} units ≥ planned {int(planned):,} ({basis})", fig), tn

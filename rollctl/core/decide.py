"""`rollctl decide`: GO / HOLD / ROLLBACK before a ramp step, by the rule written in the plan.

Order of work: load the traces, run the validity checks that make canary numbers lie (sample-ratio
mismatch, mixed exposure, assignment audit, pinned models, one change at a time, cache-hit skew, time
window and weekly cycle, planned sample), then compare every guardrail and primary metric with peek-safe
confidence sequences (`rollctl.stats.guardrails`), then apply the verdict rule:

- ROLLBACK when a guardrail is clearly breached (harm shown, Holm across guardrails, and the estimate
  beyond the tolerance) and the assignment itself is sound (no SRM, mixed exposure or assignment
  mismatch beyond the plan's limits: with those the comparison cannot be trusted either way, so HOLD).
- GO when every check passes, every guardrail is within tolerance with confidence, no primary metric is
  significantly worse, and the stage has run its minimum time and reached its planned sample.
- HOLD otherwise, with every reason and the time still needed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rollctl import __version__
from rollctl.assignment import is_candidate
from rollctl.checks import is_pinned_model
from rollctl.core.results import SCHEMA_VERSION, Reason, iso_utc, skipped_lines_reason
from rollctl.db import Database
from rollctl.errors import InputError, UsageError
from rollctl.exit_codes import exit_code_for
from rollctl.load import LoadOptions, load_inputs
from rollctl.load.require import require_fields
from rollctl.metrics import Metric
from rollctl.plan import Guardrail, Plan, Primary
from rollctl.sql import decide as q
from rollctl.sql.units import ArmMoments, ratio_moments
from rollctl.stats.guardrails import (
    GuardrailInput,
    GuardrailTest,
    QuantileArm,
    evaluate_guardrails,
    evaluate_primary,
    planned_total_units,
    quantile_difference,
    quantile_rank_levels,
    units_until_resolved,
)
from rollctl.stats.ratio import Difference, RatioMoments, difference
from rollctl.stats.sequential import multiplier
from rollctl.stats.srm import srm_check
from rollctl.text_distance import MAX_COMPARED_CHARS, StreamedEditDistances, edit_distance_moments

Verdict = Literal["go", "hold", "rollback"]
CheckStatus = Literal["pass", "warn", "fail", "skipped"]
MIXED_WARN_SHARE = 0.01
CACHE_METRIC = Metric(
    name="_cache_hit_rate", kind="ratio", description="requests served from the provider cache / requests",
    unit="share of requests", higher_is_better=None, required_fields=("cache_hit",),
    numerator=lambda _p: "count(*) FILTER (WHERE cache_hit)", denominator=lambda _p: "count(cache_hit)",
    is_proportion=True,
)


@dataclass(frozen=True)
class Check:
    """One validity check: `fail` forces HOLD (never GO); `warn` is reported and does not block."""

    code: str
    status: CheckStatus
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequencePoint:
    """The metric's comparison as it stood at the end of one UTC day (cumulative data)."""

    day: str
    baseline_units: int
    candidate_units: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class StratumResult:
    stratum: str
    baseline_value: float | None
    candidate_value: float | None
    estimate: float | None
    relative_estimate: float | None
    se: float | None


@dataclass(frozen=True)
class MetricResult:
    """One metric's comparison: candidate − baseline, its interval, and the rule it was held to."""

    name: str
    role: Literal["guardrail", "primary"]
    kind: str
    unit: str
    scale: Literal["absolute", "relative"]
    """Scale of ci_low/ci_high/tolerance: absolute (metric units) or relative (fraction of baseline)."""
    baseline_value: float | None
    candidate_value: float | None
    estimate: float | None
    """Absolute difference, candidate − baseline."""
    relative_estimate: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    tolerance: float | None
    bad_direction: str | None
    rule: str
    status: str
    harm_p_value: float | None
    harm_p_value_holm: float | None
    units_to_resolve: int | None
    baseline_units: int
    candidate_units: int
    problem: str | None
    sequence: tuple[SequencePoint, ...] = ()
    strata: tuple[StratumResult, ...] = ()


@dataclass(frozen=True)
class TrafficDay:
    day: str
    variant: str
    requests: int
    new_units: int
    cumulative_units: int


@dataclass(frozen=True)
class TimeNeeded:
    """How far the stage is from a decision at the current traffic."""

    planned_units: int | None
    units_now: int
    units_remaining: int | None
    new_units_per_day: float | None
    days_for_sample: int | None
    hours_for_minimum_time: float
    days_remaining: int | None
    """Whole days until both the sample and the minimum time are reached (None: unknown)."""


@dataclass(frozen=True)
class DecideResult:
    """Everything `decide` found, rendered as a table, as --json, or as an HTML report."""

    schema_version: str
    command: str
    verdict: Verdict
    exit_code: int
    reasons: tuple[Reason, ...]
    plan: dict[str, Any]
    stage: float
    next_stage: float | None
    next_step: str
    as_of: str | None
    window: dict[str, Any]
    checks: tuple[Check, ...]
    metrics: tuple[MetricResult, ...]
    traffic: tuple[TrafficDay, ...]
    srm: dict[str, Any]
    time_needed: TimeNeeded
    alpha: float
    tuning_n: float
    units: dict[str, int]
    fingerprint: dict[str, Any]
    rollctl_version: str
    skipped_lines: int = 0
    """Malformed or wrong-typed lines `--on-bad-lines skip` left out."""


def _pct(stage: float) -> str:
    return f"{stage:g} %"


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def decide(db: Database, paths: Sequence[str], plan: Plan, *, stage: float | None = None,
           as_of: datetime | None = None, options: LoadOptions | None = None,
           daily_sequences: bool = False) -> DecideResult:
    """Load the traces and decide the stage by the plan.

    `daily_sequences` adds each ratio metric's interval at the end of every day (the report's chart): the
    verdict needs only today's interval (the sequences are valid at any time), and the day-by-day history
    costs a second, bigger pass (per unit and day) over the input.
    """
    stage = stage if stage is not None else plan.current_stage
    if stage is None:
        raise UsageError("which stage is this?", field="--stage",
                         fix="pass --stage PCT or set current_stage in the plan")
    if stage not in plan.stages:
        raise UsageError(f"--stage {stage:g} is not one of the plan's stages "
                         f"({', '.join(f'{s:g}' for s in plan.stages)})", field="--stage",
                         fix="pass the stage percentage the traces come from")
    metrics = _plan_metrics(plan)
    needs_text = any(f in ("output", "final_text", "input") for m in metrics for f in m.required_fields)
    options = options or LoadOptions(keep_text=needs_text)
    if options.trace_fields is None:
        options = replace(options, trace_fields=_fields_read(plan, metrics))
    # Parquet is read in place: decide makes a few passes over a dozen columns, cheaper than a copy.
    options = replace(options, read_in_place=True)
    report = load_inputs(db, paths, options)
    fields = [plan.unit, "variant", "timestamp"] + sorted({f for m in metrics for f in m.required_fields})
    require_fields(report, "traces", fields, command="decide")
    has_cache = "cache_hit" in report.found_fields("traces")
    result = analyse(db, plan, stage=stage, as_of=as_of, metrics=metrics, has_cache=has_cache,
                     daily_sequences=daily_sequences)
    if report.skipped_lines:
        result = replace(result, skipped_lines=report.skipped_lines,
                         reasons=(*result.reasons, skipped_lines_reason(report.skipped_lines)))
    return result


# Trace fields the analysis reads besides the unit and the metrics' own: the scope, the checks (models,
# prompt versions, cache hits) and the data fingerprint (thumbs, latency, cost, errors).
_ANALYSIS_FIELDS = frozenset({"variant", "served", "timestamp", "model", "prompt_version", "cache_hit", "thumbs",
                              "latency_ms", "cost_usd", "error"})


def _fields_read(plan: Plan, metrics: list[Metric]) -> frozenset[str]:
    """The only trace fields loaded: a 10 M-row export then holds a dozen columns, not every canonical one."""
    return _ANALYSIS_FIELDS | {plan.unit} | {f for m in metrics for f in m.required_fields}


def _plan_metrics(plan: Plan) -> list[Metric]:
    seen: dict[str, Metric] = {}
    for name in [g.metric for g in plan.guardrails] + [p.metric for p in plan.primary]:
        if name not in seen:
            seen[name] = plan.metric(name)
    return list(seen.values())


def analyse(db: Database, plan: Plan, *, stage: float, as_of: datetime | None, metrics: list[Metric],
            has_cache: bool, daily_sequences: bool = False) -> DecideResult:
    """The analysis over already-loaded `traces` (separated from loading for simulations and tests)."""
    scope = q.AnalysisScope(plan.unit, plan.baseline, plan.candidate, as_of)
    summary = q.arm_day_summary(db, scope)
    overview = summary.overview
    present = [str(v) for v in (overview["variants"] or [])]
    for arm, name in (("baseline", plan.baseline), ("candidate", plan.candidate)):
        if name not in present:
            raise InputError(f"the plan's {arm} variant {name!r} is not in the traces (variants found: "
                             f"{', '.join(present) or 'none'})", field="variant",
                             fix=f"set rollout.{arm} to the variant name used in the traces, or --map variant=...")
    checks: list[Check] = []
    if overview["other_variant"]:
        checks.append(Check("OTHER_VARIANTS", "warn", f"{overview['other_variant']:,} row(s) of other variants "
                            "ignored", {"rows": int(overview["other_variant"])}))
    if overview["shadow_rows"]:
        checks.append(Check("SHADOW_ROWS_IGNORED", "warn", f"{overview['shadow_rows']:,} shadow row(s) "
                            "(served = false) ignored", {"rows": int(overview["shadow_rows"])}))

    # One scan of the analysed rows into per-unit sums; everything per unit reads those.
    ratio_metrics = [m for m in metrics if m.kind == "ratio"]
    # Quantiles first, so the per-unit pass also counts each unit's values below its arm's quantile (the
    # quantile's variance); if units served both arms turn up, both are redone without them.
    quantiles = {m.name: _quantile_values(db, scope, plan, m) for m in metrics if m.kind == "quantile"}
    indicators = {m.name: (m.column, {a: v["quantile"] for a, v in quantiles[m.name][0].items()})
                  for m in metrics if m.kind == "quantile" and m.column is not None and quantiles[m.name][0]}
    layout = q.unit_sums(scope, ratio_metrics + ([CACHE_METRIC] if has_cache else []), indicators=indicators)
    q.build_units(db, scope, layout)

    # Mixed exposure, then SRM on the units that stay in the analysis.
    mixed = q.mark_mixed_units(db, scope)
    audit_rows = q.unit_arms(db) if plan.hash is not None and plan.salt is not None else []
    if int(mixed["mixed_units"]):
        q.drop_mixed_units(db)
    units_all = int(mixed["units"])
    mixed_units = int(mixed["mixed_units"])
    mixed_share = mixed_units / units_all if units_all else 0.0
    mixed_fig = {"mixed_units": mixed_units, "units": units_all, "share": mixed_share,
                 "mixed_requests": int(mixed["mixed_requests"]), "limit": plan.max_mixed_exposure}
    if mixed_share > plan.max_mixed_exposure:
        checks.append(Check("MIXED_EXPOSURE", "fail", f"{mixed_units:,} of {units_all:,} units ({mixed_share:.1%}) "
                            f"were served both arms, above the plan's limit {plan.max_mixed_exposure:.1%}: the "
                            "assignment is not per unit (hashing on request or session id?); they are excluded",
                            mixed_fig))
    elif mixed_share >= MIXED_WARN_SHARE:
        checks.append(Check("MIXED_EXPOSURE", "warn", f"{mixed_units:,} units ({mixed_share:.1%}) were served both "
                            "arms; excluded from the analysis", mixed_fig))
    else:
        checks.append(Check("MIXED_EXPOSURE", "pass", f"{mixed_units:,} unit(s) served both arms "
                            f"({mixed_share:.2%}); excluded", mixed_fig))
    scope = q.AnalysisScope(plan.unit, plan.baseline, plan.candidate, as_of, exclude_mixed=mixed_units > 0)
    nb, nc = int(mixed["baseline_units"]), int(mixed["candidate_units"])
    if nb + nc == 0:
        raise InputError("no unit was served exactly one arm", fix="check the variant and unit fields")
    srm = srm_check([nb, nc], [100 - stage, stage] if stage < 100 else [0.0, 100.0],
                    p_threshold=plan.srm_p_value, min_relative_deviation=plan.srm_min_relative_deviation)
    srm_fig = {"baseline_units": nb, "candidate_units": nc, "expected_candidate_share": stage / 100,
               "observed_candidate_share": nc / (nb + nc), "chi2": srm.chi2, "p_value": srm.p_value,
               "max_relative_deviation": srm.max_relative_deviation, "p_threshold": plan.srm_p_value,
               "min_relative_deviation": plan.srm_min_relative_deviation}
    if stage >= 100:
        checks.append(Check("SAMPLE_RATIO", "skipped", "stage 100 %: no split to check", srm_fig))
    elif srm.status == "fail":
        checks.append(Check("SAMPLE_RATIO_MISMATCH", "fail", f"units per arm {nb:,} / {nc:,} (candidate "
                            f"{nc / (nb + nc):.2%}) do not match the stage's {_pct(stage)} split (χ² p = "
                            f"{srm.p_value:.2g}): the assignment or logging is broken; fix it before trusting "
                            "any metric", srm_fig))
    elif srm.status == "warn":
        checks.append(Check("SAMPLE_RATIO", "warn", f"units per arm {nb:,} / {nc:,}: statistically off the "
                            f"{_pct(stage)} split (p = {srm.p_value:.2g}) but by less than "
                            f"{plan.srm_min_relative_deviation:.0%} of the expected share", srm_fig))
    elif srm.status == "inconclusive":
        checks.append(Check("SAMPLE_RATIO", "warn", "too few units per arm to check the split", srm_fig))
    else:
        checks.append(Check("SAMPLE_RATIO", "pass", f"units per arm {nb:,} / {nc:,} match the {_pct(stage)} "
                            f"split (p = {srm.p_value:.2g})", srm_fig))

    if plan.hash is not None and plan.salt is not None:
        checks.append(_assignment_audit(audit_rows, plan, stage))
    if scope.exclude_mixed:
        summary = q.arm_day_summary(db, scope)
    details = {str(r["variant"]): r for r in summary.details}
    checks.extend(_model_checks(details, plan))
    traffic_days = q.daily_traffic(db, summary.requests_per_day)
    coverage = q.time_coverage(traffic_days, summary.day_bounds)
    window, time_checks, hours_short = _time_checks(coverage, plan, stage, as_of)
    checks.extend(time_checks)

    # Metrics.
    moment_metrics = ratio_metrics + ([CACHE_METRIC] if has_cache else [])
    moments = q.unit_moments(db, layout, moment_metrics)
    distinct = [m for m in moment_metrics if not m.summable]
    if distinct:
        where, where_params = scope.where()
        extra = ratio_moments(db, distinct, unit=plan.unit, where_sql=where, where_params=where_params)
        moments = {arm: ArmMoments(am.variant, am.units, am.requests,
                                   {**am.metrics, **(extra[arm].metrics if arm in extra else {})})
                   for arm, am in moments.items()}
    text_metrics = [m for m in metrics if m.kind == "text_distance"]
    if text_metrics:
        moments, capped = _with_edit_distance(db, scope, plan, text_metrics, moments)
        if capped:
            checks.append(Check("EDIT_DISTANCE_CAPPED", "warn", f"{capped:,} draft(s) or final text(s) longer than "
                                f"{MAX_COMPARED_CHARS:,} characters: their edit distance compares the first "
                                f"{MAX_COMPARED_CHARS:,} characters of each", {"capped": capped}))
    base, cand = moments.get(plan.baseline), moments.get(plan.candidate)
    if base is None or cand is None:
        raise InputError("one arm has no analysable units", fix="check the variant, unit and timestamp fields")
    n_total = float(base.units + cand.units)
    diffs: dict[str, Difference | None] = {}
    problems: dict[str, str] = {}
    for m in ratio_metrics + text_metrics:
        d = difference(base.metrics[m.name], cand.metrics[m.name])
        if m.kind == "text_distance" and min(base.metrics[m.name].n, cand.metrics[m.name].n) == 0:
            problems[m.name] = "no request with both output and final_text (an edited or sent draft) in one arm"
        elif not math.isfinite(d.se_absolute) or d.se_absolute <= 0:
            problems[m.name] = "no variance: too few units or a constant metric in both arms"
        diffs[m.name] = d
    for m in metrics:
        if m.kind == "quantile":
            diffs[m.name], prob = _quantile_diff(db, scope, layout, plan, m, quantiles[m.name])
            if prob:
                problems[m.name] = prob

    strata: dict[str, tuple[StratumResult, ...]] = {}
    if has_cache:
        cache_check, stratify = _cache_check(base.metrics[CACHE_METRIC.name], cand.metrics[CACHE_METRIC.name],
                                             plan.max_cache_hit_difference)
        checks.append(cache_check)
        if stratify:
            strata = _cache_strata(db, scope, plan, ratio_metrics)

    tuning_n, plan_basis = _planned_units(plan, stage, base.metrics, diffs)
    daily = _with_daily_moments(db, scope, layout, ratio_metrics, traffic_days) if daily_sequences else traffic_days
    sample_check, time_needed = _sample_check(coverage, tuning_n, plan_basis, n_total, hours_short, daily)
    checks.append(sample_check)

    guard_inputs = []
    for g in plan.guardrails:
        guard_inputs.append(GuardrailInput(g.metric, g.bad_direction, g.scale, g.tolerance, diffs.get(g.metric),
                                           problems.get(g.metric)))
    tests = evaluate_guardrails(guard_inputs, alpha=plan.alpha, n=n_total, tuning_n=tuning_n)
    tests = [_zero_event_bound(g, t, base.metrics.get(g.metric), cand.metrics.get(g.metric), plan.alpha)
             for g, t in zip(plan.guardrails, tests, strict=True)]
    results: list[MetricResult] = []
    metric_by_name = {m.name: m for m in metrics}
    for g, t in zip(plan.guardrails, tests, strict=True):
        results.append(_guardrail_result(g, t, metric_by_name[g.metric], diffs.get(g.metric), plan, n_total,
                                         tuning_n, base.units, cand.units, daily, strata.get(g.metric, ())))
    for p in plan.primary:
        results.append(_primary_result(p, metric_by_name[p.metric], diffs.get(p.metric), problems.get(p.metric),
                                       plan, n_total, tuning_n, base.units, cand.units, daily,
                                       strata.get(p.metric, ())))

    traffic = tuple(TrafficDay(str(d.day), d.variant, d.requests, d.new_units, d.cumulative_units) for d in daily)
    verdict, reasons, next_step = _verdict(plan, stage, checks, results, time_needed)
    fp = _fingerprint(details)
    return DecideResult(
        schema_version=SCHEMA_VERSION, command="decide", verdict=verdict, exit_code=int(exit_code_for(verdict)),
        reasons=tuple(reasons), plan={"path": plan.path, "name": plan.name, "sha256": plan.sha256,
                                      "change": plan.change, "baseline": plan.baseline,
                                      "candidate": plan.candidate, "unit": plan.unit},
        stage=stage, next_stage=plan.next_stage(stage), next_step=next_step, as_of=iso_utc(as_of), window=window,
        checks=tuple(checks), metrics=tuple(results), traffic=traffic, srm=srm_fig, time_needed=time_needed,
        alpha=plan.alpha, tuning_n=tuning_n, units={"baseline": base.units, "candidate": cand.units,
                                                    "mixed_excluded": mixed_units},
        fingerprint=fp, rollctl_version=__version__,
    )


def _with_daily_moments(db: Database, scope: q.AnalysisScope, layout: q.UnitSums, metrics: list[Metric],
                        traffic: list[q.DailyArm]) -> list[q.DailyArm]:
    moments = q.daily_moments(db, scope, layout, metrics)
    return [replace(d, metrics={name: replace(m, n=d.cumulative_units)
                                for name, m in moments.get((d.day, d.variant), {}).items()}) for d in traffic]


def _with_edit_distance(db: Database, scope: q.AnalysisScope, plan: Plan, text_metrics: list[Metric],
                        moments: dict[str, ArmMoments]) -> tuple[dict[str, ArmMoments], int]:
    """Add the edit-distance moments (rapidfuzz over streamed text, `rollctl.text_distance`) to each arm's
    metrics, over the same analysed rows as every other metric. Units without an edited-or-sent draft are
    not in them (they carry no information on the metric); an arm without any gets empty moments."""
    where, where_params = scope.where()
    distances = StreamedEditDistances()
    arms = edit_distance_moments(db, unit=plan.unit, where_sql=where, where_params=where_params,
                                 distances=distances)
    empty = RatioMoments(n=0, sum_y=0.0, sum_y2=0.0, sum_n=0.0, sum_n2=0.0, sum_yn=0.0)
    out = {}
    for variant, am in moments.items():
        ed = arms[variant].moments if variant in arms else empty
        out[variant] = ArmMoments(am.variant, am.units, am.requests,
                                  {**am.metrics, **{m.name: ed for m in text_metrics}})
    return out, distances.capped


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------

def _assignment_audit(unit_arms: list[tuple[str, str, int]], plan: Plan, stage: float) -> Check:
    assert plan.hash is not None and plan.salt is not None
    wrong_traces = total = wrong_units = 0
    units: set[str] = set()
    for unit, variant, n in unit_arms:
        expected = plan.candidate if is_candidate(plan.hash, plan.salt, unit, stage) else plan.baseline
        total += n
        units.add(unit)
        if variant != expected:
            wrong_traces += n
            wrong_units += 1
    share = wrong_traces / total if total else 0.0
    fig = {"hash": plan.hash, "stage": stage, "traces": total, "wrong_arm_traces": wrong_traces,
           "wrong_arm_units": wrong_units, "units": len(units), "share": share,
           "limit": plan.max_assignment_mismatch}
    if share > plan.max_assignment_mismatch:
        return Check("ASSIGNMENT_MISMATCH", "fail", f"{wrong_traces:,} of {total:,} traces ({share:.1%}) were served "
                     f"the arm their unit should not get under {plan.hash}(salt, {plan.unit}) at {_pct(stage)}: "
                     "the flag system and the plan disagree (salt, hash or stage)", fig)
    return Check("ASSIGNMENT_AUDIT", "pass" if wrong_traces == 0 else "warn",
                 f"{wrong_traces:,} of {total:,} traces ({share:.2%}) served the wrong arm under {plan.hash}", fig)


def _model_checks(arms: dict[str, dict[str, Any]], plan: Plan) -> list[Check]:
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


def _time_checks(cov: dict[str, Any], plan: Plan, stage: float,
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


def _cache_check(base: RatioMoments, cand: RatioMoments, limit: float) -> tuple[Check, bool]:
    d = difference(base, cand)
    fig = {"baseline_rate": _finite(d.baseline), "candidate_rate": _finite(d.candidate),
           "difference": _finite(d.absolute), "se": _finite(d.se_absolute), "limit": limit}
    if not math.isfinite(d.absolute):
        return Check("CACHE_HIT_RATE", "skipped", "no cache_hit values", fig), False
    z = abs(d.absolute) / d.se_absolute if d.se_absolute > 0 else math.inf
    if abs(d.absolute) > limit and z > 3:
        return Check("CACHE_HIT_SKEW", "warn", f"cache-hit rate {d.candidate:.1%} (candidate) vs {d.baseline:.1%} "
                     "(baseline): cached calls are faster and cheaper, so latency and cost differences are partly "
                     "the cache; metrics are also reported within cache-hit strata", fig), True
    return Check("CACHE_HIT_RATE", "pass", f"cache-hit rate {d.candidate:.1%} vs {d.baseline:.1%}", fig), False


def _cache_strata(db: Database, scope: q.AnalysisScope, plan: Plan,
                  ratio_metrics: list[Metric]) -> dict[str, tuple[StratumResult, ...]]:
    out: dict[str, list[StratumResult]] = {m.name: [] for m in ratio_metrics}
    where, params = scope.where()
    for label, cond in (("cache_hit", "cache_hit"), ("cache_miss", "NOT cache_hit")):
        mom = ratio_moments(db, ratio_metrics, unit=plan.unit, where_sql=f"{where} AND {cond}", where_params=params)
        b, c = mom.get(plan.baseline), mom.get(plan.candidate)
        for m in ratio_metrics:
            if b is None or c is None:
                out[m.name].append(StratumResult(label, None, None, None, None, None))
                continue
            d = difference(b.metrics[m.name], c.metrics[m.name])
            out[m.name].append(StratumResult(label, _finite(d.baseline), _finite(d.candidate), _finite(d.absolute),
                                             _finite(d.relative), _finite(d.se_absolute)))
    return {k: tuple(v) for k, v in out.items()}


QuantileValues = tuple[dict[str, dict[str, float]], str | None]
"""Per arm: n and the values at the lower outer-CI level, the quantile and the upper level; or a problem."""


def _quantile_values(db: Database, scope: q.AnalysisScope, plan: Plan, m: Metric) -> QuantileValues:
    assert m.column is not None and m.quantile is not None
    counts = q.quantile_counts(db, scope, m.column)
    levels = {}
    for arm in (plan.baseline, plan.candidate):
        n = int(counts.get(arm, 0))
        if n < 20:
            return {}, f"{m.column}: only {n} value(s) in arm {arm}"
        levels[arm] = quantile_rank_levels(n, m.quantile)
    values = q.quantile_values(db, scope, m.column, m.quantile, levels)
    if set(values) != {plan.baseline, plan.candidate}:
        return {}, f"{m.column}: no values in one arm"
    return values, None


def _quantile_diff(db: Database, scope: q.AnalysisScope, layout: q.UnitSums, plan: Plan,
                   m: Metric, before_exclusion: QuantileValues) -> tuple[Difference | None, str | None]:
    """The quantile difference, from the values and per-unit counts taken before mixed units were known
    (the usual case: none), else recomputed without them."""
    assert m.column is not None and m.quantile is not None
    values, problem = _quantile_values(db, scope, plan, m) if scope.exclude_mixed else before_exclusion
    if problem is not None:
        return None, problem
    if scope.exclude_mixed or m.name not in layout.below:
        indicators = q.indicator_moments(db, scope, m.column, {a: v["quantile"] for a, v in values.items()})
    else:
        indicators = q.unit_indicator_moments(db, layout, m.name, m.column)
    arms = {a: QuantileArm(n=int(v["n"]), nu=m.quantile, quantile=v["quantile"], lower=v["lower"], upper=v["upper"],
                           indicator=indicators[a]) for a, v in values.items()}
    d = quantile_difference(arms[plan.baseline], arms[plan.candidate])
    if d is None:
        return None, f"{m.column}: too few values for the {m.quantile:.0%} quantile's variance"
    return d, None


def _planned_units(plan: Plan, stage: float, base_moments: dict[str, RatioMoments],
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


def _sample_check(cov: dict[str, Any], planned: float, basis: str, n_total: float, hours_short: float,
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


# ---------------------------------------------------------------------------------------------------
# Metric results
# ---------------------------------------------------------------------------------------------------

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
        out.append(SequencePoint(str(day), b.cumulative_units, c.cumulative_units, _finite(est), low, high))
    return tuple(out)


def _zero_event_bound(g: Guardrail, t: GuardrailTest, base: RatioMoments | None, cand: RatioMoments | None,
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
    return {"baseline_value": _finite(diff.baseline), "candidate_value": _finite(diff.candidate),
            "estimate": _finite(diff.absolute), "relative_estimate": _finite(diff.relative)}


def _guardrail_result(g: Guardrail, t: GuardrailTest, m: Metric, diff: Difference | None, plan: Plan, n: float,
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
        ci_low=_finite(t.ci_low), ci_high=_finite(t.ci_high), se=_finite(t.se), tolerance=g.tolerance,
        bad_direction=g.bad_direction, rule=g.rule, status=t.status, harm_p_value=t.harm_p_value,
        harm_p_value_holm=t.harm_p_value_holm, units_to_resolve=to_resolve, baseline_units=nb, candidate_units=nc,
        problem=t.problem, sequence=seq, strata=strata,
    )


def _primary_result(p: Primary, m: Metric, diff: Difference | None, problem: str | None, plan: Plan, n: float,
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
        ci_low=_finite(t.ci_low), ci_high=_finite(t.ci_high), se=_finite(t.se), tolerance=None,
        bad_direction="decrease" if p.direction == "increase" else "increase",
        rule=f"primary: must not be significantly worse (good direction: {p.direction}; MDE {mde:g})",
        status=t.status, harm_p_value=None, harm_p_value_holm=None, units_to_resolve=None, baseline_units=nb,
        candidate_units=nc, problem=problem, sequence=seq, strata=strata,
    )


# ---------------------------------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------------------------------

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


def _verdict(plan: Plan, stage: float, checks: list[Check], metrics: list[MetricResult],
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
        return "rollback", reasons, f"roll back: set the candidate to 0 % (stage {_pct(stage)} → 0 %)"
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
        step = f"ramp {_pct(stage)} → {_pct(nxt)}" if nxt is not None else "rollout complete: candidate at 100 %"
        return "go", [Reason("ALL_CLEAR", f"every check passed and every guardrail is within tolerance: {step}")], step
    if time_needed.days_remaining:
        wait = f"re-run in about {time_needed.days_remaining} day(s)"
    else:
        wait = "fix the failing checks and re-run"
    return "hold", reasons, f"hold at {_pct(stage)}: {wait}"


# ---------------------------------------------------------------------------------------------------
# Decision log
# ---------------------------------------------------------------------------------------------------

def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return iso_utc(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def _fingerprint(details: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Rows, time range and a SHA-256 of per-arm sums (thumbs, latency, cost, errors, models): cheap, and
    any change in the analysed rows changes it."""
    arms = [{k: details[v][k] for k in ("variant", "requests", "first", "last", "thumbs_sum", "latency_sum",
                                        "cost_sum", "errors", "models", "prompt_versions")} for v in sorted(details)]
    # DuckDB sums floats in parallel, so a sum's last bits differ from run to run: hashed at 12 significant
    # digits (as --json prints numbers), the same data gives the same fingerprint.
    stable = [{k: float(f"{x:.12g}") if isinstance(x, float) else x for k, x in arm.items()} for arm in arms]
    text = json.dumps(stable, sort_keys=True, default=_default)
    return {"rows": sum(int(a["requests"]) for a in arms),
            "first": min((iso_utc(a["first"]) or "" for a in arms), default=None),
            "last": max((iso_utc(a["last"]) or "" for a in arms), default=None),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def decision_log_line(result: DecideResult) -> str:
    """One JSON line that lets a decision be replayed: verdict, plan hash, data fingerprint, version."""
    entry = {
        "schema_version": result.schema_version, "command": "decide", "verdict": result.verdict,
        "exit_code": result.exit_code, "reasons": [r.code for r in result.reasons], "stage": result.stage,
        "next_stage": result.next_stage, "as_of": result.as_of, "plan_path": result.plan["path"],
        "plan_sha256": result.plan["sha256"], "data": result.fingerprint, "rollctl_version": result.rollctl_version,
        "decided_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return json.dumps(entry, sort_keys=True)


def append_decision_log(path: str | Path, result: DecideResult) -> None:
    p = Path(path)
    try:
        with p.open("a", encoding="utf-8") as fh:
            fh.write(decision_log_line(result) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot append to the decision log ({exc.strerror})", path=str(p),
                         fix="pass a writable --log path") from None

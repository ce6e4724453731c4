"""Loading the traces and the analysis: the SQL passes, then checks, comparisons and the verdict, in order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from rollctl import __version__
from rollctl.core.decide.checks import (
    assignment_audit,
    cache_skew_check,
    model_checks,
    planned_sample_check,
    planned_units,
    time_checks,
)
from rollctl.core.decide.comparisons import guardrail_result, primary_result, zero_event_bound
from rollctl.core.decide.log import fingerprint
from rollctl.core.decide.results import (
    MIXED_WARN_SHARE,
    Check,
    DecideResult,
    MetricResult,
    StratumResult,
    TrafficDay,
    finite,
    pct,
)
from rollctl.core.decide.verdict import decide_verdict
from rollctl.core.results import SCHEMA_VERSION, iso_utc, skipped_lines_reason
from rollctl.db import Database, QueryEngine
from rollctl.engines.spark import SparkEngine
from rollctl.errors import InputError, PlanError, UsageError
from rollctl.exit_codes import exit_code_for
from rollctl.load import LoadOptions, load_inputs
from rollctl.load.require import require_fields
from rollctl.metrics import Metric, reads_text
from rollctl.plan import Plan
from rollctl.sql import decide as q
from rollctl.sql.units import ArmMoments, ratio_moments
from rollctl.stats.guardrails import (
    GuardrailInput,
    QuantileArm,
    evaluate_guardrails,
    quantile_difference,
    quantile_rank_levels,
)
from rollctl.stats.power import PlanningInputError
from rollctl.stats.ratio import Difference, RatioMoments, difference
from rollctl.stats.srm import srm_check
from rollctl.text_distance import MAX_COMPARED_CHARS, StreamedEditDistances, edit_distance_moments

CACHE_METRIC = Metric(
    name="_cache_hit_rate", kind="ratio", description="requests served from the provider cache / requests",
    unit="share of requests", higher_is_better=None, required_fields=("cache_hit",),
    numerator=lambda _p: "count(*) FILTER (WHERE cache_hit)", denominator=lambda _p: "count(cache_hit)",
    is_proportion=True,
)


def decide(db: Database | SparkEngine, paths: Sequence[str], plan: Plan, *, stage: float | None = None,
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
    options = options or LoadOptions(keep_text=reads_text(metrics))
    if options.trace_fields is None:
        options = replace(options, trace_fields=_fields_read(plan, metrics))
    # Parquet is read in place: decide makes a few passes over a dozen columns, cheaper than a copy.
    options = replace(options, read_in_place=True)
    report = load_inputs(db, paths, options)
    fields = [plan.unit, "variant", "timestamp"] + sorted({f for m in metrics for f in m.required_fields})
    require_fields(report, "traces", fields, command="decide")
    has_cache = "cache_hit" in report.found_fields("traces")
    try:
        result = analyse(db, plan, stage=stage, as_of=as_of, metrics=metrics, has_cache=has_cache,
                         daily_sequences=daily_sequences)
    except PlanningInputError as exc:  # a plan value the statistics cannot plan with: name the plan's key
        raise PlanError(exc.message, path=plan.path, field=exc.parameter,
                        fix=exc.fix_for(exc.parameter)) from None
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


def analyse(db: Database | SparkEngine, plan: Plan, *, stage: float, as_of: datetime | None, metrics: list[Metric],
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
    audit = (q.assignment_counts(db, plan.hash, plan.salt, stage, plan.baseline, plan.candidate)
             if plan.hash is not None and plan.salt is not None else None)
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
                            f"{nc / (nb + nc):.2%}) do not match the stage's {pct(stage)} split (χ² p = "
                            f"{srm.p_value:.2g}): the assignment or logging is broken; fix it before trusting "
                            "any metric", srm_fig))
    elif srm.status == "warn":
        checks.append(Check("SAMPLE_RATIO", "warn", f"units per arm {nb:,} / {nc:,}: statistically off the "
                            f"{pct(stage)} split (p = {srm.p_value:.2g}) but by less than "
                            f"{plan.srm_min_relative_deviation:.0%} of the expected share", srm_fig))
    elif srm.status == "inconclusive":
        checks.append(Check("SAMPLE_RATIO", "warn", "too few units per arm to check the split", srm_fig))
    else:
        checks.append(Check("SAMPLE_RATIO", "pass", f"units per arm {nb:,} / {nc:,} match the {pct(stage)} "
                            f"split (p = {srm.p_value:.2g})", srm_fig))

    if plan.hash is not None and plan.salt is not None:
        assert audit is not None
        checks.append(assignment_audit(audit, int(mixed["units"]), plan, stage))
    if scope.exclude_mixed:
        summary = q.arm_day_summary(db, scope)
    details = {str(r["variant"]): r for r in summary.details}
    checks.extend(model_checks(details, plan))
    traffic_days = q.daily_traffic(db, summary.requests_per_day)
    coverage = q.time_coverage(traffic_days, summary.day_bounds)
    window, window_checks, hours_short = time_checks(coverage, plan, stage, as_of)
    checks.extend(window_checks)

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
        skew, stratify = cache_skew_check(base.metrics[CACHE_METRIC.name], cand.metrics[CACHE_METRIC.name],
                                          plan.max_cache_hit_difference)
        checks.append(skew)
        if stratify:
            strata = _cache_strata(db, scope, plan, ratio_metrics)

    tuning_n, plan_basis = planned_units(plan, stage, base.metrics, diffs)
    daily = _with_daily_moments(db, scope, layout, ratio_metrics, traffic_days) if daily_sequences else traffic_days
    sample, time_needed = planned_sample_check(coverage, tuning_n, plan_basis, n_total, hours_short, daily)
    checks.append(sample)

    guard_inputs = []
    for g in plan.guardrails:
        guard_inputs.append(GuardrailInput(g.metric, g.bad_direction, g.scale, g.tolerance, diffs.get(g.metric),
                                           problems.get(g.metric)))
    tests = evaluate_guardrails(guard_inputs, alpha=plan.alpha, n=n_total, tuning_n=tuning_n)
    tests = [zero_event_bound(g, t, base.metrics.get(g.metric), cand.metrics.get(g.metric), plan.alpha)
             for g, t in zip(plan.guardrails, tests, strict=True)]
    results: list[MetricResult] = []
    metric_by_name = {m.name: m for m in metrics}
    for g, t in zip(plan.guardrails, tests, strict=True):
        results.append(guardrail_result(g, t, metric_by_name[g.metric], diffs.get(g.metric), plan, n_total,
                                         tuning_n, base.units, cand.units, daily, strata.get(g.metric, ())))
    for p in plan.primary:
        results.append(primary_result(p, metric_by_name[p.metric], diffs.get(p.metric), problems.get(p.metric),
                                       plan, n_total, tuning_n, base.units, cand.units, daily,
                                       strata.get(p.metric, ())))

    traffic = tuple(TrafficDay(str(d.day), d.variant, d.requests, d.new_units, d.cumulative_units) for d in daily)
    verdict, reasons, next_step = decide_verdict(plan, stage, checks, results, time_needed)
    fp = fingerprint(details)
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


def _with_daily_moments(db: QueryEngine, scope: q.AnalysisScope, layout: q.UnitSums, metrics: list[Metric],
                        traffic: list[q.DailyArm]) -> list[q.DailyArm]:
    moments = q.daily_moments(db, scope, layout, metrics)
    return [replace(d, metrics={name: replace(m, n=d.cumulative_units)
                                for name, m in moments.get((d.day, d.variant), {}).items()}) for d in traffic]


def _with_edit_distance(db: Database | SparkEngine, scope: q.AnalysisScope, plan: Plan, text_metrics: list[Metric],
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




def _cache_strata(db: QueryEngine, scope: q.AnalysisScope, plan: Plan,
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
            out[m.name].append(StratumResult(label, finite(d.baseline), finite(d.candidate), finite(d.absolute),
                                             finite(d.relative), finite(d.se_absolute)))
    return {k: tuple(v) for k, v in out.items()}


QuantileValues = tuple[dict[str, dict[str, float]], str | None]
"""Per arm: n and the values at the lower outer-CI level, the quantile and the upper level; or a problem."""


def _quantile_values(db: QueryEngine, scope: q.AnalysisScope, plan: Plan, m: Metric) -> QuantileValues:
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


def _quantile_diff(db: QueryEngine, scope: q.AnalysisScope, layout: q.UnitSums, plan: Plan,
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

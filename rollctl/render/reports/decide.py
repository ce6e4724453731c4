"""The HTML report of `rollctl decide`: each metric's estimate and interval against its tolerance, its confidence
sequence day by day, traffic per arm per day, the sample-ratio check and every validity check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollctl.core.decide import DecideResult, MetricResult
from rollctl.render.charts import bar_chart, interval_chart, line_chart
from rollctl.render.html import (
    Chart,
    Column,
    InputFile,
    ReportInputs,
    ReportMeta,
    Table,
    documented,
    fmt_pct,
    report_meta,
)


@dataclass(frozen=True)
class DecideReportContext:
    """Everything `templates/decide.html` shows, built from a `DecideResult`."""

    meta: ReportMeta = documented("Verdict (go / hold / rollback), every reason, inputs with the plan and its "
                                  "sha256, version.")
    next_step: str = documented("What to do now (the next stage, how long to wait, or the rollback).")
    stages: str = documented("Current stage and the next one, in percent of traffic.")
    metric_charts: tuple[Chart, ...] = documented("Estimate and interval of every metric against its tolerance: "
                                                  "one chart for relative-scale metrics, one for absolute.")
    metrics: Table = documented("Per metric: role, baseline and candidate values, estimate, interval, tolerance, "
                                "status, harm p-value (Holm), units to resolve.")
    rules: Table = documented("Each metric's rule from the plan, in words.")
    sequence_charts: tuple[Chart, ...] = documented("Each metric's confidence sequence over time (daily), with its "
                                                    "tolerance.")
    sequences: Table = documented("The sequences as numbers: metric, day, units per arm, estimate, interval.")
    traffic_chart: Chart | None = documented("New units per arm per day; None without daily traffic.")
    traffic: Table = documented("Requests, new units and cumulative units per arm per day.")
    srm: Table = documented("Sample-ratio check: units per arm, expected and observed candidate share, chi², p.")
    checks: Table = documented("Every validity check with its status and message.")
    time_needed: Table = documented("Planned units, units now and remaining, days to the sample and minimum time.")
    strata: Table | None = documented("Per-stratum estimates of ratio metrics, when the plan stratifies.")


def _signed_tolerance(m: MetricResult) -> float | None:
    if m.tolerance is None:
        return None
    return -m.tolerance if m.bad_direction == "decrease" else m.tolerance


def _value(m: MetricResult) -> float | None:
    return m.relative_estimate if m.scale == "relative" else m.estimate


def _forest(chart_id: str, title: str, metrics: Sequence[MetricResult], pct: bool) -> Chart:
    return interval_chart(
        chart_id, title,
        "Candidate − baseline with its confidence-sequence interval; the red mark is the plan's tolerance in the "
        "harmful direction. A guardrail is breached when the whole interval is past its tolerance.",
        labels=[m.name for m in metrics], estimates=[_value(m) for m in metrics],
        lows=[m.ci_low for m in metrics], highs=[m.ci_high for m in metrics],
        axis_title="relative change" if pct else "absolute change", pct=pct, reference=0.0,
        tolerances=[_signed_tolerance(m) for m in metrics],
        hover=[f"{m.role}: {m.status}; {m.rule}" for m in metrics],
    )


def build_decide_context(result: DecideResult, *, paths: Sequence[str] = ()) -> DecideReportContext:
    r = result
    plan = r.plan
    inputs = ReportInputs(
        files=tuple(InputFile(path=p, format="", kind="traces", rows=None) for p in paths),
        row_counts=(("rows", int(r.fingerprint.get("rows", 0))), (f"{plan.get('baseline', 'baseline')} units",
                                                                 r.units.get("baseline", 0)),
                    (f"{plan.get('candidate', 'candidate')} units", r.units.get("candidate", 0))),
        first=r.window.get("first"), last=r.window.get("last"),
        plan=str(plan["path"]) if plan.get("path") is not None else None,
        plan_hash=str(plan["sha256"]) if plan.get("sha256") is not None else None,
    )
    name = plan.get("name") or "rollout"
    meta = report_meta(title=f"decide: {name} at {r.stage:g}%", command="decide", verdict=r.verdict,
                       exit_code=r.exit_code, reasons=r.reasons, inputs=inputs)
    relative = [m for m in r.metrics if m.scale == "relative"]
    absolute = [m for m in r.metrics if m.scale != "relative"]
    metric_charts = tuple(
        _forest(cid, title, ms, pct)
        for cid, title, ms, pct in (("metrics-relative-chart", "Metrics (relative change)", relative, True),
                                    ("metrics-absolute-chart", "Metrics (absolute change)", absolute, False))
        if ms
    )
    metrics = Table(
        id="metrics", caption="Metrics",
        columns=(Column("metric", "text"), Column("role", "text"), Column("scale", "text"),
                 Column(str(plan.get("baseline", "baseline")), "num"),
                 Column(str(plan.get("candidate", "candidate")), "num"), Column("change", "num"),
                 Column("interval", "ci"), Column("tolerance", "num"), Column("status", "text"),
                 Column("harm p (Holm)", "pvalue"), Column("units to resolve", "num")),
        rows=tuple((m.name, m.role, m.scale, m.baseline_value, m.candidate_value, _value(m), (m.ci_low, m.ci_high),
                    _signed_tolerance(m), m.status + (f" ({m.problem})" if m.problem else ""), m.harm_p_value_holm,
                    m.units_to_resolve) for m in r.metrics),
    )
    rules = Table(
        id="rules", caption="The plan's rules",
        columns=(Column("metric", "text"), Column("rule", "text")),
        rows=tuple((m.name, m.rule) for m in r.metrics),
    )
    sequence_charts: list[Chart] = []
    for m in r.metrics:
        if not m.sequence:
            continue
        tol = _signed_tolerance(m)
        pct = m.scale == "relative"
        sequence_charts.append(line_chart(
            f"sequence-{len(sequence_charts)}", f"{m.name}: confidence sequence by day",
            "Cumulative estimate after each day with its anytime-valid interval: safe to look every day.",
            x=[p.day for p in m.sequence], series={m.name: [p.estimate for p in m.sequence]},
            bands={m.name: ([p.ci_low for p in m.sequence], [p.ci_high for p in m.sequence])},
            axis_title="relative change" if pct else "change", x_title="day", pct=pct, reference=0.0,
            hlines={"tolerance": tol} if tol is not None else None,
        ))
    sequences = Table(
        id="sequences", caption="Confidence sequences",
        columns=(Column("metric", "text"), Column("day", "text"), Column("baseline units", "num"),
                 Column("candidate units", "num"), Column("change", "num"), Column("interval", "ci")),
        rows=tuple((m.name, p.day, p.baseline_units, p.candidate_units, p.estimate, (p.ci_low, p.ci_high))
                   for m in r.metrics for p in m.sequence),
    )
    days = list(dict.fromkeys(t.day for t in r.traffic))
    variants = list(dict.fromkeys(t.variant for t in r.traffic))
    by_key = {(t.day, t.variant): t for t in r.traffic}
    traffic_chart = None
    if r.traffic:
        traffic_chart = bar_chart(
            "traffic-chart", "Traffic per arm per day",
            f"New units per day in each arm; expected candidate share "
            f"{fmt_pct(r.srm.get('expected_candidate_share'))}, observed "
            f"{fmt_pct(r.srm.get('observed_candidate_share'))}.",
            categories=days,
            series={v: [by_key[(d, v)].new_units if (d, v) in by_key else None for d in days] for v in variants},
            axis_title="new units",
        )
    traffic = Table(
        id="traffic", caption="Traffic per day",
        columns=(Column("day", "text"), Column("variant", "text"), Column("requests", "num"),
                 Column("new units", "num"), Column("cumulative units", "num")),
        rows=tuple((t.day, t.variant, t.requests, t.new_units, t.cumulative_units) for t in r.traffic),
    )
    s = r.srm
    srm = Table(
        id="srm", caption="Sample ratio",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=tuple((k.replace("_", " "), v) for k, v in s.items() if isinstance(v, int | float | None)
                   and not isinstance(v, bool)),
    )
    checks = Table(
        id="checks", caption="Validity checks",
        columns=(Column("check", "text"), Column("status", "text"), Column("message", "text")),
        rows=tuple((c.code, c.status, c.message) for c in r.checks),
    )
    t = r.time_needed
    time_needed = Table(
        id="time-needed", caption="Time needed",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=(("planned units", t.planned_units), ("units now", t.units_now), ("units remaining", t.units_remaining),
              ("new units per day", t.new_units_per_day), ("days for the sample", t.days_for_sample),
              ("hours for the minimum time", t.hours_for_minimum_time), ("days remaining", t.days_remaining)),
    )
    strata_rows = tuple((m.name, st.stratum, st.baseline_value, st.candidate_value, st.estimate,
                         st.relative_estimate, st.se) for m in r.metrics for st in m.strata)
    strata = Table(
        id="strata", caption="Strata",
        columns=(Column("metric", "text"), Column("stratum", "text"), Column("baseline", "num"),
                 Column("candidate", "num"), Column("change", "num"), Column("relative", "pct_signed"),
                 Column("SE", "num")),
        rows=strata_rows,
    ) if strata_rows else None
    next_stage = f"{r.next_stage:g}%" if r.next_stage is not None else "none (last stage)"
    return DecideReportContext(
        meta=meta, next_step=r.next_step, stages=f"stage {r.stage:g}% → next {next_stage}",
        metric_charts=metric_charts, metrics=metrics, rules=rules, sequence_charts=tuple(sequence_charts),
        sequences=sequences,
        traffic_chart=traffic_chart, traffic=traffic, srm=srm, checks=checks, time_needed=time_needed,
        strata=strata,
    )

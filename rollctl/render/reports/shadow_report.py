"""The HTML report of `rollctl shadow-report`: judge preference (raw and length-controlled), latency and cost per
arm, tail metrics old vs new, segments where the candidate loses, and the example pairs side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollctl.core.shadow_report import Example, JudgeResult, MetricDelta, ShadowReportResult
from rollctl.render.charts import bar_chart, interval_chart
from rollctl.render.html import (
    Chart,
    Column,
    InputFile,
    ReportInputs,
    ReportMeta,
    Table,
    TextDiff,
    documented,
    fmt_num,
    fmt_pct,
    report_meta,
    text_diff,
)

_METRIC_UNITS = {"latency": "ms", "ttft": "ms", "output_tokens": "tokens", "cost": "USD", "judge_score": "score"}


@dataclass(frozen=True)
class ShadowExample:
    """One pair to read: why it is shown, the judge's verdicts and both outputs with their differences."""

    request_id: str = documented("The request (untrusted text).")
    segment: str | None = documented("Its segment value, when --segment-by was given.")
    why: tuple[str, ...] = documented("Why this pair was picked (judge preferred the baseline, new JSON break, ...).")
    judge_verdicts: tuple[str, ...] = documented("The judge's verdict per order.")
    edit_distance: float | None = documented("Normalised edit distance between the outputs (0 identical, 1 disjoint).")
    baseline_error: str | None = documented("Error class of the baseline answer, if any.")
    candidate_error: str | None = documented("Error class of the candidate answer, if any.")
    input: str | None = documented("The user input (untrusted; escaped).")
    diff: TextDiff = documented("Baseline and candidate outputs side by side with the changes marked.")


@dataclass(frozen=True)
class ShadowReportContext:
    """Everything `templates/shadow_report.html` shows, built from a `ShadowReportResult`."""

    meta: ReportMeta = documented("Verdict (go / hold / rollback ...), every reason, inputs, version.")
    summary: str = documented("One line: pairs, arms, hours, judge.")
    judge_chart: Chart | None = documented("Candidate win rate per judge, raw and length-controlled, with "
                                           "intervals, against 50%; None without judgements.")
    judges: Table | None = documented("Per judge: verdict counts, win rate and interval, length-controlled win "
                                      "rate, order consistency, first-position rate, error rate.")
    metric_charts: tuple[Chart, ...] = documented("Latency and cost (and other metrics present): quantiles per arm.")
    metrics: Table = documented("Per metric: means per arm, paired delta with interval, relative change, p-value.")
    quantiles: Table = documented("Per metric and quantile: baseline, candidate, delta and its interval.")
    tail_chart: Chart | None = documented("Tail metrics (errors, refusals, JSON breaks, ...): candidate − baseline "
                                          "rate with intervals.")
    tails: Table = documented("Tail metrics: rates per arm, newly broken / fixed pairs, p and adjusted p.")
    segment_chart: Chart | None = documented("Candidate win rate per segment with intervals, against 50%.")
    segments: Table | None = documented("Per segment: pairs, share, wins / ties / losses, win rate, adjusted p, "
                                        "whether the candidate loses and why, eval-set coverage.")
    eval_gap: str | None = documented("Traffic the eval set does not cover, in one sentence; None without "
                                      "--eval-set.")
    pairing: Table = documented("How rows became pairs: pairs, unpaired and duplicate rows, users, hours, "
                                "weekday / weekend pairs.")
    text: Table = documented("Output differences: exact matches, edit distance, length change, JSON mode.")
    error_classes: Table = documented("Error classes per arm.")
    examples: tuple[ShadowExample, ...] = documented("The example pairs (at most --examples), outputs diffed.")


def _judge_rows(judges: Sequence[JudgeResult]) -> tuple[tuple[object, ...], ...]:
    return tuple(
        (j.judge, j.n, j.wins, j.ties, j.losses, j.errors, j.win_rate, (j.ci_low, j.ci_high),
         j.length_controlled_win_rate, (j.length_controlled_ci_low, j.length_controlled_ci_high), j.p_value,
         j.order_consistency, j.first_position_rate, j.error_rate)
        for j in judges
    )


def _metric_chart(m: MetricDelta, baseline: str, candidate: str) -> Chart:
    labels = [f"p{q.q * 100:g}" for q in m.quantiles]
    unit = _METRIC_UNITS.get(m.metric, "")
    name = m.metric.replace("_", " ")
    # Bars, not a line: p50, p95 and p99 are three separate summaries, and a line between them would draw a
    # distribution that was never measured.
    return bar_chart(
        f"metric-{m.metric}", f"{name.capitalize()} per arm",
        f"Quantiles over {m.pairs:,} pairs; means: {baseline} {fmt_num(m.baseline_mean)}, {candidate} "
        f"{fmt_num(m.candidate_mean)} {unit} ({fmt_pct(m.relative, signed=True)}).",
        categories=labels, axis_title=f"{name} ({unit})",
        series={baseline: [q.baseline for q in m.quantiles], candidate: [q.candidate for q in m.quantiles]},
    )


def _example(e: Example, baseline: str, candidate: str) -> ShadowExample:
    title = f"{e.request_id}" + (f" · {e.segment}" if e.segment is not None else "")
    return ShadowExample(
        request_id=e.request_id, segment=e.segment, why=e.why, judge_verdicts=e.judge_verdicts,
        edit_distance=e.edit_distance, baseline_error=e.baseline_error, candidate_error=e.candidate_error,
        input=e.input, diff=text_diff(title, baseline, candidate, e.baseline_output, e.candidate_output),
    )


def build_shadow_report_context(result: ShadowReportResult, *, paths: Sequence[str] = ()) -> ShadowReportContext:
    r = result
    p = r.pairing
    inputs = ReportInputs(
        files=tuple(InputFile(path=path, format="", kind="traces / pairs", rows=None) for path in paths),
        row_counts=(("rows", p.rows), ("pairs", p.pairs)), first=p.first, last=p.last, plan=None, plan_hash=None,
    )
    meta = report_meta(title=f"shadow-report: {r.candidate} vs {r.baseline}", command="shadow-report",
                       verdict=r.verdict, exit_code=r.exit_code, reasons=r.reasons, inputs=inputs)
    judges = [j for j in (r.judge, *r.other_judges) if j is not None]
    judge_chart = judges_table = None
    if judges:
        labels: list[str] = []
        est: list[float | None] = []
        lows: list[float | None] = []
        highs: list[float | None] = []
        for j in judges:
            labels += [f"{j.judge} (raw)", f"{j.judge} (length-controlled)"]
            est += [j.win_rate, j.length_controlled_win_rate]
            lows += [j.ci_low, j.length_controlled_ci_low]
            highs += [j.ci_high, j.length_controlled_ci_high]
        judge_chart = interval_chart(
            "judge-chart", "Judge preference for the candidate",
            "Win rate with ties as half (verdicts that flip with answer order count as ties); 50% is no "
            "preference. The length-controlled estimate removes the judge's preference for longer answers.",
            labels=labels, estimates=est, lows=lows, highs=highs, axis_title="candidate win rate", pct=True,
            reference=0.5,
        )
        judges_table = Table(
            id="judges", caption="Judges",
            columns=(Column("judge", "text"), Column("verdicts", "num"), Column("wins", "num"), Column("ties", "num"),
                     Column("losses", "num"), Column("errors", "num"), Column("win rate", "pct"),
                     Column("interval", "ci_pct"), Column("length-controlled", "pct"), Column("interval", "ci_pct"),
                     Column("p", "pvalue"), Column("order consistency", "pct"), Column("first-position rate", "pct"),
                     Column("error rate", "pct")),
            rows=_judge_rows(judges),
        )
    metrics = [m for m in (r.latency, r.ttft, r.output_tokens, r.cost, r.judge_score) if m is not None]
    metric_charts = tuple(_metric_chart(m, r.baseline, r.candidate) for m in metrics
                          if m.metric in ("latency", "cost") and m.pairs)
    metrics_table = Table(
        id="metrics", caption="Paired metrics (candidate − baseline)",
        columns=(Column("metric", "text"), Column("pairs", "num"), Column(r.baseline, "num"),
                 Column(r.candidate, "num"), Column("delta", "num"), Column("interval", "ci"),
                 Column("relative", "pct_signed"), Column("p", "pvalue")),
        rows=tuple((m.metric, m.pairs, m.baseline_mean, m.candidate_mean, m.delta, (m.ci_low, m.ci_high), m.relative,
                    m.p_value) for m in metrics),
    )
    quantiles = Table(
        id="quantiles", caption="Quantiles",
        columns=(Column("metric", "text"), Column("quantile", "num"), Column(r.baseline, "num"),
                 Column(r.candidate, "num"), Column("delta", "num"), Column("interval", "ci")),
        rows=tuple((m.metric, q.q, q.baseline, q.candidate, q.delta, (q.ci_low, q.ci_high))
                   for m in metrics for q in m.quantiles),
    )
    tail_chart = None
    if r.tails:
        tail_chart = interval_chart(
            "tail-chart", "Tail metrics: candidate − baseline",
            "Difference in the share of pairs with each problem; right of 0 is worse for the candidate.",
            labels=[t.name.replace("_", " ") for t in r.tails], estimates=[t.delta for t in r.tails],
            lows=[t.ci_low for t in r.tails], highs=[t.ci_high for t in r.tails], axis_title="difference in rate",
            pct=True, reference=0.0,
        )
    tails = Table(
        id="tails", caption="Tail metrics, old vs new",
        columns=(Column("metric", "text"), Column("pairs", "num"), Column(r.baseline, "pct"),
                 Column(r.candidate, "pct"), Column("newly broken", "num"), Column("fixed", "num"),
                 Column("delta", "pct_signed"), Column("interval", "ci_pct"), Column("p", "pvalue"),
                 Column("adjusted p", "pvalue"), Column("worse", "text")),
        rows=tuple((t.name, t.pairs, t.baseline_rate, t.candidate_rate, t.new_only, t.fixed_only, t.delta,
                    (t.ci_low, t.ci_high), t.p_value, t.p_adjusted, "worse" if t.worse else "") for t in r.tails),
    )
    segment_chart = segments = None
    if r.segments:
        names = [s.segment if s.segment is not None else "(none)" for s in r.segments]
        segment_chart = interval_chart(
            "segment-chart", f"Candidate win rate by {r.segment_by}",
            "Per segment, with intervals; below 50% the judge prefers the baseline there. Segments where the "
            "candidate loses are listed with their reasons in the table.",
            labels=names, estimates=[s.win_rate for s in r.segments], lows=[s.ci_low for s in r.segments],
            highs=[s.ci_high for s in r.segments], axis_title="candidate win rate", pct=True, reference=0.5,
            hover=[f"{s.pairs:,} pairs" for s in r.segments],
        )
        segments = Table(
            id="segments", caption=f"Segments ({r.segment_by}; {r.segment_correction} correction)",
            columns=(Column("segment", "text"), Column("pairs", "num"), Column("share", "pct"), Column("wins", "num"),
                     Column("ties", "num"), Column("losses", "num"), Column("win rate", "pct"),
                     Column("interval", "ci_pct"), Column("adjusted p", "pvalue"), Column("loses", "text"),
                     Column("why", "text"), Column("in eval set", "text")),
            rows=tuple((n, s.pairs, s.share, s.wins, s.ties, s.losses, s.win_rate, (s.ci_low, s.ci_high),
                        s.p_adjusted, "loses" if s.loses else "", ", ".join(s.loss_reasons),
                        {True: "yes", False: "no", None: "—"}[s.in_eval_set]) for n, s in zip(names, r.segments,
                                                                                             strict=True)),
        )
    eval_gap = None
    if r.eval_gap is not None:
        g = r.eval_gap
        eval_gap = (f"{g.uncovered_share:.1%} of pairs ({g.uncovered_pairs:,}) are in segments the eval set "
                    f"({g.eval_cases:,} cases) does not cover: {', '.join(g.uncovered_segments) or 'none'}.")
    pairing = Table(
        id="pairing", caption="Pairing",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=(("rows", p.rows), ("pairs", p.pairs), ("baseline-only requests", p.baseline_only_requests),
              ("candidate-only requests", p.candidate_only_requests), ("duplicate requests", p.duplicate_requests),
              ("rows without request_id", p.no_request_id_rows), ("rows of other arms", p.other_arm_rows),
              ("users", p.users), ("hours", p.hours), ("weekday pairs", p.weekday_pairs),
              ("weekend pairs", p.weekend_pairs)),
    )
    d = r.diffs
    text = Table(
        id="text-diffs", caption="Output differences",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=(("pairs", d.pairs), ("both answered", d.both_answered), ("exact match rate", d.exact_match_rate),
              ("mean edit distance", d.mean_edit_distance), ("p90 edit distance", d.p90_edit_distance),
              ("relative length change", d.relative_length_change),
              (f"mean length {r.baseline}", d.mean_length_baseline),
              (f"mean length {r.candidate}", d.mean_length_candidate), ("pairs expected to be JSON",
                                                                       d.json_expected_pairs)),
    )
    error_classes = Table(
        id="error-classes", caption="Error classes",
        columns=(Column("class", "text"), Column(r.baseline, "num"), Column(r.candidate, "num")),
        rows=tuple((str(e.get("cls")), e.get("baseline"), e.get("candidate")) for e in r.error_classes),
    )
    judge_name = r.judge.judge if r.judge is not None else "no judge"
    summary = (f"{r.pairs:,} pairs · {r.baseline} (served) vs {r.candidate} (shadow) · "
               f"{p.hours:,.1f} h · {judge_name}" if p.hours is not None else f"{r.pairs:,} pairs · {judge_name}")
    return ShadowReportContext(
        meta=meta, summary=summary, judge_chart=judge_chart, judges=judges_table, metric_charts=metric_charts,
        metrics=metrics_table, quantiles=quantiles, tail_chart=tail_chart, tails=tails,
        segment_chart=segment_chart, segments=segments, eval_gap=eval_gap, pairing=pairing, text=text,
        error_classes=error_classes,
        examples=tuple(_example(e, r.baseline, r.candidate) for e in r.examples),
    )

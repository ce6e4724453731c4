"""The analysis over the pairs: text diffs, the judge's preference, paired metric deltas with a cluster
bootstrap, tails, segments (Holm), the eval gap and the examples shown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rollctl.core.results import SCHEMA_VERSION, Reason, skipped_lines_reason
from rollctl.core.shadow_report.results import (
    EvalGap,
    Example,
    JudgeResult,
    MetricDelta,
    Pairing,
    Quantile,
    SegmentResult,
    ShadowReportResult,
    Tail,
    TextDiffs,
    histogram,
)
from rollctl.core.shadow_report.settings import METRICS, ShadowOptions, ShadowSettings
from rollctl.core.shadow_report.verdict import shadow_verdict
from rollctl.db import Database
from rollctl.errors import InputError
from rollctl.exit_codes import exit_code_for
from rollctl.load import (
    PairedRows,
)
from rollctl.sql import shadow as q
from rollctl.stats import judge as js
from rollctl.stats import shadow as ss
from rollctl.text_distance import MAX_COMPARED_CHARS, StreamedEditDistances


@dataclass(frozen=True)
class Paired:
    """What pairing leaves for the analysis, besides `_shadow_pairs` and the canonical `judgements`/`evals`."""

    counts: dict[str, Any]
    pairs: int
    distances: NDArray[np.float32]
    """normalized edit distance by pid; NaN where a pair has no distance (an answer missing, or equal answers)"""
    judgements: int
    sources: list[PairedRows] | None
    """the paired files the answers were streamed from (None: the answers are in `traces`)"""
    kept_answers: dict[int, tuple[str | None, str | None, str | None]] = field(default_factory=dict)
    """sid -> (input, baseline answer, candidate answer) of the streamed rows likeliest to be examples"""
    capped: int = 0
    """pairs whose edit distance was computed on the first `MAX_COMPARED_CHARS` characters only"""
    skipped_lines: int = 0
    """lines `--on-bad-lines skip` left out (the stream is not used in that mode)"""

def analyse(db: Database, options: ShadowOptions, segment: q.Segment | None, paired: Paired) -> ShadowReportResult:
    st = options.settings
    n, dist = paired.pairs, paired.distances
    pairing = _pairing(paired.counts, q.span(db))
    total, seg_rows = q.summaries(db)
    if segment is not None and seg_rows and all(r["segment"] is None for r in seg_rows):
        raise _no_segment_values(db, segment, paired)
    exact_pids = _exact_mask(db, n)
    dist[exact_pids] = 0.0

    diffs = _diffs(total, dist, options.expect_json)
    tails = _tails(total, st)
    clusters = q.pair_clusters(db, n)
    metrics = {m: _metric(db, m, f, st, options.seed, clusters) for m, f in METRICS}
    score_delta = _metric(db, "score", "judge_score", st, options.seed, clusters, quantiles=False)

    judge: JudgeResult | None = None
    others: list[JudgeResult] = []
    unmatched = 0
    if paired.judgements > 0:
        problems = q.judgement_problems(db)
        _raise_judgement_problems(problems)
        q.build_judged_units(db)
        unmatched = int(problems["rows"]) - q.paired_verdicts(db)
        all_judges = [_judge(db, row, st) for row in q.judges(db)]
        if all_judges:
            judge, others = all_judges[0], all_judges[1:]

    segments: list[SegmentResult] = []
    gap: EvalGap | None = None
    if segment is not None:
        segments = _segments(db, seg_rows, dist, judge, st, n)
        if options.eval_set is not None:
            segments, gap = _eval_gap(db, segments, segment)

    examples = _examples(db, dist, judge, options.examples, paired, options)
    mde = judge.mde if judge is not None else None
    reasons, verdict = shadow_verdict(pairing, judge, tails, segments, gap, st, mde, metrics)
    if unmatched > 0:
        reasons.append(Reason("JUDGEMENTS_UNMATCHED", f"{unmatched:,} judge verdict(s) match no shadow pair: their "
                              "request_id is not a request both arms answered (check that the judge file and the "
                              "traces name requests the same way)"))
    if paired.skipped_lines:
        reasons.append(skipped_lines_reason(paired.skipped_lines))
    if paired.capped:
        reasons.append(Reason("EDIT_DISTANCE_CAPPED", f"{paired.capped:,} pair(s) with an answer longer than "
                              f"{MAX_COMPARED_CHARS:,} characters: their edit distance compares the first "
                              f"{MAX_COMPARED_CHARS:,} characters of each (a bound on the work one record costs)"))
    return ShadowReportResult(
        schema_version=SCHEMA_VERSION, command="shadow-report", verdict=verdict,
        exit_code=int(exit_code_for(verdict)), reasons=tuple(reasons),
        baseline=options.baseline, candidate=options.candidate, pairs=n, pairing=pairing, diffs=diffs,
        judge=judge, other_judges=tuple(others), unmatched_judgements=unmatched,
        latency=metrics["latency"], ttft=metrics["ttft"], output_tokens=metrics["tokens"], cost=metrics["cost"],
        judge_score=score_delta, tails=tuple(tails), error_classes=tuple(q.error_classes(db)),
        segment_by=options.segment_by, segment_correction=st.segment_correction, segments=tuple(segments),
        segment_losses=tuple(s.segment for s in segments if s.loses), eval_gap=gap, examples=tuple(examples),
        mde=mde, settings=dict(st.__dict__.items()), seed=options.seed, capped_distances=paired.capped,
        skipped_lines=paired.skipped_lines,
    )


def edit_distances_of(distances: StreamedEditDistances, baseline: Any, candidate: Any) -> NDArray[np.float32]:
    """Normalized Levenshtein distance of each pair of answers (`rollctl.text_distance`)."""
    return distances(baseline, candidate).astype(np.float32)


def _exact_mask(db: Database, n: int) -> NDArray[np.int64]:
    table = db.fetch_arrow(f"SELECT pid FROM {q.PAIRS} WHERE exact AND out_b AND out_c")
    return np.asarray(table.column("pid").to_numpy(), dtype=np.int64)


def _pairing(counts: dict[str, Any], sp: dict[str, Any]) -> Pairing:
    seconds = sp["seconds"]
    return Pairing(
        rows=int(counts["rows"]), pairs=int(counts["pairs"]),
        baseline_only_requests=int(counts["baseline_only_requests"]),
        baseline_only_rows=int(counts["baseline_only_rows"]),
        candidate_only_requests=int(counts["candidate_only_requests"]),
        candidate_only_rows=int(counts["candidate_only_rows"]),
        duplicate_requests=int(counts["duplicate_requests"]), duplicate_rows=int(counts["duplicate_rows"]),
        no_request_id_rows=int(counts["no_request_id_rows"]), other_arm_rows=int(counts["other_arm_rows"]),
        users=int(sp["users"]),
        first=sp["first"].isoformat().replace("+00:00", "Z") if sp["first"] is not None else None,
        last=sp["last"].isoformat().replace("+00:00", "Z") if sp["last"] is not None else None,
        hours=float(seconds) / 3600 if seconds is not None else None,
        weekday_pairs=int(sp["weekday_pairs"]), weekend_pairs=int(sp["weekend_pairs"]),
    )


def _diffs(total: dict[str, Any], dist: NDArray[np.float32], expect_json: bool | None) -> TextDiffs:
    pairs = int(total["pairs"])
    finite = dist[np.isfinite(dist)]
    return TextDiffs(
        pairs=pairs,
        exact_match_rate=int(total["exact"]) / pairs if pairs else None,
        both_answered=int(total["both_answered"]),
        mean_edit_distance=float(finite.mean()) if finite.size else None,
        p90_edit_distance=float(np.quantile(finite, 0.9)) if finite.size else None,
        relative_length_change=_opt(total["rel_length_change"]),
        mean_length_baseline=_opt(total["mean_len_b"]),
        mean_length_candidate=_opt(total["mean_len_c"]),
        json_expected_pairs=int(total["json_breaks_n"]),
        json_mode="auto (either answer looks like JSON)" if expect_json is None
        else ("all answers" if expect_json else "off"),
    )


def _opt(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _tails(total: dict[str, Any], st: ShadowSettings) -> list[Tail]:
    raw = [ss.mcnemar(int(total[f"{name}_n"]), int(total[f"{name}_b"]), int(total[f"{name}_c"]),
                      int(total[f"{name}_new"]), int(total[f"{name}_fixed"]), alpha=st.alpha)
           for name, _, _ in q.TAILS]
    # Four tail metrics are one family: Holm keeps the chance of any false alarm at alpha.
    adjusted = ss.adjust([m.p_value if m.n else None for m in raw], "holm")
    out = []
    for (name, _, _), m, padj in zip(q.TAILS, raw, adjusted, strict=True):
        worse = padj is not None and padj < st.alpha and m.new_only > m.fixed_only
        mde = ss.mcnemar_mde(m.n, m.new_only + m.fixed_only, alpha=st.alpha, power=st.power)
        out.append(Tail(name=name, pairs=m.n, baseline=m.baseline_count, candidate=m.candidate_count,
                        baseline_rate=m.baseline_rate, candidate_rate=m.candidate_rate, new_only=m.new_only,
                        fixed_only=m.fixed_only, delta=m.delta, ci_low=m.ci_low, ci_high=m.ci_high,
                        p_value=m.p_value, p_adjusted=padj, worse=worse, mde=mde))
    return out


def _metric(db: Database, metric: str, field_name: str, st: ShadowSettings, seed: int, clusters: NDArray[np.int64],
            *, quantiles: bool = True) -> MetricDelta | None:
    """The paired delta of one metric over the pairs where both arms have it, clustered by user."""
    pid, b, c = q.metric_values(db, metric)
    if pid.size == 0:
        return None
    u = clusters[pid]
    if pid.size < clusters.size:
        u = np.unique(u, return_inverse=True)[1].astype(np.int64)  # dense again over these pairs
    n = int(b.size)
    pm = ss.paired_mean(n, float(b.sum()), float(c.sum()), np.asarray(np.bincount(u, weights=c - b), dtype=np.float64),
                        np.bincount(u).astype(np.float64), alpha=st.alpha)
    qs: tuple[Quantile, ...] = ()
    if quantiles:
        qs = tuple(Quantile(x.q, x.baseline, x.candidate, x.delta, x.ci_low, x.ci_high)
                   for x in ss.quantile_bootstrap(b, c, u, reps=st.bootstrap_reps, seed=seed, alpha=st.alpha))

    def per_m(v: float | None) -> float | None:
        return v * 1_000_000 if v is not None and metric == "cost" else None

    return MetricDelta(
        metric=metric, field=field_name, pairs=n, clusters=pm.clusters, baseline_mean=pm.baseline_mean,
        candidate_mean=pm.candidate_mean, delta=pm.delta, ci_low=pm.ci_low, ci_high=pm.ci_high,
        p_value=pm.p_value, relative=pm.relative, quantiles=qs,
        per_million_requests=per_m(pm.delta), per_million_ci_low=per_m(pm.ci_low),
        per_million_ci_high=per_m(pm.ci_high), histogram=histogram(b, c) if quantiles else None,
    )


def _raise_judgement_problems(problems: dict[str, Any]) -> None:
    if problems["bad_winner"]:
        raise InputError(f"{problems['bad_winner']} judgement(s) have a winner outside baseline|candidate|tie|error",
                         path=problems["bad_winner_file"], field="winner",
                         fix="map the judge's labels to baseline, candidate, tie or error")
    if problems["bad_order"]:
        raise InputError(f"{problems['bad_order']} judgement(s) have an order other than "
                         "baseline_first|candidate_first", path=problems["bad_order_file"], field="order",
                         fix="write which answer was shown first as baseline_first or candidate_first")
    if problems["bad_preference"]:
        raise InputError(f"{problems['bad_preference']} preference value(s) are outside [-1, 1]",
                         path=problems["bad_preference_file"], field="preference",
                         fix="rescale preferences to [-1, 1] (+1: candidate better)")


def _judge(db: Database, row: dict[str, Any], st: ShadowSettings) -> JudgeResult:
    name = str(row["judge"])
    wins, ties, losses, errors = (int(row[k]) for k in ("wins", "ties", "losses", "errors"))
    wr = js.win_rate(wins, ties, losses, errors, alpha=st.alpha)
    order = js.order_stats(int(row["both_orders"]), int(row["consistent"]), int(row["decisive"]),
                           int(row["first_position"]))
    y, dlen, units = q.judge_outcomes(db, name)
    lc = js.length_controlled(y, dlen, counts=units, alpha=st.alpha)
    prefs = q.judge_preferences(db, name)
    pref = js.numeric_preference(prefs, alpha=st.alpha)
    var = _weighted_variance(y, units) if units.sum() > 1 else 0.25
    mde = js.win_rate_mde(wr.n, alpha=st.alpha, power=st.power, unit_variance=var if var > 0 else 0.25)
    return JudgeResult(
        judge=name or "(unnamed)", units=int(row["units"]), wins=wins, ties=ties, losses=losses, errors=errors,
        n=wr.n, win_rate=wr.win_rate, ci_low=wr.ci_low, ci_high=wr.ci_high, p_value=wr.p_value,
        error_rate=wr.error_rate, win_rate_errors_as_losses=wr.win_rate_errors_as_losses,
        order_consistency=order.order_consistency, both_orders=order.both_orders,
        first_position_rate=order.first_position_rate, first_position_p_value=order.first_position_p_value,
        length_controlled_win_rate=lc.win_rate, length_controlled_ci_low=lc.ci_low,
        length_controlled_ci_high=lc.ci_high, length_coef=lc.length_coef,
        length_coef_p_value=lc.length_coef_p_value, length_controlled_reason=lc.reason,
        numeric_units=int(row["numeric_units"]), preference_mean=pref.mean, preference_ci_low=pref.ci_low,
        preference_ci_high=pref.ci_high, preference_p_value=pref.p_value,
        duplicate_judgements=int(row["duplicate_judgements"] or 0), mde=mde,
    )


def _weighted_variance(values: NDArray[np.float64], counts: NDArray[np.float64]) -> float:
    """Sample variance (ddof 1) of values that each occur `counts` times."""
    total = float(counts.sum())
    mean = float(np.dot(counts, values)) / total
    return float(np.dot(counts, (values - mean) ** 2)) / (total - 1)


def _no_segment_values(db: Database, segment: q.Segment, paired: Paired) -> InputError:
    """`--segment-by` that no pair has (a misspelled key put every pair in one segment named None, which then
    "lost" with all of the traffic): an input error naming what the pairs do have."""
    if segment.json_path is None:
        return InputError(f"--segment-by {segment.label}: no pair has a {segment.label}", field="--segment-by",
                          fix="segment by a field the export fills, or by metadata.<key>")
    keys = q.metadata_keys(db, paired.sources)
    return InputError(f"--segment-by {segment.label}: no pair's metadata has this key", field="--segment-by",
                      fix=("metadata keys found: " + ", ".join(f"metadata.{k}" for k in keys)) if keys
                      else "the pairs carry no metadata object")


def _segments(db: Database, seg_rows: list[dict[str, Any]], dist: NDArray[np.float32],
              judge: JudgeResult | None, st: ShadowSettings, n: int) -> list[SegmentResult]:
    labels, codes = q.pair_segments(db)
    finite = np.isfinite(dist)
    dsum = np.bincount(codes[finite], weights=dist[finite], minlength=len(labels))
    dcnt = np.bincount(codes[finite], minlength=len(labels))
    dist_by = {lab: (float(dsum[i] / dcnt[i]) if dcnt[i] else None) for i, lab in enumerate(labels)}
    jrows = {r["segment"]: r for r in q.judge_by_segment(db, judge.judge if judge.judge != "(unnamed)" else "")} \
        if judge is not None else {}
    method = "holm" if st.segment_correction == "holm" else "fdr_bh"
    big = [r for r in seg_rows if int(r["pairs"]) >= st.min_segment_pairs]
    stats_by: dict[str | None, tuple[js.WinRate, dict[str, ss.McNemar]]] = {}
    for r in seg_rows:
        j = jrows.get(r["segment"], {})
        wr = js.win_rate(int(j.get("wins", 0)), int(j.get("ties", 0)), int(j.get("losses", 0)),
                         int(j.get("errors", 0)), alpha=st.alpha)
        tails = {name: ss.mcnemar(int(r[f"{name}_n"]), int(r[f"{name}_b"]), int(r[f"{name}_c"]),
                                  int(r[f"{name}_new"]), int(r[f"{name}_fixed"]), alpha=st.alpha)
                 for name, _, _ in q.TAILS}
        stats_by[r["segment"]] = (wr, tails)
    # Correction across segments, one family per test (judge, each tail); small segments are shown
    # but not tested, so they do not dilute the family.
    judge_adj = dict(zip([r["segment"] for r in big],
                         ss.adjust([stats_by[r["segment"]][0].p_value for r in big], method), strict=True))
    tail_adj: dict[str, dict[str | None, float | None]] = {}
    for name, _, _ in q.TAILS:
        ps = [stats_by[r["segment"]][1][name].p_value if stats_by[r["segment"]][1][name].n else None for r in big]
        tail_adj[name] = dict(zip([r["segment"] for r in big], ss.adjust(ps, method), strict=True))
    out = []
    for r in seg_rows:
        seg = r["segment"]
        wr, tails = stats_by[seg]
        padj = judge_adj.get(seg)
        why: list[str] = []
        if padj is not None and padj < st.alpha and wr.win_rate is not None and wr.win_rate < 0.5:
            why.append("judge")
        tail_view: dict[str, dict[str, float | int | None]] = {}
        for name, m in tails.items():
            ta = tail_adj[name].get(seg)
            if ta is not None and ta < st.alpha and m.new_only > m.fixed_only:
                why.append(name)
            tail_view[name] = {"pairs": m.n, "baseline": m.baseline_count, "candidate": m.candidate_count,
                               "baseline_rate": m.baseline_rate, "candidate_rate": m.candidate_rate,
                               "new_only": m.new_only, "fixed_only": m.fixed_only, "p_value": m.p_value,
                               "p_adjusted": ta}
        pairs = int(r["pairs"])
        out.append(SegmentResult(
            segment=seg, pairs=pairs, share=pairs / n if n else 0.0, wins=wr.wins, ties=wr.ties,
            losses=wr.losses, judge_errors=wr.errors, win_rate=wr.win_rate, ci_low=wr.ci_low,
            ci_high=wr.ci_high, p_value=wr.p_value, p_adjusted=padj, tails=tail_view,
            mean_edit_distance=dist_by.get(seg), cost_delta=_mean_delta(r, "cost"),
            latency_delta=_mean_delta(r, "latency"), loses=bool(why), loss_reasons=tuple(why), in_eval_set=None,
        ))
    return out


def _mean_delta(row: dict[str, Any], metric: str) -> float | None:
    cnt = int(row[f"{metric}_n"] or 0)
    if not cnt:
        return None
    return (float(row[f"{metric}_sum_c"]) - float(row[f"{metric}_sum_b"])) / cnt


def _eval_gap(db: Database, segments: list[SegmentResult],
              segment: q.Segment) -> tuple[list[SegmentResult], EvalGap]:
    cases, tags = q.eval_tags(db)
    key = segment.label.split(".")[-1].lower()

    def covered(value: str | None) -> bool:
        if value is None:
            return True  # pairs without a segment value are not a segment the eval set can miss
        v = value.lower()
        return v in tags or f"{key}:{v}" in tags or f"{key}={v}" in tags

    updated = [SegmentResult(**{**s.__dict__, "in_eval_set": covered(s.segment)}) for s in segments]
    missing = [s for s in updated if s.in_eval_set is False]
    total = sum(s.pairs for s in updated)
    wins = sum(s.wins for s in missing)
    ties = sum(s.ties for s in missing)
    losses = sum(s.losses for s in missing)
    wr = js.win_rate(wins, ties, losses)
    tails = {name: {"pairs": sum(int(s.tails[name]["pairs"] or 0) for s in missing),
                    "baseline": sum(int(s.tails[name]["baseline"] or 0) for s in missing),
                    "candidate": sum(int(s.tails[name]["candidate"] or 0) for s in missing)}
             for name, _, _ in q.TAILS}
    gap = EvalGap(
        eval_cases=cases, uncovered_segments=tuple(str(s.segment) for s in missing),
        uncovered_pairs=sum(s.pairs for s in missing),
        uncovered_share=sum(s.pairs for s in missing) / total if total else 0.0,
        uncovered_win_rate=wr.win_rate, uncovered_ci_low=wr.ci_low, uncovered_ci_high=wr.ci_high,
        uncovered_tails=tails,
    )
    return updated, gap


def _examples(db: Database, dist: NDArray[np.float32], judge: JudgeResult | None, count: int,
              paired: Paired, options: ShadowOptions) -> list[Example]:
    if count == 0:
        return []
    judge_name = None if judge is None else ("" if judge.judge == "(unnamed)" else judge.judge)
    chosen = q.top_examples(db, judge_name, dist, count)
    if not chosen:
        return []
    sources = paired.sources
    rows = {int(r["pid"]): r for r in q.example_rows(db, chosen, judge_name, with_texts=sources is None)}
    if sources is not None:
        # The answers were streamed, not stored: the stream kept those of the likeliest examples; when it missed
        # one, read these few pairs' texts from the files again.
        kept = paired.kept_answers
        if all(int(r["sid"]) in kept for r in rows.values()):
            for r in rows.values():
                r["input"], r["baseline_output"], r["candidate_output"] = kept[int(r["sid"])]
        else:
            texts = q.example_texts_streamed(db, sources, [str(r["request_id"]) for r in rows.values()],
                                             options.baseline, options.candidate)
            for r in rows.values():
                r["input"], r["baseline_output"], r["candidate_output"] = texts.get(str(r["request_id"]),
                                                                                    (None, None, None))
    out = []
    for pid in chosen:
        r = rows[pid]
        why = []
        verdicts = tuple(r["verdicts"] or ())
        if any(v.startswith("baseline/baseline") for v in verdicts):
            why.append("judge preferred the baseline in both orders")
        elif any(v.endswith("=loss") for v in verdicts):
            why.append("judge preferred the baseline")
        if r["json_break"]:
            why.append("new JSON break")
        if r["new_refusal"]:
            why.append("new refusal")
        if r["error_c"] is not None and r["error_b"] is None:
            why.append(f"new error: {r['error_c']}")
        dv = float(dist[pid]) if np.isfinite(dist[pid]) else None
        out.append(Example(
            request_id=str(r["request_id"]), segment=r["segment"], why=tuple(why), edit_distance=dv,
            judge_verdicts=verdicts, baseline_error=r["error_b"], candidate_error=r["error_c"],
            input=r["input"], baseline_output=r["baseline_output"], candidate_output=r["candidate_output"],
        ))
    return out

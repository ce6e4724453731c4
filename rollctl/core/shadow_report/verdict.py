"""The verdict rule: NO-GO on a limit broken or a regression shown, GO when the pairs are enough and nothing
is worse, INCONCLUSIVE otherwise, with every reason."""

from __future__ import annotations

from collections.abc import Sequence

from rollctl.core.results import Reason
from rollctl.core.shadow_report.results import EvalGap, JudgeResult, MetricDelta, Pairing, SegmentResult, Tail
from rollctl.core.shadow_report.settings import ShadowSettings


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _limit_reasons(metrics: dict[str, MetricDelta | None], st: ShadowSettings) -> list[Reason]:
    """No-go reasons from the optional cost and latency limits: only when the whole interval is above the limit,
    so a noisy increase that might be under it does not block (and every limit is off unless configured)."""
    out: list[Reason] = []
    lat, cost = metrics.get("latency"), metrics.get("cost")
    limit = st.max_latency_increase_ms
    if limit is not None and lat is not None and lat.ci_low is not None and lat.ci_low > limit:
        out.append(Reason("LATENCY_UP", f"mean latency up {lat.delta:+.0f} ms per request [{lat.ci_low:+.0f}, "
                                        f"{lat.ci_high:+.0f}], above the {limit:g} ms allowed"))
    limit = st.max_latency_p95_increase_ms
    p95 = next((x for x in lat.quantiles if x.q == 0.95), None) if lat is not None else None
    if limit is not None and p95 is not None and p95.ci_low is not None and p95.ci_low > limit:
        out.append(Reason("LATENCY_P95_UP", f"p95 latency {p95.baseline:.0f} -> {p95.candidate:.0f} ms "
                                            f"({p95.delta:+.0f} ms [{p95.ci_low:+.0f}, {p95.ci_high:+.0f}], "
                                            f"bootstrap), above the {limit:g} ms allowed"))
    limit = st.max_cost_increase_relative
    base = cost.baseline_mean if cost is not None else None
    if limit is not None and cost is not None and cost.ci_low is not None and base is not None and base > 0:
        # Relative to the baseline's mean cost, taken as known (its own error is small beside the delta's).
        low, high = cost.ci_low / base, (cost.ci_high or cost.ci_low) / base
        if low > limit:
            out.append(Reason("COST_UP", f"cost per request up {_pct(cost.relative)} [{_pct(low)}, {_pct(high)}], "
                                         f"above the {_pct(limit)} allowed"))
    return out


def shadow_verdict(pairing: Pairing, judge: JudgeResult | None, tails: Sequence[Tail],
             segments: Sequence[SegmentResult], gap: EvalGap | None, st: ShadowSettings,
             mde: float | None, metrics: dict[str, MetricDelta | None]) -> tuple[list[Reason], str]:
    nogo: list[Reason] = []
    hold: list[Reason] = []
    info: list[Reason] = []
    if judge is not None and judge.p_value is not None and judge.win_rate is not None:
        if judge.p_value < st.alpha and judge.win_rate < 0.5:
            nogo.append(Reason("JUDGE_PREFERS_BASELINE",
                               f"judge {judge.judge} prefers the baseline: win rate {_pct(judge.win_rate)} "
                               f"[{_pct(judge.ci_low)}, {_pct(judge.ci_high)}], sign test p = {judge.p_value:.2g}"))
        if judge.error_rate is not None and judge.error_rate > st.max_judge_error_rate:
            hold.append(Reason("JUDGE_ERRORS", f"{judge.errors} judged pairs ({_pct(judge.error_rate)}) are judge "
                                               "errors; counted as losses the win rate would be "
                                               f"{_pct(judge.win_rate_errors_as_losses)}"))
        if judge.length_coef_p_value is not None and judge.length_coef_p_value < st.alpha:
            info.append(Reason("JUDGE_LENGTH_BIAS",
                               f"the judge's verdicts depend on answer length (b1 = {judge.length_coef:.2f}); "
                               f"length-controlled win rate {_pct(judge.length_controlled_win_rate)}"))
        if judge.both_orders == 0 and judge.n > 0:
            info.append(Reason("JUDGE_POSITION_NOT_MEASURABLE",
                               "position bias is not measurable: every verdict was given with the answers in one "
                               "order; judge some pairs with the answers swapped to measure it"))
        if judge.first_position_p_value is not None and judge.first_position_p_value < st.alpha:
            info.append(Reason("JUDGE_POSITION_BIAS",
                               f"the judge prefers the answer shown first in {_pct(judge.first_position_rate)} of "
                               "decisive verdicts; verdicts that flip with order count as ties"))
    elif judge is None:
        info.append(Reason("NO_JUDGEMENTS", "no judge verdicts for these pairs: judged on tails only"))
    elif judge.n == 0:
        hold.append(Reason("NO_JUDGE_VERDICTS", f"judge {judge.judge} decided no pair ({judge.errors} errors)"))
    for t in tails:
        if t.worse:
            nogo.append(Reason(f"{t.name.upper()}_UP",
                               f"{t.name.replace('_', ' ')}: {_pct(t.baseline_rate)} -> {_pct(t.candidate_rate)} "
                               f"({t.new_only} pairs newly broken, {t.fixed_only} fixed; McNemar p = "
                               f"{t.p_value:.2g}, Holm-adjusted {t.p_adjusted:.2g})"))
    nogo += _limit_reasons(metrics, st)
    for s in segments:
        if s.loses:
            nogo.append(Reason("SEGMENT_LOSES",
                               f"segment {s.segment}: the candidate loses on {', '.join(s.loss_reasons)} "
                               f"({s.pairs} pairs, {_pct(s.share)} of traffic)"))
    if pairing.hours is None:
        hold.append(Reason("NO_TIMESTAMPS", "pairs have no timestamps: the shadow window cannot be checked"))
    elif pairing.hours < st.min_hours:
        hold.append(Reason("SPAN_TOO_SHORT", f"shadow ran {pairing.hours:.1f} h, under the {st.min_hours:g} h "
                                             "advised: daily cycles are not covered"))
    elif pairing.hours > st.max_hours:
        info.append(Reason("SPAN_LONG", f"shadow ran {pairing.hours:.1f} h (advice: 24-72 h)"))
    if pairing.hours is not None and st.require_weekday_weekend_mix:
        if pairing.weekend_pairs == 0:
            hold.append(Reason("NO_WEEKEND", "no pair falls on a weekend (Sat/Sun UTC): weekend traffic is untested"))
        elif pairing.weekday_pairs == 0:
            hold.append(Reason("NO_WEEKDAY", "no pair falls on a weekday (Mon-Fri UTC): weekday traffic is untested"))
    if pairing.pairs < st.min_pairs:
        hold.append(Reason("TOO_FEW_PAIRS", f"{pairing.pairs} pairs, under the minimum of {st.min_pairs}"))
    if mde is not None and mde > st.min_effect and not nogo:
        hold.append(Reason("UNDERPOWERED", f"with {judge.n if judge else 0} judged pairs the smallest detectable "
                                           f"win-rate shift is {_pct(mde)} (MDE at {st.power:.0%} power), more than "
                                           f"the {_pct(st.min_effect)} that matters"))
    if judge is None and pairing.pairs >= st.min_pairs and not nogo:
        # No judge: the tails are what the verdict rests on, so they must be able to see a rise that matters.
        weak = [t for t in tails if t.pairs >= st.min_pairs and t.mde is not None and t.mde > st.min_tail_effect]
        if weak:
            hold.append(Reason("UNDERPOWERED", "no judgements, and the smallest detectable rise of "
                               + ", ".join(f"the {t.name.replace('_', ' ')} rate over {t.pairs} pairs is {_pct(t.mde)}"
                                           for t in weak)
                               + f" (McNemar MDE at {st.power:.0%} power, alpha {st.alpha:g}), more than the "
                               f"{_pct(st.min_tail_effect)} that matters"))
    unpaired = pairing.baseline_only_rows + pairing.candidate_only_rows + pairing.duplicate_rows
    if unpaired:
        info.append(Reason("UNPAIRED_ROWS",
                           f"{pairing.baseline_only_rows} baseline-only and {pairing.candidate_only_rows} "
                           f"candidate-only rows, {pairing.duplicate_rows} rows of {pairing.duplicate_requests} "
                           "duplicated requests: excluded from the pairs"))
    if gap is not None and gap.uncovered_segments:
        info.append(Reason("EVAL_SET_GAP", f"{_pct(gap.uncovered_share)} of traffic is in segments the eval set "
                                           f"does not cover: {', '.join(gap.uncovered_segments)}"))
    if nogo:
        return nogo + hold + info, "no-go"
    if hold:
        return hold + info, "inconclusive"
    return [Reason("NO_REGRESSION_FOUND", "no significant judge loss, tail regression or losing segment")]\
        + info, "go"

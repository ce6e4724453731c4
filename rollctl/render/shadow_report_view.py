"""Terminal rendering of `rollctl shadow-report`: verdict, headline table, segment losses, examples."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rollctl.core.shadow_report import MetricDelta, ShadowReportResult
from rollctl.render.console import VERDICT_STYLES

EXAMPLE_CHARS = 240
"""Outputs are cut to this many characters in the terminal; --json carries them in full."""


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, fmt: str = ",.1f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _interval(lo: float | None, hi: float | None, fmt: str) -> str:
    if lo is None or hi is None:
        return ""
    return f" [{format(lo, fmt)}, {format(hi, fmt)}]"


def _cut(text: str | None) -> str:
    if text is None:
        return "(no output)"
    flat = " ".join(text.split())
    return flat if len(flat) <= EXAMPLE_CHARS else flat[: EXAMPLE_CHARS - 1] + "…"


def _metric_row(table: Table, label: str, m: MetricDelta | None, fmt: str, unit: str) -> None:
    if m is None:
        table.add_row(label, Text("no data", style="dim"), "")
        return
    mean = f"{format(m.delta or 0.0, '+' + fmt)}{unit}{_interval(m.ci_low, m.ci_high, fmt)}"
    qs = "  ".join(
        f"p{round(x.q * 100)} {_num(x.baseline, fmt)}→{_num(x.candidate, fmt)}{unit}"
        f" (Δ{_interval(x.ci_low, x.ci_high, '+' + fmt)})"
        for x in m.quantiles
    )
    table.add_row(label, mean, qs)


def render_shadow_report(result: ShadowReportResult, console: Console) -> None:
    style = VERDICT_STYLES.get(result.verdict, "bold")
    lines = Text()
    lines.append(f"{result.verdict.upper()}", style=style)
    lines.append(f"  {result.candidate} vs {result.baseline}: {result.pairs:,} shadow pairs\n")
    for r in result.reasons:
        lines.append(f"• {r.code}: ", style="bold")
        lines.append(r.message + "\n")
    console.print(Panel(lines, title="shadow-report", title_align="left"))

    p = result.pairing
    span = f"{p.first} → {p.last} ({p.hours:.1f} h)" if p.hours is not None else "no timestamps"
    console.print(Text(
        f"Pairs {p.pairs:,} of {p.rows:,} rows; {p.users:,} users; {span}; weekday pairs {p.weekday_pairs:,}, "
        f"weekend pairs {p.weekend_pairs:,}. Unpaired: {p.baseline_only_rows:,} baseline-only, "
        f"{p.candidate_only_rows:,} candidate-only, {p.duplicate_rows:,} duplicated rows."
    ))

    head = Table(title="Headline (candidate − baseline, 95% intervals)", title_justify="left", show_edge=False)
    head.add_column("metric")
    head.add_column("value")
    head.add_column("detail")
    j = result.judge
    if j is not None:
        head.add_row(
            f"judge win rate ({j.judge})",
            f"{_pct(j.win_rate)}{_interval(j.ci_low, j.ci_high, '.1%')}",
            f"W/T/L {j.wins}/{j.ties}/{j.losses}, errors {j.errors}; sign test p={_num(j.p_value, '.2g')}",
        )
        lc = (f"{_pct(j.length_controlled_win_rate)}"
              f"{_interval(j.length_controlled_ci_low, j.length_controlled_ci_high, '.1%')}"
              if j.length_controlled_win_rate is not None else f"n/a ({j.length_controlled_reason})")
        head.add_row("length-controlled win rate", lc, f"length coefficient {_num(j.length_coef, '+.2f')}")
        head.add_row("order consistency", _pct(j.order_consistency),
                     f"{j.both_orders} pairs judged both ways; first position wins {_pct(j.first_position_rate)}")
        if j.numeric_units:
            head.add_row("numeric preference", _num(j.preference_mean, "+.3f")
                         + _interval(j.preference_ci_low, j.preference_ci_high, "+.3f"), f"{j.numeric_units} pairs")
    else:
        head.add_row("judge", Text("no judgements", style="dim"), "")
    d = result.diffs
    head.add_row("exact match", _pct(d.exact_match_rate),
                 f"edit distance mean {_num(d.mean_edit_distance, '.3f')}, p90 {_num(d.p90_edit_distance, '.3f')}")
    head.add_row("length change", _pct(d.relative_length_change),
                 f"{_num(d.mean_length_baseline, ',.0f')} → {_num(d.mean_length_candidate, ',.0f')} chars")
    _metric_row(head, "latency", result.latency, ",.0f", " ms")
    _metric_row(head, "time to first token", result.ttft, ",.0f", " ms")
    _metric_row(head, "output tokens", result.output_tokens, ",.1f", "")
    _metric_row(head, "cost", result.cost, ",.5f", " $")
    if result.cost is not None and result.cost.per_million_requests is not None:
        c = result.cost
        head.add_row("cost per 1M requests", f"{c.per_million_requests:+,.0f} $"
                     + _interval(c.per_million_ci_low, c.per_million_ci_high, "+,.0f"), "")
    for t in result.tails:
        head.add_row(
            Text(t.name.replace("_", " "), style="bold red" if t.worse else ""),
            f"{_pct(t.baseline_rate)} → {_pct(t.candidate_rate)}",
            f"{t.new_only} new, {t.fixed_only} fixed of {t.pairs:,} pairs; McNemar p={_num(t.p_value, '.2g')}",
        )
    console.print(head)

    if result.segments:
        seg = Table(title=f"Segments by {result.segment_by} ({result.segment_correction}-adjusted)",
                    title_justify="left", show_edge=False)
        for col in ("segment", "pairs", "share", "win rate", "p adj", "JSON breaks", "refusals", "errors",
                    "eval set", "loses on"):
            seg.add_column(col, justify="right" if col in ("pairs", "share", "p adj") else "left")
        for s in result.segments:
            def tail(name: str, s_tails: dict[str, dict[str, float | int | None]] = s.tails) -> str:
                v = s_tails[name]
                return f"{v['baseline']}→{v['candidate']}"
            seg.add_row(
                Text(str(s.segment)), f"{s.pairs:,}", _pct(s.share), _pct(s.win_rate), _num(s.p_adjusted, ".2g"),
                tail("json_breaks"), tail("refusals"), tail("errors"),
                "" if s.in_eval_set is None else ("yes" if s.in_eval_set else "MISSING"),
                Text(", ".join(s.loss_reasons), style="bold red") if s.loses else "",
            )
        console.print(seg)
    if result.eval_gap is not None and result.eval_gap.uncovered_segments:
        g = result.eval_gap
        console.print(Text(
            f"Eval-set gap: {_pct(g.uncovered_share)} of traffic ({', '.join(g.uncovered_segments)}) has no eval "
            f"case; candidate win rate there {_pct(g.uncovered_win_rate)}"
            f"{_interval(g.uncovered_ci_low, g.uncovered_ci_high, '.1%')}."
        ))
    if result.mde is not None and result.verdict == "inconclusive":
        console.print(Text(f"Minimum detectable win-rate shift with these pairs: {_pct(result.mde)}"))
    if result.examples:
        console.print(Text("\nExamples to read (full text in --json):", style="bold"))
        for i, e in enumerate(result.examples, 1):
            console.print(Text(f"{i}. request {e.request_id} [{e.segment}] — {'; '.join(e.why)}", style="bold"))
            console.print(Text(f"   input:     {_cut(e.input)}"))
            console.print(Text(f"   baseline:  {_cut(e.baseline_output)}"))
            console.print(Text(f"   candidate: {_cut(e.candidate_output)}"))

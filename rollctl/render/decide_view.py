"""Terminal rendering of `rollctl decide`, `rollctl plan check` and `rollctl assign`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rollctl.core.decide.results import DecideResult, MetricResult
from rollctl.render.console import VERDICT_STYLES

if TYPE_CHECKING:  # the other commands' result types: their modules import the analysis
    from rollctl.core.assign import AssignResult
    from rollctl.core.plan_check import PlanCheckResult

_STATUS_STYLES = {
    "pass": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim",
    "within_tolerance": "green", "breached": "bold red", "inconclusive": "yellow", "not_computable": "yellow",
    "worse": "bold red", "better": "green", "no_significant_difference": "",
}


def _value(x: float | None, unit: str) -> str:
    if x is None:
        return "n/a"
    if unit == "share of requests":
        return f"{x:.2%}"
    if unit == "USD":
        return f"${x:.5f}"
    return f"{x:,.4g}"


def _change(x: float | None, scale: str, unit: str) -> str:
    if x is None:
        return "n/a"
    if scale == "relative":
        return f"{x:+.1%}"
    if unit == "share of requests":
        return f"{x * 100:+.2f} pp"
    if unit == "USD":
        return f"{x:+.5f}"
    return f"{x:+,.4g}"


def _tolerance(m: MetricResult) -> str:
    if m.tolerance is None:
        return "not worse"
    sign = "+" if m.bad_direction == "increase" else "−"
    if m.scale == "relative":
        return f"{sign}{m.tolerance:.0%}"
    if m.unit == "share of requests":
        return f"{sign}{m.tolerance * 100:.2f} pp"
    return f"{sign}{m.tolerance:g}"


def render_decide(result: DecideResult, console: Console) -> None:
    style = VERDICT_STYLES[result.verdict]
    head = Text()
    head.append(f"{result.verdict.upper()}", style=style)
    head.append(f"   stage {result.stage:g} %   plan {result.plan['name']} ({result.plan['baseline']} → "
                f"{result.plan['candidate']})\n")
    for r in result.reasons:
        head.append(f"• {r.code}: ", style="bold")
        head.append(r.message + "\n")
    head.append(f"Next: {result.next_step}", style="bold")
    console.print(Panel(head, title="rollctl decide", title_align="left", border_style=style.split()[-1]))

    w = result.window
    console.print(Text(f"Window (UTC): {w['first']} → {w['end']}  {w['hours']:.1f} h over {w['days']} day(s) "
                       f"({w['weekend_days']} weekend); units {result.units['baseline']:,} baseline / "
                       f"{result.units['candidate']:,} candidate ({result.units['mixed_excluded']:,} mixed excluded); "
                       f"sequences tuned to N* = {result.tuning_n:,.0f}, alpha {result.alpha:g}"))

    checks = Table(title="Validity checks", title_justify="left", show_edge=False)
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("detail", overflow="fold")
    for c in result.checks:
        checks.add_row(c.code, Text(c.status, style=_STATUS_STYLES.get(c.status, "")), Text(c.message))
    console.print(checks)

    metrics = Table(title="Metrics (candidate − baseline; peek-safe intervals)", title_justify="left", show_edge=False)
    for col in ("metric", "role", "baseline", "candidate", "change", "interval", "tolerance", "status"):
        metrics.add_column(col, justify="right" if col in ("baseline", "candidate", "change") else "left")
    for m in result.metrics:
        est = m.relative_estimate if m.scale == "relative" else m.estimate
        interval = f"{_change(m.ci_low, m.scale, m.unit)} … {_change(m.ci_high, m.scale, m.unit)}"
        metrics.add_row(m.name, m.role, _value(m.baseline_value, m.unit), _value(m.candidate_value, m.unit),
                        _change(est, m.scale, m.unit), interval, _tolerance(m),
                        Text(m.status.replace("_", " "), style=_STATUS_STYLES.get(m.status, "")))
    console.print(metrics)
    strata = [(m, s) for m in result.metrics for s in m.strata]
    if strata:
        st = Table(title="Within cache-hit strata", title_justify="left", show_edge=False)
        for col in ("metric", "stratum", "baseline", "candidate", "change"):
            st.add_column(col)
        for m, s in strata:
            st.add_row(m.name, s.stratum, _value(s.baseline_value, m.unit), _value(s.candidate_value, m.unit),
                       _change(s.estimate, "absolute", m.unit))
        console.print(st)
    t = result.time_needed
    if result.verdict == "hold" and t.days_remaining:
        console.print(Text(f"Time still needed: about {t.days_remaining} day(s) "
                           f"({t.units_remaining or 0:,} more units at {t.new_units_per_day or 0:,.0f}/day; "
                           f"{t.hours_for_minimum_time:.0f} h of minimum stage time)"))


def render_plan_check(result: PlanCheckResult, console: Console) -> None:
    p = result.plan
    console.print(Text(f"{p['path']}: valid plan '{p['name']}' ({p['change']} change, {p['baseline']} → "
                       f"{p['candidate']}, unit {p['unit']}, stages {', '.join(f'{s:g}' for s in p['stages'])} %)",
                       style="green"))
    for g in p["guardrails"]:
        console.print(Text(f"  guardrail {g['rule']}"))
    for pr in p["primary"]:
        mde = pr["min_detectable_effect"] if pr["min_detectable_effect"] is not None else \
            f"{pr['min_detectable_relative_effect']:.0%} relative"
        console.print(Text(f"  primary {pr['metric']} ({pr['direction']} is good, MDE {mde})"))
    for r in result.reasons:
        if r.code == "PLAN_WARNING":
            console.print(Text(f"  warning: {r.message}", style="yellow"))


def render_assign(result: AssignResult, console: Console) -> None:
    table = Table(title=f"{result.hash}(salt {result.salt!r}) at {result.stage:g} % on {result.candidate}",
                  title_justify="left", show_edge=False)
    table.add_column("unit")
    table.add_column("arm")
    table.add_column("bucket", justify="right")
    for u in result.units:
        table.add_row(Text(u.unit), u.arm, f"{u.bucket:.4f}")
    console.print(table)

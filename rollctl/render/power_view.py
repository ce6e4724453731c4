"""Terminal rendering of `rollctl power`: written for the product owner who asks "why so many users?"."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rollctl.core.power import EvalPowerResult, PowerResult


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f} %"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _value(x: float | None, is_rate: bool) -> str:
    if x is None:
        return "n/a"
    return _pct(x, 2) if is_rate else f"{x:,.4g}"


def render_power(r: PowerResult, console: Console) -> None:
    metric = r.metric
    is_rate = metric["kind"] == "proportion"
    base = metric["baseline"] if isinstance(metric["baseline"], float | int) else None
    title = f"Canary plan: {metric['name']}"
    if r.estimates is not None:
        title += f" (measured on variant {r.estimates.baseline_variant})"
    console.print(Text(title, style="bold"))
    console.print(Text(_headline(r, is_rate), style="bold green" if r.exit_code == 0 else "bold yellow"))
    test = r.test
    how = [f"{test['sides']}-sided", f"α {test['alpha']:g}" if isinstance(test["alpha"], float) else "",
           "peek-safe (daily checks)" if test["sequential"] else "one look at the end"]
    if isinstance(test["guardrails"], int) and test["guardrails"] > 1:
        how.append(f"{test['guardrails']} guardrails")
    if r.mde is not None:
        change = f"{r.mde.absolute:+.4g}"
        if r.mde.relative is not None:
            after = _value(r.mde.treatment_value, is_rate)
            change = f"{r.mde.relative:+.1%} relative ({_value(base, is_rate)} → {after})"
        label = "Smallest detectable change" if r.solved_for == "mde" else "Change to detect"
        console.print(Text(f"  {label}: {change}"))
    else:
        console.print(Text("  Smallest detectable change: none inside the metric's range with these users"))
    console.print(Text(f"  Power: {_pct(r.power)}{' (solved)' if r.solved_for == 'power' else ''}; "
                       + ", ".join(h for h in how if h)))
    console.print()
    if r.n_per_arm is not None:
        share = r.allocation["treatment_share"] or 0.5
        split = f"{share:.0%} : {1 - share:.0%}"
        label = "Users needed" if r.solved_for == "n" else "Users"
        console.print(Text(f"  {label}: {r.n_per_arm['treatment']:,} in the treatment arm, "
                           f"{r.n_per_arm['control']:,} in control ({split}), {r.n_total or 0:,} in all",
                           style="bold"))
        if r.requests_total is not None and r.inputs.get("requests_per_user") not in (None, 1.0):
            console.print(Text(f"  That is about {r.requests_total:,} requests at "
                               f"{r.inputs['requests_per_user']:.2f} requests per user."))
    if r.days is not None and r.days_rounded is not None:
        traffic = r.allocation["treatment_traffic"]
        canary = f" with {traffic:.0%} of traffic on the treatment" if traffic is not None else ""
        console.print(Text(f"  Time: {r.days:,.1f} days at {_num(r.daily_users)} new users/day{canary} → "
                           f"run {r.days_rounded} days ({r.days_rounded // 7} full week"
                           f"{'s' if r.days_rounded > 7 else ''}: weekday and weekend traffic differ)", style="bold"))
    console.print()
    _why(r, console)
    if r.estimates is not None:
        e = r.estimates
        console.print()
        console.print(Text("Measured on the traces", style="bold"))
        rows = [
            ("baseline", _value(e.baseline, is_rate)),
            ("SD of one request", f"{e.sd_per_request:.4g}"),
            ("users / requests", f"{e.users:,} / {e.requests:,}"),
            ("requests per user", f"{e.requests_per_user:.2f} (Σm²/Σm {e.effective_requests_per_user:.2f})"),
            ("design effect (Var_delta / Var_iid)", f"{e.design_effect:.2f}, implied ICC {e.icc:.3f}"),
            ("response-variance share", "not estimated" if e.response_variance_share is None else
             f"{e.response_variance_share:.0%} (from {e.repeated_inputs:,} inputs answered more than once)"),
            ("new users per day", "n/a" if e.daily_users is None else
             f"{e.daily_users:,.0f} ({e.users_all_arms:,} users over {e.days_observed} days, all arms; "
             f"{e.baseline_daily_users or 0:,.0f} in {e.baseline_variant})"),
        ]
        table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2))
        for k, v in rows:
            table.add_row(Text(k), Text(v))
        console.print(table)
    if r.simulation is not None:
        s = r.simulation
        console.print()
        console.print(Text(f"Simulation check ({s.runs:,} simulated canaries, seed {s.seed}): power "
                           f"{_pct(s.simulated_power)} ± {_pct(s.monte_carlo_se)} vs planned {_pct(s.target_power)}",
                           style="bold"))
        if s.looks > 1:
            console.print(Text(f"  checking daily ({s.looks} looks): {_pct(s.simulated_power_any_look)} detect it "
                               "at some look"))
    if r.curve:
        console.print()
        curve = Table(title="Power against users" + (" and days" if r.curve[0].days is not None else ""),
                      title_justify="left", show_edge=False)
        curve.add_column("users (all)", justify="right")
        curve.add_column("treatment", justify="right")
        if r.curve[0].days is not None:
            curve.add_column("days", justify="right")
        curve.add_column("power", justify="right")
        shown = [r.curve[i] for i in (4, 7, 9, 12, 14, 19) if i < len(r.curve)]
        for p in shown:
            cells = [f"{p.n_total:,}", f"{p.n_treatment:,}"]
            if p.days is not None:
                cells.append(f"{p.days:,.1f}")
            cells.append(_pct(p.power))
            curve.add_row(*cells)
        console.print(curve)
    if r.reasons:
        console.print()
        for reason in r.reasons:
            console.print(Text(f"  note {reason.code}: {reason.message}", style="dim"))


def _headline(r: PowerResult, is_rate: bool) -> str:
    """One sentence for the product owner: the answer first."""
    time = f" → run {r.days_rounded} days" if r.days_rounded is not None else ""
    if r.solved_for != "n" and r.days is not None:
        time = f" over {r.days:,.1f} days"
    users = ""
    if r.n_per_arm is not None:
        users = f"{r.n_per_arm['treatment']:,} users in the treatment arm ({r.n_total or 0:,} in all)"
    if r.solved_for == "n":
        return f"→ Needs {users}{time}: {r.inflation.total:.1f}× the observations of a deterministic UI change."
    if r.solved_for == "mde":
        if r.mde is None:
            return f"→ With {users} no change inside the metric's range is detectable."
        size = f"{r.mde.relative:+.1%}" if r.mde.relative is not None else f"{r.mde.absolute:+.4g}"
        return f"→ With {users}{time}, the smallest change it can detect is {size}."
    return f"→ With {users}{time}, the power to detect the change is {_pct(r.power)}."


def _why(r: PowerResult, console: Console) -> None:
    inf = r.inflation
    console.print(Text("Why this many", style="bold"))
    m = r.inputs.get("requests_per_user")
    m = m if isinstance(m, float) and m > 0 else 1.0
    if r.naive_n_per_arm is not None:
        console.print(Text(
            "  A calculator that counts every request as an independent observation of a deterministic change "
            f"would ask for {r.naive_n_per_arm['treatment']:,} observations in the treatment arm "
            f"({r.naive_n_per_arm['control']:,} in control)."))
    console.print(Text(f"  This canary needs {inf.total:.1f}× as many observations:"))
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2))
    for part in inf.parts:
        style = "" if part.factor > 1.0001 else "dim"
        table.add_row(Text(f"{part.factor:.2f}×"), Text(part.name), Text(part.explanation), style=style)
    console.print(table)
    if m > 1 and r.n_per_arm is not None:
        console.print(Text(
            f"  = about {round(r.n_per_arm['treatment'] * m):,} requests in the treatment arm, which its "
            f"{r.n_per_arm['treatment']:,} users send at {m:.2f} requests each."))


def render_eval_power(r: EvalPowerResult, console: Console) -> None:
    console.print(Text("Eval-set plan (paired comparison, Miller 2024)", style="bold"))
    if r.estimated is not None:
        e = r.estimated
        console.print(Text(f"  Measured: {e['how']}; baseline mean {e['baseline_mean']:.3f}, between-case variance "
                           f"{e['between_case_variance']:.4f}, within-case variance {e['within_case_variance']:.4f} "
                           f"({e['cases_with_repeats']} of {e['cases']} cases repeated, {e['repeats_in_file']} "
                           "repeats)"))
    console.print(Text(f"  ω (SD of the per-case difference) {r.omega2 ** 0.5:.3f}; response SD "
                       f"{r.sigma2_a ** 0.5:.3f} / {r.sigma2_b ** 0.5:.3f}; {r.repeats} repeat(s) per case → SD of "
                       f"one case's difference {r.sd_diff_per_case:.3f}"))
    if r.response_variance_share is not None:
        console.print(Text(f"  {r.response_variance_share:.0%} of a single run's variance is response randomness "
                           f"(rollctl power --response-variance-share {r.response_variance_share:.2f})"))
    console.print()
    if r.solved_for == "n":
        console.print(Text(f"  Cases needed to detect a difference of {r.mde:g} at {_pct(r.target_power, 0)} "
                           f"power: {r.cases_needed:,}", style="bold"))
        if r.current_cases is not None and r.power_at_current_cases is not None:
            console.print(Text(f"  With the {r.current_cases:,} cases you have: power "
                               f"{_pct(r.power_at_current_cases)}"))
    elif r.solved_for == "mde":
        console.print(Text(f"  With {r.cases:,} cases this set can only detect differences ≥ {r.mde:.3f} "
                           f"({_pct(r.mde)} points of pass rate) at {_pct(r.target_power, 0)} power", style="bold"))
    else:
        console.print(Text(f"  Power to detect {r.mde:g} with {r.cases:,} cases: {_pct(r.power)}", style="bold"))
    at = r.current_cases if r.current_cases is not None else r.cases
    if r.no_repeats_suffice:
        console.print(Text(f"  No number of repeats suffices with {at:,} cases: the spread between cases alone "
                           f"allows only ≥ {r.mde_with_infinite_repeats:.3f}; add cases.", style="bold yellow"))
    elif r.solved_for == "mde":
        console.print(Text(f"  More repeats per case could bring it down to ≥ {r.mde_with_infinite_repeats:.3f} at "
                           "best (the spread between cases stays); more cases lower it further."))
    elif r.repeats_needed is not None:
        console.print(Text(f"  Repeats per case that reach {_pct(r.target_power, 0)} power with {at:,} cases: "
                           f"{r.repeats_needed}"))
    for reason in r.reasons:
        console.print(Text(f"  note {reason.code}: {reason.message}", style="dim"))

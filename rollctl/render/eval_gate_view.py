"""Terminal and JSON views of an `EvalGateResult`."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rollctl.core.eval_gate import CaseOutcome, EvalGateResult
from rollctl.render.console import VERDICT_STYLES
from rollctl.render.jsonout import to_jsonable

MAX_LISTED = 15
MAX_JSON_CASES = 2000
"""--json lists per-case detail for at most this many changed cases (the id lists are complete)."""


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


def points(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f}"


def case_result(arm: Any) -> str:
    """'2/3 passed' style summary of one case in one arm."""
    if arm.repeats == 0:
        return "missing"
    text = f"{arm.passes}/{arm.repeats} passed"
    if arm.errors:
        text += f", {arm.errors} error(s)"
    return text


def sizing_sentence(result: EvalGateResult) -> str:
    """How many cases (or repeats) it takes to detect the margin (or the planning effect when it is 0)."""
    plan = result.power
    size = f"{plan.target_effect * 100:g}-point drop"
    what = f"a {size} (the margin)" if result.settings.margin > 0 else f"a {size}"
    text = f"detecting {what} needs about {plan.cases_needed} cases"
    if plan.repeats_needed is not None:
        text += f" (or {plan.repeats_needed} repeats per arm on these {result.n_cases} cases)"
    elif "no number of repeats" in plan.repeats_note:
        text += " (more repeats alone would not get there)"
    return text


def eval_gate_json(result: EvalGateResult) -> dict[str, Any]:
    """The --json object: the whole result, with per-case detail only for cases that changed or matter."""
    id_lists = ("regressions", "fixes", "flaky", "newly_flaky", "new_cases", "missing_in_candidate",
                "protected_failed", "strict_violations")
    # Id lists can hold 100k strings: copy them directly instead of walking them value by value.
    slim = dataclasses.replace(result, cases=(), regressions=(), fixes=(), flaky=(), newly_flaky=(), new_cases=(),
                               missing_in_candidate=(), protected_failed=(), strict_violations=())
    data: dict[str, Any] = to_jsonable(slim)
    data.update({k: list(getattr(result, k)) for k in id_lists})
    data.pop("cases", None)
    keep = [c for c in result.cases if _interesting(c)]
    data["changed_cases"] = to_jsonable(keep[:MAX_JSON_CASES])
    data["changed_cases_total"] = len(keep)
    ordered = {k: data.pop(k) for k in ("schema_version", "verdict", "exit_code", "reasons")}
    return {**ordered, **data}


def _interesting(case: CaseOutcome) -> bool:
    return not case.transition.startswith("unchanged_") or case.protected


def render_eval_gate(result: EvalGateResult, console: Console) -> None:
    style = VERDICT_STYLES.get(result.verdict, "bold")
    head = result.reasons[0].message if result.reasons else ""
    extra = "".join(f"\n• {r.message}" for r in result.reasons[1:])
    body = Text.assemble((result.verdict.upper(), style), f"  {head}{extra}")
    console.print(Panel(body, title="rollctl eval-gate", expand=False))

    metric = "pass rate" if result.settings.metric == "pass_rate" else "mean score (scaled 0-1)"
    level = 1 - result.settings.alpha
    table = Table(title=f"{result.n_cases} paired cases, {metric}", title_justify="left")
    for col in ("arm", "variant", "rate", f"{level:.0%} CI", "pass", "flaky", "fail", "miss", "err"):
        table.add_column(col, justify="left" if col in ("arm", "variant") else "right", no_wrap=True)
    for label, arm in (("baseline", result.baseline), ("candidate", result.candidate)):
        table.add_row(label, arm.name, pct(arm.pass_rate), f"{pct(arm.ci_low)}–{pct(arm.ci_high)}",
                      str(arm.stable_pass), str(arm.flaky), str(arm.stable_fail), str(arm.missing), str(arm.errors))
    console.print(table)

    d = result.difference
    margin = result.settings.margin
    neg_margin = "0" if margin == 0 else f"−{margin * 100:g}"
    p_t = "" if d.p_value is None else f", p = {d.p_value:.3g}"
    console.print(Text.assemble(
        "difference (candidate − baseline): ", (points(d.estimate), "bold"), f" points, {level:.0%} CI "
        f"{points(d.ci_low)} to {points(d.ci_high)}; one-sided lower bound {points(d.lower_bound)} "
        f"vs {neg_margin} (−margin)  ", (f"({d.method}{p_t})", "dim"),
    ))
    boot = result.bootstrap
    if boot.ci_low is not None and boot.ci_high is not None:
        console.print(f"paired bootstrap ({boot.resamples} {boot.unit} resamples, seed {boot.seed}): "
                      f"{points(boot.ci_low)} to {points(boot.ci_high)}")
    mc = result.mcnemar
    p_mc = "n/a" if mc.p_value is None else f"{mc.p_value:.3g}"
    corr = "n/a" if result.correlation is None else f"{result.correlation:.2f}"
    console.print(f"McNemar exact on the {mc.n} cases stable in both arms: {mc.b} lost, {mc.c} gained, "
                  f"p = {p_mc}; correlation between arms {corr}")
    if result.mde is not None:
        console.print(Text.assemble(
            f"this {result.n_cases}-case set detects only drops of ", (f"{result.mde * 100:.1f}", "bold"),
            f" points or more ({result.power.power:.0%} power); {sizing_sentence(result)}"))

    _case_list(console, "regressions", [c for c in result.cases if c.transition == "regression"], "red")
    _case_list(console, "fixes", [c for c in result.cases if c.transition == "fix"], "green")
    _case_list(console, "flaky", [c for c in result.cases if "flaky" in (c.baseline.status, c.candidate.status)],
               "yellow")
    for note in result.notes:
        if note.code != "MINIMUM_DETECTABLE_EFFECT":
            console.print(Text.assemble(("note:", "dim"), f" {note.message}"))


def _case_list(console: Console, title: str, cases: list[CaseOutcome], colour: str) -> None:
    if not cases:
        return
    table = Table(title=f"{title} ({len(cases)})", title_justify="left", title_style=colour)
    for col in ("case", "tags", "baseline", "candidate"):
        table.add_column(col)
    for c in cases[:MAX_LISTED]:
        table.add_row(c.case_id, ", ".join(c.tags), case_result(c.baseline),
                      case_result(c.candidate))
    if len(cases) > MAX_LISTED:
        table.add_row(f"… {len(cases) - MAX_LISTED} more", "", "", "")
    console.print(table)

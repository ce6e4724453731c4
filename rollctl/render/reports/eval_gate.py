"""The HTML report of `rollctl eval-gate`: pass rates with intervals, the paired difference against the margin,
the transition matrix (pass→fail, fail→pass, flaky) and the cases that changed."""

from __future__ import annotations

from dataclasses import dataclass

from rollctl.core.eval_gate import TRANSITIONS, CaseArm, EvalGateResult
from rollctl.core.results import Reason
from rollctl.render.charts import heatmap_chart, interval_chart
from rollctl.render.eval_gate_view import MAX_JSON_CASES
from rollctl.render.eval_gate_view import _interesting as interesting  # the --json selection, kept identical
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

MAX_CASES = min(500, MAX_JSON_CASES)
"""Changed cases listed in the page at most (--json `changed_cases_total` counts them all)."""


@dataclass(frozen=True)
class EvalGateReportContext:
    """Everything `templates/eval_gate.html` shows, built from an `EvalGateResult`."""

    meta: ReportMeta = documented("Verdict (pass / fail / inconclusive), every reason, inputs, version.")
    notes: tuple[Reason, ...] = documented("Notes beside the verdict (code, message): not reasons for it.")
    summary: str = documented("One line: paired cases, metric, alpha and margin.")
    pass_rate_chart: Chart = documented("Pass rate (or scaled mean score) per arm with its interval.")
    difference_chart: Chart = documented("Candidate − baseline by each method, with intervals, against −margin.")
    arms: Table = documented("Per arm: cases, observations, repeats, pass rate and interval, stable pass/fail, "
                             "flaky, missing, errors.")
    difference: Table = documented("The paired difference by method: estimate, interval, one-sided bounds, "
                                   "p-values.")
    power: Table = documented("What the eval set can detect (MDE) and what it would take to detect the target.")
    transition_chart: Chart = documented("Cases by baseline status (rows) and candidate status (columns).")
    transitions: Table = documented("The transition matrix as numbers.")
    case_lists: tuple[tuple[str, tuple[str, ...]], ...] = documented(
        "Named case-id lists: regressions, fixes, newly flaky, protected failed, strict violations, missing, new.")
    changed_cases: Table = documented("Cases that changed or matter (as in --json changed_cases), at most "
                                      f"{MAX_CASES}.")
    changed_cases_total: int = documented("How many cases changed or matter in total.")


def _case_result(arm: CaseArm) -> str:
    if arm.repeats == 0:
        return "missing"
    text = f"{arm.passes}/{arm.repeats} passed"
    return text + (f", {arm.errors} error(s)" if arm.errors else "")


def build_eval_gate_context(result: EvalGateResult) -> EvalGateReportContext:
    b, c, d = result.baseline, result.candidate, result.difference
    s = result.settings
    level = 1 - s.alpha
    metric = "pass rate" if s.metric == "pass_rate" else "mean score (scaled 0–1)"
    files = [InputFile(path=f, format="", kind=f"{arm.name} results", rows=arm.observations)
             for arm in (b, c) for f in arm.files]
    if s.mode != "two_file":  # one file holds both arms: list it once with all its rows
        files = [InputFile(path=f, format="", kind="eval results", rows=b.observations + c.observations)
                 for f in dict.fromkeys(b.files + c.files)]
    inputs = ReportInputs(files=tuple(files), row_counts=((f"{b.name} observations", b.observations),
                                                          (f"{c.name} observations", c.observations)),
                          first=None, last=None, plan=None, plan_hash=None)
    meta = report_meta(title=f"eval-gate: {c.name} vs {b.name}", command="eval-gate", verdict=result.verdict,
                       exit_code=result.exit_code, reasons=result.reasons, inputs=inputs)
    pass_chart = interval_chart(
        "pass-rate-chart", f"{metric.capitalize()} per arm",
        f"Mean over the {result.n_cases} paired cases (repeats averaged per case first); bars are "
        f"{level:.0%} intervals.",
        labels=[b.name, c.name], estimates=[b.pass_rate, c.pass_rate], lows=[b.ci_low, c.ci_low],
        highs=[b.ci_high, c.ci_high], axis_title=metric, pct=True, reference=None,
    )
    methods = [("paired t" if d.method == "paired_t" else d.method.replace("_", " "), d.estimate, d.ci_low,
                d.ci_high)]
    if result.bootstrap.resamples:
        methods.append((f"bootstrap ({result.bootstrap.unit})", d.estimate, result.bootstrap.ci_low,
                        result.bootstrap.ci_high))
    if result.mcnemar.n:
        methods.append(("McNemar (stable cases)", result.mcnemar.difference, result.mcnemar.ci_low,
                        result.mcnemar.ci_high))
    diff_chart = interval_chart(
        "difference-chart", "Candidate − baseline",
        f"Two-sided {level:.0%} intervals; the red mark is −margin ({fmt_pct(-s.margin or 0.0, signed=True)}): the "
        f"candidate is non-inferior when the one-sided lower bound ({fmt_pct(d.lower_bound, signed=True)}) is "
        "above it.",
        labels=[m[0] for m in methods], estimates=[m[1] for m in methods], lows=[m[2] for m in methods],
        highs=[m[3] for m in methods], axis_title=f"difference in {metric}", pct=True, reference=0.0,
        tolerances=[-s.margin] * len(methods),
    )
    arms = Table(
        id="arms", caption=f"Arms ({result.n_cases} paired cases)",
        columns=(Column("arm", "text"), Column("cases", "num"), Column("observations", "num"),
                 Column("repeats", "text"), Column(metric, "pct"), Column(f"{level:.0%} interval", "ci_pct"),
                 Column("stable pass", "num"), Column("stable fail", "num"), Column("flaky", "num"),
                 Column("missing", "num"), Column("errors", "num"), Column("error rate", "pct")),
        rows=tuple(
            (a.name, a.cases, a.observations,
             "—" if a.repeats_min is None else (f"{a.repeats_min}" if a.repeats_min == a.repeats_max
                                                else f"{a.repeats_min}–{a.repeats_max}"),
             a.pass_rate, (a.ci_low, a.ci_high), a.stable_pass, a.stable_fail, a.flaky, a.missing, a.errors,
             a.error_rate)
            for a in (b, c)
        ),
    )
    difference = Table(
        id="difference", caption=f"Paired difference ({result.p_value_method} p-value in the verdict)",
        columns=(Column("method", "text"), Column("estimate", "pct_signed"), Column(f"{level:.0%} interval",
                                                                                      "ci_pct"),
                 Column("one-sided lower", "pct_signed"), Column("one-sided upper", "pct_signed"),
                 Column("p (no difference)", "pvalue"), Column("p (non-inferiority)", "pvalue")),
        rows=(
            (methods[0][0], d.estimate, (d.ci_low, d.ci_high), d.lower_bound, d.upper_bound, d.p_value,
             d.p_value_noninferiority),
            *(((m[0], m[1], (m[2], m[3]), None, None,
                result.mcnemar.p_value if m[0].startswith("McNemar") else None, None)) for m in methods[1:]),
        ),
    )
    p = result.power
    power = Table(
        id="power", caption="What this eval set can detect",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=(("smallest detectable drop (MDE)", p.mde), ("target drop", p.target_effect),
              ("power", p.power), ("alpha", p.alpha), ("cases needed for the target", p.cases_needed),
              ("repeats needed at this many cases", p.repeats_needed), ("case correlation", result.correlation)),
    )
    statuses = list(result.transitions)
    columns = sorted({k for row in result.transitions.values() for k in row}, key=lambda k: (
        statuses.index(k) if k in statuses else len(statuses), k))
    transition_chart = heatmap_chart(
        "transition-chart", "Transitions per case",
        ("Rows: the case's status in the baseline; columns: in the candidate. Red: worse (a regression), "
         "green: better (a fix)."),
        rows=statuses, columns=columns,
        values=[[result.transitions[r].get(k, 0) for k in columns] for r in statuses],
        x_title=f"candidate ({c.name})", y_title=f"baseline ({b.name})",
        tones=[[_tone(r, k) for k in columns] for r in statuses],
    )
    transitions = Table(
        id="transitions", caption="Transition matrix (cases)",
        columns=(Column("baseline \\ candidate", "text"), *(Column(k, "num") for k in columns)),
        rows=tuple((r, *(result.transitions[r].get(k, 0) for k in columns)) for r in statuses),
    )
    lists = (("regressions", result.regressions), ("fixes", result.fixes), ("newly flaky", result.newly_flaky),
             ("flaky in either arm", result.flaky), ("protected and failing", result.protected_failed),
             ("strict violations", result.strict_violations), ("missing in candidate", result.missing_in_candidate),
             ("new in candidate (not paired)", result.new_cases))
    changed = [case for case in result.cases if interesting(case)]
    changed_cases = Table(
        id="changed-cases", caption="Cases that changed or matter",
        columns=(Column("case", "text"), Column("tags", "text"), Column("transition", "text"),
                 Column(b.name, "text"), Column(c.name, "text"), Column("protected", "text")),
        rows=tuple((case.case_id, ", ".join(case.tags), case.transition.replace("_", " "),
                    _case_result(case.baseline), _case_result(case.candidate), "yes" if case.protected else "")
                   for case in changed[:MAX_CASES]),
    )
    summary = f"{result.n_cases} paired cases · {metric} · alpha {s.alpha:g} · margin {s.margin:g}"
    if s.strict:
        summary += " · strict"
    if s.strict_tags:
        summary += " · strict for tags " + ", ".join(s.strict_tags)
    return EvalGateReportContext(
        meta=meta, notes=result.notes, summary=summary,
        pass_rate_chart=pass_chart, difference_chart=diff_chart, arms=arms, difference=difference, power=power,
        transition_chart=transition_chart, transitions=transitions,
        case_lists=tuple((name, ids) for name, ids in lists if ids),
        changed_cases=changed_cases, changed_cases_total=len(changed),
    )


_WORSE = frozenset({"regression", "pass_to_flaky", "flaky_to_fail"})
_BETTER = frozenset({"fix", "fail_to_flaky", "flaky_to_pass"})
"""The core's transitions (`TRANSITIONS`) that make a case worse or better, for colouring the matrix."""


def _tone(baseline_status: str, candidate_status: str) -> str | None:
    transition = TRANSITIONS.get((baseline_status, candidate_status))
    return "worse" if transition in _WORSE else "better" if transition in _BETTER else None

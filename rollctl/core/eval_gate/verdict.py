"""The verdict rule (fail, pass or inconclusive, with the reason) and the notes beside it."""

from __future__ import annotations

from collections.abc import Sequence

from rollctl.core.eval_gate.results import ArmSummary, CaseOutcome, EvalGateOptions
from rollctl.core.results import Reason
from rollctl.stats.paired import (
    PairedDifference,
    PowerPlan,
)


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} points"


def _neg_margin(margin: float) -> str:
    return "0 (no margin)" if margin == 0 else f"−{margin * 100:g} points (−margin)"


def _list(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def gate_verdict(
    options: EvalGateOptions, diff: PairedDifference, base: ArmSummary, cand: ArmSummary,
    strict_violations: tuple[str, ...], protected_failed: tuple[str, ...], paired_cases: list[CaseOutcome],
) -> tuple[list[Reason], str]:
    fails: list[Reason] = []
    margin = options.margin
    if strict_violations:
        scope = "strict mode" if options.strict else f"strict tags ({', '.join(options.strict_tags)})"
        fails.append(Reason("STRICT_REGRESSION", f"{scope}: {len(strict_violations)} case(s) that passed in the "
                                                 f"baseline fail in the candidate: {_list(strict_violations)}"))
    if protected_failed:
        fails.append(Reason("PROTECTED_CASE_FAILED", f"{len(protected_failed)} protected case(s) do not pass in "
                                                     f"every candidate repeat: {_list(protected_failed)}"))
    if diff.upper_bound is not None and diff.upper_bound < -margin:
        fails.append(Reason("SIGNIFICANTLY_WORSE",
                            f"the candidate is significantly worse: difference {_pts(diff.estimate or 0.0)}, "
                            f"one-sided {1 - options.alpha:.0%} upper bound {_pts(diff.upper_bound)} is below "
                            f"{_neg_margin(margin)}"))
    if (cand.error_rate or 0.0) > (base.error_rate or 0.0):
        fails.append(Reason("MORE_ERRORS", f"the candidate errored on {cand.errors} of {cand.observations} results "
                                           f"vs {base.errors} of {base.observations} for the baseline"))
    if cand.missing > base.missing:
        absent = sum(1 for c in paired_cases if c.candidate.repeats == 0)
        fails.append(Reason("MISSING_CASES", f"{cand.missing} case(s) have no result in the candidate ({absent} absent"
                                             f" from its file) vs {base.missing} in the baseline; counted as failed"))
    if fails:
        return fails, "fail"
    if diff.lower_bound is None:
        code = "TOO_FEW_CLUSTERS" if diff.method == "too_few_clusters" else "TOO_FEW_CASES"
        what = "clusters" if code == "TOO_FEW_CLUSTERS" else "paired cases"
        return [Reason(code, f"{diff.n} paired case(s): too few {what} to bound the difference")], "inconclusive"
    if diff.lower_bound > -margin:
        return [Reason("NON_INFERIOR",
                       f"non-inferior: difference {_pts(diff.estimate or 0.0)}, one-sided {1 - options.alpha:.0%} "
                       f"lower bound {_pts(diff.lower_bound)} is above {_neg_margin(margin)}")], "pass"
    hint = " (with --margin 0 only a significant improvement passes; set a margin)" if margin == 0 else ""
    return [Reason("NOT_SHOWN_NON_INFERIOR",
                   f"not shown non-inferior: difference {_pts(diff.estimate or 0.0)}, one-sided "
                   f"{1 - options.alpha:.0%} lower bound {_pts(diff.lower_bound)} is not above "
                   f"{_neg_margin(margin)}{hint}")], "inconclusive"


def gate_notes(
    options: EvalGateOptions, regressions: tuple[str, ...], fixes: tuple[str, ...], flaky: tuple[str, ...],
    newly_flaky: tuple[str, ...], new_cases: tuple[str, ...], implicit: int, plan: PowerPlan, n: int,
    binary: bool, diff: PairedDifference,
) -> list[Reason]:
    notes: list[Reason] = []
    if plan.mde is not None:
        notes.append(Reason("MINIMUM_DETECTABLE_EFFECT",
                            f"this {n}-case set detects only drops of {plan.mde * 100:.1f} points or more "
                            f"({plan.power:.0%} power, one-sided alpha {plan.alpha:g})"))
        if plan.cases_needed is not None and plan.mde > plan.target_effect:
            extra = f"; or {plan.repeats_needed} repeats per arm" if plan.repeats_needed else ""
            notes.append(Reason("UNDERPOWERED", f"detecting a {plan.target_effect * 100:.1f}-point drop needs about "
                                                f"{plan.cases_needed} cases{extra}"))
    if (regressions or fixes) and not options.strict:
        notes.append(Reason("CASE_CHANGES", f"{len(regressions)} regression(s), {len(fixes)} fix(es)"))
    if flaky:
        notes.append(Reason("FLAKY_CASES", f"{len(flaky)} case(s) gave mixed results across repeats; they enter "
                                           "the paired test with their pass shares and are not called regressions"))
    if newly_flaky:
        notes.append(Reason("NEWLY_FLAKY", f"{len(newly_flaky)} case(s) passed every baseline repeat but only some "
                                           f"candidate repeats: {_list(newly_flaky)}"))
    if new_cases:
        notes.append(Reason("NEW_CASES", f"{len(new_cases)} case(s) exist only in the candidate; not paired, "
                                         "left out of the statistics"))
    if implicit:
        notes.append(Reason("IMPLICIT_REPEATS", f"{implicit} case(s) have several rows without a repeat index; "
                                                "read as repeats"))
    if diff.method == "exact_zero_discordance":
        notes.append(Reason("NO_CHANGED_CASES", "no case changed between arms; the bound is the exact "
                                                "zero-event bound on the share of changed cases"))
    if diff.method == "constant_difference":
        notes.append(Reason("CONSTANT_DIFFERENCE", "every case changed by the same amount; the interval is a point"))
    return notes

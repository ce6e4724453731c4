"""`rollctl power eval`: what an eval set of N cases with R repeats can detect, and the cases needed for a
given drop, from the paired SD of an earlier run or a guess."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rollctl.core.power.results import (
    BASELINE_NAMES,
    EvalPowerResult,
    EvalRequest,
    SolvedFor,
    require_finite,
    worded_for_options,
)
from rollctl.core.results import SCHEMA_VERSION, Reason, skipped_lines_reason
from rollctl.db import Database
from rollctl.errors import UsageError
from rollctl.exit_codes import ExitCode
from rollctl.load import LoadOptions, load_inputs, require_fields
from rollctl.sql import power as q
from rollctl.stats import power as pw


def _pick_eval_variant(names: Sequence[str], wanted: str | None, role: str, exclude: str | None = None) -> str | None:
    if wanted is not None:
        if wanted not in names:
            raise UsageError(f"--{role} {wanted!r} is not a variant in the eval results", field=role,
                             fix="variants: " + ", ".join(names))
        return wanted
    rest = [n for n in names if n != exclude]
    if role == "baseline":
        if len(names) == 1:
            return names[0]
        for n in BASELINE_NAMES:
            if n in names:
                return n
        raise UsageError("the eval results hold several variants", field="baseline",
                         fix="name the baseline with --baseline NAME (variants: " + ", ".join(names) + ")")
    return rest[0] if len(rest) == 1 else None


@worded_for_options
def plan_eval(db: Database | None, req: EvalRequest, options: LoadOptions | None = None) -> EvalPowerResult:
    """Cases, MDE or power of a paired eval comparison, and the repeats per case that would help."""
    require_finite(req)
    reasons: list[Reason] = []
    power_target = req.power if req.power is not None else 0.8
    pw.check_design(req.alpha, power_target, req.sides, 1, 0.5)
    if req.mde is not None and req.mde == 0:
        raise UsageError("the difference to detect must be non-zero", field="mde", fix="e.g. --mde 0.05")
    if req.repeats is not None and req.repeats < 1:
        raise UsageError("--repeats must be at least 1", field="repeats")
    if req.cases is not None and req.cases < 2:
        raise UsageError("--cases must be at least 2", field="cases")
    if req.mde is not None and req.cases is not None and req.power is not None:
        raise UsageError("--mde, --cases and --power are all given: leave out the one to solve for", field="power")
    estimated: dict[str, object] | None = None
    file_cases: int | None = None
    if req.from_evals:
        if req.sd_diff is not None or req.response_sd is not None:
            raise UsageError("--sd-diff/--response-sd and --from-evals both describe the variance", field="sd_diff",
                             fix="use one")
        if not 0 <= req.correlation < 1:
            raise UsageError("--correlation must be in [0, 1)", field="correlation")
        assert db is not None
        report = load_inputs(db, list(req.from_evals), options or LoadOptions(keep_text=False))
        require_fields(report, "evals", ["case_id", "variant", req.score], command="power eval")
        if report.skipped_lines:
            reasons.append(skipped_lines_reason(report.skipped_lines))
        names = [v for v, _ in q.eval_variants(db)]
        if not names:
            raise UsageError("the eval results have no variant", field="variant", fix="use --map variant=...")
        a_name = _pick_eval_variant(names, req.baseline_variant, "baseline")
        assert a_name is not None
        b_name = _pick_eval_variant(names, req.candidate_variant, "candidate", exclude=a_name)
        a_cases = q.eval_case_moments(db, a_name, req.score)
        a = pw.eval_components(a_cases)
        if a is None:
            raise UsageError(f"variant {a_name} has fewer than 2 cases: nothing to estimate", field="case_id")
        file_cases = a.cases
        if b_name is not None:
            b_cases = q.eval_case_moments(db, b_name, req.score)
            b = pw.eval_components(b_cases)
            by_id = {c.case_id: c for c in b_cases}
            pairs = [(c, by_id[c.case_id]) for c in a_cases if c.case_id in by_id]
            if b is None or len(pairs) < 2:
                raise UsageError(f"variants {a_name} and {b_name} share fewer than 2 cases", field="case_id")
            omega2 = pw.paired_omega2(pairs, a, b)
            s2a, s2b = a.within, b.within
            file_cases = len(pairs)
            how = f"paired {a_name} vs {b_name} over {len(pairs)} shared cases"
        else:
            omega2 = 2 * a.between * (1 - req.correlation)
            s2a = s2b = a.within
            reasons.append(Reason("CORRELATION_ASSUMED", f"one variant only: the candidate is assumed to have the "
                                  f"baseline's variances and a per-case correlation of {req.correlation:g} "
                                  "(Miller: 0.3–0.7 between frontier models; higher for a prompt tweak)"))
            how = f"{a_name} alone, correlation {req.correlation:g}"
        if a.cases_with_repeats == 0:
            reasons.append(Reason("NO_REPEATS", "no case was run more than once: response randomness cannot be "
                                  "told apart from case difficulty"))
        total = a.between + a.within
        share = a.within / total if total > 0 else None
        repeats = req.repeats if req.repeats is not None else a.repeats
        estimated = {"baseline_variant": a_name, "candidate_variant": b_name, "how": how, "score": req.score,
                     "baseline_mean": a.mean, "between_case_variance": a.between, "within_case_variance": a.within,
                     "cases": a.cases, "cases_with_repeats": a.cases_with_repeats, "repeats_in_file": a.repeats}
    else:
        if req.sd_diff is None:
            raise UsageError("give --sd-diff (SD of the per-case difference in mean score) or --from-evals PATH",
                             field="sd_diff", fix="e.g. --sd-diff 0.3")
        if req.sd_diff < 0 or (req.response_sd is not None and req.response_sd < 0):
            raise UsageError("standard deviations cannot be negative", field="sd_diff")
        omega2 = req.sd_diff ** 2
        s2a = s2b = (req.response_sd or 0.0) ** 2
        share = None
        repeats = req.repeats if req.repeats is not None else 1
    var = pw.EvalVariance(omega2=omega2, sigma2_a=s2a, sigma2_b=s2b, repeats_a=repeats, repeats_b=repeats)
    if var.per_case() <= 0:
        raise UsageError("the per-case differences have no variance: any difference would be detected",
                         field="sd_diff", fix="check the inputs")
    current = req.cases if req.cases is not None else file_cases
    exit_code = ExitCode.GO
    cases_needed: int | None = None
    power_current: float | None = None
    if req.mde is None:
        solved: SolvedFor = "mde"
        if current is None:
            raise UsageError("to get the detectable difference, give --cases (or --from-evals) or --mde",
                             field="cases", fix="e.g. --cases 120")
        cases = current
        mde = pw.eval_mde(cases, var, alpha=req.alpha, power=power_target, sides=req.sides)
        power: float | None = power_target
    elif req.cases is not None and req.power is None:
        solved = "power"
        cases, mde = req.cases, req.mde
        power = pw.eval_power(cases, mde, var, alpha=req.alpha, sides=req.sides)
    else:
        solved = "n"
        mde = req.mde
        cases_needed = pw.eval_cases_needed(mde, var, alpha=req.alpha, power=power_target, sides=req.sides)
        cases = cases_needed
        power = power_target
    if current is not None and req.mde is not None:
        power_current = pw.eval_power(current, req.mde, var, alpha=req.alpha, sides=req.sides)
    at = current if current is not None else cases
    repeats_needed = pw.eval_repeats_needed(at, mde, var, alpha=req.alpha, power=power_target, sides=req.sides)
    no_k = repeats_needed is None
    if no_k:
        reasons.append(Reason("NO_REPEATS_SUFFICE", f"with {at} cases no number of repeats reaches "
                              f"{power_target:.0%} power for a difference of {mde:g}: repeats only average away "
                              "response randomness, not the spread between cases; add cases"))
    inf = pw.EvalVariance(omega2=omega2, sigma2_a=0.0, sigma2_b=0.0)
    mde_inf = pw.eval_mde(at, inf, alpha=req.alpha, power=power_target, sides=req.sides) if omega2 > 0 else 0.0
    return EvalPowerResult(
        schema_version=SCHEMA_VERSION, exit_code=int(exit_code), reasons=tuple(reasons), solved_for=solved,
        cases=cases, cases_needed=cases_needed, current_cases=current, power_at_current_cases=power_current,
        repeats=repeats, repeats_needed=repeats_needed,
        no_repeats_suffice=no_k, mde=mde, power=power, target_power=power_target, omega2=omega2, sigma2_a=s2a,
        sigma2_b=s2b, sd_diff_per_case=math.sqrt(var.per_case()), response_variance_share=share,
        mde_with_infinite_repeats=mde_inf,
        inputs={"sd_diff": req.sd_diff, "response_sd": req.response_sd, "from_evals": list(req.from_evals) or None,
                "score": req.score, "correlation": req.correlation, "mde": req.mde, "cases": req.cases,
                "repeats": req.repeats, "power": power_target, "alpha": req.alpha, "sides": req.sides},
        estimated=estimated,
    )

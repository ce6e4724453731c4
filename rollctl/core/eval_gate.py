"""`rollctl eval-gate`: may this prompt or model change go on to shadow traffic?

Pairs baseline and candidate eval results by `case_id`, averages each case's repeats first (Miller 2024:
question-level means), classifies every case in each arm (pass in every repeat, fail in every repeat,
flaky, missing) and the transitions between arms, then decides:

- **fail** if strict mode sees a regression in its scope, a protected case does not pass, the candidate has a
  higher error rate or more cases without a result than the baseline, or the candidate is significantly worse
  than the margin allows (the one-sided (1 − α) upper bound of candidate − baseline is below −margin);
- **pass** if none of those fired and the candidate is non-inferior: the one-sided (1 − α) lower bound of
  candidate − baseline is above −margin;
- **inconclusive** otherwise, with the reason.

The difference is the mean over baseline cases of (candidate − baseline) per-case pass share (or scaled
mean score); a case missing from the candidate counts as failed there. Its interval is the paired t
interval on those per-case differences (cluster-robust when `cluster` is given), so flaky cases enter the
test with their partial pass shares; McNemar's exact test on the cases that are stable in both arms is
reported beside it, and is the headline p-value when every per-case value is 0 or 1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from rollctl.core.results import SCHEMA_VERSION, Reason, skipped_lines_reason
from rollctl.db import Database
from rollctl.errors import DuplicateRowsError, InputError, MissingFieldError, UsageError
from rollctl.exit_codes import InconclusivePolicy, exit_code_for
from rollctl.load import LoadOptions, load_inputs, require_fields
from rollctl.load.files import expand_paths
from rollctl.sql import eval_gate as q
from rollctl.stats.paired import (
    McNemarResult,
    PairedDifference,
    PowerPlan,
    cluster_robust_se,
    correlation,
    mcnemar_exact,
    mean_interval,
    paired_bootstrap_ci,
    paired_difference,
    power_plan,
)

Status = Literal["pass", "fail", "flaky", "missing"]
STATUSES: tuple[Status, ...] = ("pass", "flaky", "fail", "missing")


@dataclass(frozen=True)
class EvalGateOptions:
    """Gate settings (command line over `[eval_gate]` in rollctl.toml over these defaults)."""

    baseline: str | None = None
    candidate: str | None = None
    strict: bool = False
    strict_tags: tuple[str, ...] = ()
    margin: float = 0.0
    alpha: float = 0.05
    protect: tuple[str, ...] = ()
    inconclusive: InconclusivePolicy = "exit3"
    score_range: tuple[float, float] | None = None
    pass_threshold: float = 0.5
    """for score-only inputs: a repeat passes when its scaled score is at least this"""
    seed: int = 0
    bootstrap: int = 1000
    power: float = 0.8
    planning_effect: float = 0.05
    """the drop to size the eval set for when --margin is 0"""


@dataclass(frozen=True)
class ArmSummary:
    """One arm over the paired (baseline) cases."""

    name: str
    files: tuple[str, ...]
    cases: int
    """cases with at least one row in this arm"""
    observations: int
    repeats_min: int | None
    repeats_max: int | None
    pass_rate: float | None
    """mean of per-case pass shares (or scaled mean scores) over the paired cases; missing counts as 0"""
    ci_low: float | None
    ci_high: float | None
    stable_pass: int
    stable_fail: int
    flaky: int
    missing: int
    """paired cases with no result in this arm (absent, or rows without passed/score/error)"""
    errors: int
    """rows with an error"""
    error_rate: float | None
    error_classes: dict[str, int]


@dataclass(frozen=True)
class CaseArm:
    status: Status
    repeats: int
    passes: int
    errors: int
    value: float | None
    """pass share or mean scaled score; None when absent"""


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    tags: tuple[str, ...]
    cluster: str | None
    baseline: CaseArm
    candidate: CaseArm
    transition: str
    """regression | fix | pass_to_flaky | flaky_to_fail | fail_to_flaky | flaky_to_pass | unchanged_* | new_case"""
    strict_scope: bool
    protected: bool


@dataclass(frozen=True)
class BootstrapInterval:
    ci_low: float | None
    ci_high: float | None
    resamples: int
    seed: int
    unit: str
    """case | cluster"""


@dataclass(frozen=True)
class GateSettings:
    alpha: float
    margin: float
    strict: bool
    strict_tags: tuple[str, ...]
    protected_cases: int
    inconclusive: str
    metric: str
    """pass_rate | mean_score"""
    score_range: tuple[float, float] | None
    pass_threshold: float | None
    seed: int
    mode: str
    """two_file | one_file"""


@dataclass(frozen=True)
class EvalGateResult:
    """Everything the gate decided and why: rendered to the terminal, JSON, JUnit, Markdown and HTML."""

    verdict: str
    exit_code: int
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    settings: GateSettings
    n_cases: int
    """paired cases: every case the baseline has"""
    baseline: ArmSummary
    candidate: ArmSummary
    difference: PairedDifference
    bootstrap: BootstrapInterval
    mcnemar: McNemarResult
    p_value: float | None
    p_value_method: str
    correlation: float | None
    mde: float | None
    power: PowerPlan
    regressions: tuple[str, ...]
    fixes: tuple[str, ...]
    flaky: tuple[str, ...]
    """cases flaky in either arm"""
    newly_flaky: tuple[str, ...]
    new_cases: tuple[str, ...]
    """cases only the candidate has: not paired, not in the statistics"""
    missing_in_candidate: tuple[str, ...]
    protected_failed: tuple[str, ...]
    strict_violations: tuple[str, ...]
    transitions: dict[str, dict[str, int]]
    """baseline status -> candidate status -> cases"""
    cases: tuple[CaseOutcome, ...] = field(repr=False)
    schema_version: str = SCHEMA_VERSION
    skipped_lines: int = 0
    """malformed or wrong-typed lines `--on-bad-lines skip` left out"""


# ---------------------------------------------------------------------------------------------------


def read_protect_file(path: str) -> tuple[str, ...]:
    """Case ids, one per line; blank lines and `#` comments ignored."""
    p = Path(path)
    if not p.is_file():
        raise InputError("protect file not found", path=path, fix="pass a text file with one case id per line")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("protect file is not UTF-8 text", path=path, fix="one case id per line") from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return tuple(dict.fromkeys(i for i in ids if i))


def _validate(options: EvalGateOptions) -> None:
    if not 0 < options.alpha < 0.5:
        raise UsageError(f"--alpha {options.alpha} is out of range", fix="use a value between 0 and 0.5, e.g. 0.05")
    if not 0 <= options.margin < 1:
        raise UsageError(f"--margin {options.margin} is out of range",
                         fix="the margin is a share of the pass rate or score range: 0 <= M < 1, e.g. 0.05")
    if not 0 < options.pass_threshold <= 1:
        raise UsageError("--pass-threshold is out of range", fix="use a value in (0, 1] on the scaled score")
    if options.score_range is not None and not options.score_range[0] < options.score_range[1]:
        raise UsageError("--score-range needs LOW < HIGH", fix="e.g. --score-range 0,10")
    if options.bootstrap < 0:
        raise UsageError("--bootstrap must be 0 or more", fix="e.g. --bootstrap 1000")
    if not 0 < options.planning_effect < 1:
        raise UsageError("planning effect must be in (0, 1)", fix="e.g. 0.05")


def eval_gate(
    db: Database,
    baseline_paths: Sequence[str],
    candidate_paths: Sequence[str] | None,
    options: EvalGateOptions,
    load_options: LoadOptions | None = None,
) -> EvalGateResult:
    """Load both arms, reduce them to per-case sums in SQL, and decide pass / fail / inconclusive."""
    _validate(options)
    two_file = candidate_paths is not None
    if two_file:
        assert candidate_paths is not None
        expanded = expand_paths(baseline_paths), expand_paths(candidate_paths)
        for f in expanded[0] + expanded[1]:
            if f.format == "duckdb":
                raise UsageError("a .duckdb input mixes the files it was ingested from", path=f.path,
                                 fix="read it in one-file mode: rollctl eval-gate DB --baseline NAME --candidate NAME")
        base_files = tuple(f.path for f in expanded[0])
        cand_files = tuple(f.path for f in expanded[1])
        both = {os.path.realpath(p) for p in base_files} & {os.path.realpath(p) for p in cand_files}
        if both:
            raise UsageError("the same file is given as baseline and as candidate", path=sorted(both)[0],
                             fix="pass the baseline results first and the candidate results second")
        paths = list(baseline_paths) + list(candidate_paths)
    else:
        if not options.baseline or not options.candidate:
            raise UsageError("one results file needs --baseline NAME and --candidate NAME",
                             fix="name the two variants, or pass two files: rollctl eval-gate BASELINE CANDIDATE")
        if options.baseline == options.candidate:
            raise UsageError("--baseline and --candidate name the same variant", fix="name two different variants")
        base_files = cand_files = ()
        paths = list(baseline_paths)
    report = load_inputs(db, paths, load_options)
    if report.rows.get("evals", 0) == 0:
        raise MissingFieldError(
            "eval-gate needs eval results (rows with case_id), and none were found",
            path=report.files[0].path if len(report.files) == 1 else None, field="case_id",
            fix="pass eval results {case_id, variant, passed | score}, promptfoo results.json or inspect_ai logs, "
                "or map your id with --map case_id=FIELD",
        )
    require_fields(report, "evals", ["case_id"], command="eval-gate")
    found = report.found_fields("evals")
    if "passed" not in found and "score" not in found:
        require_fields(report, "evals", ["passed"], command="eval-gate")

    rule, names = _arm_rule(db, two_file, base_files, cand_files, options)
    q.create_observation_view(db, rule)
    profile = q.input_profile(db)
    for arm in ("baseline", "candidate"):
        if int(profile[f"{arm}_rows"]) == 0:
            raise InputError(f"the {arm} ({names[arm]}) has no eval rows (eval rows have a case_id)", field="variant",
                             fix="check the files and the --baseline/--candidate names")
    if int(profile["rows_without_case"]):
        raise InputError(f"{profile['rows_without_case']} eval row(s) have no case_id", field="case_id",
                         fix="give every result a case_id, or map it with --map case_id=FIELD")
    binary = int(profile["with_passed"]) > 0
    if not binary and int(profile["with_score"]) == 0:
        raise MissingFieldError("no row has a passed or score value", field="passed",
                                fix="map the outcome with --map passed=FIELD or --map score=FIELD")
    score_range = _score_range(profile, options, binary)
    table = q.case_table(
        db, binary=binary, score_low=score_range[0], score_high=score_range[1],
        pass_threshold=1.0 if binary else options.pass_threshold,
    )
    if int(table["b_dup"].sum()) + int(table["c_dup"].sum()):
        dup, dup_case, dup_arm, dup_repeat = q.duplicate_repeats(db)
        raise DuplicateRowsError(
            f"{dup} row(s) repeat a case_id + variant + repeat (first: case {dup_case!r} repeat {dup_repeat} "
            f"in the {dup_arm})", field="case_id",
            fix="give each repeat its own `repeat` index, or remove the duplicated rows",
        )
    implicit = int(((table["b_rows"] > 1) & (table["b_norep"] > 0)).sum()
                   + ((table["c_rows"] > 1) & (table["c_norep"] > 0)).sum())
    errors_by_arm: dict[str, dict[str, int]] = {"baseline": {}, "candidate": {}}
    for arm, err, n in q.error_classes(db):
        errors_by_arm[arm][err] = n
    result = _decide(
        table, options, names, base_files, cand_files, two_file, binary,
        None if binary else score_range, bool(profile["with_cluster"]), implicit, errors_by_arm,
    )
    if report.skipped_lines:
        result = replace(result, skipped_lines=report.skipped_lines,
                         notes=(*result.notes, skipped_lines_reason(report.skipped_lines)))
    return result


def _arm_rule(
    db: Database, two_file: bool, base_files: tuple[str, ...], cand_files: tuple[str, ...],
    options: EvalGateOptions,
) -> tuple[q.ArmRule, dict[str, str]]:
    """Which rows are which arm, and the names shown for each arm."""
    if not two_file:
        present = {v for v, _ in q.variant_counts(db) if v is not None}
        for flag, name in (("--baseline", options.baseline), ("--candidate", options.candidate)):
            if name not in present:
                shown = ", ".join(sorted(present)[:10]) or "none"
                raise UsageError(f"{flag} {name!r}: no rows have that variant (variants found: {shown})",
                                 field="variant", fix=f"pass one of the variants found to {flag}")
        assert options.baseline is not None and options.candidate is not None
        return q.ArmRule(False, (), (), options.baseline, options.candidate), {
            "baseline": options.baseline, "candidate": options.candidate}
    by_file = q.variants_by_file(db)
    names: dict[str, str] = {}
    chosen: dict[str, str | None] = {}
    for arm, files, wanted in (("baseline", base_files, options.baseline),
                               ("candidate", cand_files, options.candidate)):
        variants = sorted({v for f, v, _ in by_file if f in files and v is not None})
        if wanted is not None:
            if wanted not in variants:
                shown = ", ".join(variants[:10]) or "none"
                raise UsageError(f"--{arm} {wanted!r}: the {arm} file(s) have no rows of that variant "
                                 f"(variants found: {shown})", field="variant",
                                 fix=f"pass one of the variants found to --{arm}")
            chosen[arm] = wanted
            names[arm] = wanted
        elif len(variants) > 1:
            raise UsageError(f"the {arm} file(s) hold {len(variants)} variants ({', '.join(variants[:5])})",
                             field="variant", fix=f"pick one with --{arm} NAME")
        else:
            chosen[arm] = None
            names[arm] = variants[0] if variants else Path(files[0]).name.split(".")[0]
    if names["baseline"] == names["candidate"]:
        names = {"baseline": f"{names['baseline']} (baseline)", "candidate": f"{names['candidate']} (candidate)"}
    return q.ArmRule(True, base_files, cand_files, chosen["baseline"], chosen["candidate"]), names


def _score_range(profile: dict[str, Any], options: EvalGateOptions, binary: bool) -> tuple[float, float]:
    if binary:
        return (0.0, 1.0)
    low, high = profile["min_score"], profile["max_score"]
    if options.score_range is not None:
        lo, hi = options.score_range
        if low < lo or high > hi:
            raise InputError(f"scores range from {low:g} to {high:g}, outside --score-range {lo:g},{hi:g}",
                             field="score", fix="widen --score-range to the scale your scorer uses")
        return (float(lo), float(hi))
    if low < 0 or high > 1:
        raise UsageError(f"scores range from {low:g} to {high:g}, not 0-1", field="score",
                         fix="pass --score-range LOW,HIGH with your scorer's scale, e.g. --score-range 0,10")
    return (0.0, 1.0)


# ---------------------------------------------------------------------------------------------------


def _status(rows: npt.NDArray[np.float64], results: npt.NDArray[np.float64], errors: npt.NDArray[np.float64],
            passes: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    status = np.full(rows.shape, "flaky", dtype=object)
    status[passes == 0] = "fail"
    status[(passes == rows) & (rows > 0)] = "pass"
    status[np.isnan(rows) | ((results == 0) & (errors == 0))] = "missing"
    return status


TRANSITIONS = {
    ("pass", "fail"): "regression", ("pass", "missing"): "regression",
    ("fail", "pass"): "fix", ("missing", "pass"): "fix",
    ("pass", "flaky"): "pass_to_flaky", ("flaky", "fail"): "flaky_to_fail", ("flaky", "missing"): "flaky_to_fail",
    ("fail", "flaky"): "fail_to_flaky", ("missing", "flaky"): "fail_to_flaky", ("flaky", "pass"): "flaky_to_pass",
    ("pass", "pass"): "unchanged_pass", ("fail", "fail"): "unchanged_fail", ("flaky", "flaky"): "unchanged_flaky",
    ("fail", "missing"): "unchanged_fail", ("missing", "fail"): "unchanged_fail",
    ("missing", "missing"): "unchanged_fail",
}


def _decide(
    df: pd.DataFrame,
    options: EvalGateOptions,
    names: dict[str, str],
    base_files: tuple[str, ...],
    cand_files: tuple[str, ...],
    two_file: bool,
    binary: bool,
    score_range: tuple[float, float] | None,
    has_clusters: bool,
    implicit_repeats: int,
    errors_by_arm: dict[str, dict[str, int]],
) -> EvalGateResult:
    alpha, margin = options.alpha, options.margin
    arrays = {c: df[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in (
        "b_rows", "b_results", "b_errors", "b_pass", "b_sum", "b_sumsq",
        "c_rows", "c_results", "c_errors", "c_pass", "c_sum", "c_sumsq")}
    case_ids = df["case_id"].astype(str).to_numpy()
    in_base = ~np.isnan(arrays["b_rows"])
    in_cand = ~np.isnan(arrays["c_rows"])
    b_status = _status(arrays["b_rows"], arrays["b_results"], arrays["b_errors"], arrays["b_pass"])
    c_status = _status(arrays["c_rows"], arrays["c_results"], arrays["c_errors"], arrays["c_pass"])
    with np.errstate(invalid="ignore", divide="ignore"):
        b_value = np.where(in_base, arrays["b_sum"] / arrays["b_rows"], np.nan)
        c_value = np.where(in_cand, arrays["c_sum"] / arrays["c_rows"], np.nan)
    tags_col = df["tags"].tolist()
    cluster_col = df["cluster"].tolist()
    protect = set(options.protect)
    unknown = sorted(protect - set(case_ids.tolist()))
    if unknown:
        raise InputError(f"{len(unknown)} protected case id(s) are in neither arm (first: {unknown[0]!r})",
                         field="case_id", fix="check the --protect file against the eval set's case ids")
    strict_tags = set(options.strict_tags)

    cases: list[CaseOutcome] = []
    transitions: dict[str, dict[str, int]] = {s: dict.fromkeys(STATUSES, 0) for s in STATUSES}
    arms = {p: _case_arms(p, arrays, st, val) for p, st, val in (("b", b_status, b_value), ("c", c_status, c_value))}
    for cid, b_arm, c_arm, tag_list, cluster, base_present in zip(
            case_ids.tolist(), arms["b"], arms["c"], tags_col, cluster_col, in_base.tolist(), strict=True):
        tags = tuple(tag_list) if tag_list is not None else ()
        if not base_present:
            transition = "new_case"
        else:
            transition = TRANSITIONS[(b_arm.status, c_arm.status)]
            transitions[b_arm.status][c_arm.status] += 1
        cases.append(CaseOutcome(
            case_id=cid, tags=tags, cluster=cluster, baseline=b_arm, candidate=c_arm, transition=transition,
            strict_scope=options.strict or bool(strict_tags and strict_tags.intersection(tags)),
            protected=cid in protect,
        ))

    paired = in_base
    n = int(paired.sum())
    bv = b_value[paired]
    cv = np.where(in_cand[paired], c_value[paired], 0.0)
    paired_cases = [c for c in cases if c.transition != "new_case"]
    clusters = _cluster_codes(cluster_col, paired) if has_clusters else None

    diff = paired_difference(bv, cv, alpha=alpha, margin=margin, clusters=clusters)
    boot = paired_bootstrap_ci(bv, cv, alpha=alpha, seed=options.seed, n_resamples=options.bootstrap,
                               clusters=clusters)
    values_binary = bool(np.all((bv == 0) | (bv == 1)) and np.all((cv == 0) | (cv == 1)))
    stable = [c for c in paired_cases if c.baseline.status != "flaky" and c.candidate.status != "flaky"]
    mc = mcnemar_exact(
        sum(1 for c in stable if c.baseline.status == "pass" and c.candidate.status != "pass"),
        sum(1 for c in stable if c.baseline.status != "pass" and c.candidate.status == "pass"),
        len(stable), alpha,
    )
    if values_binary and diff.method != "cluster_robust_t":
        p_value, p_method = mc.p_value, "mcnemar_exact"
    else:
        p_value, p_method = diff.p_value, diff.method
    corr = correlation(bv, cv)

    # Power: observed variance of per-case mean differences (ω² + σ²_A/K_A + σ²_B/K_B in Miller's terms).
    d = cv - bv
    var_diff = float(d.var(ddof=1)) if n >= 2 else None
    design_effect = 1.0
    if clusters is not None and n >= 2 and var_diff:
        se_cl, _ = cluster_robust_se(d, clusters)
        if math.isfinite(se_cl):
            design_effect = se_cl**2 / (var_diff / n)
    kb = _mean_repeats(arrays["b_rows"][paired])
    kc = _mean_repeats(arrays["c_rows"][paired & in_cand])
    plan = power_plan(
        n=n, var_diff=var_diff,
        within_baseline=_within_variance(arrays, "b", paired), within_candidate=_within_variance(arrays, "c",
                                                                                                paired & in_cand),
        repeats_baseline=kb, repeats_candidate=kc, alpha=alpha, power=options.power,
        target=margin if margin > 0 else options.planning_effect, design_effect=design_effect,
    )

    base = _arm_summary(names["baseline"], base_files, arrays, "b", b_status, paired, bv, alpha, values_binary,
                        clusters, errors_by_arm["baseline"])
    cand = _arm_summary(names["candidate"], cand_files, arrays, "c", c_status, paired, cv, alpha, values_binary,
                        clusters, errors_by_arm["candidate"])

    regressions = tuple(c.case_id for c in paired_cases if c.transition == "regression")
    fixes = tuple(c.case_id for c in paired_cases if c.transition == "fix")
    flaky = tuple(c.case_id for c in cases if "flaky" in (c.baseline.status, c.candidate.status))
    newly_flaky = tuple(c.case_id for c in paired_cases if c.transition == "pass_to_flaky")
    new_cases = tuple(c.case_id for c in cases if c.transition == "new_case")
    missing = tuple(c.case_id for c in paired_cases if c.candidate.status == "missing")
    strict_violations = tuple(c.case_id for c in paired_cases if c.strict_scope and c.transition == "regression")
    protected_failed = tuple(c.case_id for c in cases if c.protected and c.candidate.status != "pass")

    reasons, verdict = _verdict(options, diff, base, cand, strict_violations, protected_failed, paired_cases)
    notes = _notes(options, regressions, fixes, flaky, newly_flaky, new_cases, implicit_repeats, plan, n,
                   values_binary, diff)
    metric = "pass_rate" if binary else "mean_score"
    settings = GateSettings(
        alpha=alpha, margin=margin, strict=options.strict, strict_tags=tuple(options.strict_tags),
        protected_cases=len(protect), inconclusive=options.inconclusive, metric=metric,
        score_range=score_range, pass_threshold=None if binary else options.pass_threshold, seed=options.seed,
        mode="two_file" if two_file else "one_file",
    )
    return EvalGateResult(
        verdict=verdict, exit_code=int(exit_code_for(verdict, options.inconclusive)), reasons=tuple(reasons),
        notes=tuple(notes),
        settings=settings, n_cases=n, baseline=base, candidate=cand, difference=diff,
        bootstrap=BootstrapInterval(
            None if boot is None else boot[0], None if boot is None else boot[1], options.bootstrap,
            options.seed, "cluster" if clusters is not None else "case"),
        mcnemar=mc, p_value=p_value, p_value_method=p_method, correlation=corr, mde=plan.mde, power=plan,
        regressions=regressions, fixes=fixes, flaky=flaky, newly_flaky=newly_flaky, new_cases=new_cases,
        missing_in_candidate=missing, protected_failed=protected_failed, strict_violations=strict_violations,
        transitions=transitions, cases=tuple(cases),
    )


def _case_arms(p: str, arrays: dict[str, npt.NDArray[np.float64]], status: npt.NDArray[np.object_],
               value: npt.NDArray[np.float64]) -> list[CaseArm]:
    """One CaseArm per case, built from plain lists (numpy scalar access per case is slow at 100k cases)."""
    rows = np.nan_to_num(arrays[f"{p}_rows"], nan=0).astype(np.int64).tolist()
    passes = np.nan_to_num(arrays[f"{p}_pass"], nan=0).astype(np.int64).tolist()
    errors = np.nan_to_num(arrays[f"{p}_errors"], nan=0).astype(np.int64).tolist()
    # Cases share few distinct (status, repeats, passes, errors, value) combinations: reuse the frozen objects.
    seen: dict[tuple[Any, ...], CaseArm] = {}
    out = []
    for key in zip(status.tolist(), rows, passes, errors, value.tolist(), strict=True):
        arm = seen.get(key)
        if arm is None:
            st, k, ps, er, v = key
            arm = CaseArm("missing", 0, 0, 0, None) if k == 0 else CaseArm(_as_status(st), k, ps, er, v)
            seen[key] = arm
        out.append(arm)
    return out


def _as_status(value: Any) -> Status:
    text = str(value)
    if text == "pass":
        return "pass"
    if text == "fail":
        return "fail"
    return "flaky" if text == "flaky" else "missing"


def _cluster_codes(cluster_col: list[Any], paired: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Integer cluster per paired case; a case without a cluster is its own cluster."""
    labels = [c for c, keep in zip(cluster_col, paired.tolist(), strict=True) if keep]
    codes, _ = pd.factorize(pd.Series(labels, dtype=object), use_na_sentinel=True)
    out = codes.astype(np.int64)
    missing = out < 0
    out[missing] = out.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return out


def _mean_repeats(rows: npt.NDArray[np.float64]) -> float:
    rows = rows[~np.isnan(rows)]
    return float(rows.mean()) if rows.size else 1.0


def _within_variance(arrays: dict[str, npt.NDArray[np.float64]], p: str,
                     mask: npt.NDArray[np.bool_]) -> float | None:
    """Mean over cases of the per-case variance across repeats, σ̂_i² = (Σx² − (Σx)²/k)/(k − 1) (Miller)."""
    k = arrays[f"{p}_rows"][mask]
    s = arrays[f"{p}_sum"][mask]
    ss = arrays[f"{p}_sumsq"][mask]
    ok = k >= 2
    if not ok.any():
        return None
    var = (ss[ok] - s[ok] ** 2 / k[ok]) / (k[ok] - 1)
    return float(np.clip(var, 0.0, None).mean())


def _arm_summary(
    name: str, files: tuple[str, ...], arrays: dict[str, npt.NDArray[np.float64]], p: str,
    status: npt.NDArray[np.object_], paired: npt.NDArray[np.bool_], values: npt.NDArray[np.float64],
    alpha: float, binary: bool, clusters: npt.NDArray[np.int64] | None, errors: dict[str, int],
) -> ArmSummary:
    rows = arrays[f"{p}_rows"][paired]
    present = rows[~np.isnan(rows)]
    obs = int(present.sum())
    err = int(np.nansum(arrays[f"{p}_errors"][paired]))
    st = status[paired]
    low, high = mean_interval(values, alpha=alpha, binary=binary, clusters=clusters)
    return ArmSummary(
        name=name, files=files, cases=int(present.size), observations=obs,
        repeats_min=int(present.min()) if present.size else None,
        repeats_max=int(present.max()) if present.size else None,
        pass_rate=float(values.mean()) if values.size else None, ci_low=low, ci_high=high,
        stable_pass=int((st == "pass").sum()), stable_fail=int((st == "fail").sum()),
        flaky=int((st == "flaky").sum()), missing=int((st == "missing").sum()),
        errors=err, error_rate=err / obs if obs else None, error_classes=dict(errors),
    )


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} points"


def _neg_margin(margin: float) -> str:
    return "0 (no margin)" if margin == 0 else f"−{margin * 100:g} points (−margin)"


def _list(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def _verdict(
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


def _notes(
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

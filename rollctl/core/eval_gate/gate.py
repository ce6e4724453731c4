"""The entry point `eval_gate`: read both arms (two files, or one with named variants), check the options,
reduce to per-case sums in SQL, and hand the cases to the decision."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rollctl.core.eval_gate.cases import decide_cases
from rollctl.core.eval_gate.results import EvalGateOptions, EvalGateResult
from rollctl.core.results import skipped_lines_reason
from rollctl.db import Database, QueryEngine
from rollctl.engines.spark import SparkEngine
from rollctl.errors import DuplicateRowsError, InputError, MissingFieldError, UsageError
from rollctl.load import LoadOptions, load_inputs, require_fields
from rollctl.load.files import expand_paths
from rollctl.sql import eval_gate as q


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
    db: Database | SparkEngine,
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
        if isinstance(db, SparkEngine):
            # Spark reads each path (a file, a directory, a glob, a URI) as one source named by the path itself.
            base_files, cand_files = tuple(baseline_paths), tuple(candidate_paths)
        else:
            expanded = expand_paths(baseline_paths), expand_paths(candidate_paths)
            for f in expanded[0] + expanded[1]:
                if f.format == "duckdb":
                    raise UsageError("a .duckdb input mixes the files it was ingested from", path=f.path,
                                     fix="read it in one-file mode: rollctl eval-gate DB --baseline NAME "
                                         "--candidate NAME")
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
    result = decide_cases(
        table, options, names, base_files, cand_files, two_file, binary,
        None if binary else score_range, bool(profile["with_cluster"]), implicit, errors_by_arm,
    )
    if report.skipped_lines:
        result = replace(result, skipped_lines=report.skipped_lines,
                         notes=(*result.notes, skipped_lines_reason(report.skipped_lines)))
    return result


def _arm_rule(
    db: QueryEngine, two_file: bool, base_files: tuple[str, ...], cand_files: tuple[str, ...],
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

"""Every case classified in each arm (pass, fail, flaky, missing) and its transition, the paired difference
with its intervals (t, cluster-robust, bootstrap), McNemar on the stable cases, and the eval set's power."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rollctl.core.eval_gate.results import (
    STATUSES,
    TRANSITIONS,
    ArmSummary,
    BootstrapInterval,
    CaseArm,
    CaseOutcome,
    EvalGateOptions,
    EvalGateResult,
    GateSettings,
    Status,
)
from rollctl.core.eval_gate.verdict import gate_notes, gate_verdict
from rollctl.errors import InputError
from rollctl.exit_codes import exit_code_for
from rollctl.stats.paired import (
    cluster_robust_se,
    correlation,
    mcnemar_exact,
    mean_interval,
    paired_bootstrap_ci,
    paired_difference,
    power_plan,
)


def _status(rows: npt.NDArray[np.float64], results: npt.NDArray[np.float64], errors: npt.NDArray[np.float64],
            passes: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    status = np.full(rows.shape, "flaky", dtype=object)
    status[passes == 0] = "fail"
    status[(passes == rows) & (rows > 0)] = "pass"
    status[np.isnan(rows) | ((results == 0) & (errors == 0))] = "missing"
    return status

def decide_cases(
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

    reasons, verdict = gate_verdict(options, diff, base, cand, strict_violations, protected_failed, paired_cases)
    notes = gate_notes(options, regressions, fixes, flaky, newly_flaky, new_cases, implicit_repeats, plan, n,
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

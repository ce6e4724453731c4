"""`rollctl eval-gate`."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rollctl.cli import app
from rollctl.cli.common import (
    BadLines,
    BadLinesOpt,
    ConfigOpt,
    EmitOpt,
    EngineName,
    EngineOpt,
    FormatOpt,
    JsonOpt,
    MapOpt,
    SparkRemoteOpt,
    VariantFromOpt,
    check_emit,
    check_engine_inputs,
    check_outputs,
    emit_json,
    emit_notification,
    finish,
    human,
    load_options,
    open_config,
    run_on_engine,
)
from rollctl.cli.html_option import HtmlOpt, write_html
from rollctl.config import Config
from rollctl.errors import PlanError, UsageError
from rollctl.exit_codes import EXIT_CODE_HELP, INCONCLUSIVE_POLICIES, InconclusivePolicy


class Inconclusive(StrEnum):
    exit3 = "exit3"
    passes = "pass"
    fails = "fail"


_KEYS = {
    "baseline": str, "candidate": str, "strict": bool, "strict_tags": list, "margin": float, "alpha": float,
    "protect": str, "inconclusive": str, "score_range": list, "pass_threshold": float, "seed": int,
    "bootstrap": int,
}


def _section(cfg: Config) -> dict[str, Any]:
    section = cfg.section("eval_gate")
    for key, value in section.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise PlanError(f"[eval_gate] has an unknown key {key!r}", path=cfg.path, field=key,
                            fix="known keys: " + ", ".join(sorted(_KEYS)))
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if kind is int and isinstance(value, bool):
            ok = False
        if not ok:
            raise PlanError(f"[eval_gate] {key} must be a {kind.__name__}", path=cfg.path, field=key,
                            fix="fix the value in rollctl.toml")
    return section


def _score_range(text: str | list[Any] | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        lo, hi = (float(p) for p in parts)
    except (ValueError, TypeError):
        raise UsageError("--score-range needs LOW,HIGH", fix="e.g. --score-range 0,10") from None
    return (lo, hi)


@app.command("eval-gate", epilog=EXIT_CODE_HELP)
def eval_gate_command(
    paths: Annotated[list[str], typer.Argument(
        help="BASELINE CANDIDATE (two result files or quoted globs), or one RESULTS file with --baseline and "
             "--candidate. Eval rows {case_id, variant, repeat, passed, score, tags, error, cluster}, "
             "promptfoo results.json, inspect_ai .json or .eval logs.", show_default=False)],
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline variant name.")] = None,
    candidate: Annotated[str | None, typer.Option("--candidate", help="Candidate variant name.")] = None,
    strict: Annotated[bool | None, typer.Option("--strict/--tolerant",
                                                help="Strict: no case that passed in the baseline may fail.",
                                                show_default=False)] = None,
    strict_tag: Annotated[list[str] | None, typer.Option(
        "--strict-tag", help="Strict only for cases with this tag (repeatable).", show_default=False)] = None,
    margin: Annotated[float | None, typer.Option(
        "--margin", help="Non-inferiority margin on the pass rate or scaled mean score (0.05 = 5 points). "
                         " (default 0)", show_default=False)] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="One-sided error rate. (default 0.05)",
                                                show_default=False)] = None,
    protect: Annotated[Path | None, typer.Option("--protect", help="File of case ids (one a line) that must pass.",
                                                 show_default=False)] = None,
    inconclusive: Annotated[Inconclusive | None, typer.Option(
        "--inconclusive", help="Exit code policy for an inconclusive verdict: exit3 (default), pass (0), fail (1).",
        show_default=False)] = None,
    score_range: Annotated[str | None, typer.Option(
        "--score-range", help="LOW,HIGH of score-only results (default: 0,1 when every score is in it).",
        show_default=False)] = None,
    pass_threshold: Annotated[float | None, typer.Option(
        "--pass-threshold", help="Score-only results: a repeat passes at this scaled score or above. "
                                 " (default 0.5)", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Bootstrap seed. (default 0)",
                                             show_default=False)] = None,
    bootstrap: Annotated[int | None, typer.Option("--bootstrap", help="Bootstrap resamples (0: none). "
                                                  " (default 1000)", show_default=False)] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML: one testcase per case + the gate.",
                                               show_default=False)] = None,
    markdown: Annotated[Path | None, typer.Option(
        "--markdown", help="Write a Markdown PR summary (default: append to $GITHUB_STEP_SUMMARY when set).",
        show_default=False)] = None,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    engine: EngineOpt = EngineName.duckdb,
    spark_remote: SparkRemoteOpt = None,
    json_output: JsonOpt = False,
    emit: EmitOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Gate a prompt or model change on its offline eval results: pass, fail or inconclusive.

    Pairs cases by case_id, averages repeats per case, tells flaky cases from regressions, and decides with a
    paired test and a non-inferiority margin. Prints the smallest drop this eval set can detect.

    Example:

        rollctl eval-gate sample_traces/evals/baseline.jsonl sample_traces/evals/candidate_improved.jsonl

        rollctl eval-gate base.jsonl cand.jsonl --strict-tag high_stakes --margin 0.05 --junit junit.xml

        rollctl eval-gate results.jsonl --baseline main --candidate pr-481 --json
    """
    # scipy, pandas and DuckDB load here, not at import: `rollctl --help` stays fast.
    md_target, append = markdown, False
    if md_target is None and os.environ.get("GITHUB_STEP_SUMMARY"):
        md_target, append = Path(os.environ["GITHUB_STEP_SUMMARY"]), True
    check_emit(json_output, emit)
    check_outputs([*paths, config, protect], html=html, junit=junit, markdown=md_target)
    check_engine_inputs(engine, paths, None, spark_remote)
    from rollctl.core.eval_gate import EvalGateOptions, eval_gate, read_protect_file
    from rollctl.render.eval_gate_view import eval_gate_json, render_eval_gate
    from rollctl.render.junit import write_junit
    from rollctl.render.markdown import write_markdown

    cfg = open_config(config)
    section = _section(cfg)
    protect_path = str(protect) if protect is not None else section.get("protect")
    if protect is None and protect_path and cfg.path and not Path(protect_path).is_absolute():
        # A path in rollctl.toml is relative to the file, so CI can run from any directory.
        protect_path = str(Path(cfg.path).parent / protect_path)
    policy: InconclusivePolicy = (inconclusive.value if inconclusive is not None
                                  else section.get("inconclusive", "exit3"))
    if policy not in INCONCLUSIVE_POLICIES:
        raise PlanError("[eval_gate] inconclusive must be exit3, pass or fail", path=cfg.path,
                        field="inconclusive", fix='e.g. inconclusive = "exit3"')
    options = EvalGateOptions(
        baseline=baseline if baseline is not None else section.get("baseline"),
        candidate=candidate if candidate is not None else section.get("candidate"),
        strict=strict if strict is not None else bool(section.get("strict", False)),
        strict_tags=tuple(strict_tag) if strict_tag else tuple(str(t) for t in section.get("strict_tags", [])),
        margin=float(margin if margin is not None else section.get("margin", 0.0)),
        alpha=float(alpha if alpha is not None else section.get("alpha", 0.05)),
        protect=read_protect_file(protect_path) if protect_path else (),
        inconclusive=policy,
        score_range=_score_range(score_range if score_range is not None else section.get("score_range")),
        pass_threshold=float(pass_threshold if pass_threshold is not None
                             else section.get("pass_threshold", 0.5)),
        seed=int(seed if seed is not None else section.get("seed", 0)),
        bootstrap=int(bootstrap if bootstrap is not None else section.get("bootstrap", 1000)),
    )
    if len(paths) == 2:
        base_paths, cand_paths = [paths[0]], [paths[1]]
    elif len(paths) == 1 or (options.baseline and options.candidate):
        base_paths, cand_paths = list(paths), None
    else:
        raise UsageError(f"expected BASELINE CANDIDATE, got {len(paths)} paths",
                         fix="quote globs so the shell does not expand them ('runs/base/*.jsonl'), or pass "
                             "--baseline and --candidate to read all files as one result set")
    lopts = load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from, keep_text=False)
    result = run_on_engine(lambda db: eval_gate(db, base_paths, cand_paths, options, lopts), engine=engine,
                           spark_remote=spark_remote, json_mode=json_output, message="Gating eval results…")
    if junit is not None:
        write_junit(result, junit)
    if md_target is not None:
        write_markdown(result, md_target, append=append)
    if html is not None:
        from rollctl.render.reports.eval_gate import build_eval_gate_context  # plotly loads only for --html

        write_html("eval_gate", lambda: build_eval_gate_context(result), html)
    if json_output:
        emit_json(eval_gate_json(result))
    elif emit is not None:
        emit_notification(emit, "eval-gate", eval_gate_json(result))
    else:
        render_eval_gate(result, human())
    finish(result.verdict, policy)

"""`rollctl shadow-report`."""

from __future__ import annotations

from typing import Annotated

import typer

from rollctl.cli import app
from rollctl.cli.common import (
    BadLines,
    BadLinesOpt,
    ConfigOpt,
    EmitOpt,
    FormatOpt,
    JsonOpt,
    MapOpt,
    PathsArg,
    VariantFromOpt,
    check_emit,
    check_inputs,
    check_outputs,
    emit_json,
    emit_notification,
    finish,
    human,
    load_options,
    open_config,
    run,
)
from rollctl.cli.html_option import HtmlOpt, write_html
from rollctl.exit_codes import EXIT_CODE_HELP


@app.command("shadow-report", epilog=EXIT_CODE_HELP)
def shadow_report_command(
    paths: PathsArg,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", help="Variant name of the served (old) arm (default: read from the data: a paired file's "
        "baseline objects, or the variant only ever served).", show_default=False)] = None,
    candidate: Annotated[str | None, typer.Option(
        "--candidate", help="Variant name of the shadow (new) arm (default: a paired file's candidate objects, "
        "or the variant only ever computed in shadow).", show_default=False)] = None,
    judgements: Annotated[
        list[str] | None,
        typer.Option("--judgements", help="Judge verdict files {request_id, judge, order, winner | preference}; "
                                          "repeatable.", show_default=False),
    ] = None,
    eval_set: Annotated[
        str | None, typer.Option("--eval-set", help="Offline eval results (cases with tags), to find traffic "
                                                    "segments the eval set does not cover.")
    ] = None,
    segment_by: Annotated[
        str | None, typer.Option("--segment-by", help="Segment field: metadata.<key> or a trace field "
                                                      "(e.g. metadata.intent, model).")
    ] = None,
    expect_json: Annotated[
        bool | None,
        typer.Option("--expect-json/--no-expect-json",
                     help="Outputs are meant to be JSON (default: auto, a pair whose answer looks like JSON)."),
    ] = None,
    examples: Annotated[int, typer.Option("--examples", help="How many losing pairs to show.")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap resampling.")] = 0,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    json_output: JsonOpt = False,
    emit: EmitOpt = None,
    html: HtmlOpt = None,
) -> None:
    """What shadow traffic says about the candidate: paired diffs, judge preference, cost, latency, tails.

    Example:

        rollctl shadow-report sample_traces/shadow/pairs.jsonl.gz --baseline control --candidate treatment
        --eval-set sample_traces/evals/baseline.jsonl --segment-by metadata.intent
    """
    # Imported here: DuckDB, pyarrow, scipy and rapidfuzz load only when the command runs, not for --help.
    check_emit(json_output, emit)
    check_outputs([*paths, *(judgements or []), eval_set, config], html=html)
    check_inputs([*paths, *(judgements or []), *([eval_set] if eval_set else [])])
    from rollctl.core.shadow_report import ShadowOptions, ShadowSettings, shadow_report
    from rollctl.render.shadow_report_view import render_shadow_report

    cfg = open_config(config)
    settings = ShadowSettings.from_config(cfg)
    named = baseline is not None or candidate is not None
    baseline, candidate = baseline or "baseline", candidate or "candidate"
    options = load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from, keep_text=True,
                           baseline_name=baseline, candidate_name=candidate)
    shadow = ShadowOptions(
        paths=tuple(paths), baseline=baseline, candidate=candidate, load=options, arms_named=named,
        judgements=tuple(judgements or ()), eval_set=eval_set, segment_by=segment_by, expect_json=expect_json,
        examples=examples, seed=seed, settings=settings,
    )
    result = run(lambda db: shadow_report(db, shadow), json_mode=json_output, message="Pairing shadow traffic…")
    if html is not None:
        from rollctl.render.reports.shadow_report import build_shadow_report_context  # plotly only for --html

        write_html("shadow_report", lambda: build_shadow_report_context(result, paths=paths), html)
    if json_output:
        emit_json(result)
    elif emit is not None:
        emit_notification(emit, "shadow-report", result)
    else:
        render_shadow_report(result, human())
    finish(result.verdict)

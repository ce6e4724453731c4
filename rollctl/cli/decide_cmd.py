"""`rollctl decide`: GO / HOLD / ROLLBACK for the current ramp stage, by the plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    InputsArg,
    JsonOpt,
    MapOpt,
    SparkRemoteOpt,
    TableOpt,
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
from rollctl.errors import UsageError
from rollctl.exit_codes import EXIT_CODE_HELP
from rollctl.plan import Plan, load_plan
from rollctl.render.decide_view import render_decide

if TYPE_CHECKING:
    from rollctl.config import Config
    from rollctl.load.types import LoadOptions


def parse_as_of(value: str | None) -> datetime | None:
    """An ISO-8601 time (a date means the end of that UTC day); naive times are UTC."""
    if value is None:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            moment = datetime.fromisoformat(text).replace(hour=23, minute=59, second=59, microsecond=999999)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {value!r} is not an ISO-8601 time", field="--as-of",
                         fix="e.g. --as-of 2026-11-19 or --as-of 2026-11-19T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def decide_load_options(plan: Plan, cfg: Config, maps: list[str] | None, on_bad_lines: BadLines, fmt: str | None,
                        variant_from: str | None) -> LoadOptions:
    """The load options for deciding on `plan`: the answers' text is kept only when a metric reads it (it is most
    of a trace's bytes). Shared with `rollctl serve`, which must decide exactly as this command does."""
    from rollctl.metrics import reads_text

    names = [g.metric for g in plan.guardrails] + [p.metric for p in plan.primary]
    return load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from,
                        keep_text=reads_text(plan.metric(n) for n in names))


@app.command(name="decide", epilog="Exit codes: 0 GO, 1 ROLLBACK, 2 bad input or plan, 3 HOLD. " + EXIT_CODE_HELP)
def decide_cmd(
    plan: Annotated[Path, typer.Option("--plan", help="The rollout plan (TOML), written before the rollout.")],
    paths: InputsArg = None,
    stage: Annotated[float | None, typer.Option("--stage", help="Percent of units on the candidate in these "
                                                "traces (default: the plan's current_stage).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Decide on the traces up to this time (ISO-8601; a date means the end of that UTC day), "
        "to replay a past decision.")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Append the decision (verdict, plan hash, data "
                                             "fingerprint) as one JSON line to this file.")] = None,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    daily: Annotated[bool, typer.Option("--daily", help="Add each ratio metric's interval at the end of every "
                                        "day (`sequence` in --json; always on with --html). Costs a second, "
                                        "per-unit-per-day pass over the traces.")] = False,
    engine: EngineOpt = EngineName.duckdb,
    spark_remote: SparkRemoteOpt = None,
    table: TableOpt = None,
    json_output: JsonOpt = False,
    emit: EmitOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Decide whether to ramp the canary: GO (next stage), HOLD (why, and how long), ROLLBACK (which rule fired).

    Validity checks first (sample-ratio mismatch, mixed exposure, assignment audit, pinned models, one \
change at a time, cache-hit skew, minimum time, weekly cycle, planned sample), then every guardrail with a \
peek-safe one-sided confidence sequence: safe to re-run every day.

    Example:

        rollctl decide sample_traces/canary/traces.jsonl.gz --plan sample_traces/rollout.toml --stage 5
    """
    check_emit(json_output, emit)
    check_outputs([*(paths or []), plan, config], html=html, log=log)
    inputs = check_engine_inputs(engine, paths, table, spark_remote)
    from rollctl.core.decide import append_decision_log, decide  # scipy and DuckDB: only when deciding

    cfg = open_config(config)
    parsed = load_plan(plan)
    moment = parse_as_of(as_of)
    options = replace(decide_load_options(parsed, cfg, maps, on_bad_lines, fmt, variant_from), spark_table=table)
    result = run_on_engine(lambda db: decide(db, inputs, parsed, stage=stage, as_of=moment, options=options,
                                             daily_sequences=daily or html is not None),
                           engine=engine, spark_remote=spark_remote, json_mode=json_output, message="Deciding…")
    if html is not None:
        from rollctl.render.reports.decide import build_decide_context  # plotly loads only for --html

        write_html("decide", lambda: build_decide_context(result, paths=inputs), html)
    if json_output:
        emit_json(result)
    elif emit is not None:
        emit_notification(emit, "decide", result)
    else:
        render_decide(result, human())
    if log is not None:
        # Last: the log records a decision only once everything asked of the run was done (a failed --html
        # write exits 2 and logs nothing, rather than a HOLD that never reached its reader).
        append_decision_log(log, result)
    finish(result.verdict)


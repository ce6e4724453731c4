"""`rollctl inspect`."""

from __future__ import annotations

from rollctl.cli import app
from rollctl.cli.common import (
    BadLines,
    BadLinesOpt,
    ConfigOpt,
    FormatOpt,
    JsonOpt,
    MapOpt,
    PathsArg,
    VariantFromOpt,
    check_outputs,
    emit_json,
    human,
    load_options,
    open_config,
    run,
)
from rollctl.cli.html_option import HtmlOpt, write_html
from rollctl.exit_codes import EXIT_CODE_HELP


@app.command(epilog=EXIT_CODE_HELP)
def inspect(
    paths: PathsArg,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    json_output: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Show what is in trace, judgement or eval files: variants, models, time range, users, field coverage.

    Example:

        rollctl inspect sample_traces/canary/traces.jsonl.gz

        rollctl inspect export.jsonl --map user_id=metadata.user.id --json

        rollctl inspect --format otel spans.jsonl   # shows which attribute fed each field

        rollctl inspect sample_traces/canary/traces.jsonl.gz --html inspect.html
    """
    check_outputs([*paths, config], html=html)
    cfg = open_config(config)
    options = load_options(cfg, maps, on_bad_lines, fmt, keep_text=False, variant_from=variant_from)
    from rollctl.core.inspect import inspect_inputs  # here, not at start-up: it imports DuckDB and the loader
    from rollctl.render.inspect_view import render_inspect

    result = run(lambda db: inspect_inputs(db, paths, options), json_mode=json_output, message="Reading inputs…")
    if html is not None:
        from rollctl.render.reports.inspect import build_inspect_context  # plotly loads only for --html

        write_html("inspect", lambda: build_inspect_context(result), html)
    if json_output:
        emit_json(result)
    else:
        render_inspect(result, human())

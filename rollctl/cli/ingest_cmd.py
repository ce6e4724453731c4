"""`rollctl ingest`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

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
    emit_json,
    human,
    load_options,
    open_config,
    run,
)
from rollctl.exit_codes import EXIT_CODE_HELP

if TYPE_CHECKING:
    from rollctl.core.ingest import IngestResult


@app.command(name="ingest", epilog=EXIT_CODE_HELP)
def ingest_command(
    paths: PathsArg,
    db_path: Annotated[str, typer.Option("--db", help="DuckDB file to create or append to.")],
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Validate exports and append them to a DuckDB file, skipping rows already there.

    Every analysis command accepts the database in place of the raw files.

    Example:

        rollctl ingest sample_traces/canary/ --db traces.duckdb
    """
    cfg = open_config(config)
    options = load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from)
    from rollctl.core.ingest import ingest  # here, not at start-up: it imports DuckDB and the loader

    result = run(lambda db: ingest(db, paths, db_path, options), json_mode=json_output, message="Ingesting…")
    if json_output:
        emit_json(result)
    else:
        _render(result)


def _render(result: IngestResult) -> None:
    console = human()
    table = Table(title=f"Ingested into {result.database}", title_justify="left", show_edge=False)
    for col in ("table", "read", "duplicates in input", "already present", "added", "total"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for t in result.tables:
        if t.rows_read or t.total_after:
            table.add_row(t.table, f"{t.rows_read:,}", f"{t.duplicates_in_input:,}", f"{t.already_present:,}",
                          f"{t.added:,}", f"{t.total_after:,}")
    console.print(table)
    if result.skipped_lines:
        console.print(f"{result.skipped_lines:,} malformed line(s) skipped")
    for w in result.warnings:
        console.print(Text(f"{w.code}: {w.message}"))

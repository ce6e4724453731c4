"""`rollctl ingest`: validate exports once and keep them in a DuckDB file the other commands read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rollctl.core.results import SCHEMA_VERSION, Reason
from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.errors import InputError, UsageError
from rollctl.load import LoadOptions, load_inputs
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.sql import ingest as q

_TARGET = "rollctl_target"


@dataclass(frozen=True)
class TableIngest:
    table: str
    rows_read: int
    duplicates_in_input: int
    already_present: int
    added: int
    total_after: int


@dataclass(frozen=True)
class IngestResult:
    schema_version: str
    database: str
    files: tuple[str, ...]
    skipped_lines: int
    tables: tuple[TableIngest, ...]
    added: int
    warnings: tuple[Reason, ...]


def ingest(db: Database, paths: Sequence[str], target: str, options: LoadOptions | None = None) -> IngestResult:
    """Load and validate `paths`, then append rows not already in `target`."""
    target_real = os.path.realpath(target)
    for p in paths:
        if os.path.exists(p) and os.path.realpath(p) == target_real:
            raise UsageError("--db is also an input", path=target, fix="write to a different database file")
    report = load_inputs(db, paths, options or LoadOptions())
    if report.rows.get("traces"):
        missing = int(db.fetchone("SELECT count(*) FROM traces WHERE request_id IS NULL")[0])
        if missing:
            raise InputError(
                f"{missing} trace row(s) have no request_id, so re-ingesting could not de-duplicate them",
                field="request_id", fix="map the request id with --map request_id=<field>",
            )
    # Row order inside the database file carries no meaning (first-wins de-duplication orders by file
    # explicitly), and not preserving it lets DuckDB append in parallel with less memory. Set only after
    # loading: line numbers in load errors rely on the reader's order.
    db.execute("SET preserve_insertion_order = false")
    try:
        db.execute(f"ATTACH $path AS {quote_identifier(_TARGET)}", {"path": target})
    except DuckDBError as exc:
        raise InputError(f"cannot open or create the database ({str(exc).splitlines()[0]})", path=target,
                         fix="check the path and that no other process holds it") from None
    try:
        q.ensure_tables(db, _TARGET)
        tables = []
        for table in TABLE_FIELDS:
            read = report.rows.get(table, 0)
            dups = q.in_input_duplicates(db, table) if read else 0
            added = q.append_new(db, _TARGET, table, has_duplicates=dups > 0) if read else 0
            tables.append(TableIngest(
                table=table, rows_read=read, duplicates_in_input=dups, already_present=read - dups - added,
                added=added, total_after=q.count_rows(db, _TARGET, table),
            ))
        db.execute("CHECKPOINT " + quote_identifier(_TARGET))
    finally:
        db.execute(f"DETACH {quote_identifier(_TARGET)}")
    warnings: list[Reason] = []
    total_added = sum(t.added for t in tables)
    if total_added == 0:
        warnings.append(Reason("NOTHING_NEW", "every row was already in the database; nothing was added"))
    for t in tables:
        if t.duplicates_in_input:
            keys = " + ".join(q.TABLE_KEYS[t.table])
            message = f"{t.duplicates_in_input} {t.table} row(s) repeat a {keys} in the input; kept the first"
            warnings.append(Reason("DUPLICATES_IN_INPUT", message))
    return IngestResult(
        schema_version=SCHEMA_VERSION, database=target, files=tuple(f.path for f in report.files),
        skipped_lines=report.skipped_lines, tables=tuple(tables), added=total_added, warnings=tuple(warnings),
    )

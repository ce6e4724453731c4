"""After loading: rows whose present values did not convert are named (file, line, field) or, with
`--on-bad-lines skip`, dropped and counted; a stored database's timestamps are checked against the window."""

from __future__ import annotations

import json

from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.errors import FieldTypeError, InputError
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.load.expressions import in_timestamp_window
from rollctl.load.probe import lines_reader
from rollctl.load.select import CHECK_PHRASES, referenced_params, with_derived
from rollctl.load.types import BadLocator, FileReport, LoadContext


def check_types(ctx: LoadContext, reports: list[FileReport]) -> list[FileReport]:
    """Raise on the first wrong-typed field, or (skip mode) drop those rows and count them."""
    db = ctx.db
    bad_rows = [
        (table, str(path), int(n))
        for table in TABLE_FIELDS
        for path, n in db.fetchall(
            f"SELECT _file, count(*) FROM {ctx.table_sql(table)} WHERE _bad GROUP BY _file ORDER BY _file"
        )
    ]
    if not bad_rows:
        return reports
    if ctx.options.on_bad_lines == "error":
        table, path, _ = bad_rows[0]
        field_name, count = _first_bad_field(ctx, path, table)
        line = _first_bad_row(ctx, path, table)
        spec = next((f for f in TABLE_FIELDS[table] if f.name == field_name), None)
        phrase = (_kind_phrase(spec.kind) + spec.range_phrase() if spec is not None
                  else CHECK_PHRASES.get(field_name, _kind_phrase("string")))
        raise FieldTypeError(
            f"field {field_name}: {count} value(s) are not {phrase}",
            path=path, line=line, field=field_name,
            fix="fix the export, map another field with --map, or pass --on-bad-lines skip to drop those rows",
        )
    dropped: dict[str, int] = {}
    dropped_rows: dict[tuple[str, str], int] = {}
    for table, path, n in bad_rows:
        dropped[path] = dropped.get(path, 0) + n
        dropped_rows[(path, table)] = n
    for table in TABLE_FIELDS:
        if table not in ctx.in_place:  # a view filters them when it is finished
            db.execute(f"DELETE FROM {ctx.table_sql(table)} WHERE _bad")
    return [
        FileReport(
            path=r.path, format=r.format, kind=r.kind,
            rows={t: n - dropped_rows.get((r.path, t), 0) for t, n in r.rows.items()},
            columns=r.columns, sources=r.sources, skipped_lines=r.skipped_lines + dropped.get(r.path, 0),
            notes=r.notes + _dropped_note(dropped.get(r.path, 0)),
        )
        for r in reports
    ]


def _dropped_note(count: int) -> tuple[str, ...]:
    return (f"{count} row(s) with wrong-typed values skipped",) if count else ()


def _valid_lines(entry: BadLocator, path: str) -> tuple[str, dict[str, object]]:
    """A JSONL file's valid records with their physical line numbers (`_line`), typed like the load."""
    params = {**entry.params, "structure": json.dumps(entry.columns)}
    # Every valid line, `null` included (it loaded as an all-null record, a bad row to be located).
    source = (
        f"(SELECT _line, unnest(from_json(line, $structure)) FROM {lines_reader()} "
        "WHERE trim(line) <> '' AND json_valid(line))"
    )
    return f"{with_derived(source, entry.derived_sql)} AS src", params


def _first_bad_field(ctx: LoadContext, path: str, table: str) -> tuple[str, int]:
    """The first wrong-typed field of a file (by name) and how many rows have it wrong: a second scan of
    the file, run only when the load found bad rows (over every statement that loaded the file's rows)."""
    counts: dict[str, int] = {}
    for entry in ctx.bad_conditions.get((path, table), []):
        source, params = entry.from_sql, entry.params
        if entry.format == "jsonl" and entry.one_row_per_record:
            source, params = _valid_lines(entry, path)
        sql = (f"SELECT f, count(*) FROM (SELECT unnest({entry.bad_sql}) AS f FROM {source} {entry.where_sql}) "
               "GROUP BY f")
        try:
            rows = ctx.db.fetchall(sql, referenced_params(sql, params))
        except DuckDBError:
            continue
        for name, n in rows:
            counts[str(name)] = counts.get(str(name), 0) + int(n)
    if not counts:
        return "(unknown)", 0
    first = min(counts)
    return first, counts[first]


def _first_bad_row(ctx: LoadContext, path: str, table: str) -> int | None:
    """The line of the first wrong-typed record: the physical line for JSONL (blank lines counted), the
    data row + 1 (the header) for CSV, the record number otherwise."""
    lines = [line for entry in ctx.bad_conditions.get((path, table), [])
             if (line := _first_bad_row_of(ctx, entry, path)) is not None]
    return min(lines) if lines else None


def _first_bad_row_of(ctx: LoadContext, entry: BadLocator, path: str) -> int | None:
    if not entry.one_row_per_record:
        return None
    if entry.format == "jsonl":
        source, params = _valid_lines(entry, path)
        sql = (
            f"SELECT min(_line) FROM (SELECT _line, {entry.bad_sql} AS b FROM {source} {entry.where_sql}) "
            "WHERE len(b) > 0"
        )
    else:
        params = entry.params
        sql = (
            f"SELECT min(n) FROM (SELECT row_number() OVER () AS n, {entry.bad_sql} AS b "
            f"FROM {entry.from_sql} {entry.where_sql}) WHERE len(b) > 0"
        )
    try:
        row = ctx.db.fetchone(sql, referenced_params(sql, params))
    except DuckDBError:
        return None
    if row[0] is None:
        return None
    return int(row[0]) + (1 if entry.format == "csv" else 0)


def _kind_phrase(kind: str) -> str:
    return {
        "float": "finite numbers",
        "int": "whole numbers",
        "bool": "booleans (true/false, 1/0, yes/no)",
        "thumbs": "-1, 0 or +1",
        "timestamp": "timestamps (ISO-8601 or epoch seconds/milliseconds/microseconds) from 2000 to 2099",
        "list": "lists",
        "json": "JSON objects",
    }.get(kind, "strings")


def check_stored_timestamps(db: Database, table_sql: str, path: str) -> None:
    """A database written before timestamps were held to 2000-2099 may store 'infinity' or year 294247, which
    Python cannot even represent: refuse it with the fix, instead of failing every later query."""
    column_sql = quote_identifier("timestamp")
    outside = int(db.fetchone(
        f"SELECT count(*) FROM {table_sql} WHERE {column_sql} IS NOT NULL AND NOT ({in_timestamp_window(column_sql)})"
    )[0])
    if outside:
        raise InputError(f"{outside} stored trace row(s) have a timestamp outside 2000-2099", path=path,
                         field="timestamp", fix="ingest the exports again into a new database with this version, "
                         "which refuses such values")

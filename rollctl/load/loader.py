"""Load trace, judgement and eval files into the canonical DuckDB tables.

One statement per input file reads it through DuckDB's own readers (never row by row in Python) and
inserts converted canonical rows into temp tables `traces`, `judgements` and `evals`. Each row carries
`_file` (where it came from) and `_bad` (true when a present value did not convert), so type errors
are reported instead of being dropped; only then is the file scanned again to name the field and the
line (`BadLocator`). Scalar JSON fields are read as text and converted in SQL
(`rollctl.load.expressions`), objects and lists as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from rollctl.db import Database, DuckDBError, error_line, quote_identifier
from rollctl.engines.spark import SparkEngine
from rollctl.errors import EmptyInputError, InputError, UsageError
from rollctl.load.adapters import adapter_named, adapters, detected_adapter, is_envelope
from rollctl.load.adapters.paired import PAIRED, paired_row_source
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.load.files import InputFile, expand_paths, gzip_trailers_checked
from rollctl.load.mapping import is_score_source, resolve_source
from rollctl.load.probe import probe_file
from rollctl.load.types import Adapter, FieldSource, FileReport, LoadContext, LoadOptions, LoadReport, PairedRows
from rollctl.load.validate import check_stored_timestamps, check_types


def create_tables(db: Database, options: LoadOptions | None = None) -> None:
    for table in TABLE_FIELDS:
        # An earlier load on this connection may have read files in place (`traces` a view over them).
        if db.fetchone("SELECT count(*) FROM duckdb_views() WHERE view_name = $name AND temporary",
                       {"name": table})[0]:
            db.execute(f"DROP VIEW {quote_identifier(table)}")
        db.execute(f"DROP TABLE IF EXISTS {quote_identifier(_copied(table))}")
    for table, fields in TABLE_FIELDS.items():
        keep = options.fields_of(table) if options is not None else None
        cols = ", ".join(f"{quote_identifier(f.name)} {f.sql_type}" for f in fields if keep is None or f.name in keep)
        db.execute(f"CREATE OR REPLACE TEMP TABLE {quote_identifier(table)} ({cols}, _file VARCHAR, _bad BOOLEAN)")


def create_empty_tables(db: Database, options: LoadOptions) -> None:
    """The canonical temp tables as `load_inputs` leaves them, with no rows: for a command that fills them
    from a stream of its own (`paired_row_sources`) when no other file is loaded."""
    create_tables(db, options)
    for table in TABLE_FIELDS:
        db.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN _bad")
        if options.fields_of(table) is not None:
            db.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN _file")


def load_inputs(
    db: Database | SparkEngine,
    paths: Sequence[str],
    options: LoadOptions | None = None,
    *,
    into: str | None = None,
    present_keys: Mapping[str, Sequence[str]] | None = None,
) -> LoadReport:
    """Read every input into the canonical temp tables and validate value types.

    `into` names an attached database to load into instead (`rollctl ingest` streams an export straight
    into its database file, so the text is not held in memory and then written again). Its canonical
    tables must exist with every field, `_file` and a `_bad BOOLEAN` column that is NULL on the rows
    already there; the rows loaded keep `_bad` false (so the caller can tell them apart), and the caller
    drops the column. All fields are loaded (`trace_fields` must be None). `present_keys` (table -> key
    columns) stores a row whose key is already in that table as its key only (and `_file`, `_bad`): the
    caller deletes those rows, and an export that mostly repeats what is there costs little to write.
    """
    options = options or LoadOptions()
    if isinstance(db, SparkEngine):
        from rollctl.load.spark_source import load_on_spark

        return load_on_spark(db, paths, options, table=options.spark_table)
    if into is not None and options.trace_fields is not None:
        raise ValueError("loading into a database keeps every field")
    if not paths:
        expand_paths(paths)  # raises the usual "no input files given"
    directories, plain = _directory_units(paths, options)
    files = expand_paths(plain) if plain else []
    if into is None:
        create_tables(db, options)
    ctx = LoadContext(db=db, options=options, into=into, present_keys=dict(present_keys or {}) if into else {})
    with gzip_trailers_checked(f.path for f in files):
        reports = [load_dir(ctx, d) for d, load_dir in directories]
        reports += [_load_file(ctx, f) for f in files]
    for table in ctx.in_place:
        _expose_in_place(ctx, table)
    reports = check_types(ctx, reports)
    if into is None:
        for table in TABLE_FIELDS:
            if table in ctx.in_place:
                _finish_in_place(ctx, table)
                continue
            db.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN _bad")
            if options.fields_of(table) is not None:
                db.execute(f"ALTER TABLE {quote_identifier(table)} DROP COLUMN _file")
    loaded = "" if into is None else " WHERE _bad IS NOT NULL"
    rows = {t: int(db.fetchone(f"SELECT count(*) FROM {ctx.table_sql(t)}{loaded}")[0]) for t in TABLE_FIELDS}
    if sum(rows.values()) == 0:
        only = [r.path for r in reports]
        raise EmptyInputError(
            "no rows were loaded", path=only[0] if len(only) == 1 else None,
            fix="check that the files hold records (and --on-bad-lines skip did not drop them all)",
        )
    return LoadReport(files=tuple(reports), rows=rows, skipped_lines=sum(r.skipped_lines for r in reports))


def input_files(paths: Sequence[str], options: LoadOptions) -> list[InputFile] | None:
    """The files `load_inputs` would read, in its order; None when a directory is read as one export.

    For callers that identify an input by its files' contents (`rollctl ingest` recognises an export it
    already loaded). Raises the same errors as `load_inputs` for paths that cannot be expanded.
    """
    directories, plain = _directory_units(paths, options)
    if directories or not plain:
        return None
    return expand_paths(plain)


def _directory_units(
    paths: Sequence[str], options: LoadOptions
) -> tuple[list[tuple[str, Callable[[LoadContext, str], FileReport]]], list[str]]:
    """Split the inputs into directories an adapter reads as one export, and everything else.

    A directory export (Langfuse's blob export: `observations_v2/` + `scores/`) only makes sense as a
    whole, because rows in one folder join rows in another. It is claimed by the adapter named with
    --format, or else by the first adapter whose `detect_dir` recognises its layout; any other
    directory is expanded into its files as usual.
    """
    forced = adapter_named(options.format) if options.format else None
    units: list[tuple[str, Callable[[LoadContext, str], FileReport]]] = []
    plain: list[str] = []
    for given in paths:
        if os.path.isdir(given):
            if forced is not None and forced.load_dir is not None:
                units.append((given, forced.load_dir))
                continue
            if forced is None:
                claimed = next((a for a in adapters() if a.detect_dir is not None and a.detect_dir(given)), None)
                if claimed is not None and claimed.load_dir is not None:
                    units.append((given, claimed.load_dir))
                    continue
        plain.append(given)
    return units, plain


def _load_file(ctx: LoadContext, f: InputFile) -> FileReport:
    if f.format == "duckdb":
        return _load_database(ctx, f)
    chosen: Adapter | None = None
    if ctx.options.format:
        chosen = adapter_named(ctx.options.format)
        if chosen is None:
            names = ", ".join(a.name for a in adapters())
            raise UsageError(f"unknown --format {ctx.options.format!r}", fix=f"known formats: {names}")
    probe = probe_file(ctx.db, f, skip_bad_lines=ctx.options.on_bad_lines == "skip", envelope=is_envelope)
    mapped = frozenset(name for name, source in ctx.options.mapping.items()
                       if not is_score_source(source) and resolve_source(source, probe.columns) is not None)
    if mapped:
        probe = dataclasses.replace(probe, mapped=mapped)
    if chosen is None:
        chosen = detected_adapter(probe)
    if chosen is None:
        raise InputError("could not recognise the format of this file", path=f.path, fix="pass --format NAME")
    return chosen.load(ctx, probe)


def _copied(table: str) -> str:
    return f"{table}_copied"


def _expose_in_place(ctx: LoadContext, table: str) -> None:
    """Make `table` a view: the rows copied from other inputs, then the files read in place (one view
    each, so every file binds its own parameters)."""
    ctx.db.execute(f"ALTER TABLE {quote_identifier(table)} RENAME TO {quote_identifier(_copied(table))}")
    for i, (sql, params) in enumerate(ctx.in_place[table]):
        ctx.db.create_view(f"{table}_in_place_{i}", sql, params)
    _in_place_view(ctx, table, "*", "")


def _in_place_view(ctx: LoadContext, table: str, columns: str, where_sql: str) -> None:
    parts = [_copied(table)] + [f"{table}_in_place_{i}" for i in range(len(ctx.in_place[table]))]
    union = " UNION ALL ".join(f"SELECT * FROM {quote_identifier(p)}" for p in parts)
    ctx.db.create_view(table, f"SELECT {columns} FROM ({union}) AS rows_in_place {where_sql}")


def _finish_in_place(ctx: LoadContext, table: str) -> None:
    """The view's final columns (as `ALTER TABLE ... DROP COLUMN` leaves a copied table), without the rows
    `--on-bad-lines skip` dropped."""
    keep = ctx.options.fields_of(table)
    names = [quote_identifier(f.name) for f in TABLE_FIELDS[table] if keep is None or f.name in keep]
    if keep is None:
        names.append("_file")
    where_sql = "WHERE NOT _bad" if ctx.options.on_bad_lines == "skip" else ""
    _in_place_view(ctx, table, ", ".join(names), where_sql)


def _load_database(ctx: LoadContext, f: InputFile) -> FileReport:
    """Copy the canonical tables of a database written by `rollctl ingest`."""
    db = ctx.db
    alias = f"src{abs(hash(f.path)) % 10_000_000}"
    try:
        db.attach(f.path, alias, read_only=True)
    except DuckDBError as exc:
        raise InputError(f"cannot open DuckDB database ({error_line(exc)})",
                         path=f.path, fix="pass a file written by `rollctl ingest`") from None
    rows: dict[str, int] = {}
    sources: list[FieldSource] = []
    table = ""
    try:
        for table, fields in TABLE_FIELDS.items():
            if not db.attached_table_exists(alias, table):
                continue
            keep = ctx.options.fields_of(table)
            names = ", ".join(quote_identifier(x.name) for x in fields if keep is None or x.name in keep)
            db.execute(
                f"INSERT INTO {ctx.table_sql(table)} SELECT {names}, {'_file' if keep is None else 'NULL'}, false "
                f"FROM {quote_identifier(alias)}.{quote_identifier(table)}"
            )
            rows[table] = int(db.fetchone(
                f"SELECT count(*) FROM {quote_identifier(alias)}.{quote_identifier(table)}")[0])
            sources += [FieldSource(table, x.name, x.name) for x in fields]
            if table == "traces":
                check_stored_timestamps(db, f"{quote_identifier(alias)}.{quote_identifier(table)}", f.path)
    except DuckDBError as exc:
        # A truncated file fails on its first read; a database of another tool, on columns or types that are
        # not the canonical ones.
        raise InputError(f"cannot read its {table} table ({error_line(exc)})",
                         path=f.path, field=table,
                         fix="pass a database written by `rollctl ingest`, or ingest the export again") from None
    finally:
        with contextlib.suppress(DuckDBError):
            db.execute(f"DETACH {quote_identifier(alias)}")
    if not rows:
        raise InputError("database holds no rollctl tables", path=f.path, fix="create it with `rollctl ingest`")
    return FileReport(path=f.path, format="duckdb", kind="database", rows=rows, columns=(), sources=tuple(sources))


def paired_row_sources(db: Database, paths: Sequence[str], options: LoadOptions) -> list[PairedRows] | None:
    """Each paired file's rows with both arms side by side, for a command that reads such files once, in a
    stream, instead of loading them (`rollctl shadow-report`); None unless every input is such a file.

    Per row and arm x (1: the `baseline` object, 2: the `candidate` object): `present_x` (the row has that
    arm), `<field>_x` for each trace field the options load, converted exactly as the load converts them,
    and `bad_x` (a present value of that arm did not convert: the load would stop there, so the caller must
    load the file to report it). Then `judged_request` (the row's top-level request id, which its listed
    judgements judge), `judgements` (the listed verdicts, each field converted: a list of structs, or NULL)
    and `judgements_bad` (a listed preference is not a number).

    Only files whose arms are read as structs qualify (JSON files whose arms DuckDB reads as structs,
    Parquet with struct arms), and not with `--on-bad-lines skip` (the stream would not know which rows the
    load drops). A file the struct read refuses fails when streamed (a DuckDB error): load it instead.
    """
    if options.on_bad_lines == "skip" or (options.format is not None and options.format != "paired"):
        return None
    try:
        files = input_files(paths, options)
    except InputError:
        return None
    if not files:
        return None
    ctx = LoadContext(db=db, options=replace(options, keep_text=True))
    sources = []
    for f in files:
        if f.format not in ("jsonl", "json", "parquet"):
            return None
        try:
            probe = probe_file(db, f, envelope=is_envelope)
        except InputError:
            return None
        if detected_adapter(probe) is not PAIRED:
            return None
        source = paired_row_source(ctx, probe)
        if source is None:
            return None
        sources.append(source)
    return sources

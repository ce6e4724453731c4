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
import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rollctl.db import Database, DuckDBError, error_line, quote_identifier
from rollctl.errors import EmptyInputError, FieldTypeError, InputError, MissingFieldError, UsageError
from rollctl.load.adapters import Adapter, adapter_named, adapters
from rollctl.load.canonical import TABLE_FIELDS, TEXT_FIELDS, CanonicalField
from rollctl.load.expressions import RawValue, SqlParams, column, convert, in_timestamp_window, nested
from rollctl.load.files import InputFile, expand_paths, gzip_trailers_checked
from rollctl.load.mapping import is_score_source, resolve_source

OnBadLines = Literal["error", "skip"]
MAX_OBJECT_BYTES = 32 * 1024 * 1024
OPAQUE_FORMATS = frozenset({"inspect_eval"})
# DuckDB's CSV buffer defaults to 16 x max_line_size (512 MB for 32 MB lines), allocated per reader even for
# a tiny compressed file; two lines' worth keeps long records readable and memory bounded.
_CSV_LIMITS = f"max_line_size = {MAX_OBJECT_BYTES}, buffer_size = {2 * MAX_OBJECT_BYTES}"


@dataclass(frozen=True)
class LoadOptions:
    """How to read the inputs; shared by every command."""

    mapping: dict[str, str] = field(default_factory=dict)
    on_bad_lines: OnBadLines = "error"
    keep_text: bool = True
    """False loads '' for present text fields: coverage stays known, memory stays small."""
    format: str | None = None
    """Force an adapter by name instead of detecting it."""
    variant_from: str | None = None
    """Source path of the variant, for formats whose variant is not a standard field."""
    baseline_name: str = "baseline"
    candidate_name: str = "candidate"
    trace_fields: frozenset[str] | None = None
    """Canonical trace fields to load (None: all). The others are not converted and are not columns of
    `traces` (the report still says where each was found, so required fields and coverage stay known):
    a command that reads a few fields of a big export then stores only those. Such a table has no
    `_file` column after loading."""

    read_in_place: bool = False
    """Read Parquet inputs of `traces` where they lie (`traces` becomes a view over the files) instead of
    copying them into a temp table: for a command that aggregates a few columns of a big columnar export
    in a few passes, re-reading Parquet costs less than copying it (and spilling the copy past the
    memory cap). Other formats are still copied: re-parsing JSON or CSV for every pass would cost more."""

    def fields_of(self, table: str) -> frozenset[str] | None:
        """The canonical fields loaded into `table` (None: all of them)."""
        return self.trace_fields if table == "traces" else None


@dataclass(frozen=True)
class FieldSource:
    """Where a canonical field was read from, shown by `rollctl inspect`."""

    table: str
    canonical: str
    source: str


@dataclass(frozen=True)
class FileReport:
    """What one input file contributed."""

    path: str
    format: str
    kind: str
    rows: dict[str, int]
    columns: tuple[str, ...]
    sources: tuple[FieldSource, ...] = ()
    skipped_lines: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadReport:
    """Everything the loader did, for commands to report and to check required fields against."""

    files: tuple[FileReport, ...]
    rows: dict[str, int]
    skipped_lines: int

    def found_fields(self, table: str) -> set[str]:
        return {s.canonical for f in self.files for s in f.sources if s.table == table}

    def columns_seen(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in self.files:
            for c in f.columns:
                seen.setdefault(c, None)
        return list(seen)


@dataclass(frozen=True)
class PairedRows:
    """A SELECT over one paired file giving both arms of each row side by side, converted and checked as the
    load converts and checks them, for a command that reads such a file once as a stream instead of loading
    it (`rollctl shadow-report`). Columns: see `rollctl.load.adapters.canonical.paired_row_sources`."""

    path: str
    sql: str
    params: dict[str, object]


@dataclass(frozen=True)
class Probe:
    """A cheap look at one file: its container format, how to read it, and its top-level columns."""

    file: InputFile
    reader_sql: str
    reader_params: dict[str, object]
    columns: dict[str, str]
    mapped: frozenset[str] = frozenset()
    """Canonical fields the user's --map points at a column of this file: `--map case_id=test_id` makes a file
    eval results as surely as a `case_id` column does."""
    page_keys: dict[str, frozenset[str]] = field(default_factory=dict)
    """For a JSON file that is an API page (`{"data": [...], "meta": ...}`, `{"runs": [...]}`): the keys of the
    first elements of each list in `PAGE_LISTS`, so an adapter recognises a page by what it holds."""


@dataclass
class LoadContext:
    """State shared by the adapters while loading one set of inputs."""

    db: Database
    options: LoadOptions
    into: str | None = None
    """The attached database whose canonical tables receive the rows (None: the temp tables)."""
    present_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """With `into`: table -> key columns; a row whose key is already in the table is stored as its key only."""
    bad_conditions: dict[tuple[str, str], list[BadLocator]] = field(default_factory=dict)
    """(file, table) -> how to re-read a file's rows and list their bad fields, to explain bad rows: one per
    statement that loaded them (a paired file loads `traces` twice, once per arm)."""
    in_place: dict[str, list[tuple[str, dict[str, object]]]] = field(default_factory=dict)
    """Table -> the SELECTs (and parameters) of the files read in place (`LoadOptions.read_in_place`)."""

    def table_sql(self, table: str) -> str:
        """The quoted name of the canonical table rows of `table` go to."""
        if self.into is None:
            return quote_identifier(table)
        return f"{quote_identifier(self.into)}.{quote_identifier(table)}"


@dataclass(frozen=True)
class BadLocator:
    """Enough to re-scan one file's rows and name their wrong-typed fields, with line numbers."""

    from_sql: str
    where_sql: str
    params: dict[str, object]
    bad_sql: str
    columns: dict[str, str]
    format: str
    one_row_per_record: bool
    """Rows are the file's records in order (not exploded), so a record maps to a line."""
    derived_sql: str = ""
    """Computed columns (`expr AS name, ...`) the load selected over the file's columns; re-scans add them."""


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
    db: Database,
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
    reports = _check_types(ctx, reports)
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
    probe = probe_file(ctx.db, f, skip_bad_lines=ctx.options.on_bad_lines == "skip")
    mapped = frozenset(name for name, source in ctx.options.mapping.items()
                       if not is_score_source(source) and resolve_source(source, probe.columns) is not None)
    if mapped:
        probe = dataclasses.replace(probe, mapped=mapped)
    if chosen is None:
        chosen = detected_adapter(probe)
    if chosen is None:
        raise InputError("could not recognise the format of this file", path=f.path, fix="pass --format NAME")
    return chosen.load(ctx, probe)


def detected_adapter(probe: Probe) -> Adapter | None:
    """The adapter that recognises a probed file (the first by priority), when no --format names one."""
    return next((a for a in adapters() if a.detect(probe)), None)


def probe_file(db: Database, f: InputFile, *, skip_bad_lines: bool = False) -> Probe:
    """Read the column names and types of a file from a sample of its records."""
    if f.format in OPAQUE_FORMATS:
        # Containers DuckDB cannot read (a zip): the adapter that claims the format extracts and reads them.
        return Probe(file=f, reader_sql="", reader_params={"path": f.source}, columns={})
    if f.format in ("jsonl", "json"):
        quick = _envelope_probe(db, f, skip_bad_lines=skip_bad_lines)
        if quick is not None:
            return quick
    reader, params = _sampling_reader(f, skip_bad_lines=skip_bad_lines)
    try:
        described = db.fetchall(f"DESCRIBE SELECT * FROM {reader}", params)
    except DuckDBError as exc:
        if f.format != "jsonl" or not (skip_bad_lines or "non-record" in str(exc)):
            raise _read_error(db, f, exc) from None
        if not skip_bad_lines:
            raise _not_a_record(db, f) from None
        described = _record_lines_columns(db, f)
        if not described:
            raise EmptyInputError("no rows were loaded: no line is a JSON record", path=f.path,
                                  fix="check that the file holds records, one JSON object per line") from None
    columns = {str(row[0]): str(row[1]) for row in described}
    if f.format in ("jsonl", "json"):
        # Re-read every top-level field as text (scalars in the sample) or JSON (objects and lists): a value
        # whose type differs from the sample's then reaches our conversions (and a precise error) instead of
        # failing the whole scan. Text, not JSON, for scalars: DuckDB hands over the unescaped string
        # directly, where a JSON value would be re-parsed by `->>` (measured: ~30% of the load time).
        columns = {name: "JSON" if _is_nested_type(t) else "VARCHAR" for name, t in columns.items()}
        params = {**params, "columns": columns}
        reader = _json_reader(f, with_columns=True)
        page_keys = _page_keys(db, f, reader, params, columns)
        return Probe(file=f, reader_sql=reader, reader_params=params, columns=columns, page_keys=page_keys)
    return Probe(file=f, reader_sql=reader, reader_params=params, columns=columns)


PAGE_LISTS = ("data", "runs", "events")
"""The list a platform's API page wraps its records in: Langfuse `{"data": [...], "meta"}`, LangSmith
`{"runs": [...], "cursors"}`, Braintrust `{"events": [...], "cursor"}`."""
_PAGE_SAMPLE = 20


def _page_keys(db: Database, f: InputFile, reader: str, params: dict[str, object],
               columns: dict[str, str]) -> dict[str, frozenset[str]]:
    """The keys of the first elements of a page's record list (a JSON file of few top-level fields only)."""
    if f.format != "json" or len(columns) > 8:
        return {}
    found: dict[str, frozenset[str]] = {}
    for name in PAGE_LISTS:
        if columns.get(name) != "JSON":
            continue
        element = quote_identifier(name)
        try:
            rows = db.fetchall(
                f"SELECT DISTINCT unnest(json_keys(e)) FROM (SELECT unnest(CAST({element} AS JSON[])[1:{_PAGE_SAMPLE}])"
                f" AS e FROM {reader}) WHERE json_type(e) = 'OBJECT'", params)
        except DuckDBError:
            continue
        found[name] = frozenset(str(r[0]) for r in rows)
    return found


# A line of a JSONL file that is one record: a JSON object (not a number, string, list, true or null, which
# would make DuckDB read the whole file as one opaque `json` column, or add an all-null row).
# (json_type sees only valid JSON, through a CASE: DuckDB may reorder the conjuncts of a filter, and json_type
# fails on invalid text. The plain json_valid conjunct stays first: a filter made of one CASE let DuckDB run
# the reader's from_json on the invalid lines.)
_IS_OBJECT = "json_type(CASE WHEN json_valid(line) THEN line END) = 'OBJECT'"
_RECORD_LINE = f"trim(line) <> '' AND json_valid(line) AND {_IS_OBJECT}"
_SKIPPED_LINE = f"trim(line) <> '' AND NOT (json_valid(line) AND {_IS_OBJECT})"


def _not_a_record(db: Database, f: InputFile) -> InputError:
    row = db.fetchone(f"SELECT min(_line) FROM {lines_reader()} WHERE trim(line) <> '' AND json_valid(line) "
                      f"AND NOT {_IS_OBJECT}", {"path": f.source})
    if row[0] is None:
        return EmptyInputError("no rows were loaded: the file holds no JSON record", path=f.path,
                               fix="export it again; each line must be one JSON object")
    return InputError("a line is not a JSON object (each line must be one record {...})", path=f.path,
                      line=int(row[0]),
                      fix="remove that line, or pass --on-bad-lines skip to skip and count such lines")


def _record_lines_columns(db: Database, f: InputFile) -> list[tuple[str, str]]:
    """(name, JSON | VARCHAR) of the top-level fields of a JSONL file's record lines, for a file DuckDB's
    reader refuses whole because some lines are not records (`--on-bad-lines skip` skips those)."""
    rows = db.fetchall(
        f"""SELECT key, bool_or(json_type(json_extract(line, '$.' || to_json(key))) IN ('OBJECT', 'ARRAY'))
            FROM (SELECT line, unnest(json_keys(line)) AS key FROM {lines_reader()} WHERE {_RECORD_LINE})
            GROUP BY key ORDER BY key""",
        {"path": f.source},
    )
    return [(str(k), "JSON" if nested else "VARCHAR") for k, nested in rows]


def _is_nested_type(sql_type: str) -> bool:
    return sql_type == "JSON" or sql_type.startswith(("STRUCT", "MAP")) or sql_type.endswith("]")


def _envelope_probe(db: Database, f: InputFile, *, skip_bad_lines: bool) -> Probe | None:
    """The first record only, when it is the fixed envelope of a format that declares one (OTLP's
    `resourceSpans`): sampling thousands of multi-megabyte export lines costs as much as loading them.
    Anything else (or a first record DuckDB cannot read) gets the full sample, and its precise error."""
    reader = _json_reader(f, with_columns=False, ignore_errors=skip_bad_lines) + ""
    reader = reader[:-1] + ", sample_size = 1)"
    try:
        described = db.fetchall(f"DESCRIBE SELECT * FROM {reader}", {"path": f.source})
    except DuckDBError:
        return None
    columns = dict.fromkeys((str(row[0]) for row in described), "JSON")
    probe = Probe(file=f, reader_sql=_json_reader(f, with_columns=True),
                  reader_params={"path": f.source, "columns": columns}, columns=columns)
    if any(a.envelope and a.detect(probe) for a in adapters()):
        return probe
    return None


def _json_reader(f: InputFile, with_columns: bool, *, ignore_errors: bool = False) -> str:
    fmt = "newline_delimited" if f.format == "jsonl" else "auto"
    # With explicit columns there is nothing to infer; without, the names and whether each top-level field
    # is a scalar (re-read as text) or an object/list (re-read as JSON). Depth 2 tells those apart (depth 1
    # makes every field JSON, which costs ~40% more to convert); deeper type sampling of nested exports
    # (OTLP) would cost more than the load itself.
    # Never a MAP for a record with hundreds of keys: it is still a record of fields (DuckDB's default infers a
    # MAP past 200 keys, and one such line turned a whole file into a single opaque column).
    cols = (", columns = $columns, sample_size = 1" if with_columns
            else ", maximum_depth = 2, map_inference_threshold = -1")
    if ignore_errors:
        cols += ", ignore_errors = true"
    return (
        f"read_json($path, format = '{fmt}', maximum_object_size = {MAX_OBJECT_BYTES}, "
        f"union_by_name = true{cols})"
    )


def _sampling_reader(f: InputFile, *, skip_bad_lines: bool = False) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {"path": f.source}
    if f.format == "jsonl":
        # records = true: a line that is not an object fails the probe (and is found by its line) instead of
        # turning the whole file into one opaque column.
        reader = _json_reader(f, with_columns=False, ignore_errors=skip_bad_lines)
        return reader[:-1] + ", records = true)", params
    if f.format == "json":
        return _json_reader(f, with_columns=False, ignore_errors=skip_bad_lines), params
    if f.format == "parquet":
        return "read_parquet($path)", params
    if f.format == "csv":
        return f"read_csv($path, header = true, all_varchar = true, {_CSV_LIMITS})", params
    raise InputError(f"no reader for {f.format} files", path=f.path, fix="pass --format NAME")


def lines_reader() -> str:
    """Every line of a text file with its 1-based number, for locating and skipping bad JSON lines."""
    return (
        "(SELECT row_number() OVER () AS _line, line FROM read_csv($path, columns = {'line': 'VARCHAR'}, "
        f"delim = chr(1), quote = '', escape = '', header = false, auto_detect = false, {_CSV_LIMITS}))"
    )


def _first_bad_json_line(db: Database, f: InputFile) -> int | None:
    try:
        row = db.fetchone(
            f"SELECT min(_line) FROM {lines_reader()} WHERE trim(line) <> '' AND NOT json_valid(line)",
            {"path": f.source},
        )
    except DuckDBError:
        return None
    return int(row[0]) if row[0] is not None else None


def read_error(db: Database, f: InputFile, exc: BaseException) -> InputError:
    """The loader's one-line error for a DuckDB read failure, for adapters that run their own reads."""
    return _read_error(db, f, exc)


def _read_error(db: Database, f: InputFile, exc: BaseException) -> InputError:
    """A one-line error for a file DuckDB could not read, without echoing the file's contents."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Malformed JSON" in text or "JSON" in text and "parse" in text.lower():
        reason = text.rsplit(":", 1)[-1].strip().rstrip(".") or "malformed"
        line = _first_bad_json_line(db, f) if f.format == "jsonl" else None
        return InputError(
            f"not valid JSON ({reason})", path=f.path, line=line,
            fix=(
                "fix or remove that line, or pass --on-bad-lines skip to skip malformed lines"
                if f.format == "jsonl"
                else "a JSON file is read whole, so fix it or export it as JSONL (one record per line)"
            ),
        )
    if "Invalid unicode" in text or "UTF-8" in text or "utf-8" in text:
        return InputError("not valid UTF-8", path=f.path, fix="re-export the file as UTF-8")
    if "maximum_object_size" in text or "max_line_size" in text:
        return InputError("a record is larger than 32 MB", path=f.path, fix="trim the oversized field")
    return InputError(f"could not be read ({error_line(exc)})", path=f.path, fix="check the file format")


# ---------------------------------------------------------------------------------------------------
# Building canonical rows


@dataclass(frozen=True)
class FieldSql:
    """One canonical field's part of a `Selection`."""

    name: str
    exprs: tuple[str, ...]
    """SELECT items: the converted value (and the raw value passed through, when the value can be wrong)."""
    column: str = ""
    """The column the converted value is selected as (the field's name unless a suffix was asked for)."""
    bad_flag: str | None = None
    """Over the converted row: a `WHEN ... THEN true` branch, true when a present value did not convert."""
    bad_name: str | None = None
    """Over the raw source: the field's name when its value is wrong, else NULL."""
    stored: bool = True
    """False for a row check (`row_check`): it can make the row bad, but is no column of the table."""


# What a row check's name means in an error ("field baseline: 1 value(s) are not <phrase>").
_CHECK_PHRASES: dict[str, str] = {}


def row_check(name: str, condition_sql: str, phrase: str, params: SqlParams, *, suffix: str = "") -> FieldSql:
    """A check over a row's raw values (the reader's columns) that makes the row a bad row, reported as
    `name` with `phrase` like a wrong-typed field, without storing anything: for the shape of a record
    (a paired row's arm that is not an object, or that holds no answer) rather than one field's value."""
    _CHECK_PHRASES[name] = phrase
    column = quote_identifier(f"_check_{name}{suffix}")
    return FieldSql(name=name, exprs=(f"({condition_sql}) AS {column}",), column=f"_check_{name}{suffix}",
                    bad_flag=f"WHEN {column} THEN true",
                    bad_name=f"CASE WHEN {condition_sql} THEN {params.add(name)} END", stored=False)


@dataclass(frozen=True)
class Selection:
    """The SELECT list for one canonical table over one source, and where each field came from."""

    select_sql: str
    """Converted canonical columns plus the raw value (`_r<i>`) of each field whose value can be wrong."""
    outer_sql: str
    """Over `select_sql`: the canonical columns, `_file` and `_bad` (a present value did not convert)."""
    bad_sql: str
    """Over the raw source: the list of wrong-typed field names of a row (only run to explain `_bad`)."""
    sources: tuple[FieldSource, ...]
    parts: tuple[FieldSql, ...] = ()
    file_sql: str = "$file_name"
    """The `_file` expression of `outer_sql`."""
    bad_flag_sql: str = "false"
    """The `_bad` expression of `outer_sql`."""

    def keeping(self, fields: Collection[str] | None) -> Selection:
        """The same selection restricted to `fields` (None: unchanged): the others are neither converted
        nor checked nor stored; `sources` still lists them."""
        if fields is None or not self.parts:
            return self
        return _assemble(tuple(p for p in self.parts if p.name in fields or not p.stored), self.sources,
                         file_on_bad_rows_only=True)

    def checked(self, checks: Sequence[FieldSql]) -> Selection:
        """The same selection with row checks (`row_check`) added to its bad-row flag."""
        return _assemble((*self.parts, *checks), self.sources) if checks else self


def _assemble(parts: tuple[FieldSql, ...], sources: tuple[FieldSource, ...], *,
              file_on_bad_rows_only: bool = False) -> Selection:
    bad_parts = [p.bad_name for p in parts if p.bad_name is not None]
    flags = [p.bad_flag for p in parts if p.bad_flag is not None]
    bad_sql = "list_filter([" + ", ".join(bad_parts) + "], lambda x: x IS NOT NULL)" if bad_parts else "[]"
    # Each conversion is computed once (inner query) and `_bad` is one boolean per row: building a list of
    # field names per row cost about 40% of the load on a 1 M-row benchmark; the names are only worked out
    # (from `bad_sql`) when some row is bad. The raw value passes through (`_r<i>`) and is tested for presence
    # only where its conversion is NULL: CASE evaluates each condition on the rows still undecided, and AND
    # inside it short-circuits, so the trim() of every present value is skipped (`_bad` over 100k bench rows
    # took 137 ms of CPU instead of 255 ms, on one thread).
    names = ", ".join(quote_identifier(p.column or p.name) for p in parts if p.stored)
    bad_flag = f"(CASE {' '.join(flags)} ELSE false END)" if flags else "false"
    # A restricted table drops `_file` after the type check, which only reads it on bad rows: a path per
    # row costs as much memory as the dozen columns kept (uncompressed in-memory strings).
    file_sql = f"CASE WHEN {bad_flag} THEN $file_name END" if file_on_bad_rows_only else "$file_name"
    return Selection(
        select_sql=", ".join(e for p in parts for e in p.exprs),
        outer_sql=f"{names}, {file_sql} AS _file, {bad_flag} AS _bad", bad_sql=bad_sql, sources=sources, parts=parts,
        file_sql=file_sql, bad_flag_sql=bad_flag,
    )


def select_canonical(
    table: str,
    values: dict[str, RawValue],
    params: SqlParams,
    *,
    keep_text: bool,
    descriptions: dict[str, str] | None = None,
    suffix: str = "",
) -> Selection:
    """Convert raw values to the canonical columns of `table`; absent fields become NULL.

    `suffix` names the columns `<field><suffix>` (and the raw values passed through likewise), so two
    selections over one row can sit side by side (both arms of a paired row).
    """
    parts: list[FieldSql] = []
    sources: list[FieldSource] = []
    flags = 0
    for f in TABLE_FIELDS[table]:
        raw = values.get(f.name)
        name = quote_identifier(f.name + suffix)
        if raw is None:
            parts.append(FieldSql(f.name, (f"CAST(NULL AS {f.sql_type}) AS {name}",), column=f.name + suffix))
            continue
        converted = convert(raw, f.kind)
        if f.name in TEXT_FIELDS and not keep_text:
            converted = f"(CASE WHEN {converted} IS NOT NULL THEN '' END)"
        value = f"CAST({converted} AS {f.sql_type}) AS {name}"
        if _can_be_bad(raw, f):
            passed = RawValue(f"_r{flags}{suffix}", raw.type)
            flags += 1
            unconverted = f"WHEN {name} IS NULL AND {_present(passed, f)} THEN true"
            outside = f.range_sql(name)
            if outside is not None:  # a negative latency or a preference of 3: read, but not a value
                unconverted += f" WHEN {outside} THEN true"
            parts.append(FieldSql(f.name, (value, f"{raw.sql} AS {passed.sql}"), column=f.name + suffix,
                                  bad_flag=unconverted, bad_name=_bad_check(raw, converted, f, params)))
        else:
            parts.append(FieldSql(f.name, (value,), column=f.name + suffix))
        desc = (descriptions or {}).get(f.name, f.name)
        sources.append(FieldSource(table=table, canonical=f.name, source=desc))
    return _assemble(tuple(parts), tuple(sources))


def unconverted(raw: RawValue, f: CanonicalField) -> str | None:
    """SQL that is true where `raw` holds a value that does not convert to `f` (None: it always converts),
    for a reader that checks values inside one expression (the judgements listed on a paired row)."""
    if not _can_be_bad(raw, f):
        return None
    value = f"({convert(raw, f.kind)})"
    outside = f.range_sql(value)
    return f"({_present(raw, f)} AND ({value} IS NULL{f' OR {outside}' if outside is not None else ''}))"


def _can_be_bad(raw: RawValue, f: CanonicalField) -> bool:
    """Whether a present value can fail to convert: text kinds accept anything, so checking them would only
    re-read large strings (measured: a quarter of the load time on 2 KB rows) for nothing."""
    if f.kind in ("string", "text"):
        return False
    return not (f.kind == "json" and raw.is_json)


def _present(raw: RawValue, f: CanonicalField) -> str:
    """True when the source holds a value (not null, not blank text) that should convert."""
    if raw.is_json:
        return f"({raw.sql} IS NOT NULL AND json_type({raw.sql}) <> 'NULL')"
    if raw.is_text and f.kind not in ("string", "text"):
        return f"({raw.sql} IS NOT NULL AND trim({raw.sql}) <> '')"
    return f"({raw.sql} IS NOT NULL)"


def _bad_check(raw: RawValue, converted: str, f: CanonicalField, params: SqlParams) -> str:
    outside = f.range_sql(f"({converted})")
    wrong = f"({converted}) IS NULL" + (f" OR {outside}" if outside is not None else "")
    return f"CASE WHEN {_present(raw, f)} AND ({wrong}) THEN {params.add(f.name)} END"


def source_values(
    table: str,
    probe_columns: dict[str, str],
    mapping: dict[str, str],
    params: SqlParams,
    *,
    qualifier: str | None = None,
) -> tuple[dict[str, RawValue], dict[str, str]]:
    """Raw values for each canonical field of `table`: the mapped source, else a column of the same name."""
    values: dict[str, RawValue] = {}
    descriptions: dict[str, str] = {}
    for f in TABLE_FIELDS[table]:
        source = mapping.get(f.name, f.name)
        if is_score_source(source):
            continue  # a named score (Langfuse, LangSmith, Braintrust, OTel evaluations), not a column
        resolved = resolve_source(source, probe_columns)
        if resolved is None:
            if f.name in mapping:
                raise MissingFieldError(
                    f"--map {f.name}={source}: no such field in the input",
                    field=source,
                    fix="fields found: " + ", ".join(sorted(probe_columns)[:30]),
                )
            continue
        top, path = resolved
        values[f.name] = nested(column(top, probe_columns[top], qualifier), path, params)
        descriptions[f.name] = source
    return values, descriptions


def insert_rows(
    ctx: LoadContext,
    probe: Probe,
    table: str,
    selection: Selection,
    reader: Reader,
    params: SqlParams,
    *,
    where_sql: str = "",
) -> int:
    """INSERT converted rows (only the fields the options load into `table`); returns the number inserted."""
    selection = selection.keeping(ctx.options.fields_of(table))
    from_sql = _with_derived(reader.sql, reader.derived_sql)
    all_params = referenced_params(
        f"{selection.select_sql} {selection.bad_sql} {from_sql} {reader.rescan_sql or ''} {where_sql}",
        {**reader.params, **params.values},
    )
    all_params["path"] = probe.file.source
    all_params["file_name"] = probe.file.path
    rows_sql = (f"SELECT {selection.outer_sql} "
                f"FROM (SELECT {selection.select_sql} FROM {from_sql} {where_sql}) AS converted")
    keys = ctx.present_keys.get(table)
    if ctx.into is None and ctx.options.read_in_place and table == "traces" and probe.file.format == "parquet":
        # Not copied: the rows become part of the `traces` view (`_expose_in_place`); only counted here.
        ctx.in_place.setdefault(table, []).append((rows_sql, referenced_params(rows_sql, all_params)))
        sql = f"SELECT count(*) FROM ({rows_sql})"
    elif keys:
        sql = _insert_keys_only_when_present(ctx, table, selection, keys, from_sql, where_sql)
    else:
        sql = f"INSERT INTO {ctx.table_sql(table)} {rows_sql}"
    # Streaming into a database file, the rows need not keep the reader's order (type errors are located by
    # re-reading the file, and row order in the database means nothing), and appending them unordered costs
    # ~15-20% less CPU (measured: 200k rows, 3.9 s instead of 4.6-5.0 s). Not when the statement numbers or
    # limits rows itself (an adapter's `row_number() OVER ()`): those values depend on the order.
    unordered = ctx.into is not None and not _ORDER_SENSITIVE.search(sql)
    ordered_before = ctx.db.fetchone("SELECT current_setting('preserve_insertion_order')")[0] if unordered else None
    try:
        if unordered:
            ctx.db.execute("SET preserve_insertion_order = false")
        cursor = ctx.db.execute(sql, referenced_params(sql, all_params))
        inserted = cursor.fetchone()
    except DuckDBError as exc:
        raise _read_error(ctx.db, probe.file, exc) from None
    finally:
        if unordered:
            # Fails inside a transaction aborted by an error; the caller rolls back and restores the setting.
            with contextlib.suppress(DuckDBError):
                ctx.db.execute("SET preserve_insertion_order = $v", {"v": bool(ordered_before)})
    ctx.bad_conditions.setdefault((probe.file.path, table), []).append(BadLocator(
        from_sql=_with_derived(reader.rescan_sql or reader.sql, reader.derived_sql), where_sql=where_sql,
        params=all_params, bad_sql=selection.bad_sql,
        columns=_reader_columns(reader, probe), format=probe.file.format,
        one_row_per_record=reader.one_row_per_record, derived_sql=reader.derived_sql,
    ))
    return int(inserted[0]) if inserted else 0


def _insert_keys_only_when_present(
    ctx: LoadContext, table: str, selection: Selection, keys: Sequence[str], from_sql: str, where_sql: str
) -> str:
    """The INSERT of `insert_rows`, storing rows whose key is already in the table as their key only.

    Their other values are still converted and checked (`_bad` reads them before they are dropped).
    """
    target = ctx.table_sql(table)
    old_keys = ", ".join(f"{quote_identifier(k)} AS _k{i}" for i, k in enumerate(keys))
    match = " AND ".join(
        f"converted.{quote_identifier(k)} IS NOT DISTINCT FROM _old._k{i}" for i, k in enumerate(keys)
    )
    names = ", ".join(
        quote_identifier(p.name) if p.name in keys
        else f"CASE WHEN _old._present IS NULL THEN {quote_identifier(p.name)} END"
        for p in selection.parts if p.stored
    )
    return (
        f"INSERT INTO {target} SELECT {names}, {selection.file_sql} AS _file, {selection.bad_flag_sql} AS _bad "
        f"FROM (SELECT {selection.select_sql} FROM {from_sql} {where_sql}) AS converted "
        f"LEFT JOIN (SELECT DISTINCT {old_keys}, true AS _present FROM {target} WHERE _bad IS NULL) AS _old ON {match}"
    )


def _with_derived(from_sql: str, derived_sql: str) -> str:
    return f"(SELECT *, {derived_sql} FROM {from_sql} AS _src)" if derived_sql else from_sql


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# Constructs whose results depend on the order rows arrive in (a false match only keeps the order).
_ORDER_SENSITIVE = re.compile(r"\bOVER\s*\(|\bLIMIT\b|\bOFFSET\b", re.IGNORECASE)


def _reader_columns(reader: Reader, probe: Probe) -> dict[str, str]:
    """The top-level types the reader parsed with (an adapter may pass typed structs), for re-scans."""
    columns = reader.params.get("columns")
    if isinstance(columns, dict):
        return {str(k): str(v) for k, v in columns.items()}
    return probe.columns


def referenced_params(sql: str, params: dict[str, object]) -> dict[str, object]:
    """The parameters a statement uses: DuckDB rejects unused named parameters, and adapters collect
    parameters for every candidate source before knowing which ones a statement needs."""
    used = set(_PARAM.findall(sql))
    return {k: v for k, v in params.items() if k in used}


@dataclass(frozen=True)
class Reader:
    """The FROM clause that loads a file, its parameters, and the malformed lines it skips."""

    sql: str
    params: dict[str, object]
    skipped_lines: int = 0
    one_row_per_record: bool = True
    rescan_sql: str | None = None
    """The FROM clause to re-read the same rows when `sql` is a staging table dropped after loading."""
    derived_sql: str = ""
    """Computed columns (`expr AS name, ...`) over the file's columns, e.g. one parse of a nested object
    whose fields are then picked by index: many `json_extract`s of the same large object in one statement
    each keep a chunk's parse in memory (a paired export ran out of memory at the 700 MB cap that way)."""


def reader_for_load(ctx: LoadContext, probe: Probe, structure: dict[str, str] | None = None) -> Reader:
    """How to read a file for loading: DuckDB's JSON reader, or (JSONL skip mode) valid lines only.

    `structure` (JSON files only) gives DuckDB types for top-level fields, so a nested export (OTLP's
    resourceSpans) is parsed straight into typed structs and lists instead of JSON text.
    """
    if structure is not None and probe.file.format not in ("jsonl", "json"):
        raise InputError("this format is read from JSON or JSONL files", path=probe.file.path,
                         fix="export it as JSON or JSONL")
    if ctx.options.on_bad_lines == "skip" and probe.file.format == "jsonl":
        params: dict[str, object] = {"path": probe.file.source}
        row = ctx.db.fetchone(f"SELECT count(*) FILTER (WHERE {_SKIPPED_LINE}) FROM {lines_reader()}", params)
        params["structure"] = json.dumps(structure or probe.columns)
        sql = f"(SELECT unnest(from_json(line, $structure)) FROM {lines_reader()} WHERE {_RECORD_LINE})"
        return Reader(sql=sql, params=params, skipped_lines=int(row[0]))
    if structure is not None:
        return Reader(sql=_json_reader(probe.file, with_columns=True),
                      params={"path": probe.file.source, "columns": structure})
    return Reader(sql=probe.reader_sql, params=dict(probe.reader_params))


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


def _check_types(ctx: LoadContext, reports: list[FileReport]) -> list[FileReport]:
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
                  else _CHECK_PHRASES.get(field_name, _kind_phrase("string")))
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
    return f"{_with_derived(source, entry.derived_sql)} AS src", params


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


def _check_stored_timestamps(db: Database, table_sql: str, path: str) -> None:
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


def _load_database(ctx: LoadContext, f: InputFile) -> FileReport:
    """Copy the canonical tables of a database written by `rollctl ingest`."""
    db = ctx.db
    alias = f"src{abs(hash(f.path)) % 10_000_000}"
    try:
        db.execute(f"ATTACH $path AS {quote_identifier(alias)} (READ_ONLY)", {"path": f.path})
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
                _check_stored_timestamps(db, f"{quote_identifier(alias)}.{quote_identifier(table)}", f.path)
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

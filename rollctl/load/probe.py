"""How a file is read: a cheap probe of its container and top-level fields, DuckDB reader clauses for each
format (JSON, JSONL line by line, CSV, Parquet), and one-line errors for files DuckDB cannot read."""

from __future__ import annotations

import json
from collections.abc import Callable

from rollctl.db import Database, DuckDBError, error_line, quote_identifier
from rollctl.errors import EmptyInputError, InputError
from rollctl.load.files import InputFile
from rollctl.load.types import MAX_OBJECT_BYTES, OPAQUE_FORMATS, LoadContext, Probe, Reader

# DuckDB's CSV buffer defaults to 16 x max_line_size (512 MB for 32 MB lines), allocated per reader even for
# a tiny compressed file; two lines' worth keeps long records readable and memory bounded.
_CSV_LIMITS = f"max_line_size = {MAX_OBJECT_BYTES}, buffer_size = {2 * MAX_OBJECT_BYTES}"


def probe_file(db: Database, f: InputFile, *, skip_bad_lines: bool = False,
               envelope: Callable[[Probe], bool] | None = None) -> Probe:
    """Read the column names and types of a file from a sample of its records.

    `envelope` says whether a format with a fixed envelope recognises a probe of the first record only
    (the registry's `is_envelope`): such a file is not sampled further."""
    if f.format in OPAQUE_FORMATS:
        # Containers DuckDB cannot read (a zip): the adapter that claims the format extracts and reads them.
        return Probe(file=f, reader_sql="", reader_params={"path": f.source}, columns={})
    if f.format in ("jsonl", "json"):
        quick = _envelope_probe(db, f, skip_bad_lines=skip_bad_lines) if envelope is not None else None
        if quick is not None and envelope is not None and envelope(quick):
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
            FROM (SELECT line, unnest(json_keys(line)) AS key FROM {lines_reader(skip_unreadable=True)}
                  WHERE {_RECORD_LINE})
            GROUP BY key ORDER BY key""",
        {"path": f.source},
    )
    return [(str(k), "JSON" if nested else "VARCHAR") for k, nested in rows]


def _is_nested_type(sql_type: str) -> bool:
    return sql_type == "JSON" or sql_type.startswith(("STRUCT", "MAP")) or sql_type.endswith("]")


def _envelope_probe(db: Database, f: InputFile, *, skip_bad_lines: bool) -> Probe | None:
    """A probe of the first record only, which the caller keeps when it is the fixed envelope of a format that
    declares one (OTLP's `resourceSpans`): sampling thousands of multi-megabyte export lines costs as much as
    loading them. Anything else (or a first record DuckDB cannot read) gets the full sample, and its precise
    error."""
    reader = _json_reader(f, with_columns=False, ignore_errors=skip_bad_lines) + ""
    reader = reader[:-1] + ", sample_size = 1)"
    try:
        described = db.fetchall(f"DESCRIBE SELECT * FROM {reader}", {"path": f.source})
    except DuckDBError:
        return None
    columns = dict.fromkeys((str(row[0]) for row in described), "JSON")
    return Probe(file=f, reader_sql=_json_reader(f, with_columns=True),
                 reader_params={"path": f.source, "columns": columns}, columns=columns)


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


def lines_reader(*, skip_unreadable: bool = False, encoding: str = "utf-8") -> str:
    """Every line of a text file with its 1-based number, for locating and skipping bad JSON lines.

    DuckDB's line reader fails the whole file on a line that is not valid UTF-8. `skip_unreadable` (skip mode
    only) leaves such lines out instead, so line numbers after one shift: it is for counting and reading the
    good lines, never for naming a line (`every_line_count` counts it back in).
    """
    tolerant = ", ignore_errors = true" if skip_unreadable else ""
    return (
        "(SELECT row_number() OVER () AS _line, line FROM read_csv($path, columns = {'line': 'VARCHAR'}, "
        f"delim = chr(1), quote = '', escape = '', header = false, auto_detect = false, encoding = '{encoding}', "
        f"{_CSV_LIMITS}{tolerant}))"
    )


def every_line_count(db: Database, params: dict[str, object]) -> int:
    """How many lines the file has, readable or not: every byte sequence is valid Latin-1, so a Latin-1 read
    counts the lines `lines_reader(skip_unreadable=True)` leaves out for invalid UTF-8 too."""
    row = db.fetchone(f"SELECT count(*) FROM {lines_reader(skip_unreadable=True, encoding='latin-1')}", params)
    return int(row[0])


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
        tolerant = lines_reader(skip_unreadable=True)
        bad, readable = ctx.db.fetchone(f"SELECT count(*) FILTER (WHERE {_SKIPPED_LINE}), count(*) FROM {tolerant}",
                                        params)
        skipped = int(bad) + every_line_count(ctx.db, params) - int(readable)  # bad lines, then unreadable ones
        params["structure"] = json.dumps(structure or probe.columns)
        sql = f"(SELECT unnest(from_json(line, $structure)) FROM {tolerant} WHERE {_RECORD_LINE})"
        return Reader(sql=sql, params=params, skipped_lines=skipped)
    if structure is not None:
        return Reader(sql=_json_reader(probe.file, with_columns=True),
                      params={"path": probe.file.source, "columns": structure})
    return Reader(sql=probe.reader_sql, params=dict(probe.reader_params))

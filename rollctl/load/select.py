"""SQL assembly: each canonical field's converted value, its "present but did not convert" check, and the
INSERT that writes an adapter's rows into the canonical tables with `_file` and `_bad` beside them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rollctl.db import DuckDBError, quote_identifier
from rollctl.errors import MissingFieldError
from rollctl.load.canonical import TABLE_FIELDS, TEXT_FIELDS, CanonicalField
from rollctl.load.expressions import RawValue, SqlParams, column, convert, nested
from rollctl.load.mapping import is_score_source, resolve_source
from rollctl.load.probe import read_error
from rollctl.load.types import BadLocator, FieldSource, LoadContext, Probe, Reader


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
CHECK_PHRASES: dict[str, str] = {}


def row_check(name: str, condition_sql: str, phrase: str, params: SqlParams, *, suffix: str = "") -> FieldSql:
    """A check over a row's raw values (the reader's columns) that makes the row a bad row, reported as
    `name` with `phrase` like a wrong-typed field, without storing anything: for the shape of a record
    (a paired row's arm that is not an object, or that holds no answer) rather than one field's value."""
    CHECK_PHRASES[name] = phrase
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
    from_sql = with_derived(reader.sql, reader.derived_sql)
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
        raise read_error(ctx.db, probe.file, exc) from None
    finally:
        if unordered:
            # Fails inside a transaction aborted by an error; the caller rolls back and restores the setting.
            with contextlib.suppress(DuckDBError):
                ctx.db.execute("SET preserve_insertion_order = $v", {"v": bool(ordered_before)})
    ctx.bad_conditions.setdefault((probe.file.path, table), []).append(BadLocator(
        from_sql=with_derived(reader.rescan_sql or reader.sql, reader.derived_sql), where_sql=where_sql,
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


def with_derived(from_sql: str, derived_sql: str) -> str:
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

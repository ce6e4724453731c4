"""Pieces the platform adapters share: staging a source in DuckDB, picking the first present field among
a format's spellings, `--map` and `--variant-from` overrides, and normalising error strings.

Everything here builds SQL; no adapter touches rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.errors import MissingFieldError
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.load.expressions import RawValue, SqlParams, as_text, column, nested
from rollctl.load.files import InputFile
from rollctl.load.mapping import is_score_source, resolve_source
from rollctl.load.probe import read_error
from rollctl.load.select import referenced_params
from rollctl.load.types import LoadContext


def stage(ctx: LoadContext, name: str, sql: str, params: dict[str, object], source: InputFile) -> dict[str, str]:
    """Materialise `sql` as temp table `name` (one parse of the source); returns its column types."""
    try:
        ctx.db.execute(f"CREATE OR REPLACE TEMP TABLE {quote_identifier(name)} AS {sql}",
                       referenced_params(sql, params))
    except DuckDBError as exc:
        raise read_error(ctx.db, source, exc) from None
    return describe(ctx.db, quote_identifier(name))


def describe(db: Database, relation_sql: str, params: dict[str, object] | None = None) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in db.fetchall(f"DESCRIBE SELECT * FROM {relation_sql}", params or {})}


def drop(db: Database, *names: str) -> None:
    for name in names:
        db.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")


def pick(
    columns: dict[str, str],
    candidates: Sequence[str],
    params: SqlParams,
    qualifier: str | None = None,
) -> tuple[RawValue, str] | None:
    """The first of a format's spellings of a field that the source has (`trace_id` or `traceId`)."""
    for candidate in candidates:
        resolved = resolve_source(candidate, columns)
        if resolved is None:
            continue
        top, path = resolved
        return nested(column(top, columns[top], qualifier), path, params), candidate
    return None


def coalesce_json(raws: Sequence[RawValue]) -> RawValue:
    """The first non-null of several raw values, as JSON so mixed source types can be combined."""
    if len(raws) == 1:
        return raws[0]
    parts = [r.sql if r.is_json else f"to_json({r.sql})" for r in raws]
    return RawValue(f"coalesce({', '.join(parts)})", "JSON")


def pick_all(
    columns: dict[str, str], candidates: Sequence[str], params: SqlParams, qualifier: str | None = None
) -> tuple[RawValue, str] | None:
    """Like `pick`, but falls back across every present spelling row by row (coalesce)."""
    found: list[tuple[RawValue, str]] = []
    for candidate in candidates:
        hit = pick(columns, [candidate], params, qualifier)
        if hit is not None:
            found.append(hit)
    if not found:
        return None
    return coalesce_json([r for r, _ in found]), " or ".join(d for _, d in found)


def apply_mapping(
    table: str,
    values: dict[str, RawValue],
    descriptions: dict[str, str],
    columns: dict[str, str],
    mapping: dict[str, str],
    params: SqlParams,
    qualifier: str | None = None,
) -> None:
    """`--map canonical=path` wins over an adapter's default source for that field."""
    names = {f.name for f in TABLE_FIELDS[table]}
    for canonical, source in mapping.items():
        if canonical not in names or is_score_source(source):
            continue
        hit = pick(columns, [source], params, qualifier)
        if hit is None:
            raise MissingFieldError(
                f"--map {canonical}={source}: no such field in the input", field=source,
                fix="fields found: " + ", ".join(sorted(columns)[:30]),
            )
        values[canonical], descriptions[canonical] = hit[0], f"{source} (--map)"


def tag_variant(tags: RawValue, prefix: str, params: SqlParams) -> RawValue:
    """`--variant-from tag:PREFIX`: the first tag starting with PREFIX, PREFIX removed (`variant:b` -> `b`)."""
    tag_list = f"CAST({tags.sql} AS VARCHAR[])" if tags.type.endswith("[]") else (
        f"list_transform(CAST(json_extract("
        f"{tags.sql if tags.is_json else f'CAST({tags.sql} AS JSON)'}, '$[*]') AS JSON[]), lambda t: t ->> '$')"
    )
    p = params.add(prefix)
    return RawValue(
        f"substr(list_filter({tag_list}, lambda t: starts_with(t, {p}))[1], length({p}) + 1)", "VARCHAR"
    )


def variant_override(
    ctx: LoadContext,
    columns: dict[str, str],
    params: SqlParams,
    tags: Sequence[str] = ("tags",),
    qualifier: str | None = None,
) -> tuple[RawValue, str] | None:
    """The variant chosen with --variant-from: a field path, or `tag:PREFIX` over the record's tags."""
    source = ctx.options.variant_from
    if not source:
        return None
    if source.startswith("tag:"):
        hit = pick(columns, tags, params, qualifier)
        if hit is None:
            raise MissingFieldError(f"--variant-from {source}: the input has no tags", field="tags",
                                    fix="choose a field path instead, e.g. --variant-from release")
        return tag_variant(hit[0], source[4:], params), f"tag {source[4:]}* ({hit[1]}; --variant-from)"
    hit = pick(columns, [source], params, qualifier)
    if hit is None:
        raise MissingFieldError(
            f"--variant-from {source}: no such field in the input", field=source,
            fix="fields found: " + ", ".join(sorted(columns)[:30]),
        )
    return hit[0], f"{source} (--variant-from)"


def error_class(text_sql: str) -> str:
    """A short error class from a platform's free-text error (`RateLimitError('...')` -> `rate_limit`).

    Canonical `error` is a class that commands group by; platforms store exception text. Well-known
    causes get rollctl's names; anything else keeps the exception name before its message.
    """
    low = f"lower({text_sql})"
    return (
        f"(CASE WHEN {text_sql} IS NULL OR trim({text_sql}) = '' THEN NULL "
        f"WHEN {low} LIKE '%ratelimit%' OR {low} LIKE '%rate limit%' OR {low} LIKE '%rate_limit%' "
        f"OR {low} LIKE '%429%' THEN 'rate_limit' "
        f"WHEN {low} LIKE '%timeout%' OR {low} LIKE '%timed out%' THEN 'timeout' "
        f"WHEN {low} LIKE '%jsondecode%' OR {low} LIKE '%json_parse%' THEN 'json_parse' "
        f"ELSE left(trim(regexp_extract({text_sql}, '^[^(:\\n]*')), 80) END)"
    )


def thumbs_from_score(value_sql: str, string_sql: str | None = None) -> RawValue:
    """Thumbs from a feedback score: numbers >= 0.5 are up, lower ones down (platforms store 1/0).

    A categorical score ('up', 'thumbs_down', 'true') goes through the canonical thumbs conversion.
    """
    number = f"TRY_CAST({value_sql} AS DOUBLE)"
    text = f"CAST({string_sql} AS VARCHAR)" if string_sql else "NULL"
    return RawValue(
        f"(CASE WHEN {number} IS NOT NULL THEN (CASE WHEN {number} >= 0.5 THEN '1' ELSE '-1' END) "
        f"ELSE {text} END)",
        "VARCHAR",
    )


def ms_between(start: RawValue, end: RawValue) -> str:
    """Milliseconds from one timestamp to another, exact to the microsecond (no float seconds)."""
    def ts(raw: RawValue) -> str:
        if raw.type.startswith("TIMESTAMP"):
            return f"CAST({raw.sql} AS TIMESTAMPTZ)"
        return f"TRY_CAST({as_text(raw)} AS TIMESTAMPTZ)"
    return f"(CAST(epoch_us({ts(end)}) - epoch_us({ts(start)}) AS DOUBLE) / 1000.0)"


def unwrap_pages(ctx: LoadContext, table: str, array_column: str, source: InputFile) -> dict[str, str]:
    """Replace staged API pages (`{"data": [...], "meta": ...}`) by one row per array element.

    Each element key becomes a JSON column (keys gathered from the data itself), so the adapters'
    field lookups work on API responses exactly as on flat exports.
    """
    pages = table + "_pages"
    drop(ctx.db, pages)
    ctx.db.execute(f"ALTER TABLE {quote_identifier(table)} RENAME TO {quote_identifier(pages)}")
    try:
        col = quote_identifier(array_column)
        items = f"unnest(CAST(json_extract(to_json({col}), '$[*]') AS JSON[]))"
        stage(ctx, pages + "_items", f"SELECT {items} AS d FROM {quote_identifier(pages)}", {}, source)
        keys = [str(r[0]) for r in ctx.db.fetchall(
            f"SELECT DISTINCT unnest(json_keys(d)) AS k FROM {quote_identifier(pages + '_items')} "
            "WHERE json_type(d) = 'OBJECT' ORDER BY k")]
        params = SqlParams()
        # A JSON null inside the page is no value (SQL NULL), as it is when DuckDB reads the same record from JSONL.
        paths = {k: params.add(_key_path(k)) for k in keys}
        select = ", ".join(f"(CASE WHEN json_type(d, {path}) <> 'NULL' THEN json_extract(d, {path}) END) "
                           f"AS {quote_identifier(k)}" for k, path in paths.items())
        return stage(ctx, table, f"SELECT {select or 'NULL AS d'} FROM {quote_identifier(pages + '_items')}",
                     params.values, source)
    finally:
        drop(ctx.db, pages, pages + "_items")


def _key_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'

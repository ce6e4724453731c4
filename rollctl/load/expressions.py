"""SQL expressions that turn a raw source column into a canonical value.

Exports disagree on types (a latency as "812", a flag as "yes", a timestamp as epoch milliseconds), so
each canonical kind has one conversion that accepts every reasonable spelling and yields NULL for the
rest. The loader compares raw and converted values to report wrong types instead of dropping them.
Identifiers enter through `quote_identifier`; literal values through `SqlParams`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollctl.db import quote_identifier
from rollctl.load.canonical import FieldKind

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL")


@dataclass
class SqlParams:
    """Collects named parameters so literal values never enter SQL text."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


@dataclass(frozen=True)
class RawValue:
    """A SQL expression over the source and the DuckDB type it has."""

    sql: str
    type: str

    @property
    def is_json(self) -> bool:
        return self.type == "JSON"

    @property
    def is_text(self) -> bool:
        return self.type == "VARCHAR"

    @property
    def is_numeric(self) -> bool:
        return self.type in _NUMERIC_TYPES or self.type.startswith("DECIMAL")

    @property
    def is_nested(self) -> bool:
        return self.type.startswith(("STRUCT", "MAP")) or self.type.endswith("]")


def column(name: str, type_: str, qualifier: str | None = None) -> RawValue:
    prefix = f"{quote_identifier(qualifier)}." if qualifier else ""
    return RawValue(prefix + quote_identifier(name), type_)


def nested(base: RawValue, path: list[str], params: SqlParams) -> RawValue:
    """Reach into a nested object (`metadata.user.id`) whatever the source stored it as."""
    if not path:
        return base
    json_path = "$" + "".join(_json_path_step(p) for p in path)
    if base.is_json:
        return RawValue(f"json_extract({base.sql}, {params.add(json_path)})", "JSON")
    if base.is_text:
        return RawValue(
            f"json_extract(CASE WHEN json_valid({base.sql}) THEN CAST({base.sql} AS JSON) END, "
            f"{params.add(json_path)})",
            "JSON",
        )
    return RawValue(f"json_extract(to_json({base.sql}), {params.add(json_path)})", "JSON")


def _json_path_step(key: str) -> str:
    if key.isdigit():
        return f"[{key}]"
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'."{escaped}"'


def as_text(raw: RawValue) -> str:
    """Scalar text of a raw value: JSON strings unquoted, JSON objects as their JSON text."""
    if raw.is_json:
        return f"({raw.sql} ->> '$')"
    if raw.is_text:
        return raw.sql
    if raw.is_nested:
        return f"CAST(to_json({raw.sql}) AS VARCHAR)"
    return f"CAST({raw.sql} AS VARCHAR)"


def _as_double(raw: RawValue) -> str:
    if raw.is_numeric:
        return f"CAST({raw.sql} AS DOUBLE)"
    if raw.type == "BOOLEAN" or raw.is_nested:
        return "CAST(NULL AS DOUBLE)"
    # DuckDB's cast skips surrounding whitespace itself (tabs and newlines too), so no trim() first.
    return f"TRY_CAST({as_text(raw)} AS DOUBLE)"


def convert(raw: RawValue, kind: FieldKind) -> str:
    """The canonical value of `raw` as `kind`, NULL where the value cannot be read as that kind."""
    if kind in ("string", "text"):
        return as_text(raw)
    if kind == "float":
        d = _as_double(raw)
        return f"(CASE WHEN isfinite({d}) THEN {d} END)"
    if kind == "int":
        d = _as_double(raw)
        # Within BIGINT's range (|x| < 2^63, written out as a double): a count of 1e30 is a bad value with its
        # line, not a conversion error that aborts the whole file.
        return f"(CASE WHEN abs({d}) < 9.2e18 AND {d} = round({d}) THEN CAST({d} AS BIGINT) END)"
    if kind == "bool":
        return _bool(raw)
    if kind == "thumbs":
        return _thumbs(raw)
    if kind == "timestamp":
        return _timestamp(raw)
    if kind == "list":
        return _list(raw)
    if kind == "json":
        if raw.is_json:
            return raw.sql
        if raw.is_text:
            # json() re-serialises compactly, so a JSON column in CSV/Parquet matches the same JSONL value.
            return f"(CASE WHEN json_valid({raw.sql}) THEN json({raw.sql}) END)"
        return f"to_json({raw.sql})"
    raise ValueError(kind)


def _bool(raw: RawValue) -> str:
    if raw.type == "BOOLEAN":
        return raw.sql
    if raw.is_numeric:
        return f"(CASE WHEN {raw.sql} IN (0, 1) THEN {raw.sql} = 1 END)"
    text = as_text(raw)
    s = f"lower(trim({text}))"
    # JSON's own spellings first: CASE tests the later branches (which copy every string twice) only on
    # the rows still undecided, so a file of true/false pays a third of the cost.
    return (
        f"(CASE WHEN {text} = 'true' THEN true WHEN {text} = 'false' THEN false "
        f"WHEN {s} IN ('true', '1', 'yes', 'y', 't') THEN true "
        f"WHEN {s} IN ('false', '0', 'no', 'n', 'f') THEN false END)"
    )


def _thumbs(raw: RawValue) -> str:
    if raw.type == "BOOLEAN":
        return f"(CASE WHEN {raw.sql} THEN 1 ELSE -1 END)"
    if raw.is_numeric:
        return f"(CASE WHEN {raw.sql} IN (-1, 0, 1) THEN CAST({raw.sql} AS INTEGER) END)"
    text = as_text(raw)
    s = f"lower(trim({text}))"
    # JSON numbers first (as in `_bool`): the general spellings are tested only on the rows left undecided.
    return (
        f"(CASE WHEN {text} = '1' THEN 1 WHEN {text} = '-1' THEN -1 "
        f"WHEN {s} IN ('1', '+1', '1.0', 'up', 'thumbs_up', 'true') THEN 1 "
        f"WHEN {s} IN ('-1', '-1.0', 'down', 'thumbs_down', 'false') THEN -1 "
        f"WHEN {s} IN ('0', '0.0', 'none', '') THEN 0 END)"
    )


# Timestamps rollctl accepts: from 2000 up to (not including) 2100, UTC. Anything outside is not an LLM call's
# time but a placeholder or a mistake ('epoch', 0, 'infinity', year 294247, a far-future default), and one
# such value would stretch a stage's window to decades and switch off decide's minimum-duration check; it is
# a wrong-typed value like any other (an error naming the file, line and field, or skipped and counted).
EARLIEST_TIMESTAMP = "2000-01-01 00:00:00+00"
LATEST_TIMESTAMP = "2100-01-01 00:00:00+00"
_EARLIEST_EPOCH_S = 946_684_800
_LATEST_EPOCH_S = 4_102_444_800


def _epoch(number_sql: str) -> str:
    """An epoch number in seconds, milliseconds or microseconds (told apart by magnitude) inside the
    accepted window, else NULL; NaN and the infinities compare false everywhere and give NULL too."""
    n = number_sql
    branches = " ".join(
        f"WHEN {n} >= {_EARLIEST_EPOCH_S * scale:.0f} AND {n} < {_LATEST_EPOCH_S * scale:.0f} "
        f"THEN to_timestamp({n}{f' / {scale:.0e}' if scale > 1 else ''})"
        for scale in (1_000_000, 1_000, 1)
    )
    return f"(CASE {branches} END)"


def in_timestamp_window(ts_sql: str) -> str:
    """SQL true where a TIMESTAMPTZ lies in the accepted window (NULL for NULL)."""
    return f"{ts_sql} >= TIMESTAMPTZ '{EARLIEST_TIMESTAMP}' AND {ts_sql} < TIMESTAMPTZ '{LATEST_TIMESTAMP}'"


def _timestamp(raw: RawValue) -> str:
    if raw.type.startswith("TIMESTAMP") or raw.type == "DATE":
        # A naive timestamp is taken as UTC: the connection's time zone is UTC.
        ts = raw.sql if raw.type == "TIMESTAMP WITH TIME ZONE" else f"CAST({raw.sql} AS TIMESTAMPTZ)"
        return f"(CASE WHEN {in_timestamp_window(ts)} THEN {ts} END)"
    if raw.is_numeric:
        return _epoch(f"CAST({raw.sql} AS DOUBLE)")
    # The casts skip surrounding whitespace themselves: trim() only copied every string (40% of the cost).
    s = as_text(raw)
    n = f"TRY_CAST({s} AS DOUBLE)"
    ts = f"TRY_CAST({s} AS TIMESTAMPTZ)"
    # The date text first: the only strings that read both as a timestamp and as a number are the infinities
    # ('inf', 'infinity'), which are outside the window and not epochs either. CASE evaluates the epoch
    # branch only on the rows the timestamp cast left outside the window (COALESCE evaluates every argument on
    # every row); measured on 100k ISO timestamps, 7 ms instead of 26 ms.
    return f"(CASE WHEN {in_timestamp_window(ts)} THEN {ts} ELSE {_epoch(n)} END)"


def _list(raw: RawValue) -> str:
    if raw.type.endswith("[]"):
        return f"CAST({raw.sql} AS VARCHAR[])"
    if raw.is_json:
        return (
            f"(CASE WHEN json_type({raw.sql}) = 'ARRAY' THEN json_extract_string({raw.sql}, '$[*]') "
            f"WHEN json_type({raw.sql}) IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE') "
            f"THEN [{raw.sql} ->> '$'] END)"
        )
    if raw.is_text:
        return (
            f"(CASE WHEN json_valid({raw.sql}) AND json_type(CAST({raw.sql} AS JSON)) = 'ARRAY' THEN "
            f"list_transform(CAST(json_extract(CAST({raw.sql} AS JSON), '$[*]') AS JSON[]), lambda x: x ->> '$') "
            f"WHEN {raw.sql} = '' THEN [] ELSE [{raw.sql}] END)"
        )
    return f"[{as_text(raw)}]"

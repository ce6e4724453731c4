"""Append canonical rows to a rollctl database file, de-duplicated on each table's key."""

from __future__ import annotations

from rollctl.db import Database, quote_identifier
from rollctl.load.canonical import TABLE_FIELDS, TEXT_FIELDS

TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "traces": ("request_id", "variant"),
    "evals": ("case_id", "variant", "repeat"),
    "judgements": ("request_id", "judge", "order"),
}


# Long free text (prompts, responses, edits) is stored with ZSTD. DuckDB's default choice for strings
# (dictionary + FSST, chosen per segment after analysing every candidate) spent about 60% of a first ingest
# compressing them. Measured writing 200k canonical rows (464 MB JSONL, 2 cores, busy machine, CPU s / file):
# default 3.7-3.9 s / 123 MB; ZSTD on text columns 3.3 s / 77 MB; text uncompressed 2.4-2.6 s / 373-397 MB;
# everything uncompressed 1.8 s / 412 MB. ZSTD is the only choice that is both faster and smaller than the
# default. Short strings (ids, variant, model) keep DuckDB's automatic choice: they dictionary-compress well.
_TEXT_COMPRESSION = "zstd"


def _column_ddl(name: str, sql_type: str) -> str:
    compression = f" USING COMPRESSION {_TEXT_COMPRESSION}" if name in TEXT_FIELDS else ""
    return f"{quote_identifier(name)} {sql_type}{compression}"


def ensure_tables(db: Database, schema: str) -> None:
    for table, fields in TABLE_FIELDS.items():
        cols = ", ".join(_column_ddl(f.name, f.sql_type) for f in fields)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {quote_identifier(schema)}.{quote_identifier(table)} ({cols}, _file VARCHAR)"
        )


def count_rows(db: Database, schema: str, table: str) -> int:
    return int(db.fetchone(f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(table)}")[0])


def in_input_duplicates(db: Database, table: str) -> int:
    """Rows in this input that repeat an earlier row's key (kept once)."""
    keys = ", ".join(quote_identifier(k) for k in TABLE_KEYS[table])
    return int(db.fetchone(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {quote_identifier(table)} "
        f"GROUP BY {keys} HAVING count(*) > 1)"
    )[0])


def append_new(db: Database, schema: str, table: str, *, has_duplicates: bool = True) -> int:
    """Insert rows whose key is not in the target yet (first occurrence wins); returns rows added.

    The row_number() pass (which sorts the whole input, text included) runs only when the input repeats
    a key, and the anti-join only when the target already holds rows: a first ingest of a clean export
    is a plain append.
    """
    names = [f.name for f in TABLE_FIELDS[table]] + ["_file"]
    cols = ", ".join(quote_identifier(n) for n in names)
    keys = TABLE_KEYS[table]
    partition = ", ".join(quote_identifier(k) for k in keys)
    match = " AND ".join(f"t.{quote_identifier(k)} IS NOT DISTINCT FROM s.{quote_identifier(k)}" for k in keys)
    target = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    before = count_rows(db, schema, table)
    source = quote_identifier(table)
    if has_duplicates:
        source = (
            f"(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY _file) AS _rn "
            f"FROM {quote_identifier(table)}) WHERE _rn = 1)"
        )
    where = f"WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {match})" if before else ""
    db.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source} AS s {where}")
    return count_rows(db, schema, table) - before


# One row per canonical table per successful ingest: what that input held, keyed by the fingerprint of its
# contents and load options (`rollctl.core.ingest`). Lets a re-ingest of the same export answer without
# reading it into DuckDB. Other commands read only the canonical tables, so they never see this one.
INGEST_LOG = "rollctl_ingests"


def _log_table(schema: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(INGEST_LOG)}"


def ensure_ingest_log(db: Database, schema: str) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {_log_table(schema)} (fingerprint VARCHAR, table_name VARCHAR, "
        "rows_read BIGINT, duplicates_in_input BIGINT, skipped_lines BIGINT, total_after BIGINT, files VARCHAR[], "
        "ingested_at TIMESTAMPTZ)"
    )


def logged_ingest(db: Database, schema: str, fingerprint: str) -> dict[str, tuple[int, int, int, int]] | None:
    """table -> (rows_read, duplicates_in_input, skipped_lines, total_after) of an earlier ingest of the same
    input."""
    if not db.attached_table_exists(schema, INGEST_LOG):
        return None
    rows = db.fetchall(
        f"SELECT table_name, first(rows_read ORDER BY ingested_at), first(duplicates_in_input ORDER BY ingested_at), "
        f"first(skipped_lines ORDER BY ingested_at), first(total_after ORDER BY ingested_at) "
        f"FROM {_log_table(schema)} WHERE fingerprint = ? "
        "GROUP BY table_name",
        [fingerprint],
    )
    if not rows:
        return None
    return {str(t): (int(r), int(d), int(s), int(a)) for t, r, d, s, a in rows}


def log_ingest(
    db: Database, schema: str, fingerprint: str, counts: dict[str, tuple[int, int, int]], skipped_lines: int,
    files: list[str],
) -> None:
    """Record what an ingest read (table -> (rows_read, duplicates_in_input, total_after)), once per
    fingerprint."""
    ensure_ingest_log(db, schema)
    if logged_ingest(db, schema, fingerprint) is not None:
        return
    for table, (read, dups, total) in counts.items():
        db.execute(
            f"INSERT INTO {_log_table(schema)} VALUES (?, ?, ?, ?, ?, ?, ?, now())",
            [fingerprint, table, read, dups, skipped_lines, total, files],
        )


# --- streaming ingest: rows are loaded straight into the target tables, inside one transaction -------------
# While loading, each target table carries a `_bad BOOLEAN` column (the loader's type-check flag): NULL on
# the rows that were already there, false on the rows this ingest loaded. Duplicates are then removed by
# deleting the later copies among the loaded rows, and loaded rows whose key was already present.

LOAD_FLAG = "_bad"
_NEW = f"{quote_identifier(LOAD_FLAG)} IS NOT NULL"


def has_canonical_schema(db: Database, schema: str) -> bool:
    """Whether every canonical table of `schema` that exists has exactly the columns `ensure_tables` makes."""
    for table, fields in TABLE_FIELDS.items():
        if not db.attached_table_exists(schema, table):
            continue
        names = [str(r[0]) for r in db.fetchall(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' "
            "AND table_name = ? ORDER BY column_index", [schema, table])]
        if names != [f.name for f in fields] + ["_file"]:
            return False
    return True


def add_load_flag(db: Database, schema: str) -> None:
    for table in TABLE_FIELDS:
        db.execute(f"ALTER TABLE {_qualified(schema, table)} ADD COLUMN {quote_identifier(LOAD_FLAG)} BOOLEAN")


def drop_load_flag(db: Database, schema: str) -> None:
    for table in TABLE_FIELDS:
        db.execute(f"ALTER TABLE {_qualified(schema, table)} DROP COLUMN {quote_identifier(LOAD_FLAG)}")


def _qualified(schema: str, table: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"


def loaded_without_request_id(db: Database, schema: str) -> int:
    traces = _qualified(schema, "traces")
    return int(db.fetchone(f"SELECT count(*) FROM {traces} WHERE {_NEW} AND request_id IS NULL")[0])


def loaded_duplicates(db: Database, schema: str, table: str) -> int:
    """Loaded rows that repeat an earlier loaded row's key (kept once): `in_input_duplicates` in place."""
    keys = ", ".join(quote_identifier(k) for k in TABLE_KEYS[table])
    return int(db.fetchone(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {_qualified(schema, table)} "
        f"WHERE {_NEW} GROUP BY {keys} HAVING count(*) > 1)"
    )[0])


def keep_new_loaded(db: Database, schema: str, table: str, *, has_duplicates: bool, had_rows: bool) -> int:
    """Delete loaded rows whose key was already in the table, and all but the first loaded copy of a key
    (the first file in path order wins; within a file, any copy, as in `append_new`); returns the loaded rows kept.

    Each pass runs only when it can delete something, so a first ingest of a clean export deletes nothing.
    """
    target = _qualified(schema, table)
    keys = TABLE_KEYS[table]
    if had_rows:
        match = " AND ".join(f"o.{quote_identifier(k)} IS NOT DISTINCT FROM n.{quote_identifier(k)}" for k in keys)
        db.execute(
            f"DELETE FROM {target} WHERE rowid IN (SELECT n.rowid FROM {target} AS n WHERE n.{_NEW} AND EXISTS "
            f"(SELECT 1 FROM {target} AS o WHERE o.{quote_identifier(LOAD_FLAG)} IS NULL AND {match}))"
        )
    if has_duplicates:
        partition = ", ".join(quote_identifier(k) for k in keys)
        db.execute(
            f"DELETE FROM {target} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
            f"(PARTITION BY {partition} ORDER BY _file, rowid) AS _rn FROM {target} WHERE {_NEW}) WHERE _rn > 1)"
        )
    return int(db.fetchone(f"SELECT count(*) FROM {target} WHERE {_NEW}")[0])

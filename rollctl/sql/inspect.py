"""Summaries for `rollctl inspect`: one aggregate pass per canonical table."""

from __future__ import annotations

from typing import Any

from rollctl.db import Database, quote_identifier, utc_day_number
from rollctl.load.canonical import TABLE_FIELDS


def coverage(db: Database, table: str) -> tuple[int, dict[str, int]]:
    """Row count and, for every canonical field, how many rows have a value."""
    fields = [f.name for f in TABLE_FIELDS[table]]
    counts = ", ".join(f"count({quote_identifier(n)})" for n in fields)
    row = db.fetchone(f"SELECT count(*), {counts} FROM {quote_identifier(table)}")
    return int(row[0]), {name: int(v) for name, v in zip(fields, row[1:], strict=True)}


def trace_overview(db: Database) -> dict[str, Any]:
    row = db.fetch_dicts(
        f"""
        SELECT count(DISTINCT user_id) AS users,
               count(DISTINCT session_id) AS sessions,
               min("timestamp") AS first,
               max("timestamp") AS last,
               count(*) FILTER (WHERE served) AS served_rows,
               count(*) FILTER (WHERE NOT served) AS shadow_rows,
               count(*) FILTER (WHERE "timestamp" > now() + INTERVAL 5 MINUTE) AS future_rows,
               count(DISTINCT {utc_day_number('"timestamp"')}) AS distinct_days
        FROM traces
        """
    )[0]
    return row


def per_variant(db: Database) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        """
        SELECT variant,
               count(*) AS rows,
               count(*) FILTER (WHERE served) AS served_rows,
               count(*) FILTER (WHERE NOT served) AS shadow_rows,
               count(DISTINCT user_id) AS users,
               list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models,
               list(DISTINCT prompt_version ORDER BY prompt_version)
                   FILTER (WHERE prompt_version IS NOT NULL) AS prompt_versions,
               min("timestamp") AS first,
               max("timestamp") AS last
        FROM traces
        GROUP BY variant
        ORDER BY variant NULLS LAST
        """
    )


def duplicate_keys(db: Database, table: str, keys: list[str], limit: int = 5) -> tuple[int, list[str]]:
    """How many key combinations repeat, and the first few (by the first key)."""
    key_sql = ", ".join(quote_identifier(k) for k in keys)
    first = quote_identifier(keys[0])
    row = db.fetchone(
        f"""
        SELECT count(*), list({first} ORDER BY {first})[1:$limit]
        FROM (SELECT {key_sql} FROM {quote_identifier(table)} WHERE {first} IS NOT NULL
              GROUP BY {key_sql} HAVING count(*) > 1)
        """,
        {"limit": limit},
    )
    return int(row[0]), [str(x) for x in (row[1] or [])]


def eval_overview(db: Database) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        """
        SELECT variant, count(*) AS rows, count(DISTINCT case_id) AS cases,
               count(DISTINCT "repeat") AS repeats,
               count(*) FILTER (WHERE passed) AS passed_rows,
               count(*) FILTER (WHERE error IS NOT NULL) AS error_rows
        FROM evals GROUP BY variant ORDER BY variant NULLS LAST
        """
    )


def judgement_overview(db: Database) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        """
        SELECT coalesce(judge, '(unnamed)') AS judge, count(*) AS rows,
               count(DISTINCT request_id) AS requests,
               count(*) FILTER (WHERE "order" = 'baseline_first') AS baseline_first,
               count(*) FILTER (WHERE "order" = 'candidate_first') AS candidate_first,
               count(*) FILTER (WHERE winner = 'error') AS errors
        FROM judgements GROUP BY ALL ORDER BY judge
        """
    )

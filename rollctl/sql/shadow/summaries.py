"""GROUP BYs over `_shadow_pairs`: per-arm summaries, tails, error classes, clusters, metric values and
segments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.load import PairedRows
from rollctl.sql.shadow.pairs import PAIRS, floats, ints

# Tail metrics: (name, population condition, per-arm condition with {a} for the arm suffix).
TAILS: tuple[tuple[str, str, str], ...] = (
    ("errors", "TRUE", "error_{a} IS NOT NULL"),
    ("timeouts", "TRUE", "coalesce(lower(error_{a}) LIKE '%timeout%' OR lower(error_{a}) LIKE '%timed_out%', FALSE)"),
    ("json_breaks", "json_expected", "NOT json_ok_{a}"),
    ("refusals", "out_b AND out_c", "refusal_{a}"),
)


def _tail_aggregates() -> str:
    parts = []
    for name, pop, cond in TAILS:
        cb, cc = cond.format(a="b"), cond.format(a="c")
        parts.append(
            f"count(*) FILTER (WHERE {pop}) AS {name}_n, "
            f"count(*) FILTER (WHERE {pop} AND {cb}) AS {name}_b, "
            f"count(*) FILTER (WHERE {pop} AND {cc}) AS {name}_c, "
            f"count(*) FILTER (WHERE {pop} AND NOT ({cb}) AND ({cc})) AS {name}_new, "
            f"count(*) FILTER (WHERE {pop} AND ({cb}) AND NOT ({cc})) AS {name}_fixed"
        )
    return ", ".join(parts)


_MEAN_METRICS = ("latency", "ttft", "cost", "tokens", "score")


def _mean_aggregates() -> str:
    parts = []
    for m in _MEAN_METRICS:
        both = f"{m}_b IS NOT NULL AND {m}_c IS NOT NULL"
        parts.append(
            f"count(*) FILTER (WHERE {both}) AS {m}_n, "
            f"sum({m}_b) FILTER (WHERE {both}) AS {m}_sum_b, sum({m}_c) FILTER (WHERE {both}) AS {m}_sum_c"
        )
    return ", ".join(parts)


def paired_arm_variants(db: Database, source: PairedRows, sample: int = 10_000) -> tuple[list[str], list[str]]:
    """The variants of the `baseline` and of the `candidate` objects among a paired file's first `sample` rows
    (a cheap look: the stream then counts any other variant as another arm's rows)."""
    rows = db.fetchall(f"SELECT DISTINCT variant_1, variant_2 FROM (SELECT variant_1, variant_2 FROM ({source.sql}) "
                       f"AS paired LIMIT {int(sample)}) AS head", dict(source.params))
    return (sorted({str(b) for b, _ in rows if b is not None}), sorted({str(c) for _, c in rows if c is not None}))


def served_only_variants(db: Database) -> tuple[list[str], list[str]]:
    """(variants whose rows were all served, variants whose rows were all shadow computations), from `traces`."""
    rows = db.fetchall(
        "SELECT variant, bool_and(coalesce(served, true)), bool_and(NOT coalesce(served, true)) FROM traces "
        "WHERE variant IS NOT NULL GROUP BY variant ORDER BY variant")
    return [str(v) for v, served, _ in rows if served], [str(v) for v, _, shadow in rows if shadow]


def metadata_keys(db: Database, sources: Sequence[PairedRows] | None, limit: int = 40) -> list[str]:
    """The top-level keys of the pairs' metadata objects (sorted, at most `limit`), for an error message: from
    the streamed files when the answers were streamed, else from the loaded trace rows."""
    if sources:  # the first file's are enough for a hint (each file binds its own parameters)
        union = (f"SELECT unnest(json_keys(metadata_1)) AS k FROM ({sources[0].sql}) AS first_arm "
                 f"UNION ALL SELECT unnest(json_keys(metadata_2)) FROM ({sources[0].sql}) AS second_arm")
        params: dict[str, Any] = dict(sources[0].params)
    else:
        union = "SELECT unnest(json_keys(metadata)) AS k FROM traces"
        params = {}
    try:
        rows = db.fetchall(f"SELECT DISTINCT k FROM ({union}) AS keys ORDER BY k LIMIT {int(limit)}", params)
    except DuckDBError:
        return []
    return [str(r[0]) for r in rows]


def summaries(db: Database) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Overall and per-segment sufficient statistics: tails, text flags, sums for mean deltas."""
    rows = db.fetch_dicts(
        f"""
        SELECT GROUPING(segment) AS is_total, segment, count(*) AS pairs,
               count(*) FILTER (WHERE exact) AS exact,
               count(*) FILTER (WHERE out_b AND out_c) AS both_answered,
               avg((len_c - len_b) / len_b) FILTER (WHERE len_b > 0 AND len_c IS NOT NULL) AS rel_length_change,
               avg(len_b) AS mean_len_b, avg(len_c) AS mean_len_c,
               {_tail_aggregates()}, {_mean_aggregates()}
        FROM {PAIRS}
        GROUP BY GROUPING SETS ((), (segment))
        ORDER BY is_total DESC, pairs DESC, segment
        """
    )
    total = next(r for r in rows if r["is_total"])
    return total, [r for r in rows if not r["is_total"]]


def error_classes(db: Database) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        f"""
        SELECT cls, count(*) FILTER (WHERE arm = 'b') AS baseline, count(*) FILTER (WHERE arm = 'c') AS candidate
        FROM (SELECT error_b AS cls, 'b' AS arm FROM {PAIRS} WHERE error_b IS NOT NULL
              UNION ALL SELECT error_c, 'c' FROM {PAIRS} WHERE error_c IS NOT NULL)
        GROUP BY cls ORDER BY count(*) DESC, cls LIMIT 20
        """
    )


def pair_clusters(db: Database, pairs: int) -> NDArray[np.int64]:
    """A dense cluster code by pid: the user, in the order of user ids (each pair its own cluster when it has
    no user), for the paired means and the cluster bootstrap of every metric (one sort, not one per metric)."""
    # A window over every pair, not the distinct users ranked and joined back: that join was 0.06 s faster on 1 M
    # pairs but held 100 MB more at the peak of 5 M.
    table = db.fetch_arrow(
        f"""
        SELECT pid, CAST(dense_rank() OVER (ORDER BY coalesce(user_id, 'pair:' || CAST(pid AS VARCHAR))) - 1 AS BIGINT)
            AS u
        FROM {PAIRS}
        """
    )
    codes = np.zeros(pairs, dtype=np.int64)
    codes[ints(table, "pid")] = ints(table, "u")
    return codes


def metric_values(db: Database, metric: str) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """(pid, baseline value, candidate value) of the pairs where both arms have the metric."""
    b, c = quote_identifier(metric + "_b"), quote_identifier(metric + "_c")
    table = db.fetch_arrow(f"SELECT pid, {b} AS b, {c} AS c FROM {PAIRS} WHERE {b} IS NOT NULL AND {c} IS NOT NULL")
    return ints(table, "pid"), floats(table, "b"), floats(table, "c")


def pair_segments(db: Database) -> tuple[list[str | None], NDArray[np.int64]]:
    """Segment labels and, per pid, the index of its segment (for per-segment sums of edit distance)."""
    labels_rows = db.fetchall(f"SELECT DISTINCT segment FROM {PAIRS} ORDER BY segment NULLS LAST")
    labels = [r[0] for r in labels_rows]
    # Each pair's segment looked up among the few ranked ones, not a window sort of every pair.
    table = db.fetch_arrow(
        f"""
        WITH ranked AS (SELECT segment, CAST(row_number() OVER (ORDER BY segment NULLS LAST) - 1 AS BIGINT) AS code
                        FROM (SELECT DISTINCT segment FROM {PAIRS}))
        SELECT p.pid, ranked.code FROM {PAIRS} p JOIN ranked ON p.segment IS NOT DISTINCT FROM ranked.segment
        """
    )
    codes = np.zeros(len(table), dtype=np.int64)
    codes[ints(table, "pid")] = ints(table, "code")
    return labels, codes

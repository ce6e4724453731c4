"""Small summaries for `power --from-traces` and `power eval --from-evals`.

Everything reduces to a handful of rows: traffic per day, the distribution of requests per user (for
Σm²/Σm and the simulation), per-input sums of the metric among inputs answered more than once (response
randomness), and per-case repeat sums of eval scores. Plain SQL; values as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollctl.db import QueryEngine, utc_day_number
from rollctl.load.expressions import SqlParams
from rollctl.metrics import Metric
from rollctl.stats.power import CaseMoments


@dataclass(frozen=True)
class Traffic:
    """Users over the whole window and how many calendar days it spans (all variants)."""

    users: int
    days: int
    first: datetime | None
    last: datetime | None


def traffic(db: QueryEngine, variant: str | None = None) -> Traffic:
    """Distinct users and calendar days of served traffic, of one variant or of all."""
    row = db.fetchone(
        f"""
        SELECT count(DISTINCT user_id), count(DISTINCT {utc_day_number('"timestamp"')}), min("timestamp"),
               max("timestamp")
        FROM traces WHERE user_id IS NOT NULL AND coalesce(served, TRUE) AND ($variant IS NULL OR variant = $variant)
        """,
        {"variant": variant},
    )
    return Traffic(users=int(row[0] or 0), days=int(row[1] or 0), first=row[2], last=row[3])


def variant_users(db: QueryEngine) -> list[tuple[str, int]]:
    """Variants by number of users, largest first (to pick the baseline arm)."""
    return [(str(v), int(n)) for v, n in db.fetchall(
        """
        SELECT variant, count(DISTINCT user_id) AS users FROM traces
        WHERE variant IS NOT NULL AND user_id IS NOT NULL AND coalesce(served, TRUE)
        GROUP BY variant ORDER BY users DESC, variant
        """
    )]


def cluster_sizes(db: QueryEngine, metric: Metric, variant: str, limit: int = 400) -> list[tuple[int, int]]:
    """(m, users with m observations of the metric) for the variant, for the simulation to draw from.

    Only the `limit` most common sizes are kept (a few hundred rows whatever the traffic); Σm²/Σm for the
    plan itself comes from the exact moments, not from this histogram.
    """
    assert metric.denominator is not None
    params = SqlParams(values={})
    denominator = metric.denominator(params)
    v = params.add(variant)
    rows = db.fetchall(
        f"""
        WITH per_user AS (
            SELECT user_id, CAST({denominator} AS BIGINT) AS m FROM traces
            WHERE variant = {v} AND user_id IS NOT NULL AND coalesce(served, TRUE) GROUP BY user_id
        )
        SELECT m, count(*) AS users FROM per_user WHERE m > 0 GROUP BY m ORDER BY users DESC, m LIMIT {int(limit)}
        """,
        params.values,
    )
    return sorted((int(m), int(n)) for m, n in rows)


@dataclass(frozen=True)
class RepeatedInputs:
    """Pooled within-input variance of the per-request metric among inputs answered more than once."""

    inputs: int
    requests: int
    within_ss: float
    """Σ over inputs of Σ(y − ȳ_input)²."""
    within_df: int
    """Σ over inputs of (requests − 1)."""


def repeated_inputs(db: QueryEngine, metric: Metric, variant: str) -> RepeatedInputs:
    """Per-input count, Σy, Σy² of the per-request metric value, summed over inputs seen ≥ 2 times."""
    assert metric.numerator is not None and metric.denominator is not None
    params = SqlParams(values={})
    numerator, denominator = metric.numerator(params), metric.denominator(params)
    v = params.add(variant)
    row = db.fetchone(
        f"""
        WITH per_request AS (
            SELECT md5("input") AS k,
                   CAST({numerator} AS DOUBLE) / nullif(CAST({denominator} AS DOUBLE), 0) AS y
            FROM traces
            WHERE variant = {v} AND "input" IS NOT NULL AND "input" <> '' AND coalesce(served, TRUE)
            GROUP BY request_id, "input"
        ), per_input AS (
            SELECT k, count(y) AS n, sum(y) AS sy, sum(y * y) AS syy FROM per_request
            WHERE y IS NOT NULL GROUP BY k HAVING count(y) >= 2
        )
        SELECT count(*), coalesce(sum(n), 0), coalesce(sum(syy - sy * sy / n), 0), coalesce(sum(n - 1), 0)
        FROM per_input
        """,
        params.values,
    )
    return RepeatedInputs(inputs=int(row[0]), requests=int(row[1]), within_ss=max(float(row[2]), 0.0),
                          within_df=int(row[3]))


def eval_variants(db: QueryEngine) -> list[tuple[str, int]]:
    return [(str(v), int(n)) for v, n in db.fetchall(
        "SELECT variant, count(DISTINCT case_id) FROM evals WHERE variant IS NOT NULL GROUP BY variant "
        "ORDER BY variant")]


def eval_case_moments(db: QueryEngine, variant: str, score: str) -> list[CaseMoments]:
    """Per case: repeats, Σs, Σs². The score is `passed` as 0/1 (errors and missing count as 0) or `score`."""
    value = "CASE WHEN passed THEN 1.0 ELSE 0.0 END" if score == "passed" else "CAST(score AS DOUBLE)"
    where = "" if score == "passed" else "AND score IS NOT NULL"
    rows = db.fetchall(
        f"""
        SELECT case_id, count(*) AS k, sum({value}) AS s, sum({value} * {value}) AS ss FROM evals
        WHERE variant = $variant AND case_id IS NOT NULL {where}
        GROUP BY case_id ORDER BY case_id
        """,
        {"variant": variant},
    )
    return [CaseMoments(case_id=str(c), k=int(k), total=float(s), total_sq=float(ss)) for c, k, s, ss in rows]

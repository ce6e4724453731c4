"""Per-unit sufficient statistics for ratio metrics, shared by `decide` and `power --from-traces`.

One pass over `traces`: a per-unit CTE computes each metric's numerator Y_u and denominator N_u, then a
GROUP BY arm sums n, ΣY, ΣY², ΣN, ΣN², ΣYN (the gbstats column contract), which is all the delta method
needs. Summable, so days or strata can be re-aggregated.

`edit_pair_batches` streams the (arm, unit, draft, sent text) rows the edit-distance metric is measured on;
`rollctl.text_distance` turns them into the same per-arm moments.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rollctl.db import Database, QueryEngine, quote_identifier
from rollctl.load.expressions import SqlParams
from rollctl.metrics import EDIT_PAIR_CONDITION, Metric
from rollctl.stats.ratio import RatioMoments


@dataclass(frozen=True)
class ArmMoments:
    """Per-arm moments of every requested ratio metric."""

    variant: str
    units: int
    requests: int
    metrics: dict[str, RatioMoments]


def ratio_moments(
    db: QueryEngine,
    metrics: Sequence[Metric],
    *,
    unit: str = "user_id",
    variants: Sequence[str] | None = None,
    where_sql: str = "TRUE",
    where_params: dict[str, object] | None = None,
) -> dict[str, ArmMoments]:
    """Moments per variant of each ratio metric, aggregated to `unit` first."""
    params = SqlParams(values=dict(where_params or {}))
    unit_col = quote_identifier(unit)
    per_unit: list[str] = []
    sums: list[str] = []
    ratio_metrics = [m for m in metrics if m.kind == "ratio"]
    for i, m in enumerate(ratio_metrics):
        assert m.numerator is not None and m.denominator is not None
        numerator, denominator = m.numerator(params), m.denominator(params)
        per_unit.append(f"CAST({numerator} AS DOUBLE) AS y{i}, CAST({denominator} AS DOUBLE) AS n{i}")
        sums.append(f"sum(y{i}), sum(y{i} * y{i}), sum(n{i}), sum(n{i} * n{i}), sum(y{i} * n{i})")
    variant_filter = ""
    if variants is not None:
        variant_filter = f"AND variant IN (SELECT unnest({params.add(list(variants))}::VARCHAR[]))"
    select_units = ", ".join(per_unit) if per_unit else "0 AS _none"
    select_sums = (", " + ", ".join(sums)) if sums else ""
    sql = f"""
        WITH per_unit AS (
            SELECT variant, {unit_col} AS unit, count(*) AS requests, {select_units}
            FROM traces
            WHERE {unit_col} IS NOT NULL AND variant IS NOT NULL {variant_filter} AND ({where_sql})
            GROUP BY variant, {unit_col}
        )
        SELECT variant, count(*) AS units, sum(requests) AS requests{select_sums}
        FROM per_unit GROUP BY variant ORDER BY variant
    """
    result: dict[str, ArmMoments] = {}
    for row in db.fetchall(sql, params.values):
        variant, units, requests, *rest = row
        moments = {}
        for i, m in enumerate(ratio_metrics):
            sy, syy, sn, snn, syn = (float(v or 0.0) for v in rest[5 * i: 5 * i + 5])
            moments[m.name] = RatioMoments(n=int(units), sum_y=sy, sum_y2=syy, sum_n=sn, sum_n2=snn, sum_yn=syn)
        result[str(variant)] = ArmMoments(variant=str(variant), units=int(units), requests=int(requests),
                                          metrics=moments)
    return result


def edit_pair_query(
    *,
    unit: str = "user_id",
    variants: Sequence[str] | None = None,
    where_sql: str = "TRUE",
    where_params: dict[str, object] | None = None,
) -> tuple[str, dict[str, object]]:
    """The (variant, unit, output, final_text) rows of every request with both texts, in that column order.
    The unit is cast to text so batches from any export have the same schema."""
    params: dict[str, object] = dict(where_params or {})
    unit_col = quote_identifier(unit)
    variant_filter = ""
    if variants is not None:
        params["ed_variants"] = list(variants)
        variant_filter = "AND variant IN (SELECT unnest($ed_variants::VARCHAR[]))"
    sql = f"""
        SELECT variant, CAST({unit_col} AS VARCHAR) AS unit, output, final_text
        FROM traces
        WHERE {unit_col} IS NOT NULL AND variant IS NOT NULL {variant_filter} AND ({where_sql})
              AND {EDIT_PAIR_CONDITION}
        """
    return sql, params


def edit_pair_batches(
    db: Database,
    *,
    unit: str = "user_id",
    variants: Sequence[str] | None = None,
    where_sql: str = "TRUE",
    where_params: dict[str, object] | None = None,
    batch_size: int = 50_000,
) -> Iterator[Any]:
    """Arrow record batches of `edit_pair_query`'s rows, streamed (`Database.record_batches`): the texts never
    sit in memory beyond one batch."""
    sql, params = edit_pair_query(unit=unit, variants=variants, where_sql=where_sql, where_params=where_params)
    yield from db.record_batches(sql, params, batch_size=batch_size)

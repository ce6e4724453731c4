"""SQL for `rollctl decide`: each query reduces `traces` to per-arm, per-day or per-unit summaries (units
per arm, mixed exposure, models per arm, time coverage, daily cumulative moments, quantile order
statistics). Values are bound as parameters; identifiers quoted.

Most of them read one small table instead of `traces`: `build_unit_days` scans the analysed rows once
and keeps, per (arm, unit, UTC day), the request count, the first and last timestamp and every ratio
metric's numerator and denominator. Units per arm, mixed exposure, per-unit moments, time coverage and
the daily cumulative sequences are sums over it (every per-request sum adds up over days; metrics whose
per-unit value is not such a sum, `count(DISTINCT ...)`, get their per-unit totals from `traces`).

Every query sees the same analysed population, `AnalysisScope.where_sql`: the two arms of the plan,
served rows only, rows up to `--as-of`, and (once known) without units seen in both arms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rollctl.db import Database, quote_identifier
from rollctl.load.expressions import SqlParams
from rollctl.metrics import Metric
from rollctl.sql.units import ArmMoments
from rollctl.stats.ratio import RatioMoments

MIXED_TABLE = "decide_mixed_units"
UNIT_DAYS = "decide_unit_days"


@dataclass(frozen=True)
class AnalysisScope:
    unit: str
    baseline: str
    candidate: str
    as_of: datetime | None
    exclude_mixed: bool = False

    @property
    def unit_sql(self) -> str:
        return quote_identifier(self.unit)

    def where(self) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"d_baseline": self.baseline, "d_candidate": self.candidate}
        sql = (f"variant IN ($d_baseline, $d_candidate) AND {self.unit_sql} IS NOT NULL "
               "AND coalesce(served, TRUE)")
        if self.as_of is not None:
            sql += ' AND "timestamp" <= $d_as_of'
            params["d_as_of"] = self.as_of
        if self.exclude_mixed:
            sql += f" AND {self.unit_sql} NOT IN (SELECT unit FROM {MIXED_TABLE})"
        return sql, params


def row_overview(db: Database, scope: AnalysisScope) -> dict[str, Any]:
    """Rows in the input and why some are not analysed (other variants, shadow rows, no unit, after as-of)."""
    params: dict[str, Any] = {"d_baseline": scope.baseline, "d_candidate": scope.candidate, "d_as_of": scope.as_of}
    return db.fetch_dicts(
        f"""
        SELECT count(*) AS rows,
               count(*) FILTER (WHERE variant IS NULL OR variant NOT IN ($d_baseline, $d_candidate)) AS other_variant,
               count(*) FILTER (WHERE served = FALSE) AS shadow_rows,
               count(*) FILTER (WHERE {scope.unit_sql} IS NULL) AS no_unit,
               count(*) FILTER (WHERE $d_as_of IS NOT NULL AND "timestamp" > $d_as_of) AS after_as_of,
               count(*) FILTER (WHERE "timestamp" IS NULL) AS no_timestamp,
               list(DISTINCT variant ORDER BY variant) FILTER (WHERE variant IS NOT NULL) AS variants
        FROM traces
        """,
        params,
    )[0]


@dataclass(frozen=True)
class UnitDays:
    """Where each metric's per-unit-per-day sums sit in the unit-day table."""

    ratio: dict[str, tuple[str, str]]
    """Ratio metric name -> (numerator column, denominator column)."""
    counts: dict[str, str]
    """Per-request column -> the column counting its non-null values."""


def build_unit_days(db: Database, scope: AnalysisScope, metrics: Sequence[Metric],
                    count_columns: Sequence[str] = ()) -> UnitDays:
    """One scan of `traces` into per (arm, unit, day) sums (day NULL for rows without a timestamp).

    Units seen in both arms are still in it (`mark_mixed_units` finds them, `drop_mixed_units` removes them);
    the filter is otherwise the analysed population of `scope`. Identical aggregate expressions share a column.
    """
    where, base_params = AnalysisScope(scope.unit, scope.baseline, scope.candidate, scope.as_of).where()
    params = SqlParams(values=dict(base_params))
    columns: dict[str, str] = {}

    def column_for(sql: str) -> str:
        if sql not in columns:
            columns[sql] = f"a{len(columns)}"
        return columns[sql]

    ratio: dict[str, tuple[str, str]] = {}
    for m in metrics:
        if m.kind != "ratio":
            continue
        assert m.numerator is not None and m.denominator is not None
        ratio[m.name] = (column_for(f"CAST({m.numerator(params)} AS DOUBLE)"),
                         column_for(f"CAST({m.denominator(params)} AS DOUBLE)"))
    counts = {c: column_for(f"count({quote_identifier(c)})") for c in count_columns}
    sel = "".join(f", {sql} AS {name}" for sql, name in columns.items())
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE {UNIT_DAYS} AS
            SELECT variant, {scope.unit_sql} AS unit, CAST("timestamp" AS DATE) AS day, count(*) AS requests,
                   min("timestamp") AS first_ts, max("timestamp") AS last_ts{sel}
            FROM traces WHERE {where}
            GROUP BY variant, {scope.unit_sql}, CAST("timestamp" AS DATE)""",
        params.values,
    )
    return UnitDays(ratio=ratio, counts=counts)


def mark_mixed_units(db: Database, scope: AnalysisScope) -> dict[str, Any]:
    """Store units seen in both arms in a temp table; return units per arm and the mixed counts. The scope
    holds two variants, so min = max tells a one-arm unit without a DISTINCT aggregate."""
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE decide_unit_arms AS
            SELECT unit, min(variant) AS variant, CASE WHEN min(variant) = max(variant) THEN 1 ELSE 2 END AS arms,
                   sum(requests) AS requests
            FROM {UNIT_DAYS} GROUP BY unit""",
    )
    db.execute(f"CREATE OR REPLACE TEMP TABLE {MIXED_TABLE} AS SELECT unit FROM decide_unit_arms WHERE arms > 1")
    row = db.fetch_dicts(
        """
        SELECT count(*) FILTER (WHERE arms = 1 AND variant = $d_baseline) AS baseline_units,
               count(*) FILTER (WHERE arms = 1 AND variant = $d_candidate) AS candidate_units,
               count(*) FILTER (WHERE arms > 1) AS mixed_units,
               coalesce(sum(requests) FILTER (WHERE arms > 1), 0) AS mixed_requests,
               count(*) AS units, coalesce(sum(requests), 0) AS requests
        FROM decide_unit_arms
        """,
        {"d_baseline": scope.baseline, "d_candidate": scope.candidate},
    )[0]
    db.execute("DROP TABLE decide_unit_arms")
    return row


def drop_mixed_units(db: Database) -> None:
    """Leave only units served one arm in the unit-day table (the analysed population)."""
    db.execute(f"DELETE FROM {UNIT_DAYS} WHERE unit IN (SELECT unit FROM {MIXED_TABLE})")


def unit_arms(db: Database) -> list[tuple[str, str, int]]:
    """(unit, variant, requests) for every unit and arm it was served (mixed units included, so call it
    before `drop_mixed_units`): the assignment audit's input."""
    return [(str(u), str(v), int(n)) for u, v, n in db.fetchall(
        f"SELECT unit, variant, sum(requests) FROM {UNIT_DAYS} GROUP BY ALL")]


def unit_moments(db: Database, layout: UnitDays, metrics: Sequence[Metric]) -> dict[str, ArmMoments]:
    """Per arm, the per-unit moments (n, ΣY, ΣY², ΣN, ΣN², ΣYN) of summable ratio metrics: each unit's
    Y_u, N_u is the sum of its days'."""
    chosen = [m for m in metrics if m.kind == "ratio" and m.summable]
    cols = sorted({c for m in chosen for c in layout.ratio[m.name]})
    per_unit = "".join(f", sum({c}) AS {c}" for c in cols)
    sums = "".join(f", sum({y}), sum({y} * {y}), sum({n}), sum({n} * {n}), sum({y} * {n})"
                   for y, n in (layout.ratio[m.name] for m in chosen))
    rows = db.fetchall(
        f"""
        WITH per_unit AS (
            SELECT variant, unit, sum(requests) AS requests{per_unit} FROM {UNIT_DAYS} GROUP BY variant, unit
        )
        SELECT variant, count(*) AS units, sum(requests) AS requests{sums}
        FROM per_unit GROUP BY variant ORDER BY variant
        """,
    )
    result: dict[str, ArmMoments] = {}
    for variant, units, requests, *rest in rows:
        moments = {}
        for i, m in enumerate(chosen):
            sy, syy, sn, snn, syn = (float(v or 0.0) for v in rest[5 * i: 5 * i + 5])
            moments[m.name] = RatioMoments(n=int(units), sum_y=sy, sum_y2=syy, sum_n=sn, sum_n2=snn, sum_yn=syn)
        result[str(variant)] = ArmMoments(variant=str(variant), units=int(units), requests=int(requests),
                                          metrics=moments)
    return result


def arm_details(db: Database, scope: AnalysisScope) -> list[dict[str, Any]]:
    """Per arm: requests, models and prompt versions with their request counts, time range."""
    where, params = scope.where()
    return db.fetch_dicts(
        f"""
        SELECT variant, count(*) AS requests,
               list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models,
               list(DISTINCT prompt_version ORDER BY prompt_version)
                   FILTER (WHERE prompt_version IS NOT NULL) AS prompt_versions,
               count(*) FILTER (WHERE model IS NULL) AS no_model,
               sum(coalesce(thumbs, 0)) AS thumbs_sum, sum(coalesce(latency_ms, 0)) AS latency_sum,
               sum(coalesce(cost_usd, 0)) AS cost_sum, count(error) AS errors,
               count(*) FILTER (WHERE prompt_version IS NULL) AS no_prompt_version,
               min("timestamp") AS first, max("timestamp") AS last
        FROM traces WHERE {where} GROUP BY variant ORDER BY variant
        """,
        params,
    )


def time_coverage(db: Database) -> dict[str, Any]:
    """First/last timestamp and the UTC days with traffic (weekday/weekend worked out in Python)."""
    rows = db.fetchall(
        f"""SELECT day, min(first_ts), max(last_ts) FROM {UNIT_DAYS} WHERE day IS NOT NULL
            GROUP BY day ORDER BY day""",
    )
    days = [r[0] for r in rows]
    return {
        "first": rows[0][1] if rows else None, "last": rows[-1][2] if rows else None, "days": len(days),
        "weekend_days": sum(1 for d in days if d.isoweekday() >= 6),
        "weekday_days": sum(1 for d in days if d.isoweekday() <= 5),
    }


@dataclass(frozen=True)
class DailyArm:
    day: date
    variant: str
    requests: int
    new_units: int
    cumulative_units: int
    metrics: dict[str, RatioMoments]
    """Cumulative per-unit moments up to the end of `day`."""


def daily_cumulative(db: Database, layout: UnitDays, metrics: Sequence[Metric]) -> list[DailyArm]:
    """Per day and arm: traffic, and each ratio metric's moments over units, cumulated to that day.

    Units are re-aggregated up to each day (a user's requests of all days so far form one Y_u, N_u),
    so day d's moments are exactly what `decide --as-of` at the end of day d would use. Computed without
    a units × days expansion: per unit and active day, the running sums (a window over the unit's days)
    give the change each day makes to Σ Y_u², Σ N_u², Σ Y_u N_u; those changes are summed per day and arm,
    and accumulated over days in Python.
    """
    ratio = [m for m in metrics if m.kind == "ratio"]
    # One running sum per distinct column (most denominators are the same count of requests).
    cols = sorted({c for m in ratio for c in layout.ratio[m.name]})
    per_day = "".join(f", {c}" for c in cols)
    window = "OVER (PARTITION BY unit ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    running = "".join(f", sum({c}) {window} AS c_{c}" for c in cols)
    # change of each square / product from the previous active day (0 before the first)
    deltas = ""
    for i, m in enumerate(ratio):
        y, n = layout.ratio[m.name]
        cy, cn = f"c_{y}", f"c_{n}"
        deltas += (f", {y} AS dy{i}, {n} AS dn{i}, {cy} * {cy} - ({cy} - {y}) * ({cy} - {y}) AS dyy{i}, "
                   f"{cn} * {cn} - ({cn} - {n}) * ({cn} - {n}) AS dnn{i}, "
                   f"{cy} * {cn} - ({cy} - {y}) * ({cn} - {n}) AS dyn{i}")
    sums = "".join(f", sum(dy{i}), sum(dyy{i}), sum(dn{i}), sum(dnn{i}), sum(dyn{i})" for i in range(len(ratio)))
    rows = db.fetchall(
        f"""
        WITH ud AS (
            SELECT variant, unit, day, requests{per_day} FROM {UNIT_DAYS} WHERE day IS NOT NULL
        ),
        run AS (
            SELECT *, row_number() {window} AS nth{running} FROM ud
        ),
        d AS (
            SELECT variant, day, requests, CASE WHEN nth = 1 THEN 1 ELSE 0 END AS fresh{deltas} FROM run
        )
        SELECT day, variant, sum(requests), sum(fresh){sums} FROM d GROUP BY day, variant ORDER BY day, variant
        """,
    )
    out: list[DailyArm] = []
    totals: dict[str, tuple[int, list[float]]] = {}
    days = sorted({r[0] for r in rows})
    by_key = {(r[0], str(r[1])): r for r in rows}
    for day in days:
        for variant in sorted({str(r[1]) for r in rows}):
            row = by_key.get((day, variant))
            units, acc = totals.get(variant, (0, [0.0] * (5 * len(ratio))))
            requests = new_units = 0
            if row is not None:
                requests, new_units = int(row[2]), int(row[3])
                units += new_units
                acc = [a + float(v or 0.0) for a, v in zip(acc, row[4:], strict=True)]
            totals[variant] = (units, acc)
            if units == 0:
                continue
            moments = {}
            for i, m in enumerate(ratio):
                sy, syy, sn, snn, syn = acc[5 * i: 5 * i + 5]
                moments[m.name] = RatioMoments(n=units, sum_y=sy, sum_y2=syy, sum_n=sn, sum_n2=snn, sum_yn=syn)
            out.append(DailyArm(day=day, variant=variant, requests=requests, new_units=new_units,
                                cumulative_units=units, metrics=moments))
    return out


def quantile_counts(db: Database, layout: UnitDays, column: str) -> dict[str, float]:
    """Per arm: the number of non-null values of `column` (from the unit-day table)."""
    rows = db.fetchall(f"SELECT variant, sum({layout.counts[column]}) FROM {UNIT_DAYS} GROUP BY variant")
    return {str(v): float(n) for v, n in rows}


def quantile_values(db: Database, scope: AnalysisScope, column: str, nu: float,
                    levels: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Per arm: n non-null values and the values at the arm's lower outer-CI level, ν and upper level.

    One ungrouped query per arm: DuckDB sorts one arm's values in parallel, where a GROUP BY variant
    with a holistic aggregate took twice the CPU.
    """
    where, params = scope.where()
    col = quote_identifier(column)
    out: dict[str, dict[str, float]] = {}
    for variant, (lo, hi) in levels.items():
        p = {**params, "d_variant": variant, "d_levels": [lo, nu, hi]}
        row = db.fetchone(
            f"SELECT count({col}), quantile_disc({col}, $d_levels::DOUBLE[]) FROM traces "
            f"WHERE {where} AND variant = $d_variant AND {col} IS NOT NULL", p)
        n, values = row
        if not values:
            continue
        out[variant] = {"n": float(n), "lower": float(values[0]), "quantile": float(values[1]),
                        "upper": float(values[2])}
    return out


def indicator_moments(db: Database, scope: AnalysisScope, column: str,
                      thresholds: dict[str, float]) -> dict[str, RatioMoments]:
    """Per arm, per-unit moments of (#requests with value ≤ the arm's quantile, #requests with a value)."""
    where, params = scope.where()
    col = quote_identifier(column)
    p = {**params, "d_qb": thresholds.get(scope.baseline, 0.0), "d_qc": thresholds.get(scope.candidate, 0.0)}
    rows = db.fetchall(
        f"""
        WITH per_unit AS (
            SELECT variant, {scope.unit_sql} AS unit,
                   CAST(sum(CASE WHEN {col} <= (CASE WHEN variant = $d_baseline THEN $d_qb ELSE $d_qc END)
                            THEN 1 ELSE 0 END) AS DOUBLE) AS y,
                   CAST(count({col}) AS DOUBLE) AS n
            FROM traces WHERE {where} AND {col} IS NOT NULL GROUP BY variant, {scope.unit_sql}
        )
        SELECT variant, count(*), sum(y), sum(y * y), sum(n), sum(n * n), sum(y * n) FROM per_unit GROUP BY variant
        """,
        p,
    )
    return {str(v): RatioMoments(n=int(k), sum_y=float(a), sum_y2=float(b), sum_n=float(c), sum_n2=float(d),
                                 sum_yn=float(e)) for v, k, a, b, c, d, e in rows}

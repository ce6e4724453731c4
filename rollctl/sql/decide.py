"""SQL for `rollctl decide`: each query reduces `traces` to per-arm, per-day or per-unit summaries (units
per arm, mixed exposure, models per arm, traffic per day, daily cumulative moments, quantile order
statistics). Values are bound as parameters; identifiers quoted.

The verdict needs one pass over the analysed rows: `build_units` keeps, per (arm, unit), the request
count, the first day seen and every ratio metric's numerator and denominator. Units per arm, mixed
exposure, new units per day and the per-unit moments are sums over that small table (metrics whose
per-unit value is not such a sum, `count(DISTINCT ...)`, get their per-unit totals from `traces`).
The daily confidence sequences need the same sums per (arm, unit, day), about twice the cost on a big
input, so `daily_moments` runs only when they are asked for.

Every query sees the same analysed population, `AnalysisScope.where_sql`: the two arms of the plan,
served rows only, rows up to `--as-of`, and (once known) without units seen in both arms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from rollctl.assignment import wrong_arm_counts
from rollctl.db import QueryEngine, day_from_number, quote_identifier, utc_day_number
from rollctl.load.expressions import SqlParams
from rollctl.load.select import referenced_params
from rollctl.metrics import Metric
from rollctl.sql.units import ArmMoments
from rollctl.stats.ratio import RatioMoments

MIXED_TABLE = "decide_mixed_units"
UNITS = "decide_units"

DAY_NUMBER = utc_day_number('"timestamp"')
"""A trace's UTC day as a number: what the per-day queries group by (see `utc_day_number`)."""


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


@dataclass(frozen=True)
class RowSummary:
    """What `arm_day_summary` returns: the input overview, per-arm details and requests per day and arm."""

    overview: dict[str, Any]
    """rows, other_variant, shadow_rows, no_unit, after_as_of, no_timestamp, variants."""
    details: list[dict[str, Any]]
    """Per analysed arm: requests, models and prompt versions, the fingerprint's sums, first and last time."""
    requests_per_day: dict[tuple[date, str], int]
    """Analysed requests per (UTC day, arm)."""
    day_bounds: dict[date, tuple[Any, Any]] = field(default_factory=dict)
    """Per UTC day, the first and last analysed timestamp (for the stage window from the bulk of the traffic)."""


def arm_day_summary(db: QueryEngine, scope: AnalysisScope) -> RowSummary:
    """Everything decide reports per arm and per day, from one pass over all rows.

    The rows are grouped by (variant, day, model, prompt version, analysed or not): a few hundred groups
    however big the input, so the overview, the per-arm details (models, prompt versions, the data
    fingerprint's sums) and the traffic per day are sums over them in Python. Run again with a scope that
    excludes units served both arms, when there are some: the analysed population must not hold them.
    """
    where, params = scope.where()
    params = {**params, "d_as_of": scope.as_of}
    rows = db.fetch_dicts(
        f"""
        SELECT variant, model, prompt_version, analysed, rows, shadow_rows, no_unit, after_as_of, no_timestamp,
               thumbs_sum, latency_sum, cost_sum, errors, first, last, {day_from_number("day_number")} AS day FROM (
            SELECT variant, {DAY_NUMBER} AS day_number, model, prompt_version,
                   coalesce(({where}), FALSE) AS analysed,
                   count(*) AS rows,
                   count(*) FILTER (WHERE served = FALSE) AS shadow_rows,
                   count(*) FILTER (WHERE {scope.unit_sql} IS NULL) AS no_unit,
                   count(*) FILTER (WHERE $d_as_of IS NOT NULL AND "timestamp" > $d_as_of) AS after_as_of,
                   count(*) FILTER (WHERE "timestamp" IS NULL) AS no_timestamp,
                   sum(coalesce(thumbs, 0)) AS thumbs_sum, sum(coalesce(latency_ms, 0)) AS latency_sum,
                   sum(coalesce(cost_usd, 0)) AS cost_sum, count(error) AS errors,
                   min("timestamp") AS first, max("timestamp") AS last
            FROM traces GROUP BY ALL
        )
        """,
        params,
    )
    # A fixed order, so the Python float sums (the fingerprint's) do not depend on DuckDB's group order.
    rows.sort(key=lambda r: tuple((v is None, str(v)) for v in
                                  (r["variant"], r["day"], r["model"], r["prompt_version"], r["analysed"])))
    arms = (scope.baseline, scope.candidate)
    overview = {
        "rows": sum(r["rows"] for r in rows),
        "other_variant": sum(r["rows"] for r in rows if r["variant"] not in arms),
        **{k: sum(r[k] for r in rows) for k in ("shadow_rows", "no_unit", "after_as_of", "no_timestamp")},
        "variants": sorted({str(r["variant"]) for r in rows if r["variant"] is not None}),
    }
    analysed = [r for r in rows if r["analysed"]]
    details = []
    for variant in sorted({str(r["variant"]) for r in analysed}):
        mine = [r for r in analysed if r["variant"] == variant]
        firsts = [r["first"] for r in mine if r["first"] is not None]
        lasts = [r["last"] for r in mine if r["last"] is not None]
        details.append({
            "variant": variant, "requests": sum(r["rows"] for r in mine),
            "models": sorted({str(r["model"]) for r in mine if r["model"] is not None}),
            "prompt_versions": sorted({str(r["prompt_version"]) for r in mine if r["prompt_version"] is not None}),
            "no_model": sum(r["rows"] for r in mine if r["model"] is None),
            "thumbs_sum": sum(r["thumbs_sum"] for r in mine), "latency_sum": sum(r["latency_sum"] for r in mine),
            "cost_sum": sum(r["cost_sum"] for r in mine), "errors": sum(r["errors"] for r in mine),
            "no_prompt_version": sum(r["rows"] for r in mine if r["prompt_version"] is None),
            "first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None,
        })
    per_day: dict[tuple[date, str], int] = {}
    for r in analysed:
        if r["day"] is not None:
            key = (r["day"], str(r["variant"]))
            per_day[key] = per_day.get(key, 0) + int(r["rows"])
    bounds: dict[date, tuple[Any, Any]] = {}
    for r in analysed:
        if r["day"] is not None and r["first"] is not None:
            old = bounds.get(r["day"])
            bounds[r["day"]] = (r["first"], r["last"]) if old is None else \
                (min(old[0], r["first"]), max(old[1], r["last"]))
    return RowSummary(overview=overview, details=details, requests_per_day=per_day, day_bounds=bounds)


@dataclass(frozen=True)
class UnitSums:
    """Where each metric's per-unit sums sit in the per-unit table."""

    ratio: dict[str, tuple[str, str]]
    """Ratio metric name -> (numerator column, denominator column)."""
    counts: dict[str, str]
    """Per-request column of a quantile metric -> the column counting its non-null values."""
    sql: dict[str, str]
    """Column -> the aggregate over requests that fills it (bound with `params`)."""
    params: dict[str, Any]
    below: dict[str, str] = field(default_factory=dict)
    """Quantile metric name -> the column counting the unit's requests at most its arm's quantile."""

    @property
    def columns(self) -> list[str]:
        """Every summed column (generated names `a<i>`, safe in SQL text)."""
        return list(self.sql)

    def select(self) -> str:
        return "".join(f", {sql} AS {name}" for name, sql in self.sql.items())


def unit_sums(scope: AnalysisScope, metrics: Sequence[Metric],
              indicators: dict[str, tuple[str, dict[str, float]]] | None = None) -> UnitSums:
    """The per-unit sums the metrics need; identical aggregate expressions share a column.

    `indicators`: metric name -> (column, each arm's quantile): the unit's count of requests whose value is
    at most its arm's quantile, for a quantile metric's variance (see `indicator_moments`).
    """
    _, base_params = scope.where()
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
    counts: dict[str, str] = {}
    below: dict[str, str] = {}
    for name, (col, thresholds) in (indicators or {}).items():
        counts.setdefault(col, column_for(f"count({quote_identifier(col)})"))
        qb, qc = params.add(thresholds.get(scope.baseline, 0.0)), params.add(thresholds.get(scope.candidate, 0.0))
        below[name] = column_for(f"CAST(count(*) FILTER (WHERE {quote_identifier(col)} <= (CASE WHEN variant = "
                                 f"$d_baseline THEN {qb} ELSE {qc} END)) AS DOUBLE)")
    return UnitSums(ratio=ratio, counts=counts, sql={name: sql for sql, name in columns.items()},
                    params=params.values, below=below)


def build_units(db: QueryEngine, scope: AnalysisScope, layout: UnitSums) -> None:
    """The one pass over the analysed rows: per (arm, unit), requests, the first UTC day seen and the sums.

    Units seen in both arms are still in it (`mark_mixed_units` finds them, `drop_mixed_units` removes them);
    the filter is otherwise the analysed population of `scope`.
    """
    where, params = AnalysisScope(scope.unit, scope.baseline, scope.candidate, scope.as_of).where()
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE {UNITS} AS
            SELECT variant, {scope.unit_sql} AS unit, count(*) AS requests,
                   {day_from_number(f"min({DAY_NUMBER})")} AS first_day{layout.select()}
            FROM traces WHERE {where}
            GROUP BY variant, {scope.unit_sql}""",
        {**layout.params, **params},
    )


def mark_mixed_units(db: QueryEngine, scope: AnalysisScope) -> dict[str, Any]:
    """Store the units seen in both arms in a temp table; return units per arm (served one arm only) and
    the mixed counts. The per-unit table has a row per (arm, unit), so a unit with two rows was mixed."""
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE {MIXED_TABLE} AS
            SELECT unit, sum(requests) AS requests FROM {UNITS} GROUP BY unit HAVING count(*) > 1""",
    )
    per_arm = {str(v): (int(n), int(r)) for v, n, r in db.fetchall(
        f"SELECT variant, count(*), sum(requests) FROM {UNITS} GROUP BY variant")}
    mixed_units, mixed_requests = db.fetchone(f"SELECT count(*), coalesce(sum(requests), 0) FROM {MIXED_TABLE}")
    arm_units = {arm: per_arm.get(arm, (0, 0))[0] for arm in (scope.baseline, scope.candidate)}
    return {
        "baseline_units": arm_units[scope.baseline] - int(mixed_units),
        "candidate_units": arm_units[scope.candidate] - int(mixed_units),
        "mixed_units": int(mixed_units), "mixed_requests": int(mixed_requests),
        "units": sum(arm_units.values()) - int(mixed_units), "requests": sum(r for _, r in per_arm.values()),
    }


def drop_mixed_units(db: QueryEngine) -> None:
    """Leave only units served one arm in the per-unit table (the analysed population)."""
    db.execute(f"DELETE FROM {UNITS} WHERE unit IN (SELECT unit FROM {MIXED_TABLE})")


def assignment_counts(db: QueryEngine, scheme: str, salt: str, stage: float, baseline: str,
                      candidate: str) -> tuple[int, int, int]:
    """The assignment audit's sums (`assignment.wrong_arm_counts`) over every (unit, arm) row of the per-unit
    table, mixed units included (so call it before `drop_mixed_units`). The hashes are Python: the engine
    runs them where the rows are and returns three numbers, not the units."""
    reduce = partial(wrong_arm_counts, scheme=scheme, salt=salt, percent=stage, baseline=baseline,
                     candidate=candidate)
    traces, wrong_traces, wrong_units = db.sum_over_batches(
        f"SELECT unit, variant, requests FROM {UNITS}", None, reduce, 3)
    return traces, wrong_traces, wrong_units


def unit_moments(db: QueryEngine, layout: UnitSums, metrics: Sequence[Metric]) -> dict[str, ArmMoments]:
    """Per arm, the per-unit moments (n, ΣY, ΣY², ΣN, ΣN², ΣYN) of summable ratio metrics over the units
    served one arm."""
    chosen = [m for m in metrics if m.kind == "ratio" and m.summable]
    return _arm_moments(db, {m.name: layout.ratio[m.name] for m in chosen})


def _arm_moments(db: QueryEngine, pairs: dict[str, tuple[str, str]], where_sql: str = "") -> dict[str, ArmMoments]:
    """Per arm, the moments over the per-unit table's rows of each (Y column, N column) pair."""
    sums = "".join(f", sum({y}), sum({y} * {y}), sum({n}), sum({n} * {n}), sum({y} * {n})" for y, n in pairs.values())
    rows = db.fetchall(
        f"SELECT variant, count(*) AS units, sum(requests) AS requests{sums} FROM {UNITS} {where_sql} "
        "GROUP BY variant ORDER BY variant",
    )
    result: dict[str, ArmMoments] = {}
    for variant, units, requests, *rest in rows:
        moments = {}
        for i, name in enumerate(pairs):
            sy, syy, sn, snn, syn = (float(v or 0.0) for v in rest[5 * i: 5 * i + 5])
            moments[name] = RatioMoments(n=int(units), sum_y=sy, sum_y2=syy, sum_n=sn, sum_n2=snn, sum_yn=syn)
        result[str(variant)] = ArmMoments(variant=str(variant), units=int(units), requests=int(requests),
                                          metrics=moments)
    return result


# Traffic days further than this from the next one start a separate cluster of traffic.
CLUSTER_GAP_DAYS = 2
# Clusters apart from the biggest one that together hold at most this share of the requests are stray
# timestamps (a replayed request, a clock that was off), not part of the stage.
STRAY_SHARE = 0.01


def time_coverage(traffic: Sequence[DailyArm], day_bounds: dict[date, tuple[Any, Any]]) -> dict[str, Any]:
    """The stage's window, from the bulk of the traffic: first/last timestamp and the UTC days with traffic
    (weekday/weekend worked out in Python).

    One stray timestamp a year before the canary must not make a day-old stage look a year long (and
    switch off the minimum-duration check): the traffic days are split into clusters where they are more
    than `CLUSTER_GAP_DAYS` apart, and when the clusters other than the biggest hold at most `STRAY_SHARE`
    of the requests, the window is the biggest cluster's and the rest is reported (`stray_requests`).
    """
    requests: dict[date, int] = {}
    for d in traffic:
        requests[d.day] = requests.get(d.day, 0) + d.requests
    days = sorted(requests)
    clusters: list[list[date]] = []
    for day in days:
        if clusters and (day - clusters[-1][-1]).days <= CLUSTER_GAP_DAYS:
            clusters[-1].append(day)
        else:
            clusters.append([day])
    total = sum(requests.values())
    kept = days
    if len(clusters) > 1:
        biggest = max(clusters, key=lambda c: sum(requests[d] for d in c))
        if total - sum(requests[d] for d in biggest) <= STRAY_SHARE * total:
            kept = biggest
    in_window = set(kept)
    stray = [d for d in days if d not in in_window]
    bounds = [day_bounds[d] for d in kept if d in day_bounds]
    return {
        "first": min(b[0] for b in bounds) if bounds else None, "last": max(b[1] for b in bounds) if bounds else None,
        "days": len(kept),
        "weekend_days": sum(1 for d in kept if d.isoweekday() >= 6),
        "weekday_days": sum(1 for d in kept if d.isoweekday() <= 5),
        "stray_requests": sum(requests[d] for d in stray),
        "stray_days": [d.isoformat() for d in stray],
    }


@dataclass(frozen=True)
class DailyArm:
    day: date
    variant: str
    requests: int
    new_units: int
    cumulative_units: int
    metrics: dict[str, RatioMoments] = field(default_factory=dict)
    """Cumulative per-unit moments up to the end of `day` (only when the daily sequences were asked for)."""


def daily_traffic(db: QueryEngine, requests: dict[tuple[date, str], int]) -> list[DailyArm]:
    """Per UTC day and arm: requests, units first seen that day (from the per-unit table), units so far."""
    new = {(d, str(v)): int(n) for d, v, n in db.fetchall(
        f"SELECT first_day, variant, count(*) FROM {UNITS} WHERE first_day IS NOT NULL GROUP BY ALL")}
    out: list[DailyArm] = []
    seen: dict[str, int] = {}
    for day in sorted({d for d, _ in requests} | {d for d, _ in new}):
        for variant in sorted({v for _, v in requests} | {v for _, v in new}):
            key = (day, variant)
            seen[variant] = seen.get(variant, 0) + new.get(key, 0)
            if key in requests or key in new:
                out.append(DailyArm(day, variant, requests.get(key, 0), new.get(key, 0), seen[variant]))
    return out


def daily_moments(db: QueryEngine, scope: AnalysisScope, layout: UnitSums,
                  metrics: Sequence[Metric]) -> dict[tuple[date, str], dict[str, RatioMoments]]:
    """Per day and arm, each ratio metric's moments over units, cumulated to the end of that day.

    Units are re-aggregated up to each day (a user's requests of all days so far form one Y_u, N_u),
    so day d's moments are exactly what `decide --as-of` at the end of day d would use. One pass of the
    analysed rows into per (arm, unit, day) sums, then, without a units × days expansion: per unit and
    active day, the running sums (a window over the unit's days) give the change each day makes to
    Σ Y_u², Σ N_u², Σ Y_u N_u; those changes are summed per day and arm, and accumulated over days here.
    """
    ratio = [m for m in metrics if m.kind == "ratio"]
    # One running sum per distinct column (most denominators are the same count of requests).
    cols = sorted({c for m in ratio for c in layout.ratio[m.name]}, key=lambda c: int(c[1:]))
    if not cols:
        return {}
    where, params = scope.where()
    per_day = "".join(f", {layout.sql[c]} AS {c}" for c in cols)
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
    sql = f"""
        WITH ud AS (
            SELECT variant, {scope.unit_sql} AS unit, {DAY_NUMBER} AS day{per_day}
            FROM traces WHERE {where} AND "timestamp" IS NOT NULL
            GROUP BY variant, {scope.unit_sql}, {DAY_NUMBER}
        ),
        run AS (
            SELECT *{running} FROM ud
        ),
        d AS (
            SELECT variant, day{deltas} FROM run
        )
        SELECT {day_from_number("day")} AS day, variant{sums} FROM d GROUP BY day, variant ORDER BY day, variant
        """
    rows = db.fetchall(sql, referenced_params(sql, {**layout.params, **params}))
    # n is each day's cumulative units (`daily_traffic`), filled in by the caller.
    out: dict[tuple[date, str], dict[str, RatioMoments]] = {}
    totals: dict[str, list[float]] = {}
    for day, variant, *values in rows:
        acc = [a + float(v or 0.0) for a, v in zip(totals.get(str(variant), [0.0] * len(values)), values,
                                                    strict=True)]
        totals[str(variant)] = acc
        out[(day, str(variant))] = {
            m.name: RatioMoments(n=0, sum_y=acc[5 * i], sum_y2=acc[5 * i + 1], sum_n=acc[5 * i + 2],
                                 sum_n2=acc[5 * i + 3], sum_yn=acc[5 * i + 4])
            for i, m in enumerate(ratio)
        }
    return out


def quantile_counts(db: QueryEngine, scope: AnalysisScope, column: str) -> dict[str, float]:
    """Per arm: the number of non-null values of `column` in the analysed rows."""
    where, params = scope.where()
    rows = db.fetchall(f"SELECT variant, count({quote_identifier(column)}) FROM traces WHERE {where} "
                       "GROUP BY variant", params)
    return {str(v): float(n) for v, n in rows}


def unit_indicator_moments(db: QueryEngine, layout: UnitSums, name: str, column: str) -> dict[str, RatioMoments]:
    """`indicator_moments` from the per-unit table, when its pass counted the values below the quantiles."""
    y, n = layout.below[name], layout.counts[column]
    arms = _arm_moments(db, {name: (y, n)}, f"WHERE {n} > 0")
    return {variant: am.metrics[name] for variant, am in arms.items()}


def quantile_values(db: QueryEngine, scope: AnalysisScope, column: str, nu: float,
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


def indicator_moments(db: QueryEngine, scope: AnalysisScope, column: str,
                      thresholds: dict[str, float]) -> dict[str, RatioMoments]:
    """Per arm, per-unit moments of (#requests with value ≤ the arm's quantile, #requests with a value)."""
    where, params = scope.where()
    col = quote_identifier(column)
    p = {**params, "d_qb": thresholds.get(scope.baseline, 0.0), "d_qc": thresholds.get(scope.candidate, 0.0)}
    rows = db.fetchall(
        f"""
        WITH per_unit AS (
            SELECT variant, {scope.unit_sql} AS unit,
                   CAST(count(*) FILTER (WHERE {col} <= (CASE WHEN variant = $d_baseline THEN $d_qb ELSE $d_qc END))
                        AS DOUBLE) AS y,
                   CAST(count({col}) AS DOUBLE) AS n
            FROM traces WHERE {where} AND {col} IS NOT NULL GROUP BY variant, {scope.unit_sql}
        )
        SELECT variant, count(*), sum(y), sum(y * y), sum(n), sum(n * n), sum(y * n) FROM per_unit GROUP BY variant
        """,
        p,
    )
    return {str(v): RatioMoments(n=int(k), sum_y=float(a), sum_y2=float(b), sum_n=float(c), sum_n2=float(d),
                                 sum_yn=float(e)) for v, k, a, b, c, d, e in rows}

"""SQL for `rollctl eval-gate`: the `evals` table reduced to one row per case with both arms' sums.

Which rows belong to which arm is decided once, in the `_eg_obs` view (by file in two-file mode, by
variant in one-file mode). Everything else is one GROUP BY per (case, arm) producing repeats, passes,
errors, the sum and sum of squares of the per-repeat value, and a FULL OUTER JOIN of the two arms so a
case present in only one arm is kept (and counted), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollctl.db import QueryEngine

OBS_VIEW = "_eg_obs"


@dataclass(frozen=True)
class ArmRule:
    """How rows are assigned to arms: by the file they came from, or by their variant."""

    two_file: bool
    baseline_files: tuple[str, ...]
    candidate_files: tuple[str, ...]
    baseline_variant: str | None
    candidate_variant: str | None

    def params(self) -> dict[str, Any]:
        return {
            "two_file": self.two_file,
            "bfiles": list(self.baseline_files),
            "cfiles": list(self.candidate_files),
            "bvar": self.baseline_variant,
            "cvar": self.candidate_variant,
        }


def variants_by_file(db: QueryEngine) -> list[tuple[str, str | None, int]]:
    """(file, variant, rows): the variant names each file holds."""
    return [(str(f), None if v is None else str(v), int(n)) for f, v, n in db.fetchall(
        "SELECT _file, variant, count(*) FROM evals GROUP BY _file, variant ORDER BY _file, variant NULLS LAST")]


def variant_counts(db: QueryEngine) -> list[tuple[str | None, int]]:
    return [(None if v is None else str(v), int(n)) for v, n in db.fetchall(
        "SELECT variant, count(*) FROM evals GROUP BY variant ORDER BY variant NULLS LAST")]


def create_observation_view(db: QueryEngine, rule: ArmRule) -> None:
    """Tag every eval row with its arm ('baseline', 'candidate', or NULL for rows of other variants)."""
    db.execute(f"DROP VIEW IF EXISTS {OBS_VIEW}")
    # A view cannot hold parameters, so the (few) file names and variants are staged in a one-row table.
    db.execute("CREATE OR REPLACE TEMP TABLE _eg_rule AS SELECT CAST($two_file AS BOOLEAN) AS two_file, "
               "CAST($bfiles AS VARCHAR[]) AS bfiles, CAST($cfiles AS VARCHAR[]) AS cfiles, "
               "CAST($bvar AS VARCHAR) AS bvar, CAST($cvar AS VARCHAR) AS cvar", rule.params())
    db.execute(
        f"""
        CREATE TEMP VIEW {OBS_VIEW} AS
        SELECT e.case_id, e.variant, e."repeat", e.passed, e.score, e.error, e.tags, e.cluster, e._file,
               CASE
                 WHEN r.two_file AND list_contains(r.bfiles, e._file) AND (r.bvar IS NULL OR e.variant = r.bvar)
                   THEN 'baseline'
                 WHEN r.two_file AND list_contains(r.cfiles, e._file) AND (r.cvar IS NULL OR e.variant = r.cvar)
                   THEN 'candidate'
                 WHEN NOT r.two_file AND e.variant = r.bvar THEN 'baseline'
                 WHEN NOT r.two_file AND e.variant = r.cvar THEN 'candidate'
               END AS arm
        FROM evals AS e CROSS JOIN _eg_rule AS r
        """
    )


def input_profile(db: QueryEngine) -> dict[str, Any]:
    """Counts that decide the metric (pass/fail or score) and catch bad input before any statistics."""
    return db.fetch_dicts(
        f"""
        SELECT count(*) AS rows,
               count(*) FILTER (WHERE arm = 'baseline') AS baseline_rows,
               count(*) FILTER (WHERE arm = 'candidate') AS candidate_rows,
               count(*) FILTER (WHERE case_id IS NULL OR trim(case_id) = '') AS rows_without_case,
               count(passed) AS with_passed,
               count(score) AS with_score,
               min(score) AS min_score,
               max(score) AS max_score,
               count("repeat") AS with_repeat,
               count(cluster) AS with_cluster
        FROM {OBS_VIEW} WHERE arm IS NOT NULL
        """
    )[0]


def duplicate_repeats(db: QueryEngine) -> tuple[int, str | None, str | None, int | None]:
    """(rows that repeat case_id + arm + repeat, first such case, its arm, its repeat)."""
    row = db.fetchone(
        f"""
        SELECT coalesce(sum(n - 1), 0), min(case_id), arg_min(arm, case_id), arg_min("repeat", case_id)
        FROM (SELECT case_id, arm, "repeat", count(*) AS n FROM {OBS_VIEW}
              WHERE arm IS NOT NULL AND "repeat" IS NOT NULL GROUP BY case_id, arm, "repeat" HAVING count(*) > 1)
        """
    )
    return int(row[0]), row[1], row[2], None if row[3] is None else int(row[3])


def case_table(db: QueryEngine, *, binary: bool, score_low: float, score_high: float, pass_threshold: float) -> Any:
    """One row per case (union of both arms) with each arm's sufficient statistics, as a pandas frame.

    Per repeat, `value` is 1/0 for passed/failed (binary) or the score scaled to [0, 1]; an errored repeat
    counts as 0 (a failure), a repeat with no result as 0 and is counted in `*_no_result`. `*_pass` counts
    repeats at or above the pass threshold (1 for binary values).
    """
    params = {"binary": binary, "lo": score_low, "hi": score_high, "thr": pass_threshold}
    arm_cols = []
    for prefix in ("b", "c"):
        arm_cols += [
            f"{prefix}.n_rows AS {prefix}_rows", f"{prefix}.n_results AS {prefix}_results",
            f"{prefix}.n_errors AS {prefix}_errors", f"{prefix}.n_pass AS {prefix}_pass",
            f"{prefix}.value_sum AS {prefix}_sum", f"{prefix}.value_sumsq AS {prefix}_sumsq",
            f"coalesce({prefix}.n_dup, 0) AS {prefix}_dup", f"coalesce({prefix}.n_norep, 0) AS {prefix}_norep",
        ]
    sql = f"""
        WITH obs AS (
            SELECT case_id, arm, tags, cluster, error, "repeat",
                   CASE WHEN error IS NOT NULL THEN 0.0
                        WHEN $binary THEN CASE WHEN passed THEN 1.0 WHEN passed IS NOT NULL THEN 0.0 END
                        ELSE (score - $lo) / ($hi - $lo) END AS value
            FROM {OBS_VIEW} WHERE arm IS NOT NULL
        ),
        per AS (
            SELECT case_id, arm,
                   count(*) AS n_rows,
                   count(*) FILTER (WHERE value IS NOT NULL AND error IS NULL) AS n_results,
                   count(*) FILTER (WHERE error IS NOT NULL) AS n_errors,
                   count(*) FILTER (WHERE value >= $thr) AS n_pass,
                   sum(coalesce(value, 0.0)) AS value_sum,
                   sum(coalesce(value, 0.0) * coalesce(value, 0.0)) AS value_sumsq,
                   max(cluster) AS cluster,
                   count("repeat") - count(DISTINCT "repeat") AS n_dup,
                   count(*) - count("repeat") AS n_norep,
                   list_distinct(flatten(list(DISTINCT tags) FILTER (WHERE tags IS NOT NULL))) AS tags
            FROM obs GROUP BY case_id, arm
        ),
        b AS (SELECT * FROM per WHERE arm = 'baseline'),
        c AS (SELECT * FROM per WHERE arm = 'candidate')
        SELECT coalesce(b.case_id, c.case_id) AS case_id,
               {", ".join(arm_cols)},
               coalesce(b.cluster, c.cluster) AS cluster,
               list_sort(list_distinct(list_concat(coalesce(b.tags, []), coalesce(c.tags, [])))) AS tags
        FROM b FULL OUTER JOIN c ON b.case_id = c.case_id
        ORDER BY 1
    """
    return db.fetch_df(sql, params)


def error_classes(db: QueryEngine) -> list[tuple[str, str, int]]:
    """(arm, error class, rows): which errors each arm hit."""
    return [(str(a), str(e), int(n)) for a, e, n in db.fetchall(
        f"""SELECT arm, error, count(*) FROM {OBS_VIEW} WHERE arm IS NOT NULL AND error IS NOT NULL
            GROUP BY arm, error ORDER BY arm, count(*) DESC, error"""
    )]

"""The judgements: their problems, the judged units (one verdict per pair and judge, orders combined),
outcomes and preferences per judge and segment, the examples shown, and the eval set's tags."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rollctl.db import Database
from rollctl.sql.shadow.pairs import PAIRS, floats


def judgement_problems(db: Database) -> dict[str, Any]:
    """Values outside the documented vocabulary: they are input errors, reported with the file."""
    return db.fetch_dicts(
        """
        SELECT
            count(*) FILTER (WHERE winner IS NOT NULL AND winner NOT IN ('baseline', 'candidate', 'tie', 'error'))
                AS bad_winner,
            any_value(_file) FILTER (WHERE winner IS NOT NULL
                AND winner NOT IN ('baseline', 'candidate', 'tie', 'error')) AS bad_winner_file,
            count(*) FILTER (WHERE "order" IS NOT NULL AND "order" NOT IN ('baseline_first', 'candidate_first'))
                AS bad_order,
            any_value(_file) FILTER (WHERE "order" IS NOT NULL
                AND "order" NOT IN ('baseline_first', 'candidate_first')) AS bad_order_file,
            count(*) FILTER (WHERE preference < -1 OR preference > 1) AS bad_preference,
            any_value(_file) FILTER (WHERE preference < -1 OR preference > 1) AS bad_preference_file,
            count(*) AS rows
        FROM judgements
        """
    )[0]


UNITS = "_shadow_judged"


def build_judged_units(db: Database) -> None:
    """One row per (pair, judge): the verdict in each order, combined with the MT-Bench rule.

    Conflicting duplicate verdicts for the same (request, judge, order) become `error`; a winner
    missing with no numeric preference is an `error` too, so it stays in the denominator.
    """
    # Winners and orders as small integers, and per unit one bitmask of the (order, winner) codes seen, bit
    # 5 * order + winner: an order was judged when its 5 bits are not all 0, its duplicates disagree when more than
    # one of them is set, and its verdict is the one set. Two aggregates instead of a count, a min and a max per
    # order (1 M pairs, 2 M verdicts: 0.30 CPU-s against 0.61 for the grouping). Values outside the vocabulary were
    # refused before (`judgement_problems`); a missing winner is 0. The same grouping over text (min/max/any_value
    # of strings) cost three times as much again.
    codes = {"baseline": 1, "candidate": 2, "tie": 3, "error": 4}
    encode = " ".join(f"WHEN '{name}' THEN {code}" for name, code in codes.items())
    decode = " ".join(f"WHEN {1 << code} THEN '{name}'" for name, code in codes.items())
    orders = {"baseline_first": 1, "candidate_first": 2, "unordered": 0}
    # Numeric preferences need each order's count and mean; without any (judges that pick a winner) they are left out.
    preferences = bool(db.fetchone("SELECT count(preference) > 0 FROM judgements")[0])

    def seen(o: int) -> str:
        return f"((seen >> {5 * o}) & 31)"

    def verdict(order: str) -> str:
        # One order's verdict: `error` when its duplicates disagree or it has neither a winner nor a preference;
        # NULL when that order was not judged.
        o = orders[order]
        no_preference = f"cp{o} = 0" if preferences else "TRUE"
        return (f"CASE WHEN {seen(o)} = 0 THEN NULL WHEN ({seen(o)} & ({seen(o)} - 1)) <> 0 THEN 'error' "
                f"WHEN {seen(o)} = 1 AND {no_preference} THEN 'error' ELSE CASE {seen(o)} {decode} END END")

    per_order = ", ".join(f"count(p) FILTER (WHERE o = {o}) AS cp{o}, avg(p) FILTER (WHERE o = {o}) AS ap{o}"
                          for o in orders.values()) if preferences else "NULL AS no_preferences"
    mean_of = " + ".join(f"coalesce(ap{o}, 0)" for o in orders.values())
    judged_orders = " + ".join(f"(cp{o} > 0)::INT" for o in orders.values())
    pref = f"({mean_of}) / nullif({judged_orders}, 0)" if preferences else "CAST(NULL AS DOUBLE)"
    present_orders = " + ".join(f"({seen(o)} <> 0)::INT" for o in orders.values())
    # One grouping by (request, judge), not one by order and another by unit. Not joined to the pairs until the
    # end: that join drops judgements of unpaired requests.
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {UNITS} AS
        WITH per_order AS (
            SELECT request_id, judge, count(*) AS verdicts, bit_or(1 << (5 * o + w)) AS seen, {per_order}
            FROM (SELECT request_id, coalesce(judge, '') AS judge,
                         CASE "order" WHEN 'baseline_first' THEN 1 WHEN 'candidate_first' THEN 2 ELSE 0 END AS o,
                         CASE winner {encode} ELSE 0 END AS w, preference AS p
                  FROM judgements WHERE request_id IS NOT NULL) AS j
            GROUP BY request_id, judge
        ),
        unit AS (
            SELECT request_id, judge,
                   {verdict('baseline_first')} AS g1,
                   {verdict('candidate_first')} AS g2,
                   {verdict('unordered')} AS g0,
                   -- the mean of each order's mean preference
                   {pref} AS pref,
                   verdicts, verdicts - ({present_orders}) AS duplicate_judgements
            FROM per_order
        )
        SELECT u.*, p.pid, p.segment, p.len_b, p.len_c, p.user_id,
            CASE
                WHEN g1 = 'error' OR g2 = 'error' OR g0 = 'error' THEN 'error'
                WHEN g1 IS NULL AND g2 IS NULL AND g0 IS NULL THEN
                    CASE WHEN pref IS NULL THEN 'error' ELSE 'numeric' END
                WHEN g1 IS NOT NULL AND g2 IS NOT NULL AND g1 <> g2 THEN 'tie'
                ELSE CASE coalesce(g1, g2, g0) WHEN 'candidate' THEN 'win' WHEN 'baseline' THEN 'loss' ELSE 'tie' END
            END AS outcome
        FROM unit u JOIN {PAIRS} p USING (request_id)
        """
    )


def paired_verdicts(db: Database) -> int:
    """Verdict rows of paired requests: those of the units, which hold only paired requests. The others (all
    `judgement_problems` rows but these) are the unmatched ones: an anti-join of every verdict against the pairs
    cost twice as much."""
    return int(db.fetchone(f"SELECT coalesce(sum(verdicts), 0) FROM {UNITS}")[0])


def judges(db: Database) -> list[dict[str, Any]]:
    """Per judge: win / tie / loss / error counts, order diagnostics, duplicates (most units first)."""
    return db.fetch_dicts(
        f"""
        SELECT judge, count(*) AS units,
               count(*) FILTER (WHERE outcome = 'win') AS wins,
               count(*) FILTER (WHERE outcome = 'tie') AS ties,
               count(*) FILTER (WHERE outcome = 'loss') AS losses,
               count(*) FILTER (WHERE outcome = 'error') AS errors,
               count(*) FILTER (WHERE outcome = 'numeric') AS numeric_units,
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate', 'tie') AND g2 IN ('baseline', 'candidate', 'tie'))
                   AS both_orders,
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate', 'tie') AND g2 IN ('baseline', 'candidate', 'tie')
                                AND g1 = g2) AS consistent,
               -- Position bias only where the answers were swapped: with one order, "shown first" is just one
               -- arm, and its share of wins is the verdict itself, not a bias.
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate') AND g2 IN ('baseline', 'candidate', 'tie'))
                   + count(*) FILTER (WHERE g2 IN ('baseline', 'candidate') AND g1 IN ('baseline', 'candidate', 'tie'))
                   AS decisive,
               count(*) FILTER (WHERE g1 = 'baseline' AND g2 IN ('baseline', 'candidate', 'tie'))
                   + count(*) FILTER (WHERE g2 = 'candidate' AND g1 IN ('baseline', 'candidate', 'tie'))
                   AS first_position,
               sum(duplicate_judgements) AS duplicate_judgements
        FROM {UNITS} GROUP BY judge ORDER BY units DESC, judge
        """
    )


def judge_outcomes(db: Database, judge: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """One judge's decided units grouped by the candidate's score (1 / 0.5 / 0) and the length difference
    (candidate - baseline), with how many units each row stands for: a few thousand rows, not one per unit
    (one per unit held hundreds of MB on 5 M pairs). Ordered as `np.unique` would order them."""
    table = db.fetch_arrow(
        f"""
        SELECT y, dlen, count(*) AS n FROM (
            SELECT CASE outcome WHEN 'win' THEN 1.0 WHEN 'tie' THEN 0.5 ELSE 0.0 END AS y,
                   CAST(len_c AS DOUBLE) - CAST(len_b AS DOUBLE) AS dlen
            FROM {UNITS}
            WHERE judge = $judge AND outcome IN ('win', 'tie', 'loss') AND len_b IS NOT NULL AND len_c IS NOT NULL
        ) GROUP BY ALL ORDER BY dlen, y
        """,
        {"judge": judge},
    )
    return floats(table, "y"), floats(table, "dlen"), floats(table, "n")


def judge_preferences(db: Database, judge: str) -> NDArray[np.float64]:
    table = db.fetch_arrow(
        f"SELECT pref FROM {UNITS} WHERE judge = $judge AND outcome = 'numeric'", {"judge": judge}
    )
    return floats(table, "pref")


def judge_by_segment(db: Database, judge: str) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        f"""
        SELECT segment,
               count(*) FILTER (WHERE outcome = 'win') AS wins,
               count(*) FILTER (WHERE outcome = 'tie') AS ties,
               count(*) FILTER (WHERE outcome = 'loss') AS losses,
               count(*) FILTER (WHERE outcome = 'error') AS errors
        FROM {UNITS} WHERE judge = $judge GROUP BY segment
        """,
        {"judge": judge},
    )


def top_examples(db: Database, judge: str | None, distances: NDArray[np.float32], count: int) -> list[int]:
    """The pids of the `count` pairs where the candidate most clearly lost something: by a severity score (a loss
    in both orders 8, a new JSON break or refusal 4, a new error 2, a loss 1), then edit distance (none counts
    0), then pid. Ranked in DuckDB with the distances (by pid) read in place: hundreds of thousands of candidates
    on a million pairs, of which a handful are kept (sorting them in Python was a tenth of a second)."""
    name = "_shadow_distances"
    # 32-bit: 8 bytes a pair beside the distances themselves (read in place), 40 MB on 5 M pairs.
    db.register_arrow(name, pa.table({"pid": np.arange(distances.size, dtype=np.int32), "d": distances}))
    try:
        judged = db.table_exists(UNITS)
        lost = ("(SELECT pid, g1 = 'baseline' AND g2 = 'baseline' AS lost_both, outcome = 'loss' AS lost "
                f"FROM {UNITS} WHERE judge = $judge)" if judged
                else "(SELECT CAST(NULL AS BIGINT) AS pid, FALSE AS lost_both, FALSE AS lost LIMIT 0)")
        rows = db.fetchall(
            f"""
            WITH j AS {lost},  -- a judge has one unit per pair (units are per request and judge, pairs one per request)
            candidates AS (
                SELECT p.pid,
                       8.0 * coalesce(j.lost_both, FALSE)::INT
                       + 4.0 * (p.json_expected AND p.json_ok_b AND NOT p.json_ok_c)::INT
                       + 4.0 * (p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c)::INT
                       + 2.0 * (p.error_b IS NULL AND p.error_c IS NOT NULL)::INT
                       + 1.0 * coalesce(j.lost, FALSE)::INT AS score
                FROM {PAIRS} p LEFT JOIN j USING (pid)
                WHERE coalesce(j.lost, FALSE) OR (p.json_expected AND p.json_ok_b AND NOT p.json_ok_c)
                   OR (p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c)
                   OR (p.error_b IS NULL AND p.error_c IS NOT NULL)
            )
            SELECT c.pid FROM candidates c JOIN {name} d USING (pid)
            ORDER BY c.score DESC, CASE WHEN isnan(d.d) THEN 0.0 ELSE coalesce(d.d, 0.0) END DESC, c.pid
            LIMIT $count
            """,
            {"count": count, **({"judge": judge if judge is not None else ""} if judged else {})},
        )
    finally:
        db.unregister(name)
    return [int(r[0]) for r in rows]


def example_rows(db: Database, pids: list[int], judge: str | None, *, with_texts: bool = True) -> list[dict[str, Any]]:
    """Flags of the few pairs shown as examples and, with `with_texts`, their texts from `traces` (fetched by
    row id, not by a join; without, the caller reads them from the files it streamed)."""
    if not pids:
        return []
    judged = db.table_exists(UNITS)
    verdicts = (
        f"(SELECT list(coalesce(g1, '-') || '/' || coalesce(g2, '-') || '=' || outcome) FROM {UNITS} u "
        "WHERE u.pid = p.pid AND u.judge = $judge)"
        if judged else "CAST(NULL AS VARCHAR[])"
    )
    rows = db.fetch_dicts(
        f"""
        SELECT p.pid, p.sid, p.rid_b, p.rid_c, p.request_id, p.segment, p.error_b, p.error_c,
               p.json_expected AND p.json_ok_b AND NOT p.json_ok_c AS json_break,
               p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c AS new_refusal,
               {verdicts} AS verdicts
        FROM {PAIRS} p WHERE p.pid IN (SELECT unnest($pids))
        """,
        {"pids": pids, "judge": judge or ""} if judged else {"pids": pids},
    )
    if not with_texts:
        return rows
    rids = [int(r["rid_b"]) for r in rows] + [int(r["rid_c"]) for r in rows]
    texts = {int(r[0]): (r[1], r[2]) for r in db.fetchall(
        "SELECT rowid, input, output FROM traces WHERE rowid IN (SELECT unnest($rids))", {"rids": rids})}
    for r in rows:
        b_input, b_out = texts.get(int(r["rid_b"]), (None, None))
        c_input, c_out = texts.get(int(r["rid_c"]), (None, None))
        r["input"] = b_input if b_input is not None else c_input
        r["baseline_output"], r["candidate_output"] = b_out, c_out
    return rows


def eval_tags(db: Database) -> tuple[int, set[str]]:
    """Number of eval cases and every tag they carry (lower case), for the coverage gap."""
    row = db.fetchone("SELECT count(DISTINCT case_id) FROM evals")
    tags = {str(t[0]).lower() for t in db.fetchall(
        "SELECT DISTINCT unnest(tags) FROM evals WHERE tags IS NOT NULL")}
    return int(row[0]), tags

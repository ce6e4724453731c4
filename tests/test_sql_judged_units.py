"""The SQL that turns verdict rows into judged units, against the rule written out in Python, on random verdicts:
duplicates that agree or conflict, a missing winner with or without a preference, numeric preferences in several
orders, unordered verdicts, several judges, verdicts of no pair."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rollctl.db import connect
from rollctl.load import LoadOptions, create_empty_tables
from rollctl.sql import shadow as q

ORDERS = {"baseline_first": 1, "candidate_first": 2}
verdicts = st.lists(st.fixed_dictionaries({
    "request_id": st.sampled_from(["r0", "r1", "r2", "r3", "unpaired"]),
    "judge": st.sampled_from(["j1", "j2", None]),
    "order": st.sampled_from(["baseline_first", "candidate_first", None]),
    "winner": st.sampled_from([None, "baseline", "candidate", "tie", "error"]),
    "preference": st.sampled_from([None, None, -0.5, 0.25, 1.0]),
}), max_size=40)


def _order_verdict(rows: list[dict[str, Any]]) -> str | None:
    """One order's verdict: `error` when its duplicates disagree (a missing winner counts as a value) or there is
    neither a winner nor a preference; None when not judged or only preferences were given."""
    if not rows:
        return None
    winners = {r["winner"] for r in rows}
    if len(winners) > 1:
        return "error"
    winner = winners.pop()
    if winner is None:
        return None if any(r["preference"] is not None for r in rows) else "error"
    return str(winner)


def _expected_units(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["request_id"], r["judge"] or "")].append(r)
    out = {}
    for key, unit in groups.items():
        if key[0] == "unpaired":
            continue
        by_order = {o: [r for r in unit if ORDERS.get(r["order"], 0) == o] for o in (1, 2, 0)}
        g1, g2, g0 = (_order_verdict(by_order[o]) for o in (1, 2, 0))
        means = [sum(p) / len(p) for p in ([r["preference"] for r in by_order[o] if r["preference"] is not None]
                                           for o in (1, 2, 0)) if p]
        pref = sum(means) / len(means) if means else None
        if "error" in (g1, g2, g0):
            outcome = "error"
        elif (g1, g2, g0) == (None, None, None):
            outcome = "numeric" if pref is not None else "error"
        elif g1 is not None and g2 is not None and g1 != g2:
            outcome = "tie"
        else:
            first = next(g for g in (g1, g2, g0) if g is not None)
            outcome = {"candidate": "win", "baseline": "loss"}.get(first, "tie")
        duplicates = len(unit) - sum(1 for o in (1, 2, 0) if by_order[o])
        out[key] = (g1, g2, g0, None if pref is None else round(pref, 9), duplicates, outcome)
    return out


@settings(max_examples=150, deadline=None)
@given(verdicts)
def test_judged_units_follow_the_rule(rows: list[dict[str, Any]]) -> None:
    db = connect()
    try:
        create_empty_tables(db, LoadOptions())
        for r in rows:
            db.execute('INSERT INTO judgements (request_id, judge, "order", winner, preference) VALUES (?, ?, ?, ?, ?)',
                       [r["request_id"], r["judge"], r["order"], r["winner"], r["preference"]])
        db.execute(f"CREATE TEMP TABLE {q.PAIRS} AS SELECT * FROM (VALUES (0, 'r0'), (1, 'r1'), (2, 'r2'), (3, 'r3')) "
                   "AS p(pid, request_id), (SELECT 'all' AS segment, 10 AS len_b, 12 AS len_c, 'u' AS user_id)")
        q.build_judged_units(db)
        got = {(r, j): (g1, g2, g0, None if pref is None else round(pref, 9), dup, outcome)
               for r, j, g1, g2, g0, pref, dup, outcome in db.fetchall(
                   f"SELECT request_id, judge, g1, g2, g0, pref, duplicate_judgements, outcome FROM {q.UNITS}")}
        assert got == _expected_units(rows)
        assert q.paired_verdicts(db) == sum(r["request_id"] != "unpaired" for r in rows)
    finally:
        db.close()

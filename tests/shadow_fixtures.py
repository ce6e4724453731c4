"""Small synthetic shadow exports with known, planted situations, for shadow-report tests."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rollctl.db import connect

INTENTS = ("order_status", "account", "billing", "shipping", "warranty_claim")


def make_pairs(
    n: int = 600,
    *,
    seed: int = 1,
    json_break_rate: float = 0.35,
    hours: float = 60.0,
    start: datetime = datetime(2026, 11, 13, 0, 0, tzinfo=UTC),  # a Friday: spans the weekend
    judge: str = "first_pos_bias",
    missing_candidate: int = 0,
    candidate_timeouts: int = 0,
) -> list[dict[str, Any]]:
    """Paired rows `{request_id, ..., baseline: {...}, candidate: {...}, judgements: [...]}`.

    Planted: the candidate breaks JSON in `json_break_rate` of `order_status` pairs and the judge
    prefers the baseline there; elsewhere the judge is even. `judge="first_pos_bias"` makes the judge
    favour the answer shown first 30% of the time (those flip with order and become ties); "fair" is
    the same judge (position bias included) with no quality difference to find outside planted breaks.
    """
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        intent = INTENTS[i % len(INTENTS)]
        ts = start + timedelta(seconds=hours * 3600 * i / max(n - 1, 1))
        user = f"u{rng.randrange(max(n // 4, 1))}"
        if intent == "order_status":
            base_out = json.dumps({"order": f"A{i}", "status": "shipped", "eta_days": rng.randint(1, 9)})
            broken = rng.random() < json_break_rate
            cand_out = base_out[:-5] if broken else json.dumps(
                {"order": f"A{i}", "status": "shipped", "eta": rng.randint(1, 9)})
        else:
            broken = False
            base_out = f"Thanks for asking about {intent}. " + "Here is what you can do. " * rng.randint(4, 20)
            cand_out = f"Thanks for your {intent} question. " + "Here is what you can do next. " * rng.randint(4, 22)
        lat_b = rng.lognormvariate(6.8, 0.3)
        cand: dict[str, Any] | None = {
            "variant": "treatment", "served": False, "output": cand_out,
            "latency_ms": lat_b * 1.1 + rng.gauss(0, 20), "ttft_ms": 300 + rng.gauss(0, 30),
            "cost_usd": 0.0022 + rng.gauss(0, 0.0002), "output_tokens": len(cand_out) // 4,
        }
        if i < candidate_timeouts:
            cand = {**cand, "output": None, "error": "timeout"}
        if i >= n - missing_candidate:
            cand = None
        judgements = []
        for order in ("baseline_first", "candidate_first"):
            first = "baseline" if order == "baseline_first" else "candidate"
            if broken:
                winner = "baseline"
            elif judge in ("first_pos_bias", "fair") and rng.random() < 0.3:
                winner = first
            else:
                winner = rng.choice(["baseline", "candidate", "tie"])
            judgements.append({"judge": "judge-a", "order": order, "winner": winner})
        rows.append({
            "request_id": f"r{i}", "user_id": user, "session_id": f"s{i // 3}",
            "timestamp": ts.isoformat().replace("+00:00", "Z"), "input": f"question {i} about {intent}",
            "metadata": {"intent": intent},
            "baseline": {"variant": "control", "served": True, "output": base_out, "latency_ms": lat_b,
                         "ttft_ms": 280 + rng.gauss(0, 30), "cost_usd": 0.002 + rng.gauss(0, 0.0002),
                         "output_tokens": len(base_out) // 4},
            "candidate": cand,
            "judgements": judgements,
        })
    return rows


def eval_rows(intents: tuple[str, ...] = INTENTS[:-1]) -> list[dict[str, Any]]:
    """An eval set whose cases are tagged with every intent except `warranty_claim`."""
    return [{"case_id": f"c{k}-{intent}", "variant": "main", "repeat": 0, "passed": True, "score": 1.0,
             "tags": [intent]} for intent in intents for k in range(3)]


def as_parquet(jsonl: Path, parquet: Path) -> Path:
    """The same rows as Parquet, nested arms kept as structs (converted by DuckDB)."""
    db = connect()
    try:
        db.execute(f"COPY (SELECT * FROM read_json($p, format = 'newline_delimited')) TO '{parquet}' (FORMAT parquet)",
                   {"p": str(jsonl)})
    finally:
        db.close()
    return parquet

#!/usr/bin/env python3
"""How fast one pass over a paired shadow export could be: a bound for `rollctl shadow-report`, not a product path.

    python scripts/shadow_single_pass_bound.py bench_data/shadow_1000000.jsonl

Runs, in one process, the benchmark's floor (DuckDB scanning both answers, rapidfuzz `cpdist` in 100 k batches)
and then one streaming query that also reads every field shadow-report uses (both arms' numbers, errors and
variants, the segment, the judges' winners) and computes the text features (hash, length, JSON check, refusal
regex) beside the same distances. Nothing is validated, paired or stored, so this is what a report that reads
the file once cannot beat; its ratio to the floor says whether the issue's 1.5x is within reach.
Prints wall and CPU seconds of each, twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import process  # noqa: E402
from rapidfuzz.distance import Levenshtein  # noqa: E402

from rollctl.core.shadow_report import DEFAULT_REFUSAL_PATTERNS  # noqa: E402
from rollctl.db import connect  # noqa: E402

_ARM = ("STRUCT(variant VARCHAR, served VARCHAR, output VARCHAR, latency_ms DOUBLE, ttft_ms DOUBLE, "
        "cost_usd DOUBLE, output_tokens BIGINT, error VARCHAR, judge_score DOUBLE)")
_COLUMNS = {
    "request_id": "VARCHAR", "user_id": "VARCHAR", "timestamp": "TIMESTAMPTZ", "metadata": "STRUCT(intent VARCHAR)",
    "baseline": _ARM, "candidate": _ARM, "judgements": 'STRUCT(judge VARCHAR, "order" VARCHAR, winner VARCHAR)[]',
}


def _arm_fields(arm: str) -> str:
    return (
        f"length({arm}.output) AS len_{arm}, hash({arm}.output) AS hash_{arm}, "
        f"regexp_matches(left({arm}.output, 400), $refusal, 'i') AS refusal_{arm}, "
        f"CASE WHEN ascii({arm}.output) IN (123, 91) THEN json_valid({arm}.output) END AS json_{arm}, "
        f"{arm}.latency_ms AS latency_{arm}, {arm}.ttft_ms AS ttft_{arm}, {arm}.cost_usd AS cost_{arm}, "
        f"{arm}.output_tokens AS tokens_{arm}, {arm}.error AS error_{arm}, {arm}.variant AS variant_{arm}, "
        f"{arm}.served AS served_{arm}"
    )


def floor(path: str) -> None:
    db = connect()
    for batch in db.record_batches(
            "SELECT baseline.output, candidate.output FROM read_json($p, format = 'newline_delimited')",
            {"p": path}, batch_size=100_000):
        process.cpdist(batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                       scorer=Levenshtein.normalized_distance, workers=-1)


def single_pass(path: str) -> None:
    db = connect()
    refusal = "|".join(f"(?:{p})" for p in DEFAULT_REFUSAL_PATTERNS)
    sql = (
        'SELECT request_id, user_id, "timestamp", metadata.intent AS segment, baseline.output AS out_b, '
        f"candidate.output AS out_c, {_arm_fields('baseline')}, {_arm_fields('candidate')}, "
        "list_transform(judgements, lambda j: j.winner) AS winners "
        "FROM read_json($p, format = 'newline_delimited', columns = $columns)"
    )
    for batch in db.record_batches(sql, {"p": path, "columns": _COLUMNS, "refusal": refusal}, batch_size=100_000):
        process.cpdist(batch.column("out_b").to_pylist(), batch.column("out_c").to_pylist(),
                       scorer=Levenshtein.normalized_distance, workers=-1)


def main() -> int:
    path = sys.argv[1]
    runs: tuple[tuple[str, Callable[[str], None]], ...] = (("floor", floor), ("single pass", single_pass))
    for _ in range(2):
        for name, run in runs:
            wall, cpu = time.perf_counter(), time.process_time()
            run(path)
            print(f"{name:12s} wall {time.perf_counter() - wall:6.2f} s   cpu {time.process_time() - cpu:6.2f} s",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

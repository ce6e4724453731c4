"""Benchmark: `rollctl decide` on Parquet, the embedded DuckDB engine beside a local Spark session, at 1 M and
10 M rows (100 k and 1 M users over 7 days, three guardrails and a primary, as `test_bench_decide`'s first
shape).

On one machine Spark is slower: it pays for a JVM, task scheduling and shuffles that only pay off on a cluster.
What this prints is what must hold on a cluster: the Spark run's cost grows about linearly with the rows
(printed: seconds per million rows at each size), and only summaries come back to the driver (printed: the
bytes of results collected, the same few kilobytes at both sizes). The verdicts and `--json` of both engines are
compared as the suite compares them (1e-9 relative).

Each run is a fresh Python process; the Spark run reports its session start separately from the decision.
Inputs are written once by `scripts/make_bench_decide.py` under bench_data/ (git-ignored).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.test_bench_decide import LATENCY, PLAN
from tests.test_spark_engine import assert_same_json

REPO = Path(__file__).resolve().parents[2]
SIZES = [(1_000_000, 100_000), (10_000_000, 1_000_000)]

SPARK_DECIDE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from rollctl.core.decide import decide
from rollctl.engines.spark import SparkEngine, SparkSettings, start_session
from rollctl.plan import load_plan
from rollctl.render.jsonout import dumps
start = time.perf_counter()
engine = SparkEngine(start_session(SparkSettings(master="local[2]")))
started = time.perf_counter()
result = decide(engine, [sys.argv[1]], load_plan(sys.argv[2]))
done = time.perf_counter()
print(json.dumps({"session_s": started - start, "decide_s": done - started, "bytes": engine.collected_bytes,
                  "statements": engine.statements, "result": json.loads(dumps(result))}))
"""


def data_file(rows: int, users: int) -> Path:
    path = REPO / "bench_data" / f"decide_{rows}_{users}_users_7_days.parquet"
    if not path.exists():
        subprocess.run([sys.executable, "scripts/make_bench_decide.py", "--rows", str(rows), "--users", str(users),
                        "--days", "7", "--out", str(path)], check=True, cwd=REPO)
    return path


@pytest.mark.bench
def test_bench_decide_duckdb_beside_spark(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.replace("{latency}", LATENCY), encoding="utf-8")
    rollctl = str(Path(sys.executable).parent / "rollctl")
    print()
    per_million: list[float] = []
    for rows, users in SIZES:
        data = data_file(rows, users)
        start = time.perf_counter()
        local = subprocess.run([rollctl, "decide", str(data), "--plan", str(plan), "--json"], capture_output=True,
                               text=True, cwd=REPO, check=False)
        duck_wall = time.perf_counter() - start
        start = time.perf_counter()
        spark = subprocess.run([sys.executable, "-c", SPARK_DECIDE, str(data), str(plan)], capture_output=True,
                               text=True, cwd=REPO, check=False)
        spark_wall = time.perf_counter() - start
        assert spark.returncode == 0, spark.stderr[-3000:]
        figures = json.loads(spark.stdout.strip().splitlines()[-1])
        expected = json.loads(local.stdout)
        assert_same_json(expected, figures["result"])
        per_million.append(figures["decide_s"] / (rows / 1e6))
        print(f"{rows:>11,} rows, {users:>9,} users ({data.stat().st_size / 1e6:.0f} MB Parquet), "
              f"verdict {expected['verdict']} on both")
        print(f"    DuckDB  decide:            wall {duck_wall:7.2f} s")
        print(f"    Spark   decide (local[2]): wall {spark_wall:7.2f} s = session {figures['session_s']:.1f} s "
              f"+ decision {figures['decide_s']:.1f} s ({figures['decide_s'] / (rows / 1e6):.2f} s per M rows); "
              f"{figures['statements']} statements, {figures['bytes']:,} bytes collected to the driver")
    print(f"Spark seconds per million rows, {SIZES[0][0]:,} -> {SIZES[-1][0]:,} rows: "
          + " -> ".join(f"{v:.2f}" for v in per_million)
          + f" (x{per_million[-1] / per_million[0]:.2f}; 1.0 is linear)")

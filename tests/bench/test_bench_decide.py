"""Benchmark: `rollctl decide` on 10 M trace rows (Parquet) vs one bare DuckDB pass computing per-user sums.

Two shapes: our own (1 M users over 7 days, three guardrails and a primary) and the one outside testing
used (2 M users, about 5 requests each, over 8 days, two guardrails and a primary). The reference is one
DuckDB pass that computes each user's sums of the plan's metrics and keeps them in DuckDB (CREATE TEMP
TABLE), in a fresh Python process like decide's: fetching 2 M tuples into Python would cost more than the
pass itself and flatter decide.

Prints wall time, CPU time and peak memory of each, measured in the same run as subprocesses
(`resource.getrusage(RUSAGE_CHILDREN)` deltas). Target: decide within 2x of the reference.
The inputs are written once by `scripts/make_bench_decide.py` under bench_data/ (git-ignored).
Set ROLLCTL_BENCH_ROWS to try another size.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = int(os.environ.get("ROLLCTL_BENCH_ROWS", "10000000"))
SHAPES = {
    # name: (users, days, whether the plan adds a latency p95 guardrail to thumbs-down and errors)
    "1M-users-7-days": (ROWS // 10, 7, True),
    "2M-users-8-days": (ROWS // 5, 8, False),
}
PLAN = """
[rollout]
name = "bench"
change = "model"
baseline = "control"
candidate = "treatment"
stages = [5, 25, 50, 100]
current_stage = 5
canary_min_days = 7

[[guardrails]]
metric = "thumbs_down_rate"
max_relative_increase = 0.2

[[guardrails]]
metric = "error_rate"
max_absolute_increase = 0.005

{latency}[[primary]]
metric = "task_completion_rate"
direction = "increase"
min_detectable_effect = 0.02
"""

LATENCY = """[[guardrails]]
metric = "latency_p95_ms"
max_relative_increase = 0.25

"""

BARE = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(
    "CREATE TEMP TABLE per_user AS SELECT user_id, variant, count(*) AS n, "
    "sum(CASE WHEN thumbs = -1 THEN 1 ELSE 0 END) AS thumbs_down, "
    "sum(CASE WHEN error IS NOT NULL THEN 1 ELSE 0 END) AS errors, sum(CAST(task_completed AS INTEGER)) AS done "
    "FROM read_parquet(?) GROUP BY user_id, variant", [sys.argv[1]])
print(con.execute("SELECT count(*) FROM per_user").fetchone()[0])
"""


def measure(args: list[str]) -> tuple[float, float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, proc.returncode


@pytest.mark.bench
@pytest.mark.parametrize("shape", list(SHAPES))
def test_bench_decide_vs_bare_group_by(tmp_path: Path, shape: str) -> None:
    users, days, latency = SHAPES[shape]
    data = REPO / "bench_data" / f"decide_{ROWS}_{users}_users_{days}_days.parquet"
    if not data.exists():
        subprocess.run([sys.executable, "scripts/make_bench_decide.py", "--rows", str(ROWS), "--users", str(users),
                        "--days", str(days), "--out", str(data)], check=True, cwd=REPO)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.replace("{latency}", LATENCY if latency else ""), encoding="utf-8")
    bare = measure([sys.executable, "-c", BARE, str(data)])
    rollctl = str(Path(sys.executable).parent / "rollctl")
    decide = measure([rollctl, "decide", str(data), "--plan", str(plan), "--json"])
    print(f"\n{shape}: {ROWS:,} rows, {users:,} users, {days} days ({data.stat().st_size / 1e6:.0f} MB Parquet)")
    print(f"bare DuckDB per-user sums:             wall {bare[0]:.2f} s, cpu {bare[1]:.2f} s, peak RSS so far "
          f"{bare[2]:.0f} MB")
    print(f"rollctl decide (exit {decide[3]}):       wall {decide[0]:.2f} s, cpu {decide[1]:.2f} s, peak RSS so far "
          f"{decide[2]:.0f} MB")
    print(f"ratio decide / bare: wall {decide[0] / bare[0]:.2f}x, cpu {decide[1] / bare[1]:.2f}x (target 2x)")
    assert decide[3] in (0, 1, 3)

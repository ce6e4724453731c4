"""Benchmark: `rollctl eval-gate` on 100k cases × 5 repeats × 2 variants (1M rows). Prints, never asserts, time.

CPU time is printed beside wall time: on a shared machine the wall time mostly measures the other load.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench_data" / "eval_gate"


@pytest.mark.bench
def test_bench_eval_gate_100k_cases() -> None:
    if not (DATA / "candidate.parquet").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_eval_bench.py"), "--out", str(DATA)],
                       check=True)
    rollctl = Path(sys.executable).parent / "rollctl"
    for label, extra in (("--json", []), ("--json --junit", ["--junit", str(DATA / "junit.xml")])):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        start = time.perf_counter()
        proc = subprocess.run(
            [str(rollctl), "eval-gate", str(DATA / "baseline.parquet"), str(DATA / "candidate.parquet"), "--json",
             *extra], capture_output=True, text=True,
        )
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = max(usage.ru_maxrss, before) / 1024
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
        assert proc.returncode in (0, 1, 3), proc.stderr
        data = json.loads(proc.stdout)
        assert data["n_cases"] == 100_000
        print(f"\neval-gate 100k cases x 5 repeats x 2 variants ({label}): {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU (user+sys), peak RSS {peak_mb:.0f} MB, verdict {data['verdict']}, "
              f"difference {data['difference']['estimate']:+.4f}, mde {data['mde']:.4f}")

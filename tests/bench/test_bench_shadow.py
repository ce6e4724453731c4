"""Benchmark of `rollctl shadow-report` against its floor, measured in the same run (printed, not asserted).

For each size (ROLLCTL_BENCH_SHADOW_SIZES, default "100000,1000000") and format (JSONL, Parquet):
- bare: a DuckDB scan of the file with aggregates;
- floor: the same scan streaming both outputs in 100 k Arrow batches through rapidfuzz `cpdist`;
- rollctl: `rollctl shadow-report --json` on the file.
Each runs in a fresh subprocess; CPU (user + sys) and peak memory are that child's (getrusage of a wrapper's
children). Compare CPU: the machine is shared.
Inputs come from `scripts/make_shadow_bench.py` under bench_data/ (generated when missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench_data"
PY = sys.executable
ROLLCTL = str(Path(PY).parent / "rollctl")

_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'wall': wall, 'cpu': u.ru_utime + u.ru_stime, 'rss_kb': u.ru_maxrss,"
    " 'code': r.returncode}))\n"
)

_BARE = (
    "import sys\n"
    "from rollctl.db import connect\n"
    "db = connect()\n"
    "reader = sys.argv[1]\n"
    "db.fetchone(f'SELECT count(*), sum(length(baseline.output)), sum(length(candidate.output)), "
    "avg(candidate.latency_ms - baseline.latency_ms), avg(candidate.cost_usd) FROM {reader}', {'p': sys.argv[2]})\n"
)

_FLOOR = (
    "import sys\n"
    "from rapidfuzz import process\n"
    "from rapidfuzz.distance import Levenshtein\n"
    "from rollctl.db import connect\n"
    "db = connect()\n"
    "reader = sys.argv[1]\n"
    "total = 0.0\n"
    "for b in db.record_batches(f'SELECT baseline.output AS a, candidate.output AS b FROM {reader}',"
    " {'p': sys.argv[2]}, batch_size=100_000):\n"
    "    d = process.cpdist(b.column(0).to_pylist(), b.column(1).to_pylist(),"
    " scorer=Levenshtein.normalized_distance, workers=-1)\n"
    "    total += float(d.sum())\n"
)


def _measure(cmd: list[str]) -> dict[str, float]:
    out = subprocess.run([PY, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True, cwd=ROOT)
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def _inputs(pairs: int, orders: int) -> tuple[Path, Path]:
    jsonl = DATA / (f"shadow_{pairs}.jsonl" if orders == 2 else f"shadow_{pairs}_one_order.jsonl")
    parquet = jsonl.with_suffix(".parquet")
    if not jsonl.exists() or not parquet.exists():
        subprocess.run([PY, str(ROOT / "scripts" / "make_shadow_bench.py"), "--pairs", str(pairs),
                        "--orders", str(orders), "--out", str(jsonl), "--parquet"], check=True, cwd=ROOT)
    return jsonl, parquet


def _sizes() -> list[int]:
    return [int(s) for s in os.environ.get("ROLLCTL_BENCH_SHADOW_SIZES", "100000,1000000").split(",") if s]


@pytest.mark.bench
@pytest.mark.parametrize("pairs", _sizes())
@pytest.mark.parametrize("orders", [2, 1], ids=["both-orders", "one-inline-judgement"])
def test_bench_shadow_report(pairs: int, orders: int) -> None:
    """Both judge orders per pair (our own shape), and one inline judgement per pair (most production judges)."""
    jsonl, parquet = _inputs(pairs, orders)
    print(f"\nshadow-report benchmark, {pairs:,} pairs, {orders} judgement(s) per pair "
          f"(cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f})")
    for path, reader in ((jsonl, "read_json($p, format = 'newline_delimited')"), (parquet, "read_parquet($p)")):
        size_gb = path.stat().st_size / 1e9
        bare = _measure([PY, "-c", _BARE, reader, str(path)])
        floor = _measure([PY, "-c", _FLOOR, reader, str(path)])
        tool = _measure([ROLLCTL, "shadow-report", str(path), "--baseline", "control", "--candidate", "treatment",
                         "--segment-by", "metadata.intent", "--json"])
        print(f"  {path.name} ({size_gb:.2f} GB)")
        for name, m in (("bare scan+aggregate", bare), ("scan + cpdist floor", floor), ("rollctl --json", tool)):
            print(f"    {name:22s} cpu {m['cpu']:7.1f} s   wall {m['wall']:7.1f} s   peak {m['rss_kb'] / 1e6:5.2f} GB"
                  f"   exit {m['code']}")
        # CPU, not wall: the machine is shared, and wall time moves with the other jobs on it.
        print(f"    rollctl / floor: cpu {tool['cpu'] / floor['cpu']:.2f}x (target 1.5x), wall "
              f"{tool['wall'] / floor['wall']:.2f}x, peak {tool['rss_kb'] / 1e6:.2f} GB (target < 1.5 GB)")

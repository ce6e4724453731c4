"""Write a large synthetic week of canary traces (Parquet) for the `power --from-traces` benchmark.

Usage: python scripts/make_power_bench.py [USERS] [OUT]   (default 250,000 users → about 1 M requests,
bench_data/power_traces.parquet). Users send 1 + Poisson(3) requests; a per-user thumbs-down propensity
(beta, ICC ≈ 0.1) and 2,000 distinct inputs make the design effect and the response share measurable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main(users: int = 250_000, out: Path = Path("bench_data/power_traces.parquet")) -> Path:
    rng = np.random.default_rng(0)
    m = 1 + rng.poisson(3, size=users)
    scale = 1 / 0.1 - 1
    pi = rng.beta(0.08 * scale, 0.92 * scale, size=users)
    user = np.repeat(np.arange(users), m)
    n = len(user)
    thumbs = np.where(rng.random(n) < pi[user], -1, np.where(rng.random(n) < 0.3, 1, 0))
    day = np.repeat(rng.integers(16, 23, size=users), m)
    table = pa.table({
        "request_id": [f"r{i}" for i in range(n)],
        "user_id": [f"u{u}" for u in user],
        "variant": np.where(user % 20 == 0, "treatment", "control"),
        "timestamp": [f"2026-11-{d:02d}T12:00:00Z" for d in day],
        "input": [f"question {q}" for q in rng.integers(0, 2000, size=n)],
        "thumbs": thumbs,
        "latency_ms": np.abs(800 + 300 * rng.standard_normal(n)),  # never negative: that is a bad value
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(args[1]) if len(args) > 1 else Path("bench_data/power_traces.parquet")
    path = main(int(args[0]) if args else 250_000, out)
    print(path)

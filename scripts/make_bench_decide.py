#!/usr/bin/env python3
"""Write a big canary trace file (Parquet) for the `decide` benchmark.

    python scripts/make_bench_decide.py [--rows 10000000] [--users N] [--days 7] [--out bench_data/decide_10m.parquet]

Vectorised numpy + pyarrow, written in row groups so memory stays bounded: ~1 M users over a week,
sha256-free (the arm is drawn per user; the benchmark plan names no hash), 5 % on the candidate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = np.datetime64("2026-11-16T00:00:00", "ms")
MODELS = np.array(["claude-sonnet-4-5-20250929", "claude-sonnet-4-6-20260301"])


def chunk(rng: np.random.Generator, offset: int, rows: int, users: int, days: int) -> pa.Table:
    user = rng.integers(0, users, rows)
    cand = (user * 2654435761 % 1000) < 50  # 5 % of users, fixed per user
    ts = START + rng.integers(0, days * 86_400_000, rows).astype("timedelta64[ms]")
    td_p = np.where(cand, 0.11, 0.08)
    thumbs = np.where(rng.random(rows) < td_p, -1, np.where(rng.random(rows) < 0.12, 1, 0))
    err = rng.random(rows)
    error = np.where(err < np.where(cand, 0.012, 0.01), "json_parse", None)
    return pa.table({
        "request_id": pa.array([f"r{offset + i}" for i in range(rows)]),
        "timestamp": pa.array(ts, type=pa.timestamp("ms", tz="UTC")),
        "user_id": pa.array(np.char.add("u", user.astype(str))),
        "variant": pa.array(np.where(cand, "treatment", "control")),
        "served": pa.array(np.ones(rows, dtype=bool)),
        "model": pa.array(MODELS[cand.astype(int)]),
        "prompt_version": pa.array(np.full(rows, "support-v12")),
        "latency_ms": pa.array(rng.lognormal(7.3, 0.4, rows)),
        "ttft_ms": pa.array(rng.lognormal(6.3, 0.4, rows)),
        "cost_usd": pa.array(rng.gamma(4.0, 0.002, rows)),
        "cache_hit": pa.array(rng.random(rows) < 0.35),
        "error": pa.array(error, type=pa.string()),
        "thumbs": pa.array(np.where(thumbs == 0, None, thumbs), type=pa.int8()),
        "task_completed": pa.array(rng.random(rows) < 0.7),
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench_data/decide_10m.parquet"))
    parser.add_argument("--users", type=int, default=0, help="distinct users (default rows / 10)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    users = args.users or max(args.rows // 10, 10)
    step = 1_000_000
    writer = None
    for offset in range(0, args.rows, step):
        table = chunk(rng, offset, min(step, args.rows - offset), users, args.days)
        if writer is None:
            writer = pq.ParquetWriter(args.out, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    print(f"wrote {args.rows:,} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

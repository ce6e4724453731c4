"""Generate a big eval-gate benchmark input: N cases × K repeats × 2 variants, as two Parquet files.

Usage: python scripts/make_eval_bench.py [--cases 100000] [--repeats 5] [--out bench_data/eval_gate]
Writes `baseline.parquet` (variant main) and `candidate.parquet` (variant pr) with columns
{case_id, variant, repeat, passed, score, tags, error, cluster}; the candidate is ~1 point worse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_arm(path: Path, variant: str, p: np.ndarray, repeats: int, rng: np.random.Generator) -> None:
    n = p.size
    case_idx = np.repeat(np.arange(n), repeats)
    passed = rng.random(n * repeats) < p[case_idx]
    error = np.where(rng.random(n * repeats) < 0.001, "timeout", None)
    tags = ["high_stakes" if i % 50 == 0 else "faq" for i in range(n)]
    table = pa.table({
        "case_id": pa.array([f"case-{i:06d}" for i in range(n)]).take(pa.array(case_idx)),
        "variant": pa.array([variant] * (n * repeats)),
        "repeat": pa.array(np.tile(np.arange(repeats), n)),
        "passed": pa.array(passed),
        "score": pa.array(passed.astype(np.float64)),
        "tags": pa.array([[t] for t in tags]).take(pa.array(case_idx)),
        "error": pa.array(error, type=pa.string()),
        "cluster": pa.array([f"doc-{i // 4}" for i in range(n)]).take(pa.array(case_idx)),
    })
    pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench_data/eval_gate")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    p = rng.beta(5, 1, args.cases)
    write_arm(out / "baseline.parquet", "main", p, args.repeats, rng)
    write_arm(out / "candidate.parquet", "pr", np.clip(p - 0.01, 0, 1), args.repeats, rng)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write a large paired shadow export for `tests/bench/test_bench_shadow.py`.

One paired row per request: `{request_id, user_id, session_id, timestamp, input, metadata: {intent},
baseline: {...}, candidate: {...}, judgements: [2 orders]}` with responses of 200-1,200 characters, the
candidate a light rewrite of the baseline. `--orders 1` keeps one inline judgement per pair (baseline shown
first), the shape of most production judges. 1 M pairs is about 2 GB of JSONL. `--parquet` also writes
the same rows as Parquet (converted by DuckDB, nested fields kept).

    python scripts/make_shadow_bench.py --pairs 1000000 --out bench_data/shadow_1m.jsonl --parquet
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rollctl.db import connect  # noqa: E402

WORDS = [
    "order", "shipping", "account", "refund", "warranty", "please", "thanks", "package", "delivery",
    "tracking", "status", "update", "customer", "support", "help", "issue", "resolve", "payment", "invoice",
    "billing", "address", "change", "cancel", "return", "policy", "product", "item", "replacement", "days",
    "business", "within", "contact", "team", "email", "phone", "hours", "available",
]
INTENTS = ("order_status", "account", "billing", "shipping", "warranty_claim", "returns", "other")


def _corpus(rng: random.Random, size: int = 2_000_000) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        w = rng.choice(WORDS)
        out.append(w)
        total += len(w) + 1
    return " ".join(out)


def write_jsonl(path: Path, pairs: int, seed: int, orders: int = 2) -> None:
    rng = random.Random(seed)
    corpus = _corpus(rng)
    limit = len(corpus) - 1300
    start = datetime(2026, 11, 12, tzinfo=UTC)
    seconds = 72 * 3600
    users = max(pairs // 5, 1)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(pairs):
            n_b = rng.randint(200, 1200)
            off = rng.randrange(limit)
            base = corpus[off:off + n_b]
            n_c = min(1200, max(200, int(n_b * rng.uniform(0.9, 1.3))))
            cut = rng.randrange(max(n_b // 2, 1))
            cand = (base[:cut] + " " + corpus[off + cut + 7: off + cut + 7 + n_c])[:n_c]
            lat = rng.lognormvariate(6.8, 0.35)
            judge_w = rng.choice(("baseline", "candidate", "tie"))
            row = {
                "request_id": f"r{i}",
                "user_id": f"u{rng.randrange(users)}",
                "session_id": f"s{i // 4}",
                "timestamp": (start + timedelta(seconds=seconds * i / pairs)).isoformat().replace("+00:00", "Z"),
                "input": corpus[off + 50: off + 50 + rng.randint(40, 200)],
                "metadata": {"intent": INTENTS[i % len(INTENTS)]},
                "baseline": {"variant": "control", "served": True, "output": base, "latency_ms": round(lat, 1),
                             "ttft_ms": round(lat * 0.3, 1), "cost_usd": round(n_b * 2e-6, 7),
                             "output_tokens": n_b // 4},
                "candidate": {"variant": "treatment", "served": False, "output": cand,
                              "latency_ms": round(lat * rng.uniform(0.9, 1.3), 1), "ttft_ms": round(lat * 0.32, 1),
                              "cost_usd": round(n_c * 2.2e-6, 7), "output_tokens": n_c // 4,
                              "error": "timeout" if rng.random() < 0.001 else None},
                "judgements": [
                    {"judge": "j", "order": "baseline_first", "winner": judge_w},
                    {"judge": "j", "order": "candidate_first",
                     "winner": judge_w if rng.random() < 0.7 else rng.choice(("baseline", "candidate", "tie"))},
                ],
            }
            if orders == 1:
                row["judgements"] = row["judgements"][:1]
            fh.write(json.dumps(row, separators=(",", ":")))
            fh.write("\n")


def write_parquet(jsonl: Path, parquet: Path) -> None:
    db = connect()
    try:
        db.execute(
            "COPY (SELECT * FROM read_json($path, format = 'newline_delimited')) TO '" +
            str(parquet).replace("'", "''") + "' (FORMAT parquet, ROW_GROUP_SIZE 20000)",
            {"path": str(jsonl)},
        )
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench_data/shadow_1m.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--orders", type=int, choices=(1, 2), default=2,
                        help="judgements per pair: both orders (2) or baseline first only (1)")
    parser.add_argument("--parquet", action="store_true", help="also write OUT with a .parquet suffix")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, args.pairs, args.seed, args.orders)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e9:.2f} GB, {args.pairs:,} pairs)")
    if args.parquet:
        pq = args.out.with_suffix(".parquet")
        write_parquet(args.out, pq)
        print(f"wrote {pq} ({pq.stat().st_size / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()

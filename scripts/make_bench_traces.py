"""Write a large canonical trace file for `make bench` (1 M rows, about 2 GB of JSONL by default).

Deterministic (seeded): the same arguments give the same bytes. Rows look like real support-bot traffic:
multi-sentence inputs and outputs (~1.9 KB of text per row), several requests per user, a 5 % treatment
arm, thumbs, errors, costs and latencies, so the loader does the work it does on a real export.
Written under bench_data/ (git-ignored) unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

_WORDS = (
    "order", "status", "refund", "shipping", "account", "password", "reset", "invoice", "warranty", "delivery",
    "package", "tracking", "number", "customer", "support", "agent", "please", "thanks", "help", "issue",
    "problem", "update", "address", "payment", "card", "charge", "billing", "subscription", "plan", "upgrade",
    "cancel", "return", "label", "exchange", "product", "item", "size", "colour", "available", "stock", "week",
    "today", "tomorrow", "yesterday", "email", "phone", "confirm", "verify", "details", "information", "policy",
    "days", "business", "team", "sorry", "understand", "check", "looks", "like", "your", "the", "a", "to",
    "and", "of", "for", "with", "on", "is", "it", "this", "that", "we", "you", "can", "will",
)
_INTENTS = ("order_status", "refund", "account", "shipping", "billing", "warranty_claim", "other")
_ERRORS = ("rate_limit", "timeout", "json_parse")


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 18))
    return " ".join(words).capitalize() + "."


def _text(rng: random.Random, chars: int, pool: list[str]) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        s = pool[rng.randrange(len(pool))]
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench_data/traces_1m.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    pool = [_sentence(rng) for _ in range(5000)]
    start = datetime(2026, 11, 16, tzinfo=UTC)
    users = max(1, args.rows // 8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for i in range(args.rows):
            user = rng.randrange(users)
            treatment = user % 20 == 0
            error = rng.choice(_ERRORS) if rng.random() < 0.02 else None
            row = {
                "request_id": f"req-{i:08d}",
                "timestamp": (start + timedelta(seconds=i * 604800 / args.rows)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "user_id": f"user-{user:07d}",
                "session_id": f"sess-{user:07d}-{rng.randrange(4)}",
                "variant": "treatment" if treatment else "control",
                "served": True,
                "model": "claude-sonnet-4-6-20260301" if treatment else "claude-sonnet-4-5-20250929",
                "prompt_version": "v12",
                "input": _text(rng, 600, pool),
                "output": _text(rng, 1100, pool),
                "latency_ms": round(rng.lognormvariate(7.0, 0.4), 1),
                "ttft_ms": round(rng.lognormvariate(5.5, 0.3), 1),
                "cost_usd": round(rng.uniform(0.001, 0.02), 6),
                "input_tokens": rng.randint(100, 800),
                "output_tokens": rng.randint(50, 600),
                "cached_tokens": rng.choice((0, 0, 64, 128)),
                "cache_hit": rng.random() < 0.3,
                "error": error,
                "thumbs": rng.choice((-1, 1)) if rng.random() < 0.1 else None,
                "retried": rng.random() < 0.05,
                "final_text": _text(rng, 200, pool) if rng.random() < 0.1 else None,
                "tags": ["support", rng.choice(("en", "de", "fr"))],
                "metadata": {"intent": rng.choice(_INTENTS), "tier": rng.choice(("free", "pro"))},
            }
            fh.write(json.dumps(row, separators=(",", ":")))
            fh.write("\n")
    print(f"wrote {args.rows:,} rows, {args.out.stat().st_size / 1e9:.2f} GB to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

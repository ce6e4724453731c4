#!/usr/bin/env python3
"""Every command's `--json` on the bundled samples (and the benchmark inputs, when generated), byte for byte,
against another revision: the check a refactoring runs at each step ("behaviour does not change").

    python scripts/check_json_identical.py [--against REF] [--with-bench]

Checks out REF (default HEAD, i.e. the last commit) into a temporary git worktree, runs the same commands with
that tree's code and with the working tree's, and compares stdout and exit codes. Each side runs `--runs` times:
a command whose output varies from run to run on the same code (DuckDB sums floats in parallel, and a last
digit can flip even at 12 significant digits) is reported UNSTABLE and counts as the same when the two sides
share an output. Prints one line per command; exits 1 on any difference. Run from the repository root with the
venv's python.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
S = "sample_traces"
COMMANDS: list[list[str]] = [
    ["inspect", f"{S}/canary/traces.jsonl.gz"],
    ["inspect", f"{S}/shadow/pairs.jsonl.gz"],
    ["eval-gate", f"{S}/evals/baseline.jsonl", f"{S}/evals/candidate_improved.jsonl"],
    ["eval-gate", f"{S}/evals/baseline.jsonl", f"{S}/evals/candidate_swap.jsonl", "--strict-tag", "high_stakes"],
    ["eval-gate", f"{S}/evals/baseline.jsonl", f"{S}/evals/candidate_swap.jsonl", "--margin", "0.05"],
    ["eval-gate", f"{S}/evals/baseline.jsonl", f"{S}/evals/candidate_regression.jsonl"],
    ["shadow-report", f"{S}/shadow/pairs.jsonl.gz", "--baseline", "control", "--candidate", "treatment",
     "--eval-set", f"{S}/evals/baseline.jsonl", "--segment-by", "metadata.intent"],
    ["power", "--from-traces", f"{S}/canary/traces.jsonl.gz", "--metric-name", "thumbs_down_rate",
     "--canary-percent", "5", "--mde", "0.2", "--relative", "--sides", "1", "--sequential"],
    ["power", "--metric", "proportion", "--baseline-rate", "0.08", "--mde", "0.2", "--relative", "--sides", "1"],
    ["power", "eval", "--from-evals", f"{S}/evals/baseline.jsonl", "--mde", "0.05"],
    ["plan", "check", f"{S}/rollout.toml"],
    ["decide", f"{S}/canary/traces.jsonl.gz", "--plan", f"{S}/rollout.toml", "--stage", "5"],
    ["decide", f"{S}/canary/traces.jsonl.gz", "--plan", f"{S}/rollout.toml", "--stage", "5", "--daily"],
    ["decide", f"{S}/canary/traces.jsonl.gz", "--plan", f"{S}/rollout.toml", "--as-of", "2026-11-17"],
    ["assign", "u_971384", "u_771876", "--plan", f"{S}/rollout.toml", "--stage", "25"],
]
BENCH: list[list[str]] = [
    ["decide", "bench_data/decide_10000000_2000000_users_8_days.parquet", "--plan", f"{S}/rollout.toml"],
    ["inspect", "bench_data/adapters/canonical.jsonl"],
    ["shadow-report", "bench_data/shadow_100000.jsonl", "--baseline", "control", "--candidate", "treatment"],
]


def run(tree: Path, args: list[str]) -> tuple[int, bytes]:
    """The command with `tree`'s code: run from inside the tree, whose `rollctl/` then comes first on the
    path (ahead of the editable install); inputs are the working tree's, by absolute path, for both."""
    inputs = [str(ROOT / a) if (ROOT / a).exists() else a for a in args]
    done = subprocess.run([sys.executable, "-m", "rollctl", *inputs, "--json"], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True)
    return done.returncode, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--against", default="HEAD")
    parser.add_argument("--with-bench", action="store_true", help="also the benchmark inputs that exist")
    parser.add_argument("--runs", type=int, default=2, help="runs of each command on each side")
    args = parser.parse_args()
    commands = COMMANDS + [c for c in BENCH if args.with_bench and (ROOT / c[1]).exists()]
    differ = 0
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.against], cwd=ROOT, check=True)
        try:
            for command in commands:
                before = {run(base, command) for _ in range(args.runs)}
                after = {run(ROOT, command) for _ in range(args.runs)}
                same = bool(before & after)
                differ += not same
                label = "DIFFERS" if not same else "UNSTABLE" if len(before | after) > 1 else "same"
                codes = f"{sorted({c for c, _ in before})}/{sorted({c for c, _ in after})}"
                print(f"{label:8s} exit {codes}  rollctl {' '.join(command)}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    print(f"{len(commands) - differ} of {len(commands)} byte-identical against {args.against}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# `make demo`: run rollctl on the bundled sample_traces/ the way a new user would.
# Each stage of a rollout, in order. A verdict's exit code is printed, not treated as a failure.
set -uo pipefail
BIN="${1:-.venv/bin}"
ROLLCTL="$BIN/rollctl"
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m$ rollctl %s\033[0m\n' "$*"; "$ROLLCTL" "$@"; code=$?; printf '(exit %s)\n' "$code"; }

step inspect sample_traces/canary/traces.jsonl.gz

# Stage 1: the offline eval gate (pass, strict-mode fail on a swap that a 5-point margin passes, a regression)
step eval-gate sample_traces/evals/baseline.jsonl sample_traces/evals/candidate_improved.jsonl
step eval-gate sample_traces/evals/baseline.jsonl sample_traces/evals/candidate_swap.jsonl --strict-tag high_stakes
step eval-gate sample_traces/evals/baseline.jsonl sample_traces/evals/candidate_swap.jsonl --margin 0.05
step eval-gate sample_traces/evals/baseline.jsonl sample_traces/evals/candidate_regression.jsonl

# Stage 2: shadow traffic, paired and judged (no-go: JSON breaks in order_status)
step shadow-report sample_traces/shadow/pairs.jsonl.gz --baseline control --candidate treatment --eval-set sample_traces/evals/baseline.jsonl --segment-by metadata.intent

# Before the canary: how many users and days it needs, and what the eval set can detect
step power --from-traces sample_traces/canary/traces.jsonl.gz --metric-name thumbs_down_rate --canary-percent 5 --mde 0.2 --relative --sides 1 --sequential
step power eval --from-evals sample_traces/evals/baseline.jsonl --mde 0.05

# Stages 3-4: the canary, decided by the plan written before it started
step plan check sample_traces/rollout.toml
step decide sample_traces/canary/traces.jsonl.gz --plan sample_traces/rollout.toml --stage 5
step assign u_971384 u_771876 --plan sample_traces/rollout.toml --stage 25

# The shareable HTML report (self-contained, opens offline), written outside the repository.
OUT="${TMPDIR:-/tmp}/rollctl-demo"
mkdir -p "$OUT"
step decide sample_traces/canary/traces.jsonl.gz --plan sample_traces/rollout.toml --stage 5 --html "$OUT/report.html"
if [ -s "$OUT/report.html" ]; then printf '\nHTML report written to: %s\n' "$OUT/report.html"; fi

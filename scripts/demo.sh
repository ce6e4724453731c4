#!/usr/bin/env bash
# `make demo`: run rollctl on the bundled sample_traces/ the way a new user would.
# Each stage of a rollout, in order. A verdict's exit code is printed, not treated as a failure.
set -uo pipefail
BIN="${1:-.venv/bin}"
ROLLCTL="$BIN/rollctl"
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m$ rollctl %s\033[0m\n' "$*"; "$ROLLCTL" "$@"; code=$?; printf '(exit %s)\n' "$code"; }

step inspect sample_traces/canary/traces.jsonl.gz
step shadow-report sample_traces/shadow/pairs.jsonl.gz --baseline control --candidate treatment --eval-set sample_traces/evals/baseline.jsonl --segment-by metadata.intent

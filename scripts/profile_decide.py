#!/usr/bin/env python3
"""Per-query CPU and wall time of `rollctl decide`, in process: to see where a big input's time goes.

    python scripts/profile_decide.py TRACES PLAN [--top 25]

Wraps `Database.execute` to time every statement (CPU from `time.process_time`, all DuckDB threads),
runs the same core function as the CLI, and prints the costliest statements and the peak RSS.
On a shared machine compare CPU, not wall.
"""

from __future__ import annotations

import argparse
import resource
import time

from statement_timing import print_costliest, time_every_statement

from rollctl import db as dbmod
from rollctl.core.decide import decide
from rollctl.plan import load_plan


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("traces")
    parser.add_argument("plan")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    timings = time_every_statement(width=110)
    database = dbmod.connect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = decide(database, [args.traces], load_plan(args.plan))
    print(f"total: cpu {time.process_time() - cpu:.2f} s, wall {time.perf_counter() - wall:.2f} s, "
          f"verdict {result.verdict}")
    print_costliest(timings, args.top)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

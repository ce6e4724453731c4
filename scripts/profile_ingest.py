#!/usr/bin/env python3
"""Per-statement CPU and wall time of `rollctl inspect` and `rollctl ingest`, in process.

    python scripts/profile_ingest.py FILE [--db out.duckdb] [--top 15]

Runs inspect, then ingest into a new database file, then the same ingest again (re-ingest), wrapping
`Database.execute` to time every statement (CPU from `time.process_time`, all DuckDB threads). On a shared
machine compare CPU, not wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable

from statement_timing import print_costliest, time_every_statement

from rollctl import db as dbmod
from rollctl.core.ingest import ingest
from rollctl.core.inspect import inspect_inputs


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--db")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--only", choices=("inspect", "ingest"))
    args = parser.parse_args()
    timings = time_every_statement()
    target = args.db or os.path.join(tempfile.mkdtemp(prefix="rollctl-prof-"), "prof.duckdb")
    if os.path.exists(target):
        os.remove(target)
    steps: list[tuple[str, Callable[[dbmod.Database], object]]] = []
    if args.only in (None, "inspect"):
        steps.append(("inspect", lambda d: inspect_inputs(d, [args.file])))
    if args.only in (None, "ingest"):
        steps.append(("ingest (new)", lambda d: ingest(d, [args.file], target)))
        steps.append(("ingest (again)", lambda d: ingest(d, [args.file], target)))
    for label, work in steps:
        timings.clear()
        database = dbmod.connect()
        cpu, wall = time.process_time(), time.perf_counter()
        work(database)
        database.close()
        print(f"== {label}: cpu {time.process_time() - cpu:.2f} s, wall {time.perf_counter() - wall:.2f} s")
        print_costliest(timings, args.top, min_cpu=0.01)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
from collections.abc import Callable, Sequence
from typing import Any

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
    timings: list[tuple[float, float, str]] = []
    original = dbmod.Database.execute

    def timed(self: dbmod.Database, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        cursor = original(self, sql, params)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall, " ".join(sql.split())[:150]))
        return cursor

    dbmod.Database.execute = timed  # type: ignore[method-assign]
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
        for c, w, sql in sorted(timings, key=lambda t: -t[0])[: args.top]:
            if c >= 0.01:
                print(f"{c:7.2f} {w:7.2f}  {sql}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

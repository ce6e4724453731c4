#!/usr/bin/env python3
"""Per-query CPU and wall time of `rollctl shadow-report`, in process: to see where a big input's time goes.

    python scripts/profile_shadow.py PAIRS_FILE [--baseline control] [--candidate treatment]
        [--segment-by metadata.intent] [--top 25]

Wraps `Database.execute` (and the relation calls `fetch_arrow`/`record_batches`) to time every statement
(CPU from `time.process_time`, all DuckDB threads), times the rapidfuzz distances apart, runs the same core
function as the CLI, and prints the costliest statements and the peak RSS. On a shared machine compare
CPU, not wall. A streamed statement's time is spent while its batches are read, so `record_batches` is
timed by wrapping its reader.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rollctl import db as dbmod
from rollctl import text_distance
from rollctl.core.shadow_report import ShadowOptions, ShadowSettings, shadow_report
from rollctl.load import LoadOptions


def _peak_rss_mb() -> int:
    """The high-water mark so far (VmHWM), to see which statement set the peak."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--baseline", default="control")
    parser.add_argument("--candidate", default="treatment")
    parser.add_argument("--segment-by", default="metadata.intent")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    timings: list[tuple[float, float, str]] = []
    Params = Sequence[Any] | dict[str, Any] | None

    peaks: list[tuple[int, str]] = []

    def record(cpu: float, wall: float, sql: str) -> None:
        label = " ".join(sql.split())[:120]
        timings.append((time.process_time() - cpu, time.perf_counter() - wall, label))
        peak = _peak_rss_mb()
        if not peaks or peak > peaks[-1][0]:
            peaks.append((peak, label))

    original_execute = dbmod.Database.execute
    original_arrow = dbmod.Database.fetch_arrow
    original_batches = dbmod.Database.record_batches

    def timed_execute(self: dbmod.Database, sql: str, params: Params = None) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        cursor = original_execute(self, sql, params)
        record(cpu, wall, sql)
        return cursor

    def timed_arrow(self: dbmod.Database, sql: str, params: Params = None) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        table = original_arrow(self, sql, params)
        record(cpu, wall, "[arrow] " + sql)
        return table

    def timed_batches(self: dbmod.Database, sql: str, params: Params = None, batch_size: int = 100_000) -> Any:
        reader = original_batches(self, sql, params, batch_size)

        def gen() -> Iterator[Any]:
            it = iter(reader)
            while True:
                cpu, wall = time.process_time(), time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    record(cpu, wall, "[batches] " + sql)
                    return
                record(cpu, wall, "[batches] " + sql)
                yield batch

        return gen()

    original_cpdist = text_distance.process.cpdist

    def timed_cpdist(*a: Any, **k: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        out = original_cpdist(*a, **k)
        record(cpu, wall, "[python] rapidfuzz cpdist")
        return out

    dbmod.Database.execute = timed_execute  # type: ignore[method-assign]
    dbmod.Database.fetch_arrow = timed_arrow  # type: ignore[method-assign]
    dbmod.Database.record_batches = timed_batches  # type: ignore[method-assign]
    text_distance.process.cpdist = timed_cpdist  # type: ignore[assignment]
    database = dbmod.connect()
    options = ShadowOptions(paths=tuple(args.paths), baseline=args.baseline, candidate=args.candidate,
                            load=LoadOptions(baseline_name=args.baseline, candidate_name=args.candidate),
                            segment_by=args.segment_by, settings=ShadowSettings())
    cpu, wall = time.process_time(), time.perf_counter()
    result = shadow_report(database, options)
    total_cpu, total_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"total: cpu {total_cpu:.2f} s, wall {total_wall:.2f} s, verdict {result.verdict}, pairs {result.pairs}")
    grouped: dict[str, list[float]] = {}
    for c, w, sql in timings:
        g = grouped.setdefault(sql, [0.0, 0.0, 0.0])
        g[0] += c
        g[1] += w
        g[2] += 1
    accounted = sum(g[0] for g in grouped.values())
    print(f"timed statements: cpu {accounted:.2f} s (the rest is Python between statements)")
    for sql, (c, w, k) in sorted(grouped.items(), key=lambda t: -t[1][0])[: args.top]:
        print(f"{c:7.2f} {w:7.2f} x{int(k):<3d} {sql}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; where it grew:")
    for peak, label in peaks[-8:]:
        print(f"  {peak:6d} MB after {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

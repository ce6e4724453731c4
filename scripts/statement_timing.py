"""Shared by the profile_*.py scripts: time every DuckDB statement a core function runs, in process.

CPU comes from `time.process_time` (all DuckDB threads), so the figures hold on a shared machine, where
wall time does not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rollctl import db as dbmod

Timing = tuple[float, float, str]
"""(CPU s, wall s, the statement's first characters on one line)."""


def time_every_statement(width: int = 150) -> list[Timing]:
    """Wrap `Database.execute` for the rest of the process; the returned list fills as statements run."""
    timings: list[Timing] = []
    original = dbmod.Database.execute

    def timed(self: dbmod.Database, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        cursor = original(self, sql, params)
        timings.append((time.process_time() - cpu, time.perf_counter() - wall, " ".join(sql.split())[:width]))
        return cursor

    dbmod.Database.execute = timed  # type: ignore[method-assign]
    return timings


def print_costliest(timings: list[Timing], top: int, min_cpu: float = 0.0) -> None:
    for cpu, wall, sql in sorted(timings, key=lambda t: -t[0])[:top]:
        if cpu >= min_cpu:
            print(f"{cpu:7.2f} {wall:7.2f}  {sql}")

"""1M OTLP GenAI spans vs 1M canonical rows: `rollctl inspect` wall time, CPU time and peak memory.

Prints figures; never asserts timings (a shared CI machine is no stopwatch). The OTLP export is ~3.6x
the bytes of the canonical JSONL for the same calls, and one span in ten is a tool call the adapter
skips, so the OTLP side loads 1M spans into 900k rows.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = int(os.environ.get("ROLLCTL_BENCH_ROWS", "1000000"))


def _run(path: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one `rollctl inspect --json` in a subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rollctl", "inspect", str(path), "--json"], check=True,
                   stdout=subprocess.DEVNULL, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


@pytest.mark.bench
def test_bench_otel_vs_canonical(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = REPO / "bench_data" / "adapters"
    otel, canonical = out / "spans.otlp.jsonl", out / "canonical.jsonl"
    if not (otel.exists() and canonical.exists()) or os.environ.get("ROLLCTL_BENCH_REGEN"):
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_bench_adapters.py"), "--rows", str(ROWS),
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    for label, path in (("canonical JSONL", canonical), ("OTLP/JSON spans", otel)):
        wall, cpu, rss = _run(path)
        size = path.stat().st_size / 1e6
        print(f"\n{label}: {ROWS:,} records, {size:,.0f} MB: wall {wall:.1f} s, cpu {cpu:.1f} s, "
              f"peak RSS {rss:,.0f} MB (max over runs so far)")
        if path == canonical:
            ref_wall, ref_cpu = _reference(path)
            print(f"reference, DuckDB alone reading every canonical field of the same file: wall {ref_wall:.1f} s, "
                  f"cpu {ref_cpu:.1f} s; inspect / reference: wall {wall / ref_wall:.2f}x, cpu {cpu / ref_cpu:.2f}x "
                  "(target 1.5x)")


def _reference(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a bare DuckDB pass over the file reading every field it holds (all canonical: a
    count of each), in a subprocess like the inspect run: the floor any reader of these fields pays."""
    sql = "SELECT count(*), count(COLUMNS(*)) FROM read_json(?, format = 'newline_delimited')"
    script = "import duckdb, sys; duckdb.execute(sys.argv[1], [sys.argv[2]]).fetchall()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, sql, str(path)], check=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

"""`make bench`: inspect and ingest on 1 M generated trace rows (~2 GB JSONL), next to a bare DuckDB scan.

Prints wall time, CPU time and peak memory (RSS) of each run as a subprocess, measured in the same run so
the ratios hold on a busy machine. Target (issue 2): within 1.5x of the bare scan, peak memory < 1 GB.
Figures are printed, never asserted. ROLLCTL_BENCH_ROWS overrides the row count (default 1,000,000).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ROWS = int(os.environ.get("ROLLCTL_BENCH_ROWS", "1000000"))
DATA = REPO_ROOT / "bench_data" / f"traces_{ROWS}.jsonl"
BIN = Path(sys.executable).parent

BARE_SCAN = (
    "import duckdb, sys; c = duckdb.connect(); "
    "print(c.execute(\"SELECT count(*) FROM read_json(?, format = 'newline_delimited')\", [sys.argv[1]]).fetchone()[0])"
)
# An extra reference, not the issue's: the cheapest way DuckDB itself writes the file into a database file
# (every field as inferred, default compression, no validation or de-duplication). Ingest cannot cost less
# than reading plus writing compressed storage; this shows what that costs on the same machine and run.
BARE_CTAS = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[2]); "
    "c.execute(\"CREATE TABLE t AS SELECT * FROM read_json(?, format = 'newline_delimited')\", [sys.argv[1]]); "
    "c.execute('CHECKPOINT')"
)

# Two more references, to tell the target's distance from what the machine allows (issue 2 asks for 1.5x the
# count(*) scan): copying the file's bytes with an fsync (what this disk takes to write the export once; a
# store that compresses writes less, so it is a scale, not a floor), and DuckDB reading every canonical field
# of every row as text with no conversion or validation (inspect reads and type-checks all of them: a floor).
COPY_FILE = (
    "import os, shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2]); "
    "fd = os.open(sys.argv[2], os.O_RDONLY); os.fsync(fd); os.close(fd)"
)
EXTRACT_FIELDS = (
    "import duckdb, sys\n"
    "from rollctl.load.canonical import TRACE_FIELDS\n"
    "cols = {f.name: 'JSON' if f.kind in ('list', 'json') else 'VARCHAR' for f in TRACE_FIELDS}\n"
    "counts = ', '.join(f'count(\"{n}\")' for n in cols)\n"
    "c = duckdb.connect()\n"
    "print(c.execute(f\"SELECT count(*), {counts} FROM read_json(?, format = 'newline_delimited', columns = ?)\", "
    "[sys.argv[1], cols]).fetchone()[0])\n"
)


def _ensure_data() -> Path:
    if not DATA.exists():
        subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_bench_traces.py"), "--rows", str(ROWS),
                        "--out", str(DATA)], check=True)
    return DATA


def _measure(label: str, argv: list[str]) -> dict[str, float]:
    """Run argv as a subprocess: wall and CPU seconds, and peak RSS (GNU time -v if present, else rusage)."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    if time_bin:
        proc = subprocess.run([time_bin, "-v", *argv], capture_output=True, text=True)
    else:
        proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, f"{label} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = float(after.ru_maxrss)  # max over all children so far: a fallback only
    if time_bin:
        for line in proc.stderr.splitlines():
            if "Maximum resident set size" in line:
                peak_kb = float(line.rsplit(":", 1)[1])
    return {"wall": wall, "cpu": cpu, "peak_mb": peak_kb / 1024}


@pytest.mark.bench
def test_bench_inspect_and_ingest(tmp_path: Path) -> None:
    data = _ensure_data()
    size_gb = data.stat().st_size / 1e9
    rollctl = str(BIN / "rollctl")
    db = tmp_path / "bench.duckdb"
    runs = [
        ("bare DuckDB count(*)", [sys.executable, "-c", BARE_SCAN, str(data)]),
        ("extra ref: DuckDB CTAS to file", [sys.executable, "-c", BARE_CTAS, str(data), str(tmp_path / "ctas.duckdb")]),
        ("extra ref: copy file + fsync", [sys.executable, "-c", COPY_FILE, str(data), str(tmp_path / "copy.jsonl")]),
        ("extra ref: DuckDB reads fields", [sys.executable, "-c", EXTRACT_FIELDS, str(data)]),
        ("rollctl inspect --json", [rollctl, "inspect", str(data), "--json"]),
        ("rollctl ingest --db (new)", [rollctl, "ingest", str(data), "--db", str(db), "--json"]),
        ("rollctl ingest --db (again)", [rollctl, "ingest", str(data), "--db", str(db), "--json"]),
    ]
    results = {label: _measure(label, argv) for label, argv in runs}
    bare = results["bare DuckDB count(*)"]
    ctas = results["extra ref: DuckDB CTAS to file"]
    print(f"\n{ROWS:,} rows, {size_gb:.2f} GB JSONL, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"{'run':32} {'wall s':>8} {'x bare':>7} {'cpu s':>8} {'x bare':>7} {'x ctas':>7} {'peak MB':>8}")
    for label, r in results.items():
        print(f"{label:32} {r['wall']:8.1f} {r['wall'] / bare['wall']:7.2f} {r['cpu']:8.1f} "
              f"{r['cpu'] / bare['cpu']:7.2f} {r['cpu'] / ctas['cpu']:7.2f} {r['peak_mb']:8.0f}")
    print("x bare: against the issue's reference (count(*) scan); x ctas: CPU against the extra reference "
          "(DuckDB writing the file into a database file, no validation or de-duplication). The field read is a "
          "floor for inspect (it reads every canonical field); the copy shows what this disk takes to write the "
          "export once")

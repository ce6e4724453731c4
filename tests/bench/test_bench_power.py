"""Benchmark: `rollctl power --from-traces` on about 1 M requests. Prints wall time and peak memory."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_bench_power_from_traces(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from make_power_bench import main as make

    data = make(250_000, tmp_path / "traces.parquet")
    rollctl = Path(sys.executable).parent / "rollctl"
    cmd = ["/usr/bin/time", "-v", str(rollctl), "power", "--from-traces", str(data), "--metric-name",
           "thumbs_down_rate", "--canary-percent", "5", "--mde", "0.2", "--relative", "--sides", "1",
           "--sequential", "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", done.stderr)
    sys_t = re.search(r"System time \(seconds\): ([\d.]+)", done.stderr)
    cpu = float(user.group(1)) + float(sys_t.group(1)) if user and sys_t else float("nan")
    print(f"\npower --from-traces, {data.stat().st_size / 1e6:.1f} MB parquet, 250k users: wall {wall:.2f} s, "
          f"CPU {cpu:.2f} s, peak RSS {int(peak.group(1)) / 1024 if peak else float('nan'):.0f} MB")

"""Benchmark: `rollctl serve` answering from cache at a paced 200 requests/s (target: p99 under 50 ms).

The sample canary is ingested into a database, the server started on loopback as its own process, the cache
warmed by one request; then requests are sent on a fixed schedule (open loop: a slow answer does not slow the
schedule down, so queueing shows in the latencies) from a pool of client threads in this process. Printed:
the rate achieved, latency percentiles, and beside them a bare loopback reference measured the same way
(GET /healthz, which does no work), so a busy machine shows in both figures. Nothing is asserted on time.
Set ROLLCTL_BENCH_SERVE_RATE and ROLLCTL_BENCH_SERVE_SECONDS to try other loads.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_TRACES, invoke
from tests.test_serve import start, stop

RATE = float(os.environ.get("ROLLCTL_BENCH_SERVE_RATE", "200"))
SECONDS = float(os.environ.get("ROLLCTL_BENCH_SERVE_SECONDS", "10"))


def paced(url: str) -> tuple[float, list[float], int]:
    """(seconds taken, latencies in ms, failures) of RATE x SECONDS GETs sent on schedule."""
    total = int(RATE * SECONDS)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start_at = time.perf_counter() + 0.2

    def one(i: int) -> None:
        nonlocal failures
        due = start_at + i / RATE
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
                ok = response.status == 200
        except OSError:
            ok = False
        took = (time.perf_counter() - max(sent, due)) * 1000
        with lock:
            latencies.append(took)
            failures += 0 if ok else 1

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(total)))
    return time.perf_counter() - start_at, latencies, failures


def summary(name: str, took: float, latencies: list[float], failures: int) -> str:
    q = statistics.quantiles(latencies, n=100)
    return (f"{name:28s} {len(latencies) / took:6.1f} req/s  p50 {q[49]:6.1f} ms  p99 {q[98]:6.1f} ms  "
            f"max {max(latencies):6.1f} ms  failures {failures}")


@pytest.mark.bench
def test_bench_serve_from_cache(tmp_path: Path) -> None:
    db = tmp_path / "sample.duckdb"
    invoke(["ingest", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"), "--db", str(db)], expect=0)
    server = start([str(db), "--plan", f"support={SAMPLE_TRACES / 'rollout.toml'}", "--cache-seconds", "3600"],
                   tmp_path / "stderr.log")
    try:
        warm = time.perf_counter()
        assert server.get("/v1/decide?plan=support&stage=5")[0] == 200
        first = time.perf_counter() - warm
        health = paced(server.url + "/healthz")
        decide = paced(server.url + "/v1/decide?plan=support&stage=5")
    finally:
        stop(server)
    print(f"\nrollctl serve on the sample database, {RATE:g} req/s for {SECONDS:g} s (cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]})")
    print(f"first /v1/decide (computed): {first * 1000:.0f} ms")
    print(summary("GET /healthz (reference)", *health))
    print(summary("GET /v1/decide (cached)", *decide))
    print("target: 200 req/s from cache with p99 under 50 ms")
    assert decide[2] == 0

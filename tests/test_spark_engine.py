"""`--engine spark`: the same command gives the same `--json`, verdict and exit code as the embedded DuckDB
engine, with the reductions run by a local Spark session (the suite's one, `tests/spark_session.py`)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import SAMPLE_TRACES, invoke, write_jsonl
from tests.decide_sim import trace_table, write_parquet
from tests.test_cli_decide import PLAN


def assert_same_json(left: Any, right: Any, where: str = "") -> None:
    """Equal value by value; floats to 1e-9 relative (sums are added in another order on another engine)."""
    if isinstance(left, float) and isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {left} != {right}"
    elif isinstance(left, dict) and isinstance(right, dict):
        assert left.keys() == right.keys(), where
        for key in left:
            assert_same_json(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same_json(a, b, f"{where}[{i}]")
    else:
        assert left == right, f"{where}: {left!r} != {right!r}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("spark_decide")
    plan = d / "plan.toml"
    plan.write_text(PLAN.format(stage=50), encoding="utf-8")
    return {
        "plan": plan,
        "bad": write_parquet(trace_table(2, users=3000, percent=50, lift_thumbs=1.5, lift_error=4.0),
                             d / "bad.parquet"),
        "reqhash": write_parquet(trace_table(3, users=2000, percent=50, request_hashing=True), d / "req.parquet"),
        "cache": write_parquet(trace_table(8, users=2000, percent=50, cache_rates=(0.30, 0.50)), d / "cache.parquet"),
    }


def both_engines(args: list[str]) -> tuple[Any, Any, int]:
    on_duckdb = invoke([*args, "--json"])
    on_spark = invoke([*args, "--json", "--engine", "spark"])
    assert on_spark.exit_code == on_duckdb.exit_code, on_spark.stdout + on_spark.stderr
    return on_duckdb.json(), on_spark.json(), on_duckdb.exit_code


@pytest.mark.parametrize(("name", "extra", "exit_code"), [
    ("bad", ["--daily"], 1),                        # rollback; the per-day confidence sequences (window query)
    ("reqhash", [], 3),                             # mixed units: Spark's stand-in for DELETE, the audit
    ("cache", ["--as-of", "2026-11-19"], 3),        # cache strata; a replayed date
])
def test_decide_json_is_the_same_on_spark(spark: Any, data: dict[str, Path], name: str, extra: list[str],
                                          exit_code: int) -> None:
    on_duckdb, on_spark, code = both_engines(["decide", str(data[name]), "--plan", str(data["plan"]), *extra])
    assert code == exit_code
    assert_same_json(on_duckdb, on_spark)


def test_the_bundled_canary_rolls_back_on_spark_as_on_duckdb(spark: Any) -> None:
    """JSON lines (gzip) read by Spark, the plan's quantile guardrail (exact order statistics) included."""
    on_duckdb, on_spark, code = both_engines(["decide", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"),
                                              "--plan", str(SAMPLE_TRACES / "rollout.toml")])
    assert code == 1 and on_spark["verdict"] == "rollback"
    assert_same_json(on_duckdb, on_spark)


def test_a_catalog_table_is_read_with_table(spark: Any, data: dict[str, Path]) -> None:
    spark.read.parquet(str(data["bad"])).createOrReplaceTempView("rollctl_test_traces")
    try:
        on_table = invoke(["decide", "--plan", str(data["plan"]), "--engine", "spark", "--table",
                           "rollctl_test_traces", "--json"], expect=1)
    finally:
        spark.catalog.dropTempView("rollctl_test_traces")
    on_file = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), "--json"], expect=1)
    assert_same_json(on_file.json(), on_table.json())


def test_an_ansi_cast_failure_is_one_line_exit_2(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """A canonical column holding text that is not a number: Spark's ANSI cast raises; the user sees one line."""
    path = tmp_path / "bad_types.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * REPLACE ('<script>x</script>' AS latency_ms) FROM read_parquet('{data['bad']}')) "
                f"TO '{path}' (FORMAT parquet)")
    out = invoke(["decide", str(path), "--plan", str(data["plan"]), "--engine", "spark"], expect=2)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Spark could not run a reduction"), out.stderr
    assert "<script>" not in out.stderr  # a value from the data never reaches the message
    as_json = invoke(["decide", str(path), "--plan", str(data["plan"]), "--engine", "spark", "--json"], expect=2)
    assert as_json.json()["reasons"][0]["code"] == "INPUT_ERROR"


def test_a_failed_spark_run_in_its_own_process_prints_one_line(data: dict[str, Path], tmp_path: Path) -> None:
    """A user's process starts its own JVM: Spark's start-up banners and warnings, and pyspark's JSON error log with
    the Java stack, must not bury the error (only the JVM's own notice of its incubator module remains)."""
    import subprocess

    path = tmp_path / "bad_types.parquet"
    duckdb.connect().execute(f"COPY (SELECT * REPLACE ('n/a' AS latency_ms) FROM read_parquet('{data['bad']}')) "
                             f"TO '{path}' (FORMAT parquet)")
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONF_DIR", "SPARK_HOME")}
    out = subprocess.run([sys.executable, "-m", "rollctl", "decide", str(path), "--plan", str(data["plan"]),
                          "--engine", "spark"], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: Spark could not run"), out.stderr


def test_without_pyspark_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, data: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    out = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), "--engine", "spark"], expect=2)
    assert out.stderr.strip() == ("error: --engine spark needs pyspark, which is not installed; "
                                  "pip install 'rollctl[spark]'")
    as_json = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), "--engine", "spark", "--json"],
                     expect=2)
    assert "rollctl[spark]" in json.dumps(as_json.json())


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark", "--spark-remote", "http://host:15002"], "is not a Spark Connect URL"),
    (["--table", "db.traces"], "need --engine spark"),
    (["--spark-remote", "sc://host:15002"], "need --engine spark"),
])
def test_engine_options_are_checked_before_anything_starts(data: dict[str, Path], args: list[str],
                                                           message: str) -> None:
    out = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), *args], expect=2)
    assert message in out.stderr


@pytest.mark.parametrize("name", ["traces.duckdb", "export.csv", "traces.jsonl.zst"])
def test_inputs_only_duckdb_reads_are_refused_with_the_way_to_read_them(spark: Any, data: dict[str, Path],
                                                                        tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    out = invoke(["decide", str(path), "--plan", str(data["plan"]), "--engine", "spark"], expect=2)
    assert "read by DuckDB" in out.stderr and out.stderr.count("\n") == 1


def test_paths_and_table_together_are_refused(data: dict[str, Path]) -> None:
    out = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), "--engine", "spark", "--table", "t"],
                 expect=2)
    assert "not both" in out.stderr


def test_power_from_traces_is_the_same_on_spark(spark: Any) -> None:
    args = ["power", "--from-traces", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"), "--metric-name",
            "thumbs_down_rate", "--canary-percent", "5", "--mde", "0.2", "--relative"]
    on_duckdb, on_spark, code = both_engines(args)
    assert code == 0 and on_spark["estimates"]["users"] > 1000
    assert_same_json(on_duckdb, on_spark)


def test_power_reads_a_catalog_table_with_table(spark: Any, data: dict[str, Path]) -> None:
    spark.read.parquet(str(data["bad"])).createOrReplaceTempView("rollctl_power_traces")
    try:
        on_table = invoke(["power", "--table", "rollctl_power_traces", "--engine", "spark", "--metric-name",
                           "thumbs_down_rate", "--mde", "0.2", "--relative", "--baseline", "control", "--json"],
                          expect=0).json()
    finally:
        spark.catalog.dropTempView("rollctl_power_traces")
    on_file = invoke(["power", "--from-traces", str(data["bad"]), "--metric-name", "thumbs_down_rate", "--mde",
                      "0.2", "--relative", "--baseline", "control", "--json"], expect=0).json()
    assert on_table["estimates"]["paths"] == on_table["inputs"]["from_traces"] == ["rollctl_power_traces"]
    on_table["estimates"]["paths"] = on_file["estimates"]["paths"]
    on_table["inputs"]["from_traces"] = on_file["inputs"]["from_traces"]
    assert_same_json(on_file, on_table)


def test_power_on_spark_needs_traces() -> None:
    out = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.2", "--relative",
                  "--engine", "spark"], expect=2)
    assert "--from-traces" in out.stderr


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Spark Connect server on a free loopback port, started from pyspark's own script in the foreground,
    as a cluster would run it; stopped (its whole process group) after the module."""
    import os
    import signal
    import socket
    import subprocess
    import time

    import pyspark

    home = Path(pyspark.__file__).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable}
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]",
             "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.sql.shuffle.partitions=2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        give_up_at = time.monotonic() + 300  # a JVM start on a busy 2-core machine; not a timing assertion
        while True:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None and time.monotonic() < give_up_at, log.read_text()[-2000:]
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_decide_through_spark_connect_is_the_same(connect_server: str, data: dict[str, Path]) -> None:
    """`--spark-remote sc://...`: the client sends the translated statements; the server runs them (and the
    audit's Python on its workers). A separate process, as a user's CLI would be."""
    import subprocess

    for path, plan, code in ((SAMPLE_TRACES / "canary" / "traces.jsonl.gz", SAMPLE_TRACES / "rollout.toml", 1),
                             (data["reqhash"], data["plan"], 3)):
        args = [sys.executable, "-m", "rollctl", "decide", str(path), "--plan", str(plan), "--json"]
        local = subprocess.run(args, capture_output=True, text=True, check=False)
        remote = subprocess.run([*args, "--engine", "spark", "--spark-remote", connect_server],
                                capture_output=True, text=True, check=False)
        assert (local.returncode, remote.returncode) == (code, code), remote.stderr[-2000:]
        assert_same_json(json.loads(local.stdout), json.loads(remote.stdout))


@pytest.fixture(scope="module")
def canary_rows() -> list[dict[str, Any]]:
    import gzip

    with gzip.open(SAMPLE_TRACES / "canary" / "traces.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_malformed_json_lines_are_refused_or_skipped_and_counted_as_on_duckdb(
        spark: Any, canary_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in canary_rows]
    lines[100] = '{"request_id": "r1", "user_id": "u_1", "variant": "control", "latency_ms": 12'  # cut short
    lines[200] = "not json at all <script>alert(1)</script> [/] \x1b[31m"
    encoded = [line.encode("utf-8") for line in lines]
    encoded[300] = encoded[300].replace(b'"output": "', b'"output": "\xff\xfe')  # invalid UTF-8
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b"\n".join(encoded) + b"\n")
    plan = str(SAMPLE_TRACES / "rollout.toml")
    refused = invoke(["decide", str(path), "--plan", plan, "--engine", "spark"], expect=2)
    assert refused.stderr.count("\n") == 1 and "3 malformed JSON line(s)" in refused.stderr
    assert "<script>" not in refused.stderr and "\x1b" not in refused.stderr
    on_duckdb, on_spark, code = both_engines(["decide", str(path), "--plan", plan, "--on-bad-lines", "skip"])
    assert code == 1 and on_spark["skipped_lines"] == on_duckdb["skipped_lines"] == 3
    assert_same_json(on_duckdb, on_spark)


def test_epoch_millisecond_timestamps_are_refused_not_misread(spark: Any, canary_rows: list[dict[str, Any]],
                                                               tmp_path: Path) -> None:
    """Spark casts an epoch number as seconds: milliseconds would land in the year 58,000 and stretch the stage
    to millennia. The contract says TIMESTAMP or ISO-8601 text; anything outside 2000-2099 is refused."""
    from datetime import datetime

    rows = [dict(r) for r in canary_rows[:2000]]
    for r in rows:
        r["timestamp"] = int(datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    path = write_jsonl(tmp_path / "epoch_ms.jsonl", rows)
    out = invoke(["decide", str(path), "--plan", str(SAMPLE_TRACES / "rollout.toml"), "--engine", "spark"],
                 expect=2)
    assert "timestamp outside 2000-2099" in out.stderr and out.stderr.count("\n") == 1


def test_values_outside_a_field_range_are_refused_on_both_engines(spark: Any, canary_rows: list[dict[str, Any]],
                                                                   tmp_path: Path) -> None:
    rows = [dict(r) for r in canary_rows[:2000]]
    rows[7]["latency_ms"] = -5
    path = write_jsonl(tmp_path / "negative.jsonl", rows)
    plan = str(SAMPLE_TRACES / "rollout.toml")
    for engine in ("duckdb", "spark"):
        out = invoke(["decide", str(path), "--plan", plan, "--engine", engine], expect=2)
        assert "latency_ms" in out.stderr, (engine, out.stderr)


def test_hostile_text_in_traces_gives_the_same_result(spark: Any, canary_rows: list[dict[str, Any]],
                                                      tmp_path: Path) -> None:
    """Markup, terminal escapes, SQL and quotes in every text field, and in a variant nobody plans for."""
    hostile = "<script>alert(1)</script> [/] [bold]x \x1b[2J'; DROP TABLE traces; -- \"q\""
    rows = [dict(r) for r in canary_rows[:3000]]
    for r in rows[::7]:
        r.update(input=hostile, output=hostile, model=r["model"], prompt_version=r["prompt_version"],
                 error=r["error"])
    rows.append({**rows[0], "variant": hostile, "user_id": hostile})
    path = write_jsonl(tmp_path / "hostile.jsonl", rows)
    on_duckdb, on_spark, _ = both_engines(["decide", str(path), "--plan", str(SAMPLE_TRACES / "rollout.toml")])
    assert_same_json(on_duckdb, on_spark)


def test_edit_distances_are_computed_on_the_executors_with_the_same_result(spark: Any,
                                                                           tmp_path: Path) -> None:
    """The edit-distance metric: rapidfuzz runs inside an Arrow batch function on Spark's executors and only
    per-unit sums come back; decide and power --from-traces give DuckDB's --json."""
    from tests.test_edit_distance import PLAN as EDIT_PLAN
    from tests.test_edit_distance import with_texts

    plan = tmp_path / "plan.toml"
    plan.write_text(EDIT_PLAN, encoding="utf-8")
    more = write_parquet(with_texts(trace_table(12, users=1500, percent=50), 12, edit_base=0.10, edit_cand=0.30),
                         tmp_path / "more.parquet")
    on_duckdb, on_spark, code = both_engines(["decide", str(more), "--plan", str(plan)])
    assert code == 1 and any(m["name"] == "edit_distance" and m["status"] == "breached" for m in on_spark["metrics"])
    assert_same_json(on_duckdb, on_spark)
    on_duckdb, on_spark, code = both_engines(["power", "--from-traces", str(more), "--metric-name", "edit_distance",
                                              "--baseline", "control", "--mde", "0.02"])
    assert code == 0
    assert_same_json(on_duckdb, on_spark)


@pytest.mark.parametrize(("args", "exit_code"), [
    (["baseline.jsonl", "candidate_regression.jsonl"], 1),                   # two files: arms by file
    (["baseline.jsonl", "candidate_improved.jsonl"], 0),
    (["baseline.jsonl", "candidate_swap.jsonl", "--strict"], 1),
    (["*.jsonl", "--baseline", "main", "--candidate", "pr-483"], 1),       # one glob: arms by variant name
])
def test_eval_gate_json_is_the_same_on_spark(spark: Any, args: list[str], exit_code: int) -> None:
    evals = SAMPLE_TRACES / "evals"
    given = [str(evals / a) if a.endswith(".jsonl") else a for a in args]  # the glob too: Spark expands it
    on_duckdb, on_spark, code = both_engines(["eval-gate", *given])
    assert code == exit_code
    assert_same_json(on_duckdb, on_spark)

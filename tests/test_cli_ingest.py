"""`rollctl ingest` re-ingesting: an export already loaded adds nothing and reports what a full load would,
and anything that changes what the input loads as (its bytes, the options) is loaded again."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import invoke, trace_row, write_jsonl


def _traces(data: dict[str, object]) -> dict[str, int]:
    tables = data["tables"]
    assert isinstance(tables, list)
    return next(t for t in tables if t["table"] == "traces")


def test_reingest_of_the_same_export_reports_its_duplicates_and_skipped_lines(tmp_path: Path) -> None:
    rows: list[dict[str, object] | str] = [trace_row(i % 7) for i in range(10)]
    rows += [trace_row(20, latency_ms="slow"), "{not json"]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    db = str(tmp_path / "x.duckdb")
    args = ["ingest", str(path), "--db", db, "--on-bad-lines", "skip", "--json"]
    first = invoke(args, expect=0).json()
    assert (_traces(first)["rows_read"], _traces(first)["duplicates_in_input"], _traces(first)["added"]) == (10, 3, 7)
    for _ in range(2):
        again = invoke(args, expect=0).json()
        t = _traces(again)
        assert (t["rows_read"], t["duplicates_in_input"], t["already_present"], t["added"], t["total_after"]) == (
            10, 3, 7, 0, 7)
        assert again["skipped_lines"] == first["skipped_lines"] == 2
        assert again["added"] == 0 and again["files"] == first["files"]
        assert {w["code"] for w in again["warnings"]} == {"NOTHING_NEW", "DUPLICATES_IN_INPUT"}


def test_an_export_changed_in_place_is_loaded_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(i) for i in range(5)])
    stat = os.stat(path)
    db = str(tmp_path / "x.duckdb")
    invoke(["ingest", str(path), "--db", db], expect=0)
    path.write_text(path.read_text().replace('"r4"', '"r9"'))  # same length, a new request
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size
    data = invoke(["ingest", str(path), "--db", db, "--json"], expect=0).json()
    assert (_traces(data)["already_present"], _traces(data)["added"], _traces(data)["total_after"]) == (4, 1, 6)


def test_reingest_with_other_options_loads_again(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2, latency_ms="slow"), trace_row(3)])
    db = str(tmp_path / "x.duckdb")
    invoke(["ingest", str(path), "--db", db, "--on-bad-lines", "skip"], expect=0)
    failed = invoke(["ingest", str(path), "--db", db], expect=2)
    assert "latency_ms" in failed.stderr
    renamed = write_jsonl(tmp_path / "u.jsonl", [{**trace_row(i), "rid": f"x{i}"} for i in range(3)])
    invoke(["ingest", str(renamed), "--db", db], expect=0)
    data = invoke(["ingest", str(renamed), "--db", db, "--map", "request_id=rid", "--json"], expect=0).json()
    assert _traces(data)["added"] == 3


def test_a_database_ingested_into_reads_the_same_after_a_shortcut_reingest(tmp_path: Path, traces_file: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    invoke(["ingest", str(traces_file), "--db", db], expect=0)
    before = invoke(["inspect", db, "--json"], expect=0).json()
    invoke(["ingest", str(traces_file), "--db", db], expect=0)
    after = invoke(["inspect", db, "--json"], expect=0).json()
    assert after["traces"] == before["traces"]

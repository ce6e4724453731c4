"""`rollctl ingest` re-ingesting: an export already loaded adds nothing and reports what a full load would,
and anything that changes what the input loads as (its bytes, the options) is loaded again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rollctl.load import files
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


def test_duplicates_of_rows_already_present_are_still_counted(tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    invoke(["ingest", str(write_jsonl(tmp_path / "a.jsonl", [trace_row(i) for i in range(6)])), "--db", db],
           expect=0)
    rows = [trace_row(0), trace_row(0, latency_ms=1), trace_row(1), trace_row(6), trace_row(6, latency_ms=2)]
    data = invoke(["ingest", str(write_jsonl(tmp_path / "b.jsonl", rows)), "--db", db, "--json"], expect=0).json()
    t = _traces(data)
    assert (t["rows_read"], t["duplicates_in_input"], t["already_present"], t["added"], t["total_after"]) == (
        5, 2, 2, 1, 7)
    kept = invoke(["inspect", db, "--json"], expect=0).json()
    assert kept["traces"]["rows"] == 7


def test_a_failed_ingest_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    good = write_jsonl(tmp_path / "a.jsonl", [trace_row(i) for i in range(4)])
    invoke(["ingest", str(good), "--db", str(db)], expect=0)
    before = invoke(["inspect", str(db), "--json"], expect=0).json()["traces"]
    wrong_type = write_jsonl(tmp_path / "b.jsonl", [trace_row(10), trace_row(11), trace_row(12, latency_ms="x")])
    assert "b.jsonl:3: field latency_ms" in invoke(["ingest", str(wrong_type), "--db", str(db)], expect=2).stderr
    no_id = write_jsonl(tmp_path / "c.jsonl", [trace_row(20), {"variant": "control", "user_id": "u"}])
    assert "request_id" in invoke(["ingest", str(no_id), "--db", str(db)], expect=2).stderr
    malformed = write_jsonl(tmp_path / "d.jsonl", [trace_row(30), "{oops"])
    assert "d.jsonl:2: not valid JSON" in invoke(["ingest", str(malformed), "--db", str(db)], expect=2).stderr
    assert invoke(["inspect", str(db), "--json"], expect=0).json()["traces"] == before


def test_a_failed_first_ingest_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    wrong_type = write_jsonl(tmp_path / "b.jsonl", [trace_row(1), trace_row(2, latency_ms="x")])
    invoke(["ingest", str(wrong_type), "--db", str(db)], expect=2)
    malformed = write_jsonl(tmp_path / "d.jsonl", [trace_row(30), "{oops"])
    invoke(["ingest", str(malformed), "--db", str(db)], expect=2)
    assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()


def test_rows_deleted_by_hand_are_restored_by_a_reingest(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(i) for i in range(5)])
    db = tmp_path / "x.duckdb"
    invoke(["ingest", str(path), "--db", str(db)], expect=0)
    from rollctl.db import connect

    database = connect(db)
    database.execute("DELETE FROM traces WHERE request_id IN ('r1', 'r3')")
    database.close()
    data = invoke(["ingest", str(path), "--db", str(db), "--json"], expect=0).json()
    assert (_traces(data)["already_present"], _traces(data)["added"], _traces(data)["total_after"]) == (3, 2, 5)


def test_a_database_with_a_foreign_traces_table_is_refused_and_left_alone(tmp_path: Path) -> None:
    from rollctl.db import connect

    db_path = tmp_path / "other.duckdb"
    other = connect(db_path)
    other.execute("CREATE TABLE traces (a INTEGER)")
    other.execute("INSERT INTO traces VALUES (1)")
    other.close()
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(i) for i in range(3)])
    result = invoke(["ingest", str(path), "--db", str(db_path)], expect=2)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "not write" in result.stderr and "--db" in result.stderr
    reopened = connect(db_path, read_only=True)
    assert reopened.fetchall("SELECT * FROM traces") == [(1,)]


def test_content_digest_is_a_sha256_tree_over_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest hashes chunks on every core: it must equal SHA-256(size || SHA-256 of each chunk) and change
    with any byte, whichever chunk holds it (small chunks here, so the file spans several)."""
    monkeypatch.setattr(files, "DIGEST_CHUNK_BYTES", 1000)
    data = bytes(range(256)) * 20  # 5,120 bytes: six chunks, the last one short
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    chunks = [hashlib.sha256(data[i:i + 1000]).digest() for i in range(0, len(data), 1000)]
    expected = hashlib.sha256(len(data).to_bytes(8, "big") + b"".join(chunks)).hexdigest()
    assert files.content_digest(str(path)) == expected
    for position in (0, 999, 1000, 4500, len(data) - 1):
        changed = bytearray(data)
        changed[position] ^= 1
        path.write_bytes(bytes(changed))
        assert files.content_digest(str(path)) != expected
    path.write_bytes(data[:-1])
    assert files.content_digest(str(path)) != expected

"""`rollctl inspect` and `rollctl ingest` through the CLI: exit codes, stdout/stderr, JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import invoke, trace_row, write_jsonl


def test_inspect_json_is_one_object_on_stdout(traces_file: Path) -> None:
    result = invoke(["inspect", str(traces_file), "--json"], expect=0)
    data = result.json()
    assert data["schema_version"] == "1.0"
    assert data["traces"]["rows"] == 40
    variants = {v["variant"]: v["rows"] for v in data["traces"]["variants"]}
    assert variants == {"control": 20, "treatment": 20}
    assert data["traces"]["users"] == 7
    coverage = {c["name"]: c["share"] for c in data["traces"]["coverage"]}
    assert coverage["thumbs"] == pytest.approx(8 / 40)
    assert coverage["cost_usd"] == 0


def test_inspect_human_output(traces_file: Path) -> None:
    result = invoke(["inspect", str(traces_file)], expect=0)
    assert "control" in result.stdout and "treatment" in result.stdout
    assert result.stderr == ""


def test_inspect_reads_gzip_and_directories(tmp_path: Path) -> None:
    rows = [trace_row(i) for i in range(5)]
    (tmp_path / "d").mkdir()
    with gzip.open(tmp_path / "d" / "a.jsonl.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    write_jsonl(tmp_path / "d" / "b.jsonl", [trace_row(i + 100) for i in range(3)])
    data = invoke(["inspect", str(tmp_path / "d"), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 8
    assert len(data["files"]) == 2


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2), '{"request_id": "r3",', trace_row(4)])
    result = invoke(["inspect", str(path)], expect=2)
    assert result.stdout == ""
    assert f"{path}:3: not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_skip_bad_lines_counts_them(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), "not json", trace_row(2), "{broken"])
    data = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert data["skipped_lines"] == 2
    assert data["traces"]["rows"] == 2


def test_wrong_type_is_reported_with_field_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2, latency_ms="slow"), trace_row(3)])
    result = invoke(["inspect", str(path)], expect=2)
    assert "latency_ms" in result.stderr and ":2:" in result.stderr
    assert "slow" not in result.stderr  # never echo record contents


def test_numbers_as_strings_and_loose_booleans_are_accepted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [
        trace_row(1, latency_ms="812.5", served="yes", cache_hit=1),
        trace_row(2, served="no", cache_hit="false", timestamp=1763287200),
        trace_row(3, timestamp=1763287200123, served=0),
    ])
    data = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert data["traces"]["served_rows"] == 1
    assert data["traces"]["shadow_rows"] == 2
    assert data["traces"]["first"].startswith("2025-11-16T10:00:00")


def test_missing_user_field_suggests_map(tmp_path: Path) -> None:
    rows = []
    for i in range(3):
        r = trace_row(i)
        r["userId"] = r.pop("user_id")
        rows.append(r)
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["inspect", str(path), "--map", "user_id=userId", "--json"], expect=0).json()
    assert data["traces"]["users"] == 3


def test_nested_map(tmp_path: Path) -> None:
    rows = [{**trace_row(i), "metadata": {"user": {"id": f"nested{i % 2}"}}} for i in range(4)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["inspect", str(path), "--map", "user_id=metadata.user.id", "--json"], expect=0).json()
    assert data["traces"]["users"] == 2
    assert data["files"][0]["mapped"]["user_id"] == "metadata.user.id"


def test_map_to_absent_field_is_an_input_error(traces_file: Path) -> None:
    result = invoke(["inspect", str(traces_file), "--map", "user_id=nope"], expect=2)
    assert "nope" in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.jsonl", "no such file"),
        (lambda d: (d / "empty.jsonl").write_text("") and d / "empty.jsonl" or d / "empty.jsonl", "empty"),
        (lambda d: (d / "x.txt").write_text("a") and d / "x.txt", "unknown file type"),
    ],
)
def test_unreadable_inputs_exit_2(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    result = invoke(["inspect", str(path)], expect=2)
    assert message in result.stderr


def test_empty_directory_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke(["inspect", str(tmp_path / "empty")], expect=2)
    assert "no readable files" in result.stderr


def test_suspicious_findings(tmp_path: Path) -> None:
    rows = [trace_row(1, model="gpt-4o"), trace_row(2, model="gpt-4o-2024-08-06"), trace_row(2)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["inspect", str(path), "--json"], expect=0).json()
    codes = {w["code"] for w in data["warnings"]}
    assert {"UNPINNED_MODEL", "MULTIPLE_MODELS_IN_VARIANT", "DUPLICATE_REQUEST_IDS"} <= codes


def test_ingest_then_reingest_adds_nothing(tmp_path: Path, traces_file: Path) -> None:
    db = tmp_path / "t.duckdb"
    first = invoke(["ingest", str(traces_file), "--db", str(db), "--json"], expect=0).json()
    assert first["added"] == 40
    again = invoke(["ingest", str(traces_file), "--db", str(db), "--json"], expect=0).json()
    assert again["added"] == 0
    assert any(w["code"] == "NOTHING_NEW" for w in again["warnings"])
    data = invoke(["inspect", str(db), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 40


def test_ingest_never_touches_inputs(tmp_path: Path, traces_file: Path) -> None:
    before = traces_file.read_bytes()
    invoke(["ingest", str(traces_file), "--db", str(tmp_path / "x.duckdb")], expect=0)
    assert traces_file.read_bytes() == before


def test_version_and_help() -> None:
    assert invoke(["--version"], expect=0).stdout.startswith("rollctl ")
    top = invoke(["--help"], expect=0).stdout
    assert "inspect" in top and "ingest" in top and "Exit codes" in top

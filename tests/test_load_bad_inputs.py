"""Bad input through `rollctl inspect` / `ingest`: every case exits 2 with one line naming the file, the line
or field and the fix, or is accepted as documented. Errors never echo record contents."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, trace_row, write_jsonl

SECRET = "s3cr3t-user-text"


def _error_line(args: list[str]) -> str:
    result = invoke(args, expect=2)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert SECRET not in result.stderr
    return lines[0]


def _inspect(path: Path | str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = invoke(["inspect", str(path), *extra, "--json"], expect=0).json()
    return data


# --- malformed JSON lines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "bad_line"),
    [
        ([trace_row(1), trace_row(2), '{"request_id": "' + SECRET, trace_row(4)], 3),
        ([trace_row(1), "", "", trace_row(2), "{bad " + SECRET + "}", trace_row(3)], 5),  # blank lines count
        ([trace_row(i) for i in range(50)] + ['{"request_id": "' + SECRET + '", "user_id":'], 51),
        (['[1, 2' + SECRET], 1),
    ],
    ids=["middle", "after-blank-lines", "truncated-last-line", "first-line"],
)
def test_malformed_json_line_number(tmp_path: Path, lines: list[Any], bad_line: int) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", lines)
    line = _error_line(["inspect", str(path)])
    assert f"{path}:{bad_line}: not valid JSON" in line
    assert "--on-bad-lines skip" in line


def test_truncated_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(trace_row(i)) for i in range(3)) + '\n{"request_id": "r9", "inp')
    assert f"{path}:4: not valid JSON" in _error_line(["inspect", str(path)])


def test_skip_bad_lines_counts_in_human_and_json_output(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), "not json", "", trace_row(2), '{"x": '])
    data = _inspect(path, "--on-bad-lines", "skip")
    assert data["skipped_lines"] == 2
    assert data["files"][0]["skipped_lines"] == 2
    assert data["traces"]["rows"] == 2
    assert any(w["code"] == "SKIPPED_LINES" for w in data["warnings"])
    human = invoke(["inspect", str(path), "--on-bad-lines", "skip"], expect=0).stdout
    assert "2 malformed or wrong-typed line(s) skipped" in human
    ingested = invoke(["ingest", str(path), "--db", str(tmp_path / "x.duckdb"), "--on-bad-lines", "skip",
                       "--json"], expect=0).json()
    assert ingested["skipped_lines"] == 2 and ingested["added"] == 2


def test_a_line_of_invalid_utf8_is_skipped_and_counted_not_a_whole_file_failure(tmp_path: Path) -> None:
    """DuckDB's line reader refused the whole file ("CSV Error on Line: 3", on a JSON-lines file) when one line
    was not UTF-8; skip mode now leaves that line out and counts it, as it does any other malformed line."""
    path = tmp_path / "t.jsonl"
    good = [json.dumps(trace_row(i)).encode() for i in range(1, 5)]
    bad = json.dumps(trace_row(9)).encode().replace(b'"output": "', b'"output": "\xff\xfe')
    path.write_bytes(b"\n".join([good[0], good[1], bad, good[2], b"not json", good[3]]) + b"\n")
    data = _inspect(path, "--on-bad-lines", "skip")
    assert data["skipped_lines"] == 2 and data["traces"]["rows"] == 4
    refused = invoke(["inspect", str(path)], expect=2)
    assert "invalid UTF-8" in refused.stderr and refused.stderr.count("\n") == 1


def test_skip_every_line_bad_is_still_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", ["nope", "{"])
    assert "no rows" in _error_line(["inspect", str(path), "--on-bad-lines", "skip"])


# --- missing fields and --map suggestions ----------------------------------------------------------------


@pytest.mark.parametrize("alias", ["userId", "user-id", "UserID"])
def test_missing_required_field_suggests_map(tmp_path: Path, alias: str) -> None:
    rows = []
    for i in range(3):
        r = trace_row(i)
        r[alias] = r.pop("user_id")
        rows.append(r)
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    # inspect needs no field; the shared require_fields check is what analysis commands use.
    from rollctl.db import connect
    from rollctl.errors import MissingFieldError
    from rollctl.load import LoadOptions, load_inputs, require_fields

    db = connect()
    report = load_inputs(db, [str(path)], LoadOptions())
    with pytest.raises(MissingFieldError) as info:
        require_fields(report, "traces", ["variant", "user_id"], command="decide")
    line = info.value.one_line()
    assert line.startswith(f"{path}: decide needs the field user_id")
    assert f"did you mean --map user_id={alias}?" in line
    assert alias in line.split("fields found: ")[1]
    data = _inspect(path, "--map", f"user_id={alias}")
    assert data["traces"]["users"] == 3


def test_missing_field_without_close_name(tmp_path: Path) -> None:
    from rollctl.db import connect
    from rollctl.errors import MissingFieldError
    from rollctl.load import LoadOptions, load_inputs, require_fields

    path = write_jsonl(tmp_path / "t.jsonl", [{"request_id": "a", "zzz": 1}])
    report = load_inputs(connect(), [str(path)], LoadOptions())
    with pytest.raises(MissingFieldError) as info:
        require_fields(report, "traces", ["latency_ms"], command="shadow-report")
    assert "use --map latency_ms=<your field>" in info.value.one_line()


def test_every_missing_field_is_named_in_one_run_with_the_fields_found(tmp_path: Path) -> None:
    """One run tells the whole fix: every missing field, a --map for each, and all the fields found (the
    closest ones when an export has many)."""
    from rollctl.db import connect
    from rollctl.errors import MissingFieldError
    from rollctl.load import LoadOptions, load_inputs, require_fields

    row = {"rid": "a", "userId": "u", "arm": "x", "latency_ms": 5, **{f"extra_{i:02d}": i for i in range(30)}}
    path = write_jsonl(tmp_path / "t.jsonl", [row])
    report = load_inputs(connect(), [str(path)], LoadOptions())
    with pytest.raises(MissingFieldError) as info:
        require_fields(report, "traces", ["user_id", "variant", "request_id"], command="decide")
    line = info.value.one_line()
    assert "needs the fields user_id, variant, request_id, which are missing" in line
    assert "--map user_id=userId" in line and "--map variant=<your field>" in line
    assert "extra_29" in line  # 34 fields: all shown
    wide = write_jsonl(tmp_path / "wide.jsonl", [{**row, **{f"more_{i:02d}": i for i in range(40)}}])
    report = load_inputs(connect(), [str(wide)], LoadOptions())
    with pytest.raises(MissingFieldError) as info:
        require_fields(report, "traces", ["user_id"], command="decide")
    assert "74 fields, the closest: userId" in info.value.one_line()


def test_inspect_warns_when_key_fields_are_absent(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"request_id": "a", "userId": "u"}])
    data = _inspect(path)
    absent = [w["message"] for w in data["warnings"] if w["code"] == "FIELD_ABSENT"]
    assert any("user_id" in m for m in absent)


# --- wrong types and accepted spellings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("latency_ms", SECRET, "finite numbers"),
        ("served", "maybe", "booleans"),
        ("thumbs", 5, "-1, 0 or +1"),
        ("input_tokens", 12.5, "whole numbers"),
        ("timestamp", "next tuesday", "timestamps"),
        ("cost_usd", {"usd": 1}, "finite numbers"),
    ],
)
def test_wrong_type_names_field_line_and_fix(tmp_path: Path, field: str, value: Any, kind: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2), trace_row(3, **{field: value})])
    line = _error_line(["inspect", str(path)])
    assert f"{path}:3: field {field}: 1 value(s) are not {kind}" in line
    assert "--on-bad-lines skip" in line
    assert str(value) not in line.replace(str(path), "")
    data = _inspect(path, "--on-bad-lines", "skip")
    assert data["traces"]["rows"] == 2 and data["skipped_lines"] == 1


def test_numbers_as_strings_are_accepted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [
        trace_row(1, latency_ms="812.5", input_tokens="120", cost_usd=" 0.25 ", thumbs="-1"),
        trace_row(2, latency_ms=900, input_tokens=120.0, cost_usd="1e-3", thumbs="+1"),
    ])
    data = _inspect(path)
    cov = {c["name"]: c["rows_with_value"] for c in data["traces"]["coverage"]}
    assert cov["latency_ms"] == cov["input_tokens"] == cov["cost_usd"] == cov["thumbs"] == 2


@pytest.mark.parametrize(
    ("value", "served"),
    [(True, True), (False, False), (1, True), (0, False), ("yes", True), ("no", False), ("true", True),
     ("FALSE", False), ("1", True), ("0", False), (" Yes ", True)],
)
def test_boolean_spellings(tmp_path: Path, value: Any, served: bool) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1, served=value)])
    data = _inspect(path)
    assert data["traces"]["served_rows"] == (1 if served else 0)
    assert data["traces"]["shadow_rows"] == (0 if served else 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-16T10:00:00Z", "2026-11-16T10:00:00Z"),
        ("2026-11-16T12:00:00+02:00", "2026-11-16T10:00:00Z"),
        ("2026-11-16T10:00:00", "2026-11-16T10:00:00Z"),  # no zone: taken as UTC
        ("2026-11-16 10:00:00.250", "2026-11-16T10:00:00.250000Z"),
        (1794823200, "2026-11-16T10:00:00Z"),  # epoch seconds
        (1794823200250, "2026-11-16T10:00:00.250000Z"),  # epoch milliseconds
        ("1794823200", "2026-11-16T10:00:00Z"),  # epoch seconds as a string
        (1794823200.5, "2026-11-16T10:00:00.500000Z"),
    ],
)
def test_timestamp_spellings_are_utc(tmp_path: Path, value: Any, expected: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1, timestamp=value)])
    data = _inspect(path)
    assert data["traces"]["first"] == expected


def test_mixed_timestamp_spellings_in_one_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [
        trace_row(1, timestamp="2026-11-16T00:00:00Z"), trace_row(2, timestamp=1795046400),
        trace_row(3, timestamp=1794823200000),
    ])
    data = _inspect(path)
    assert data["traces"]["first"] == "2026-11-16T00:00:00Z"
    assert data["traces"]["last"] == "2026-11-19T00:00:00Z"
    assert data["traces"]["full_days"] == 3


# --- NaN / Infinity ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", '"nan"', '"inf"', '"-inf"', '"Infinity"'])
def test_non_finite_numbers_are_rejected(tmp_path: Path, literal: str) -> None:
    good = json.dumps(trace_row(1))
    bad = json.dumps(trace_row(2, latency_ms=0)).replace('"latency_ms": 0', f'"latency_ms": {literal}')
    path = tmp_path / "t.jsonl"
    path.write_text(good + "\n" + bad + "\n")
    line = _error_line(["inspect", str(path)])
    assert f"{path}:2" in line and "latency_ms" in line and "finite" in line


# --- empty, unreadable, unknown ------------------------------------------------------------------------------


def test_file_of_blank_lines_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n\n   \n")
    assert "no rows" in _error_line(["inspect", str(path)])


@pytest.mark.parametrize("name", ["e.jsonl", "e.parquet", "e.csv", "e.json", "e.jsonl.gz"])
def test_zero_byte_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    line = _error_line(["inspect", str(tmp_path / name)])
    assert f"{tmp_path / name}: file is empty" in line


def test_empty_gzip_member(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("")
    assert "no rows" in _error_line(["inspect", str(path)])


def test_empty_json_array(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("[]")
    assert "no rows" in _error_line(["inspect", str(path)])


def test_csv_with_header_only(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("request_id,variant\n")
    assert "no rows" in _error_line(["inspect", str(path)])


def test_directory_with_only_unknown_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    (d / ".hidden.jsonl").write_text(json.dumps(trace_row(1)))
    line = _error_line(["inspect", str(d)])
    assert f"{d}: directory holds no readable files" in line


def test_unknown_extension_names_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "t.xml"
    path.write_text("<a/>")
    line = _error_line(["inspect", str(path)])
    assert f"{path}: unknown file type" in line and ".jsonl" in line


def test_unknown_format_option(tmp_path: Path, traces_file: Path) -> None:
    line = _error_line(["inspect", str(traces_file), "--format", "nope"])
    assert "unknown --format" in line and "canonical" in line


def test_glob_without_matches(tmp_path: Path) -> None:
    line = _error_line(["inspect", str(tmp_path / "*.jsonl")])
    assert "no file matches" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1)])
    path.chmod(0)
    try:
        assert "permission denied" in _error_line(["inspect", str(path)])
    finally:
        path.chmod(0o644)


def test_unreadable_file_mode_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check as above, for CI running as root: os.access decides."""
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1)])
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path) else real_access(p, mode))
    line = _error_line(["inspect", str(path)])
    assert f"{path}: permission denied" in line


def test_not_gzip_despite_name(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_text(json.dumps(trace_row(1)))
    line = _error_line(["inspect", str(path)])
    assert str(path) in line


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 this is not parquet " + SECRET.encode())
    line = _error_line(["inspect", str(path)])
    assert str(path) in line and "could not be read" in line


def test_not_a_duckdb_database(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    path.write_bytes(b"garbage " + SECRET.encode())
    assert str(path) in _error_line(["inspect", str(path)])


# --- duplicates ----------------------------------------------------------------------------------------------


def test_duplicates_are_reported_with_first_ids(tmp_path: Path) -> None:
    rows = [trace_row(i) for i in range(10)] + [trace_row(i) for i in range(8)]
    rows.append(trace_row(3, variant="treatment"))  # same request_id, other variant: not a duplicate
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = _inspect(path)
    assert data["traces"]["duplicate_request_ids"] == 8
    assert data["traces"]["duplicate_examples"] == ["r0", "r1", "r2", "r3", "r4"]
    warning = next(w for w in data["warnings"] if w["code"] == "DUPLICATE_REQUEST_IDS")
    assert "r0, r1, r2, r3, r4" in warning["message"]
    ingested = invoke(["ingest", str(path), "--db", str(tmp_path / "x.duckdb"), "--json"], expect=0).json()
    traces = next(t for t in ingested["tables"] if t["table"] == "traces")
    assert traces["duplicates_in_input"] == 8 and traces["added"] == 11
    assert any(w["code"] == "DUPLICATES_IN_INPUT" for w in ingested["warnings"])


def test_ingest_refuses_rows_without_request_id(tmp_path: Path) -> None:
    rows = [trace_row(1), {k: v for k, v in trace_row(2).items() if k != "request_id"}]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    line = _error_line(["ingest", str(path), "--db", str(tmp_path / "x.duckdb")])
    assert "request_id" in line and "--map request_id=" in line


def test_ingest_into_an_input_is_refused(tmp_path: Path, traces_file: Path) -> None:
    db = tmp_path / "x.duckdb"
    invoke(["ingest", str(traces_file), "--db", str(db)], expect=0)
    assert "--db is also an input" in _error_line(["ingest", str(db), "--db", str(db)])


# --- big, broken and odd text ---------------------------------------------------------------------------------


def test_ten_megabyte_string_field(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2, output=big), trace_row(3)])
    data = _inspect(path)
    assert data["traces"]["rows"] == 3
    from rollctl.db import connect
    from rollctl.load import LoadOptions, load_inputs

    db = connect()
    load_inputs(db, [str(path)], LoadOptions())
    assert db.fetchone("SELECT max(length(output)) FROM traces")[0] == len(big)


def test_record_over_the_size_limit(tmp_path: Path) -> None:
    big = "y" * (65 * 1024 * 1024)
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), trace_row(2, output=big)])
    line = _error_line(["inspect", str(path)])
    assert str(path) in line and "32 MB" in line and "y" * 20 not in line


def test_invalid_utf8_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = json.dumps(trace_row(1)).encode()
    bad = json.dumps(trace_row(2, output="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"caf\xe9 \xff")
    path.write_bytes(good + b"\n" + bad + b"\n")
    line = _error_line(["inspect", str(path)])
    assert str(path) in line and "UTF-8" in line


ODD_IDS = [
    "user-🙂", "\u202euser-rtl\u202c", "עברית-id", "zero\u200bwidth", "e\u0301", "\u00e9", "  padded ",
    "quote\"d", "back\\slash", "new\nline", "tab\tid",
]


def test_odd_unicode_ids_are_kept_exactly(tmp_path: Path) -> None:
    rows = [trace_row(i, user_id=uid, request_id=f"req-{uid}") for i, uid in enumerate(ODD_IDS)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = _inspect(path)
    # "e\u0301" and "\u00e9" look alike but are different ids: no normalisation.
    assert data["traces"]["users"] == len(ODD_IDS)
    assert data["traces"]["duplicate_request_ids"] == 0
    from rollctl.db import connect
    from rollctl.load import LoadOptions, load_inputs

    db = connect()
    load_inputs(db, [str(path)], LoadOptions())
    assert sorted(r[0] for r in db.fetchall("SELECT user_id FROM traces")) == sorted(ODD_IDS)
    human = invoke(["inspect", str(path)], expect=0)
    assert human.stderr == ""


def test_wrong_type_with_nested_mapping_still_names_the_field(tmp_path: Path) -> None:
    rows = [{**trace_row(i), "meta": {"user": {"id": f"u{i}"}, "ms": "x" if i == 2 else i}} for i in range(4)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    line = _error_line(["inspect", str(path), "--map", "user_id=meta.user.id", "--map", "latency_ms=meta.ms"])
    assert f"{path}:3: field latency_ms: 1 value(s) are not finite numbers" in line


def test_reingest_of_an_overlapping_export_adds_only_new_rows(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    first = write_jsonl(tmp_path / "a.jsonl", [trace_row(i) for i in range(6)])
    invoke(["ingest", str(first), "--db", str(db)], expect=0)
    second = write_jsonl(tmp_path / "b.jsonl", [trace_row(i) for i in range(4, 10)] + [trace_row(8), trace_row(9)])
    data = invoke(["ingest", str(second), "--db", str(db), "--json"], expect=0).json()
    traces = next(t for t in data["tables"] if t["table"] == "traces")
    assert (traces["rows_read"], traces["duplicates_in_input"], traces["already_present"], traces["added"],
            traces["total_after"]) == (8, 2, 2, 4, 10)


def test_wrong_type_line_counts_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1), "", "  ", trace_row(2, latency_ms="x"), trace_row(3)])
    assert f"{path}:4: field latency_ms" in _error_line(["inspect", str(path)])


def test_wrong_type_in_csv_names_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("request_id,variant,latency_ms\nr1,a,10\nr2,a,12\nr3,a,slow\n")
    assert f"{path}:4: field latency_ms" in _error_line(["inspect", str(path)])


def test_wrong_type_in_a_paired_row(tmp_path: Path) -> None:
    rows = [{"request_id": f"p{i}", "user_id": "u", "timestamp": "2026-11-12T00:00:00Z",
             "baseline": {"variant": "control", "latency_ms": 10},
             "candidate": {"variant": "treatment", "latency_ms": "slow" if i == 2 else 12}} for i in range(4)]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    assert f"{path}:3: field latency_ms" in _error_line(["inspect", str(path)])


def test_truncated_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"request_id": "a"}, {"request_id": "' + SECRET)
    line = _error_line(["inspect", str(path)])
    assert f"{path}: not valid JSON" in line and "export it as JSONL" in line


def test_byte_order_mark_and_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    body = "\r\n".join(json.dumps(trace_row(i)) for i in range(3)) + "\r\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = _inspect(path)
    assert data["traces"]["rows"] == 3
    assert data["files"][0]["mapped"]["request_id"] == "request_id"


def test_unterminated_csv_quote_is_reported_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('request_id,variant,latency_ms\nr1,a,"10\nr2,a,12\n')
    line = _error_line(["inspect", str(path)])
    assert str(path) in line and "latency_ms" in line


# --- loading only some trace fields ----------------------------------------------------------------------


def test_trace_fields_loads_only_those_and_still_reports_the_rest(tmp_path: Path) -> None:
    from rollctl.db import connect
    from rollctl.errors import FieldTypeError
    from rollctl.load import LoadOptions, load_inputs

    good = write_jsonl(tmp_path / "t.jsonl", [trace_row(1, latency_ms=812.5), trace_row(2, latency_ms="oops")])
    db = connect()
    report = load_inputs(db, [str(good)], LoadOptions(trace_fields=frozenset({"user_id", "variant", "thumbs"})))
    assert [c for c, _ in db.columns("SELECT * FROM traces")] == ["user_id", "variant", "thumbs"]
    assert {"user_id", "latency_ms", "request_id"} <= report.found_fields("traces")  # coverage stays known
    assert db.fetchall("SELECT user_id, variant FROM traces ORDER BY user_id") == [("u1", "control"), ("u2", "control")]
    # a wrong type in a loaded field is still an error naming the file, line and field
    with pytest.raises(FieldTypeError) as exc:
        load_inputs(connect(), [str(good)], LoadOptions(trace_fields=frozenset({"user_id", "latency_ms"})))
    assert exc.value.path == str(good) and exc.value.line == 2 and exc.value.field == "latency_ms"


def test_a_file_that_maps_to_nothing_is_an_input_error_naming_what_was_found(tmp_path: Path) -> None:
    """An unknown object must not load as a trace row with every field empty (exit 0)."""
    path = tmp_path / "page.json"
    path.write_text('{"data": [1, 2], "meta": {"page": 1}}')
    line = _error_line(["inspect", str(path)])
    assert "no field of this file is a canonical traces field" in line and "found: data, meta" in line
    users = write_jsonl(tmp_path / "u.jsonl", [{"userId": "u", "rid": "r1"}])
    assert "did you mean --map user_id=userId?" in _error_line(["inspect", str(users)])


def test_map_case_id_makes_a_file_eval_results(tmp_path: Path) -> None:
    """rollctl's own error tells users to `--map case_id=FIELD`: that must make the file eval results."""
    path = write_jsonl(tmp_path / "results.jsonl", [
        {"test_id": "a", "arm": "base", "ok": True}, {"test_id": "a", "arm": "cand", "ok": False},
        {"test_id": "b", "arm": "base", "ok": True}, {"test_id": "b", "arm": "cand", "ok": True}])
    out = invoke(["inspect", str(path), "--map", "case_id=test_id", "--map", "variant=arm", "--map", "passed=ok",
                  "--json"], expect=0).json()
    assert out["traces"] is None
    assert {v["variant"]: (v["cases"], v["passed_rows"]) for v in out["evals"]["variants"]} == {
        "base": (2, 2), "cand": (2, 1)}

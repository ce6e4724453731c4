"""Paired shadow rows: the struct read of the arms gives exactly the rows the JSON-path read gives.

The paired loader first reads each arm (and the judgements) as a struct of text leaves; a file whose arms a
struct cannot hold is loaded again through JSON paths. Both ways must store the same canonical rows, and a
wrong-typed value in either arm must be named with its field and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rollctl.load.adapters.paired as paired_adapter
from rollctl.db import connect
from rollctl.load import LoadOptions, load_inputs
from tests.conftest import invoke, write_jsonl

TABLES = ("traces", "judgements")


def _loaded(paths: list[Path], *, json_paths: bool, monkeypatch: pytest.MonkeyPatch,
            options: LoadOptions | None = None) -> tuple[list[list[tuple[Any, ...]]], dict[str, int], int]:
    """Every canonical row (sorted), rows per table and skipped lines, read one way or the other."""
    with monkeypatch.context() as patch:
        if json_paths:
            patch.setattr(paired_adapter, "_typed_arms", lambda ctx, probe: None)
        db = connect()
        report = load_inputs(db, [str(p) for p in paths], options or LoadOptions())
        rows = [db.fetchall(f"SELECT COLUMNS(lambda c: c <> '_file') FROM {t} ORDER BY ALL") for t in TABLES]
        db.close()
    return rows, dict(report.rows), report.skipped_lines


def _same_both_ways(paths: list[Path], monkeypatch: pytest.MonkeyPatch,
                    options: LoadOptions | None = None) -> list[tuple[Any, ...]]:
    """The trace rows, after checking that both ways store the same rows in every table."""
    typed = _loaded(paths, json_paths=False, monkeypatch=monkeypatch, options=options)
    by_paths = _loaded(paths, json_paths=True, monkeypatch=monkeypatch, options=options)
    assert typed == by_paths
    return typed[0][0]


VARIED = [
    {"request_id": "r1", "user_id": "shared", "timestamp": "2026-11-16T10:00:00Z", "input": "q1",
     "metadata": {"intent": "a", "deep": {"x": [1, 2]}},
     "baseline": {"output": "x", "latency_ms": "12.5", "served": "yes", "thumbs": "up", "cost_usd": 1e-3,
                  "output_tokens": "40", "cache_hit": 1, "tags": ["t1", "t2"]},
     "candidate": {"output": "caf\u00e9 \"q\" \u2028", "latency_ms": 13, "cost_usd": "0.1", "error": "timeout",
                   "metadata": {"intent": "b"}, "variant": "treatment", "served": False, "tags": "solo"},
     "judgements": [{"judge": "j", "order": "baseline_first", "winner": "candidate", "preference": "0.5"},
                    {"judge": "j", "order": "candidate_first", "winner": "tie"}]},
    {"request_id": "r2", "user_id": "u2", "timestamp": 1763287200123,
     "baseline": {"output": "{\"a\": 1}", "variant": "control", "user_id": "own", "judge_score": 4},
     "candidate": None, "judgements": []},
    {"request_id": 3, "user_id": 17, "timestamp": "2026-11-16 10:00:00",
     "baseline": {"output": "", "latency_ms": 1.0, "final_text": "sent", "retried": "false"},
     "candidate": {"error": "rate_limit"}},  # no answer, but an error: a failed call ({} is a bad row)
]


def test_struct_read_stores_what_json_paths_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _same_both_ways([write_jsonl(tmp_path / "pairs.jsonl", VARIED)], monkeypatch)
    assert len(rows) == 5  # r2's candidate is null: one arm only


def test_only_the_loaded_fields_are_read_the_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = LoadOptions(keep_text=False, trace_fields=frozenset({"request_id", "variant", "output", "latency_ms"}))
    _same_both_ways([write_jsonl(tmp_path / "pairs.jsonl", VARIED)], monkeypatch, options)


def test_an_arm_null_takes_the_shared_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A null in an arm means the arm did not say: the shared top-level value applies, as for an absent key."""
    path = write_jsonl(tmp_path / "pairs.jsonl", [
        {"request_id": "r1", "user_id": "shared", "baseline": {"output": "x", "user_id": None},
         "candidate": {"output": "y", "user_id": "own"}},
    ])
    for json_paths in (False, True):
        (traces, _), _, _ = _loaded([path], json_paths=json_paths, monkeypatch=monkeypatch)
        assert sorted(r[2] for r in traces) == ["own", "shared"]


@pytest.mark.parametrize(("odd_line", "bad"), [
    ({"request_id": "r9", "baseline": "only text", "candidate": {"output": "y"}}, True),
    ({"request_id": "r9", "baseline": [1, 2], "candidate": {"output": "y"}}, True),
    ('{"request_id": "r9", "baseline": {"output": "a", "output": "b"}, "candidate": {"output": "y"}}', False),
    ({"request_id": "r9", "baseline": {"output": "x"}, "candidate": {"output": "y"}, "judgements": "none"}, True),
    ({"request_id": "r9", "baseline": {"output": "x"}, "candidate": {"output": "y"}, "judgements": ["tie"]}, False),
])
def test_arms_a_struct_cannot_hold_load_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   odd_line: dict[str, Any] | str, bad: bool) -> None:
    """The struct read fails on the odd line after loading others; nothing of that attempt is left behind. An
    arm that is not an object, or judgements that are not a list, are bad rows either way (skipped here)."""
    path = write_jsonl(tmp_path / "pairs.jsonl", [*VARIED, odd_line])
    options = LoadOptions(on_bad_lines="skip") if bad else None
    typed = _loaded([path], json_paths=False, monkeypatch=monkeypatch, options=options)
    assert typed == _loaded([path], json_paths=True, monkeypatch=monkeypatch, options=options)
    assert typed[1]["traces"] == len(typed[0][0])
    assert typed[2] == (1 if bad else 0)


def test_ingest_of_arms_a_struct_cannot_hold(tmp_path: Path) -> None:
    """Inside ingest's transaction the failed struct read aborts it; ingest then loads through temp tables."""
    path = write_jsonl(tmp_path / "pairs.jsonl", [*VARIED, '{"request_id": "r9", "baseline": {"output": "a", '
                                                            '"output": "b"}, "candidate": {"output": "y"}}'])
    db = tmp_path / "t.duckdb"
    data = invoke(["ingest", str(path), "--db", str(db), "--json"], expect=0).json()
    traces = next(t for t in data["tables"] if t["table"] == "traces")
    assert traces["added"] == 7
    # An arm that is not an object is a bad row there too: an error naming it, then skipped and counted.
    text_arm = write_jsonl(tmp_path / "text_arm.jsonl", [*VARIED, {"request_id": "r9", "baseline": "text",
                                                                   "candidate": {"output": "y"}}])
    out = invoke(["ingest", str(text_arm), "--db", str(tmp_path / "u.duckdb")], expect=2)
    assert f"{text_arm}:4: field baseline" in out.stderr
    data = invoke(["ingest", str(text_arm), "--db", str(tmp_path / "u.duckdb"), "--on-bad-lines", "skip",
                   "--json"], expect=0).json()
    assert data["skipped_lines"] == 1


def test_skip_mode_reads_the_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [*VARIED, '{"request_id": "broken", "baseline": {'])
    options = LoadOptions(on_bad_lines="skip")
    typed = _loaded([path], json_paths=False, monkeypatch=monkeypatch, options=options)
    assert typed == _loaded([path], json_paths=True, monkeypatch=monkeypatch, options=options)
    assert typed[2] == 1


@pytest.mark.parametrize("arm", ["baseline", "candidate"])
def test_wrong_type_in_either_arm_names_field_and_line(tmp_path: Path, arm: str) -> None:
    """Both arms of a file are loaded by their own statement; the error is found whichever arm holds it."""
    rows = [{"request_id": f"p{i}", "baseline": {"output": "a", "latency_ms": 10},
             "candidate": {"output": "b", "latency_ms": 12}} for i in range(4)]
    rows[2][arm]["latency_ms"] = "slow"
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = invoke(["inspect", str(path)], expect=2)
    assert result.stderr.strip() == (
        f"error: {path}:3: field latency_ms: 1 value(s) are not finite numbers of 0 or more; fix the export, map "
        "another field with --map, or pass --on-bad-lines skip to drop those rows"
    )


def test_wrong_types_in_both_arms_count_together(tmp_path: Path) -> None:
    rows = [{"request_id": f"p{i}", "baseline": {"output": "a", "cost_usd": "free" if i == 3 else 0.1},
             "candidate": {"output": "b", "cost_usd": "dear" if i in (1, 3) else 0.2}} for i in range(5)]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = invoke(["inspect", str(path)], expect=2)
    assert f"{path}:2: field cost_usd: 3 value(s) are not finite numbers" in result.stderr


def test_paired_rows_in_a_json_array_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(VARIED))
    assert len(_same_both_ways([path], monkeypatch)) == 5

"""`LoadOptions(read_in_place=True)`: Parquet inputs of `traces` become a view over the files instead of a
copy. Whatever a command then reads (rows, type errors, skipped rows, mixed inputs) must be the same as
when the files are copied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollctl.db import connect, quote_identifier
from rollctl.errors import FieldTypeError
from rollctl.load import LoadOptions, load_inputs

ROWS = [
    {"request_id": f"r{i}", "user_id": f"u{i % 4}", "variant": "control" if i % 3 else "treatment",
     "timestamp": f"2026-11-{16 + i % 7:02d}T10:00:00Z", "latency_ms": str(100.0 + i), "thumbs": [-1, 0, 1][i % 3],
     "served": True}
    for i in range(30)
]


def _parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _traces(paths: list[Path], **options: Any) -> tuple[list[tuple[Any, ...]], Any]:
    db = connect()
    report = load_inputs(db, [str(p) for p in paths], LoadOptions(**options))
    cols = ", ".join(quote_identifier(c) for c, _ in db.columns("SELECT * FROM traces"))
    return db.fetchall(f"SELECT {cols} FROM traces ORDER BY request_id"), report


@pytest.mark.parametrize("fields", [None, frozenset({"request_id", "user_id", "variant", "timestamp", "latency_ms"})])
def test_in_place_rows_equal_copied_rows(tmp_path: Path, fields: frozenset[str] | None) -> None:
    path = _parquet(tmp_path / "t.parquet", ROWS)
    copied, copied_report = _traces([path], trace_fields=fields)
    in_place, in_place_report = _traces([path], trace_fields=fields, read_in_place=True)
    assert in_place == copied and len(in_place) == 30
    assert in_place_report.rows == copied_report.rows


def test_parquet_and_jsonl_together(tmp_path: Path) -> None:
    parquet = _parquet(tmp_path / "a.parquet", ROWS[:20])
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in ROWS[20:]), encoding="utf-8")
    copied, _ = _traces([parquet, jsonl])
    in_place, report = _traces([parquet, jsonl], read_in_place=True)
    assert in_place == copied and len(in_place) == 30 and report.rows["traces"] == 30


def test_two_parquet_files_each_bind_their_own_path(tmp_path: Path) -> None:
    odd = tmp_path / "it's $path \"odd\".parquet"
    first, second = _parquet(odd, ROWS[:10]), _parquet(tmp_path / "second.parquet", ROWS[10:])
    rows, _ = _traces([first, second], read_in_place=True)
    assert [r[0] for r in rows] == sorted(r["request_id"] for r in ROWS)


def test_wrong_type_is_the_same_error(tmp_path: Path) -> None:
    bad = [dict(r) for r in ROWS]
    bad[7]["latency_ms"] = "slow"
    path = _parquet(tmp_path / "t.parquet", bad)
    errors = []
    for in_place in (False, True):
        with pytest.raises(FieldTypeError) as caught:
            _traces([path], read_in_place=in_place)
        errors.append(caught.value.one_line())
    assert errors[0] == errors[1] and "latency_ms" in errors[0] and ":8:" in errors[0]


def test_skip_drops_the_same_rows(tmp_path: Path) -> None:
    bad = [dict(r) for r in ROWS]
    bad[7]["latency_ms"] = "slow"
    bad[9]["timestamp"] = "not a time"
    path = _parquet(tmp_path / "t.parquet", bad)
    copied, copied_report = _traces([path], on_bad_lines="skip")
    in_place, in_place_report = _traces([path], on_bad_lines="skip", read_in_place=True)
    assert in_place == copied and len(in_place) == 28
    assert in_place_report.skipped_lines == copied_report.skipped_lines == 2


@settings(max_examples=40, deadline=None)
@given(value=st.text(max_size=30), number=st.integers(), name=st.text(min_size=1, max_size=12).filter(
    lambda s: "\x00" not in s))
def test_view_parameters_round_trip_and_quoted_text_is_left_alone(value: str, number: int, name: str) -> None:
    """`$a` inside a string literal or a quoted identifier is text, not a parameter."""
    db = connect()
    db.create_view("v", f"SELECT $a AS {quote_identifier(name + ' $a')}, '$a' || $a AS lit, $b AS b",
                   {"a": value, "b": number})
    assert db.fetchone("SELECT * FROM v") == (value, "$a" + value, number)
    assert db.columns("SELECT * FROM v")[0][0] == name + " $a"


def test_view_without_a_value_for_a_parameter_is_refused() -> None:
    with pytest.raises(ValueError):
        connect().create_view("v", "SELECT $missing AS x", {})


def test_loading_again_on_the_same_connection_replaces_the_view(tmp_path: Path) -> None:
    """A second load (in place or copied) after a load in place starts from empty tables."""
    path = _parquet(tmp_path / "t.parquet", ROWS)
    db = connect()
    for in_place in (True, True, False, True):
        report = load_inputs(db, [str(path)], LoadOptions(read_in_place=in_place))
        assert report.rows["traces"] == 30
        assert db.fetchone("SELECT count(*) FROM traces")[0] == 30

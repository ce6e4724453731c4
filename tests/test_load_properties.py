"""Property tests: whatever spelling an export uses for a number, a boolean or a field name, the loader
keeps the value, and inspect counts every input row."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollctl.core.inspect import inspect_inputs
from rollctl.db import connect
from rollctl.load import LoadOptions, load_inputs
from rollctl.load.canonical import TABLE_FIELDS

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(rows: list[dict[str, Any]], **options: Any) -> list[tuple[Any, ...]]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        db = connect()
        load_inputs(db, [str(path)], LoadOptions(**options))
        return db.fetchall(
            "SELECT request_id, latency_ms, input_tokens, served, user_id FROM traces ORDER BY request_id"
        )


# Latencies and token counts are never negative (a negative one is a bad value: test_hostile_input.py).
finite = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False, width=64)
whole = st.integers(min_value=0, max_value=2**53)


@SETTINGS
@given(st.lists(st.tuples(finite, st.booleans()), min_size=1, max_size=8))
def test_any_finite_float_survives(values: list[tuple[float, bool]]) -> None:
    rows = [{"request_id": f"r{i:03d}", "latency_ms": repr(v) if as_text else v} for i, (v, as_text) in
            enumerate(values)]
    got = [r[1] for r in _load(rows)]
    assert got == [v for v, _ in values]


@SETTINGS
@given(st.lists(st.tuples(whole, st.sampled_from(["int", "str", "float"])), min_size=1, max_size=8))
def test_any_whole_number_survives(values: list[tuple[int, str]]) -> None:
    def spell(v: int, how: str) -> Any:
        return {"int": v, "str": str(v), "float": float(v)}[how]

    rows = [{"request_id": f"r{i:03d}", "input_tokens": spell(v, how)} for i, (v, how) in enumerate(values)]
    got = [r[2] for r in _load(rows)]
    assert got == [v for v, _ in values]


BOOLS: list[tuple[Any, bool]] = [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("false", False), ("True", True),
    ("FALSE", False), ("1", True), ("0", False), ("yes", True), ("no", False), ("YES", True), (" no ", False),
]


@SETTINGS
@given(st.lists(st.sampled_from(BOOLS), min_size=1, max_size=10))
def test_any_boolean_spelling_survives(values: list[tuple[Any, bool]]) -> None:
    rows = [{"request_id": f"r{i:03d}", "served": v} for i, (v, _) in enumerate(values)]
    assert [r[3] for r in _load(rows)] == [b for _, b in values]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["control", "treatment", "x"]), st.booleans()), min_size=1, max_size=60))
def test_inspect_counts_every_input_row(rows_spec: list[tuple[str, bool]]) -> None:
    rows = [{"request_id": f"r{i}", "variant": v, "user_id": f"u{i % 5}", "served": s}
            for i, (v, s) in enumerate(rows_spec)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text("\n\n".join(json.dumps(r) for r in rows), encoding="utf-8")  # blank lines in between
        result = inspect_inputs(connect(), [str(path)], LoadOptions(keep_text=False))
    assert result.traces is not None
    assert result.traces.rows == len(rows)
    assert {v.variant: v.rows for v in result.traces.variants} == {
        name: sum(1 for v, _ in rows_spec if v == name) for name in {v for v, _ in rows_spec}
    }
    assert result.traces.served_rows == sum(1 for _, s in rows_spec if s)
    assert result.files[0].rows == {"traces": len(rows)}


# Not a canonical field's own name: that column also loads into its own field with that field's type
# check, and a judgement or eval field name makes the file a judgement or eval file (Hypothesis draws
# string constants from the code under test, so `cache_hit` and `preference` do come up).
CANONICAL_NAMES = {f.name for fields in TABLE_FIELDS.values() for f in fields}
field_names = st.text(min_size=1, max_size=20).filter(
    lambda s: "\x00" not in s and s.strip() != "" and s not in CANONICAL_NAMES
)


@SETTINGS
@given(field_names)
def test_any_field_name_maps_end_to_end(name: str) -> None:
    """A column with any name reaches user_id through --map, quoted so dots and quotes stay literal."""
    quoted = '"' + name.replace('"', '""') + '"'
    rows = [{"request_id": f"r{i}", name: f"u{i % 3}"} for i in range(6)]
    got = _load(rows, mapping={"user_id": quoted})
    assert sorted({r[4] for r in got}) == ["u0", "u1", "u2"]
    if "." not in name and not name.startswith('"'):
        assert _load(rows, mapping={"user_id": name}) == got



# From 1974: epoch milliseconds are told from seconds by magnitude (>= 1e11, i.e. after March 1973).
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(  # the accepted window
    lambda d: d.replace(tzinfo=UTC)
)
OFFSETS = [timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)]
TIMESTAMP_SPELLINGS = ["iso_z", "iso_offset", "epoch_s", "epoch_s_text", "epoch_ms", "epoch_ms_text", "iso_spaced"]


def _epoch_ms(at: datetime) -> int:
    """Exact integer milliseconds: `int(at.timestamp() * 1000)` can land 1 ms short (…600.001 * 1000 is
    …600000.9999 in binary floating point), which made this test fail on a correct loader."""
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _spell_instant(at: datetime, how: str, offset: timedelta) -> Any:
    whole = at.replace(microsecond=at.microsecond // 1000 * 1000)  # epoch ms spellings carry milliseconds
    return {
        "iso_z": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iso_offset": at.astimezone(timezone(offset)).isoformat(),
        "iso_spaced": "  " + at.isoformat() + " ",
        "epoch_s": int(at.timestamp()),
        "epoch_s_text": f" {int(at.timestamp())} ",
        "epoch_ms": _epoch_ms(whole),
        "epoch_ms_text": str(_epoch_ms(whole)),
    }[how]


def _expected_instant(at: datetime, how: str) -> datetime:
    if how.startswith("epoch_s"):
        return at.replace(microsecond=0)
    if how.startswith("epoch_ms"):
        return at.replace(microsecond=at.microsecond // 1000 * 1000)
    return at


@SETTINGS
@given(st.lists(st.tuples(instants, st.sampled_from(TIMESTAMP_SPELLINGS), st.sampled_from(OFFSETS)),
                min_size=1, max_size=8))
def test_any_timestamp_spelling_is_the_same_utc_instant(values: list[tuple[datetime, str, timedelta]]) -> None:
    """ISO text with any offset, padded text, and epoch seconds or milliseconds (numbers or text) all load as
    the UTC instant they name: the loader tries the date text first and the epoch number second."""
    rows = [{"request_id": f"r{i:03d}", "timestamp": _spell_instant(at, how, off)}
            for i, (at, how, off) in enumerate(values)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        db = connect()
        load_inputs(db, [str(path)], LoadOptions())
        got = [r[0] for r in db.fetchall('SELECT "timestamp" FROM traces ORDER BY request_id')]
    assert [g.astimezone(UTC) for g in got] == [_expected_instant(at, how) for at, how, _ in values]


THUMBS: list[tuple[Any, int]] = [
    (1, 1), (-1, -1), (0, 0), ("1", 1), ("-1", -1), (" +1 ", 1), ("up", 1), ("DOWN", -1), ("thumbs_up", 1),
    (True, 1), (False, -1), ("0.0", 0), ("none", 0),
]


@SETTINGS
@given(st.lists(st.sampled_from(THUMBS), min_size=1, max_size=10))
def test_any_thumbs_spelling_survives(values: list[tuple[Any, int]]) -> None:
    rows = [{"request_id": f"r{i:03d}", "thumbs": v} for i, (v, _) in enumerate(values)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        db = connect()
        load_inputs(db, [str(path)], LoadOptions())
        got = [r[0] for r in db.fetchall("SELECT thumbs FROM traces ORDER BY request_id")]
    assert got == [t for _, t in values]

"""Identifiers from user files reach SQL only through `quote_identifier`; hostile names must round-trip."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from rollctl.db import connect, day_from_number, quote_identifier, utc_day_number

HOSTILE = ['a"; DROP TABLE t; --', "has\"dquote]", "]", "'single'", "x\ny", "名前", "🙂 emoji", " ", "a.b.c"]


def test_hostile_names_round_trip() -> None:
    db = connect()
    for name in HOSTILE:
        db.execute(f"CREATE OR REPLACE TABLE t ({quote_identifier(name)} INTEGER)")
        db.execute(f"INSERT INTO t ({quote_identifier(name)}) VALUES (?)", [7])
        cols = [row[0] for row in db.fetchall("DESCRIBE t")]
        assert cols == [name]
        assert db.fetchone(f"SELECT {quote_identifier(name)} FROM t")[0] == 7


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s and s.strip() != ""))
def test_any_name_round_trips(name: str) -> None:
    db = connect()
    db.execute(f"CREATE TABLE t ({quote_identifier(name)} VARCHAR)")
    db.execute("INSERT INTO t VALUES (?)", [name])
    assert [row[0] for row in db.fetchall("DESCRIBE t")] == [name]
    assert db.fetchone(f"SELECT {quote_identifier(name)} FROM t")[0] == name


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59, 999999)))
@settings(max_examples=200)
def test_utc_day_number_is_the_utc_calendar_day(moment: datetime) -> None:
    """decide groups by `utc_day_number` instead of DuckDB's ICU cast to DATE: the same day, to the microsecond."""
    db = connect()
    try:
        ours_sql = day_from_number(utc_day_number("$t::TIMESTAMPTZ"))
        cast, ours = db.fetchone(f"SELECT CAST($t::TIMESTAMPTZ AS DATE), {ours_sql}",
                                 {"t": moment.replace(tzinfo=UTC).isoformat()})
    finally:
        db.close()
    assert ours == cast == moment.date()

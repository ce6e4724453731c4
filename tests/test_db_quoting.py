"""Identifiers from user files reach SQL only through `quote_identifier`; hostile names must round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rollctl.db import connect, quote_identifier

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

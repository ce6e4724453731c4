"""The dialect layer: every construct sqlglot gets wrong for Spark is run on DuckDB and on a local Spark session
over the same rows, and the results compared value by value. Each test fails if its override regresses (or if
sqlglot's own output is used instead: the wrong forms are listed in `rollctl.engines.dialects`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollctl import db as duck
from rollctl.engines.dialects import DIALECTS, OVERRIDES, UnsupportedConstruct, translate
from rollctl.engines.spark import SparkEngine
from rollctl.errors import InputError, UsageError

# Rows both engines hold as table `t`: a week of UTC timestamps around midnight, text with case, JSON-ish
# text, and numbers for quantiles.
ROWS = """
    SELECT * FROM (VALUES
        (1, TIMESTAMPTZ '2026-11-15 23:59:59+00', 'Sorry, I cannot help', '{"a": 1}', 10.0, 'b'),
        (2, TIMESTAMPTZ '2026-11-16 00:00:00+00', 'sure thing', '[1,2,]', 20.0, 'a'),
        (3, TIMESTAMPTZ '2026-11-17 12:00:00+00', 'SORRY no', '1', 30.0, 'c'),
        (4, TIMESTAMPTZ '2026-11-18 08:00:00+00', 'éclair', NULL, 40.0, 'a'),
        (5, TIMESTAMPTZ '2026-11-19 08:00:00+00', NULL, 'not json', 50.0, NULL),
        (6, TIMESTAMPTZ '2026-11-20 08:00:00+00', 'x', '{"b": [1, 2]}', 60.0, 'd'),
        (7, TIMESTAMPTZ '2026-11-21 08:00:00+00', 'y', '"text"', 70.0, 'b'),
        (8, TIMESTAMPTZ '2026-11-22 08:00:00+00', 'z', 'null', 80.0, 'e')
    ) AS v(id, ts, txt, js, num, tag)
"""


@pytest.fixture(scope="module")
def engines(spark: Any) -> Iterator[tuple[duck.Database, SparkEngine]]:
    duckdb_engine = duck.connect()
    spark_engine = SparkEngine(spark)
    for engine in (duckdb_engine, spark_engine):
        engine.execute(f"CREATE OR REPLACE TEMP TABLE t AS {ROWS}")
    yield duckdb_engine, spark_engine
    spark_engine.close()
    duckdb_engine.close()


def both(engines: tuple[duck.Database, SparkEngine], sql: str,
         params: dict[str, Any] | None = None) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    duckdb_engine, spark_engine = engines
    return duckdb_engine.fetchall(sql, params), spark_engine.fetchall(sql, params)


def test_isodow_numbers_monday_1_to_sunday_7_on_both(engines: tuple[duck.Database, SparkEngine]) -> None:
    sql = "SELECT id, isodow(ts) FROM t ORDER BY id"
    on_duckdb, on_spark = both(engines, sql)
    assert on_spark == on_duckdb
    assert dict(on_duckdb)[1] == 7 and dict(on_duckdb)[2] == 1  # 2026-11-15 is a Sunday, 11-16 a Monday
    assert "WEEKDAY" in translate(sql, "spark")  # not sqlglot's (dayofweek % 7) + 1, which makes Sunday 2


def test_utc_day_numbers_and_dates_agree_at_midnight(engines: tuple[duck.Database, SparkEngine]) -> None:
    day = duck.utc_day_number("ts")
    on_duckdb, on_spark = both(engines, f"SELECT id, {day}, {duck.day_from_number(day)}, CAST(ts AS DATE) "
                                        "FROM t ORDER BY id")
    assert on_spark == on_duckdb
    assert str(on_duckdb[0][2]) == "2026-11-15" and str(on_duckdb[1][2]) == "2026-11-16"


def test_case_insensitive_regex_keeps_its_flag(engines: tuple[duck.Database, SparkEngine]) -> None:
    sql = "SELECT id, regexp_matches(txt, '^sorry', 'i') FROM t ORDER BY id"
    on_duckdb, on_spark = both(engines, sql)
    assert on_spark == on_duckdb
    assert dict(on_duckdb)[3] is True  # 'SORRY no'
    # A parameterised pattern gets the flag too.
    assert both(engines, "SELECT count(*) FILTER (WHERE regexp_matches(txt, $p, 'i')) FROM t", {"p": "sorry"}) == \
        ([(2,)], [(2,)])


def test_ordered_lists_keep_their_order(engines: tuple[duck.Database, SparkEngine]) -> None:
    sql = ("SELECT list(id ORDER BY tag) FILTER (WHERE tag IS NOT NULL), "
           "list(DISTINCT tag ORDER BY tag) FILTER (WHERE tag IS NOT NULL), "
           "list(num ORDER BY num)[1:$n] FROM t")
    duckdb_engine, spark_engine = engines
    on_duckdb = duckdb_engine.fetchall(sql, {"n": 3})
    on_spark = spark_engine.fetchall(sql, {"n": 3})
    by_tag_duckdb, by_tag_spark = on_duckdb[0][0], on_spark[0][0]
    # ties (two 'a', two 'b') may come in either order on either engine: compare the tags they give
    tags = dict(duckdb_engine.fetchall("SELECT id, tag FROM t"))
    assert [tags[i] for i in by_tag_spark] == [tags[i] for i in by_tag_duckdb] == ["a", "a", "b", "b", "c", "d", "e"]
    assert on_spark[0][1] == on_duckdb[0][1] == ["a", "b", "c", "d", "e"]
    assert on_spark[0][2] == on_duckdb[0][2] == [10.0, 20.0, 30.0]


def test_exact_quantiles_at_several_levels(engines: tuple[duck.Database, SparkEngine]) -> None:
    sql = "SELECT count(num), quantile_disc(num, $levels::DOUBLE[]) FROM t"
    on_duckdb, on_spark = both(engines, sql, {"levels": [0.1, 0.5, 0.95]})
    assert on_spark == on_duckdb == [(8, [10.0, 40.0, 80.0])]


def test_json_validity(engines: tuple[duck.Database, SparkEngine]) -> None:
    """Equal on every row but one known difference: DuckDB's parser accepts a trailing comma ('[1,2,]'),
    Spark's does not. Listed here so that a change on either side fails this test."""
    on_duckdb, on_spark = both(engines, "SELECT id, json_valid(js) FROM t ORDER BY id")
    differ = {i for (i, a), (_, b) in zip(on_duckdb, on_spark, strict=True) if a != b}
    assert differ == {2} and dict(on_duckdb)[2] is True and dict(on_spark)[2] is False
    assert dict(on_duckdb)[4] is None and dict(on_duckdb)[3] is True and dict(on_duckdb)[5] is False


def test_first_character_code(engines: tuple[duck.Database, SparkEngine]) -> None:
    on_duckdb, on_spark = both(engines, "SELECT id, ord(txt) FROM t ORDER BY id")
    assert on_spark == on_duckdb
    assert dict(on_duckdb)[4] == ord("é")


def test_hash_is_64_bit_on_spark(engines: tuple[duck.Database, SparkEngine]) -> None:
    """DuckDB's hash is 64-bit; Spark's `hash` is 32-bit Murmur3 (collisions become likely at millions of
    texts). The values differ between engines (only equality is used), the width must not."""
    _, spark_engine = engines
    rows = spark_engine.fetchall("SELECT max(abs(hash(txt))) FROM t WHERE txt IS NOT NULL")
    assert rows[0][0] > 2**31  # a 32-bit hash never exceeds 2^31 in absolute value
    assert "XXHASH64" in translate("SELECT hash(x)", "spark")


def test_temp_tables_and_delete_run_on_spark(engines: tuple[duck.Database, SparkEngine]) -> None:
    for engine in engines:
        engine.execute("CREATE OR REPLACE TEMP TABLE kept AS SELECT id, tag FROM t WHERE num > $low", {"low": 15.0})
        engine.execute("DELETE FROM kept WHERE tag IN (SELECT tag FROM t WHERE id = 1)")
    on_duckdb, on_spark = both(engines, "SELECT id FROM kept ORDER BY id")
    assert on_spark == on_duckdb == [(2,), (3,), (4,), (5,), (6,), (8,)]  # 'b' rows gone; NULL tag kept


def test_ansi_casts_raise_one_line_errors_on_spark(engines: tuple[duck.Database, SparkEngine]) -> None:
    _, spark_engine = engines
    with pytest.raises(InputError) as caught:
        spark_engine.fetchall("SELECT CAST(txt AS DOUBLE) FROM t")
    assert "\n" not in caught.value.one_line() and "Spark could not run" in caught.value.message


def test_values_never_enter_sql_text(engines: tuple[duck.Database, SparkEngine]) -> None:
    hostile = "x' OR '1'='1"
    on_duckdb, on_spark = both(engines, "SELECT count(*) FROM t WHERE txt = $v", {"v": hostile})
    assert on_spark == on_duckdb == [(0,)]


def test_descending_list_order_is_refused_not_mistranslated() -> None:
    with pytest.raises(UnsupportedConstruct):
        translate("SELECT list(x ORDER BY y DESC) FROM t", "spark")


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d not in ("duckdb", "spark", "databricks")])
def test_warehouse_dialects_refuse_what_they_cannot_express(dialect: str) -> None:
    with pytest.raises(UnsupportedConstruct):
        translate("SELECT quantile_disc(x, $l::DOUBLE[]) FROM t", dialect)


def test_case_insensitive_regex_in_warehouse_dialects() -> None:
    sql = "SELECT regexp_matches(x, 'sorry', 'i') FROM t"
    assert "(?i)sorry" in translate(sql, "bigquery") and "(?i)sorry" in translate(sql, "clickhouse")
    # Snowflake's REGEXP_LIKE anchors the whole string; a match anywhere is REGEXP_INSTR > 0
    assert "REGEXP_INSTR" in translate(sql, "snowflake").upper()


def test_every_override_is_named_for_known_dialects() -> None:
    assert all(o.dialects <= set(DIALECTS) and "duckdb" not in o.dialects for o in OVERRIDES)
    assert translate("SELECT epoch_us(ts) FROM t", "duckdb") == "SELECT epoch_us(ts) FROM t"
    with pytest.raises(UsageError):
        translate("SELECT 1", "oracle")

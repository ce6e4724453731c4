"""The one place that knows SQL dialects: rollctl's DuckDB SQL translated for another engine.

The reductions in `rollctl.sql` are written once, in DuckDB's dialect. sqlglot (a well-kept transpiler)
translates most of them; it is wrong or silent about a few constructs rollctl uses, each listed in
`OVERRIDES` with the engine form that replaces sqlglot's, and each with a test that runs both engines on
the same rows (`tests/test_dialects.py`). The traps, found by running sqlglot's output on Spark 4.3:

- `isodow(ts)` came out as `(dayofweek(ts) % 7) + 1`, which makes Sunday 2 (weekend counts wrong);
- `regexp_matches(x, re, 'i')` lost its flag (refusal detection became case-sensitive);
- `list(x ORDER BY y)` became `collect_list(x)`, which has no order;
- `quantile_disc(x, [levels])` became `percentile_disc(x, levels)`, which Spark rejects;
- `json_valid`, `ord`, `epoch_us` passed through as functions Spark does not have;
- `hash` passed through as Spark's 32-bit Murmur3, where DuckDB's is 64-bit (collisions at scale).

Temp tables and `DELETE` are statements, not expressions: an engine that has neither (Spark's temp views
are lazy and immutable) carries them out itself (`rollctl.engines.spark`). Two settings complete the
contract: the engine's session time zone is UTC (rollctl's timestamps are UTC instants), and Spark's ANSI
mode stays on (an invalid cast raises instead of becoming NULL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollctl.errors import UsageError

DIALECTS = ("duckdb", "spark", "databricks", "bigquery", "snowflake", "clickhouse")
"""The dialects `translate` writes; DuckDB is rollctl's own (the identity)."""

_SPARK_FAMILY = frozenset({"spark", "databricks"})


class UnsupportedConstruct(UsageError):
    """A construct rollctl's SQL uses that has no faithful form in the asked dialect."""


def _sqlglot() -> Any:
    try:
        import sqlglot
    except ImportError:  # pragma: no cover - sqlglot is a core dependency
        raise UsageError("sqlglot is not installed", fix="pip install sqlglot") from None
    return sqlglot


@dataclass(frozen=True)
class Override:
    """One construct sqlglot translates wrongly for some dialects, and the form that replaces its output."""

    name: str
    why: str
    dialects: frozenset[str]
    rewrite: Callable[[Any, str], Any | None]
    """(node, dialect) -> the replacement node, or None when the node is not this construct."""


def _fn(name: str, *args: Any) -> Any:
    from sqlglot import exp

    return exp.Anonymous(this=name, expressions=list(args))


def _epoch_us(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "epoch_us"):
        return None
    (arg,) = node.expressions
    if dialect in _SPARK_FAMILY or dialect == "bigquery":
        return _fn("unix_micros", arg)
    if dialect == "snowflake":
        return exp.Anonymous(this="date_part", expressions=[exp.var("epoch_microsecond"), arg])
    return _fn("toUnixTimestamp64Micro", arg)  # clickhouse


def _quantile_levels(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not isinstance(node, exp.PercentileDisc) or node.args.get("expression") is None:
        return None
    levels = node.args["expression"]
    if dialect in _SPARK_FAMILY:
        # percentile_disc(array(levels)) WITHIN GROUP (ORDER BY col): the exact order statistics, as DuckDB's.
        return exp.WithinGroup(this=_fn("percentile_disc", levels),
                               expression=exp.Order(expressions=[exp.Ordered(this=node.this)]))
    raise UnsupportedConstruct(
        f"exact quantiles at several levels (quantile_disc) have no form rollctl has verified on {dialect}",
        fix="run this command with --engine spark or on DuckDB")


def _isodow(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not isinstance(node, exp.DayOfWeekIso):
        return None
    # Spark's weekday() is 0 on Monday: ISO numbering is weekday + 1 (sqlglot's form makes Sunday 2).
    return exp.Paren(this=exp.Add(this=_fn("weekday", node.this), expression=exp.Literal.number(1)))


def _regex_flags(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not isinstance(node, exp.RegexpLike) or node.args.get("flag") is None:
        return None
    flag = node.args["flag"]
    if not (isinstance(flag, exp.Literal) and flag.is_string and set(flag.this) <= {"i"}):
        raise UnsupportedConstruct(f"regular-expression flags {flag.sql()} have no translation for {dialect}")
    given = node.expression
    pattern = (exp.Literal.string("(?i)" + given.this) if isinstance(given, exp.Literal) and given.is_string
               else _fn("concat", exp.Literal.string("(?i)"), given))
    if dialect == "snowflake":
        # Snowflake's REGEXP_LIKE matches the whole string; DuckDB's regexp_matches finds a match anywhere.
        return exp.GT(this=_fn("regexp_instr", node.this, node.expression, exp.Literal.number(1),
                               exp.Literal.number(1), exp.Literal.number(0), flag),
                      expression=exp.Literal.number(0))
    # Java (Spark) and RE2 (BigQuery, ClickHouse) both read an inline (?i).
    return exp.RegexpLike(this=node.this, expression=pattern)


def _ordered_list(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    # list(...) FILTER (WHERE c): the FILTER belongs on the inner aggregate, not on the sort around it.
    where = node.expression if isinstance(node, exp.Filter) else None
    agg = node.this if isinstance(node, exp.Filter) else node
    if not (isinstance(agg, exp.ArrayAgg) and isinstance(agg.this, exp.Order)):
        return None

    def filtered(inner: Any) -> Any:
        return exp.Filter(this=inner, expression=where.copy()) if where is not None else inner

    order = agg.this
    value = order.this
    keys = order.expressions
    if len(keys) != 1 or keys[0].args.get("desc"):
        raise UnsupportedConstruct(f"an ordered list with keys {order.sql()} has no translation for {dialect}")
    key = keys[0].this
    if isinstance(value, exp.Distinct):
        (inner,) = value.expressions
        if inner != key:
            raise UnsupportedConstruct(f"a DISTINCT list ordered by another value has no translation for {dialect}")
        # DuckDB keeps a NULL in list(DISTINCT ...); rollctl's lists filter NULLs out first.
        return _fn("array_sort", filtered(_fn("collect_set", inner)))
    # Sort (key, value) pairs, then keep the values: collect_list alone has no order.
    pairs = filtered(_fn("collect_list", _fn("struct", exp.alias_(key, "k"), exp.alias_(value, "v"))))
    lam = exp.Lambda(this=exp.Dot(this=exp.to_identifier("s"), expression=exp.to_identifier("v")),
                     expressions=[exp.to_identifier("s")])
    return _fn("transform", _fn("array_sort", pairs), lam)


def _list_slice(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1 or not isinstance(node.expressions[0],
                                                                                          exp.Slice):
        return None
    piece = node.expressions[0]
    start, stop = piece.this, piece.expression
    if not (isinstance(start, exp.Literal) and start.this == "1"):
        raise UnsupportedConstruct(f"a list slice {piece.sql()} has no translation for {dialect}")
    return _fn("slice", node.this, exp.Literal.number(1), stop)


def _json_valid(node: Any, dialect: str) -> Any | None:
    from sqlglot import exp

    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_valid"):
        return None
    (arg,) = node.expressions
    # NULL stays NULL, as in DuckDB; try_parse_json is NULL exactly where the text is not JSON.
    return exp.Case(ifs=[exp.If(this=exp.Is(this=arg.copy(), expression=exp.Null()), true=exp.Null())],
                    default=exp.Not(this=exp.Is(this=_fn("try_parse_json", arg), expression=exp.Null())))


def _renamed(duckdb_name: str, spark_name: str) -> Callable[[Any, str], Any | None]:
    def rewrite(node: Any, dialect: str) -> Any | None:
        from sqlglot import exp

        if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == duckdb_name):
            return None
        return _fn(spark_name, *node.expressions)

    return rewrite


OVERRIDES: tuple[Override, ...] = (
    Override("epoch_us", "sqlglot passes DuckDB's epoch_us through", frozenset(DIALECTS) - {"duckdb"}, _epoch_us),
    Override("quantile_disc", "sqlglot writes percentile_disc(col, levels), which Spark rejects",
             frozenset(DIALECTS) - {"duckdb"}, _quantile_levels),
    Override("isodow", "sqlglot's Spark form makes Sunday 2", _SPARK_FAMILY, _isodow),
    Override("regexp_matches flags", "sqlglot drops the 'i' flag (Spark, ClickHouse) or anchors (Snowflake)",
             frozenset(DIALECTS) - {"duckdb"}, _regex_flags),
    Override("list ORDER BY", "sqlglot's collect_list has no order", _SPARK_FAMILY, _ordered_list),
    Override("list slice", "sqlglot writes [1::n], invalid in Spark", _SPARK_FAMILY, _list_slice),
    Override("json_valid", "Spark has no json_valid", _SPARK_FAMILY, _json_valid),
    Override("ord", "Spark has no ord", _SPARK_FAMILY, _renamed("ord", "ascii")),
    Override("hash", "Spark's hash is 32-bit; xxhash64 is 64-bit like DuckDB's", _SPARK_FAMILY,
             _renamed("hash", "xxhash64")),
)


def check_dialect(dialect: str) -> str:
    name = dialect.strip().lower()
    if name not in DIALECTS:
        raise UsageError(f"unknown SQL dialect {dialect!r}", field="--dialect", fix=f"one of {', '.join(DIALECTS)}")
    return name


def parse(sql: str) -> Any:
    """One statement of rollctl's DuckDB SQL as a sqlglot tree."""
    return _sqlglot().parse_one(sql, read="duckdb")


def translate_tree(tree: Any, dialect: str) -> str:
    """A parsed DuckDB statement (see `parse`) written in `dialect`, the overrides applied first."""
    dialect = check_dialect(dialect)
    if dialect == "duckdb":
        return str(tree.sql(dialect="duckdb"))
    tree = tree.copy()
    # One pass per override: sqlglot's transform does not descend into a node it has just replaced, so a
    # construct nested inside another (an ordered list inside a slice) is reached by the next override's pass.
    for override in (o for o in OVERRIDES if dialect in o.dialects):
        tree = tree.transform(lambda node, o=override: o.rewrite(node, dialect) or node)
    from sqlglot.errors import ErrorLevel, UnsupportedError

    try:
        return str(tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE))
    except UnsupportedError as exc:
        raise UnsupportedConstruct(f"{dialect} cannot express part of this statement: {exc}",
                                   fix="run this command with --engine spark or on DuckDB") from None


def translate(sql: str, dialect: str) -> str:
    """rollctl's DuckDB SQL (one statement, `$name` parameters) in `dialect` (parameters in its own form)."""
    if check_dialect(dialect) == "duckdb":
        return sql
    return translate_tree(parse(sql), dialect)


def translate_expression(sql: str, dialect: str) -> str:
    """One DuckDB SQL expression (no parameters) in `dialect`: for the few conditions written as DataFrame
    expressions (`rollctl.load.spark_source`)."""
    tree = parse(f"SELECT {sql}")
    return str(_sqlglot().parse_one(translate_tree(tree, dialect), read=check_dialect(dialect))
               .expressions[0].sql(dialect=dialect))

"""rollctl's reductions on a Spark session: the same statements the DuckDB engine runs, translated.

`SparkEngine` answers the query methods the reductions use (`execute`, `fetchall`, `fetchone`,
`fetch_dicts`), so `rollctl.sql` and the commands' cores run on it unchanged. Every statement goes
through `dialects.translate`; values travel as Spark's named parameters (`spark.sql(sql, args=...)`),
never in SQL text. What Spark's SQL has no statement for, the engine does with DataFrames:

- `CREATE OR REPLACE TEMP TABLE t AS SELECT ...`: the SELECT is cached and counted (so it is computed
  once, as DuckDB's table is) and exposed as the temp view `t`;
- `DELETE FROM t WHERE c`: `t` is replaced by its rows where `c` is not true, cached the same way;
- `DROP TABLE|VIEW IF EXISTS t`: the temp view is dropped.

Results come back through Arrow (`DataFrame.toArrow`), so types match DuckDB's (timestamps as UTC
instants, dates as dates) and the bytes brought to the driver are counted (`collected_bytes`): the
reductions return summaries, kilobytes however big the input.

pyspark is the optional extra `rollctl[spark]`; it is imported only when a session starts.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollctl.db import error_line
from rollctl.engines.dialects import UnsupportedConstruct, parse, translate_tree
from rollctl.errors import InputError, UsageError

SPARK_EXTRA = "pip install 'rollctl[spark]'"

# Local sessions: few shuffle partitions (the reductions shuffle small per-unit tables, and Spark's default
# of 200 partitions costs more in task overhead than the work on one machine).
LOCAL_SHUFFLE_PARTITIONS = "8"


def _pyspark() -> Any:
    try:
        with warnings.catch_warnings():  # pyspark warns about pandas versions it has not been tested with
            warnings.simplefilter("ignore", FutureWarning)
            import pyspark.sql
    except ImportError:
        raise UsageError("--engine spark needs pyspark, which is not installed", field="--engine",
                         fix=SPARK_EXTRA) from None
    return pyspark.sql


@dataclass(frozen=True)
class SparkSettings:
    """Where the Spark session comes from: a Spark Connect URL (`sc://host:15002`), else a local master."""

    remote: str | None = None
    master: str = "local[*]"
    driver_memory: str = "4g"
    """A local session's JVM heap: exact quantiles (`percentile_disc`) hold one arm's values in one task, about
    1 GB at 10 M rows, more than Spark's default 1 GB leaves."""

    @staticmethod
    def resolve(remote: str | None) -> SparkSettings:
        """`--spark-remote`, else `$SPARK_REMOTE`, else a local session (`$ROLLCTL_SPARK_MASTER` or local[*],
        heap `$ROLLCTL_SPARK_DRIVER_MEMORY` or 4g)."""
        chosen = remote or os.environ.get("SPARK_REMOTE") or None
        if chosen is not None and not chosen.startswith("sc://"):
            raise UsageError(f"--spark-remote {chosen!r} is not a Spark Connect URL", field="--spark-remote",
                             fix="give sc://HOST:PORT (Spark Connect's default port is 15002)")
        return SparkSettings(remote=chosen, master=os.environ.get("ROLLCTL_SPARK_MASTER", "local[*]"),
                             driver_memory=os.environ.get("ROLLCTL_SPARK_DRIVER_MEMORY", "4g"))


def start_session(settings: SparkSettings) -> Any:
    """A Spark session with the settings rollctl's SQL relies on: UTC session time zone, ANSI mode on.

    An active session in this process (a test suite's, or a notebook's) is reused, with those settings
    applied to it.
    """
    sql = _pyspark()
    builder = sql.SparkSession.builder.appName("rollctl")
    if settings.remote is not None:
        builder = builder.remote(settings.remote)
    else:
        # A local session's Python workers (the audit's hashes) run this interpreter, where rollctl is installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if "SPARK_CONF_DIR" not in os.environ and "SPARK_HOME" not in os.environ:
            # pip's pyspark has no conf directory: give its JVM rollctl's logging (errors only).
            os.environ["SPARK_CONF_DIR"] = str(Path(__file__).with_name("spark_conf"))
        builder = (builder.master(settings.master).config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.memory", settings.driver_memory)
                   .config("spark.sql.shuffle.partitions", LOCAL_SHUFFLE_PARTITIONS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            session = builder.getOrCreate()
    except Exception as exc:  # the JVM, the network or the server: one line, not a Java stack
        raise InputError(f"could not start a Spark session: {_first_line(exc)}",
                         fix="check --spark-remote / SPARK_REMOTE, or that Java 17+ is installed") from None
    # pyspark logs a failed query's whole Java stack (as JSON) on stderr before raising; the error reaches the
    # user as rollctl's one line instead.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    if settings.remote is None:
        # rollctl prints its own one-line errors; Spark logs a failed query at ERROR with its whole Java stack.
        session.sparkContext.setLogLevel("FATAL")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.ansi.enabled", "true")
    return session


def _first_line(exc: BaseException) -> str:
    """The first line of a Spark error, quoted parts (which may hold a value from the user's data) elided."""
    return error_line(exc)[:300]


@dataclass
class SparkEngine:
    """A Spark session answering the query methods of `rollctl.db.Database` (see the module's docstring)."""

    session: Any
    collected_bytes: int = 0
    """Bytes of results brought back to the driver (Arrow), over the engine's life."""
    statements: int = 0
    _cached: dict[str, Any] = field(default_factory=dict)
    _views: list[str] = field(default_factory=list)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run a statement whose result is not read: a temp table, a DELETE, a DROP, or a query for effect."""
        from sqlglot import exp

        tree = parse(sql)
        args = self._args(params)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            query = tree.expression
            if not isinstance(query, exp.Query):
                raise UnsupportedConstruct("only CREATE TEMP TABLE ... AS SELECT runs on Spark")
            self._materialize(tree.this.name, self._frame(query, args))
        elif isinstance(tree, exp.Delete):
            table = tree.this.name
            condition = tree.args["where"].this
            keep = exp.select("*").from_(exp.to_identifier(table)).where(
                exp.not_(exp.func("coalesce", exp.paren(condition), exp.false())))
            self._materialize(table, self._frame(keep, args))
        elif isinstance(tree, exp.Drop):
            for target in tree.args.get("tables") or [tree.this]:
                self._drop(target.name)
        else:
            self._frame(tree, args).collect()
            if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "VIEW":
                self._views.append(tree.this.name)

    def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        table = self.fetch_arrow(sql, params)
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[Any, ...]:
        rows = self.fetchall(sql, params)
        if not rows:
            raise RuntimeError("query returned no row")
        return rows[0]

    def fetch_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        table = self.fetch_arrow(sql, params)
        return [dict(row) for row in table.to_pylist()]

    def fetch_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        return self.fetch_arrow(sql, params).to_pandas()

    def fetch_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        frame = self._frame(parse(sql), self._args(params))
        table = self.guarded(frame.toArrow)
        self.collected_bytes += int(table.nbytes)
        return table

    def sum_over_batches(self, sql: str, params: Sequence[Any] | dict[str, Any] | None,
                         reduce: Callable[[Any], tuple[int, ...]], width: int) -> tuple[int, ...]:
        """`Database.sum_over_batches` on the executors: `reduce` runs over each partition's Arrow batches
        (`mapInArrow`), one row of partial sums per partition is summed by Spark, and `width` numbers reach
        the driver. The executors import rollctl (`reduce` is pickled by reference): installed with the
        session's Python, as in a local session, or on the cluster's workers."""
        frame = self._frame(parse(sql), self._args(params))
        names = [f"s{i}" for i in range(width)]

        def per_partition(batches: Any) -> Any:
            import pyarrow as pa

            acc = [0] * width
            for batch in batches:
                for i, value in enumerate(reduce(batch)):
                    acc[i] += int(value)
            yield pa.RecordBatch.from_pydict({n: [v] for n, v in zip(names, acc, strict=True)})

        with warnings.catch_warnings():  # pyspark's warning about untested pandas versions; no pandas is used
            warnings.simplefilter("ignore", FutureWarning)
            partial = frame.mapInArrow(per_partition, ", ".join(f"{n} bigint" for n in names))
        totals = partial.selectExpr(*[f"coalesce(sum({n}), 0) AS {n}" for n in names])
        table = self.guarded(totals.toArrow)
        self.collected_bytes += int(table.nbytes)
        return tuple(int(table.column(n)[0].as_py()) for n in names)

    def map_batches_to_view(self, name: str, sql: str, params: dict[str, Any] | None,
                            transform: Callable[[Any], Any], schema: str) -> None:
        """Expose as the view `name` what `transform` (a module-level function from an iterator of Arrow record
        batches of the query's rows to an iterator of batches of `schema`) makes of them on the executors
        (`mapInArrow`): for per-row work that is Python, not SQL (edit distances). Lazy: the statements that
        read the view run it, and only their results come back."""
        frame = self._frame(parse(sql), self._args(params))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            mapped = frame.mapInArrow(transform, schema)
        self._drop(name)
        mapped.createOrReplaceTempView(name)
        self._views.append(name)

    def register_dataframe(self, name: str, frame: Any) -> None:
        """Expose a DataFrame (the loaded traces) under `name` for the statements."""
        self._drop(name)
        frame.createOrReplaceTempView(name)

    def close(self) -> None:
        """Release what this engine cached and the views it made, newest first (a view may read an older one);
        the session stays for its owner. Best effort: a failure here must not replace the command's result."""
        for name in [*reversed(self._views), *reversed(self._cached), "traces"]:
            try:
                self._drop(name)
            except Exception:  # noqa: BLE001 - cleanup of a session that may already be gone
                continue

    # -- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _args(params: Sequence[Any] | dict[str, Any] | None) -> dict[str, Any]:
        if params is None:
            return {}
        if not isinstance(params, dict):
            if len(params):
                raise UnsupportedConstruct("positional parameters do not run on Spark; name them ($name)")
            return {}
        return dict(params)

    def _frame(self, tree: Any, args: dict[str, Any]) -> Any:
        """A DataFrame for one parsed DuckDB query, translated, given only the parameters it names."""
        from sqlglot import exp

        self.statements += 1
        spark_sql = translate_tree(tree, "spark")
        named = {str(p.this) for p in tree.find_all(exp.Placeholder)}
        missing = named - set(args)
        if missing:
            raise ValueError(f"parameters without a value: {sorted(missing)}")
        used = {k: v for k, v in args.items() if k in named}
        return self.guarded(lambda: self.session.sql(spark_sql, args=used or None))

    def _materialize(self, name: str, frame: Any) -> None:
        frame = frame.cache()
        self.guarded(frame.count)  # computed once, now: later statements read the cache, as DuckDB reads a table
        old = self._cached.get(name)
        frame.createOrReplaceTempView(name)
        if old is not None:
            old.unpersist()
        self._cached[name] = frame

    def _drop(self, name: str) -> None:
        old = self._cached.pop(name, None)
        if old is not None:
            old.unpersist()
        self.session.catalog.dropTempView(name)

    @staticmethod
    def guarded(action: Any) -> Any:
        try:
            return action()
        except UsageError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j", "grpc")):
                raise InputError(f"Spark could not run a reduction: {_first_line(exc)}",
                                 fix="check that the input follows the canonical table contract "
                                     "(README: Running on Spark or your warehouse)") from None
            raise

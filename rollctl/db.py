"""The only module that talks to DuckDB directly.

Every other module gets a `Database` and runs SQL through it. Values always travel as parameters;
identifiers (column, table and struct-field names that come from user files) only through
`quote_identifier`. The connection is set to UTC so timestamps never depend on the machine.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import duckdb

from rollctl.errors import InputError, UsageError


def __getattr__(name: str) -> Any:
    # DuckDB is imported when a command first needs it, not by a module that only quotes an identifier (the plan
    # and the SQL builders): `rollctl --help` and the argument checks do not pay for it.
    if name == "DuckDBError":
        import duckdb

        return duckdb.Error
    raise AttributeError(f"module 'rollctl.db' has no attribute {name!r}")

# A parameter reference `$name` outside string literals and quoted identifiers (both skipped whole, with
# their doubled-quote escapes), for `Database.create_view`.
_PARAMETER_OR_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_][A-Za-z0-9_]*)")
_view_variables = itertools.count()


def quote_identifier(name: str) -> str:
    """Quote a SQL identifier: wrap in double quotes and double any embedded double quote.

    This is the only way a name from a user's file may enter SQL text. NUL cannot be represented in a
    DuckDB identifier, so it is rejected rather than silently altered.
    """
    if "\x00" in name:
        raise InputError("a field name contains a NUL character", fix="rename the field in the export")
    return '"' + name.replace('"', '""') + '"'


def utc_day_number(timestamp_sql: str) -> str:
    """SQL for the UTC calendar day of a TIMESTAMPTZ, as whole days since 1970-01-01 (an integer).

    Integer arithmetic on the epoch, instead of `CAST(ts AS DATE)`: DuckDB's cast goes through ICU's calendar
    even in UTC, and on 10 M rows it made decide's per-day pass twice as long (1.69 s against 0.84 s). Group
    by this number and turn the few results into dates with `day_from_number`. Division truncates toward zero,
    which is the floor here: every timestamp rollctl reads is checked to lie in 2000-2100.
    """
    return f"(epoch_us({timestamp_sql}) // 86400000000)"


def day_from_number(day_number_sql: str) -> str:
    """SQL turning a `utc_day_number` back into a DATE (cheap on a grouped result, not on every row)."""
    return f"(DATE '1970-01-01' + CAST({day_number_sql} AS INTEGER))"


Params = Sequence[Any] | dict[str, Any] | None


class QueryEngine(Protocol):
    """What the reductions (`rollctl.sql`) ask of an engine: run a statement, read a small result. `Database`
    is one; `rollctl.engines.spark.SparkEngine` is the other, translating each statement for Spark."""

    def execute(self, sql: str, params: Params = None) -> object: ...

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]: ...

    def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...]: ...

    def fetch_dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]: ...

    def fetch_df(self, sql: str, params: Params = None) -> Any: ...

    def sum_over_batches(self, sql: str, params: Params, reduce: Callable[[Any], tuple[int, ...]],
                         width: int) -> tuple[int, ...]: ...


@dataclass
class Database:
    """A DuckDB connection with the settings rollctl relies on."""

    connection: duckdb.DuckDBPyConnection
    path: str | None = None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run one statement with parameters bound by DuckDB, never by string formatting."""
        return self.connection.execute(sql, params or [])

    def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[Any, ...]:
        # fetchall, not fetchone: a half-read result blocks the next relation query on this connection.
        rows = self.execute(sql, params).fetchall()
        row = rows[0] if rows else None
        if row is None:
            raise RuntimeError("query returned no row")
        return tuple(row)

    def fetch_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """A small result as a pandas DataFrame (eval-gate's per-case table)."""
        return self.execute(sql, params).fetch_df()

    def fetch_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """A pyarrow Table (small results) for the statistics layer."""
        # `sql()` (a relation) converts straight to Arrow; `execute()` would copy every row first.
        return self.connection.sql(sql, params=params or None).to_arrow_table()

    def record_batches(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, batch_size: int = 100_000
    ) -> Any:
        """Stream a large result as Arrow record batches so memory is bounded by the batch size."""
        # A relation streams; an `execute()` cursor would materialize the whole result before the first batch.
        return self.connection.sql(sql, params=params or None).to_arrow_reader(batch_size)

    def sum_over_batches(self, sql: str, params: Params, reduce: Callable[[Any], tuple[int, ...]],
                         width: int) -> tuple[int, ...]:
        """`reduce` (a module-level function of an Arrow record batch, returning `width` integers that add up
        over batches) summed over the query's result, streamed: for per-row logic that is Python, not SQL
        (the assignment audit's hashes). Spark runs the same function on its executors."""
        total = [0] * width
        for batch in self.record_batches(sql, params):
            for i, value in enumerate(reduce(batch)):
                total[i] += int(value)
        return tuple(total)

    def register_arrow(self, name: str, table: Any) -> None:
        """Expose a pyarrow Table under `name` without copying it (DuckDB scans the Arrow memory in place), until
        `unregister`: for rows built in Python that a few statements read once each."""
        self.connection.register(name, table)

    def unregister(self, name: str) -> None:
        self.connection.unregister(name)

    def side_connection(self) -> Database:
        """A second connection to the same database, for statements that must run while this connection streams
        a result (DuckDB refuses a statement on a connection whose result is open). Temp tables and registered
        Arrow tables are per connection, so what both use lives in an attached database."""
        return Database(connection=self.connection.cursor(), path=self.path)

    def append_arrow(self, table_sql: str, rows: Any, *, create: bool) -> None:
        """Copy a pyarrow Table into `table_sql` (a name already quoted), created from the rows' columns when
        `create`. One call per few hundred thousand rows: each INSERT costs much more than its rows (25 k-row
        INSERTs of 1 M rows took 5.1 s, 250 k-row ones 1.0 s)."""
        view = f"rollctl_arrow_{next(_view_variables)}"
        self.connection.register(view, rows)
        try:
            verb = f"CREATE TABLE {table_sql} AS" if create else f"INSERT INTO {table_sql}"
            self.execute(f"{verb} SELECT * FROM {view}")
        finally:
            self.connection.unregister(view)

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        row = self.fetchone(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND (? IS NULL OR table_schema = ?)",
            [name, schema, schema],
        )
        return bool(row[0])

    def attach(self, path: str, alias: str, *, read_only: bool = False) -> None:
        """ATTACH a database file, waiting while another process holds a conflicting lock on it.

        DuckDB lets one process write a database file, or any number read it, never both at once: a
        `rollctl serve` reading a database while `rollctl ingest` appends to it (or the other way round) would
        otherwise fail at once. The lock is held only while rows are copied, so waiting a little is enough;
        after `lock_wait()` seconds the DuckDB error stands.
        """
        import time

        import duckdb

        deadline = time.monotonic() + lock_wait()
        pause = 0.02
        while True:
            try:
                self.execute(f"ATTACH $path AS {quote_identifier(alias)}{' (READ_ONLY)' if read_only else ''}",
                             {"path": path})
                return
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def attached_table_exists(self, database: str, table: str) -> bool:
        """Whether the attached database `database` (an ATTACH alias) holds a table named `table`."""
        row = self.fetchone(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [database, table]
        )
        return bool(row[0])

    def columns(self, relation_sql: str, params: Sequence[Any] | None = None) -> list[tuple[str, str]]:
        """(name, type) of the columns a SELECT would produce, without running it in full."""
        cursor = self.execute(f"DESCRIBE {relation_sql}", params)
        return [(row[0], row[1]) for row in cursor.fetchall()]

    def create_view(self, name: str, sql: str, params: dict[str, Any] | None = None) -> None:
        """A temp view over a parameterised SELECT, so a big columnar file can be aggregated where it lies.

        DuckDB cannot prepare a CREATE VIEW, so each value is stored in a session variable (`SET VARIABLE`,
        the value bound as a parameter) and the view reads it back with `getvariable()`: values still never
        enter SQL text, and the variable names are generated here from safe characters only.
        """
        params = params or {}
        names: dict[str, str] = {}
        for key, value in params.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"not a parameter name: {key!r}")
            names[key] = f"rollctl_v{next(_view_variables)}_{key}"
            self.execute(f"SET VARIABLE {names[key]} = $value", {"value": value})

        def bind(match: re.Match[str]) -> str:
            key = match.group(1)
            if key is None:
                return match.group(0)
            if key not in names:
                raise ValueError(f"parameter ${key} has no value")
            return f"getvariable('{names[key]}')"

        self.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(name)} AS {_PARAMETER_OR_QUOTED.sub(bind, sql)}")

    def close(self) -> None:
        self.connection.close()


def engine_version() -> str:
    """DuckDB's version: part of what an ingested export's fingerprint depends on (its readers and casts)."""
    import duckdb

    return str(duckdb.__version__)


def lock_wait() -> float:
    """Seconds to wait for another process's lock on a database file (`ROLLCTL_LOCK_WAIT`, default 30)."""
    text = os.environ.get("ROLLCTL_LOCK_WAIT", "").strip()
    try:
        return max(float(text), 0.0) if text else 30.0
    except ValueError:
        raise UsageError(f"ROLLCTL_LOCK_WAIT={text!r} is not a number of seconds", field="ROLLCTL_LOCK_WAIT",
                         fix="set it to a number such as 30, or unset it") from None


def memory_limit() -> str:
    """DuckDB's memory cap: spill to disk beyond it, so memory is bounded on big exports.

    700 MB for DuckDB keeps the whole process (Python, pyarrow, DuckDB's untracked allocations) under
    1 GB peak RSS: with a 1 GB cap, ingesting 1 M rows of 2 KB peaked at 1.11 GB (`make bench`).
    """
    return os.environ.get("ROLLCTL_MEMORY_LIMIT", "").strip() or "700MB"


# rollctl never reaches the network on its own: DuckDB must not download an extension (or load one that a
# path like `s3://`, `http://` or `md:` would pull in) behind the user's back. The readers rollctl uses
# (JSON, Parquet, CSV) are built into the Python package.
NO_NETWORK_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def connect(path: str | Path | None = None, *, read_only: bool = False) -> Database:
    """Open an in-memory database, or a `.duckdb` file written by `rollctl ingest`."""
    import duckdb

    try:
        connection = duckdb.connect(":memory:" if path is None else str(path), read_only=read_only and path is not None,
                                    config=dict(NO_NETWORK_CONFIG))
    except duckdb.Error as exc:
        raise InputError(f"cannot open DuckDB database ({error_line(exc)})", path=str(path)) from None
    connection.execute("SET TimeZone = 'UTC'")
    # rollctl shows its own progress on stderr only on a terminal and never with --json; DuckDB's bar would
    # otherwise print into piped stderr during long loads.
    connection.execute("SET enable_progress_bar = false")
    try:
        connection.execute("SET memory_limit = ?", [memory_limit()])
    except duckdb.Error:
        connection.close()
        raise UsageError(f"ROLLCTL_MEMORY_LIMIT={memory_limit()!r} is not a memory size", field="ROLLCTL_MEMORY_LIMIT",
                         fix="set it to a size such as 700MB or 4GB, or unset it") from None
    connection.execute("SET temp_directory = ?", [os.path.join(tempfile.gettempdir(), "rollctl-spill")])
    threads = os.environ.get("ROLLCTL_THREADS", "").strip()
    if threads:
        if not threads.isdigit() or not 1 <= int(threads) <= 1024:
            connection.close()
            raise UsageError(f"ROLLCTL_THREADS={threads!r} is not a number of threads",
                             field="ROLLCTL_THREADS", fix="set it to a whole number such as 2, or unset it")
        connection.execute("SET threads = ?", [int(threads)])
    return Database(connection=connection, path=None if path is None else str(path))


T = TypeVar("T")

# DuckDB's errors about the data it reads (not about a statement): an input error, never "internal".
_INPUT_FAILURES = frozenset({"IOException", "InvalidInputException", "ConversionException", "SerializationException"})


def in_fresh_database(work: Callable[[Database], T]) -> T:
    """Run `work` on a new in-memory database, closed after; the one way the CLI and `rollctl serve` run core work.

    A DuckDB error about the data it reads (a file that turns out corrupt only when a later pass reads it,
    as Parquet is read in place; a database locked by another process for too long) becomes an InputError.
    """
    import duckdb

    db = connect()
    try:
        return work(db)
    except duckdb.Error as exc:
        if type(exc).__name__ not in _INPUT_FAILURES:
            raise
        raise InputError(f"an input could not be read ({error_line(exc)})",
                         fix="check that the input files are complete and not corrupt") from None
    finally:
        db.close()


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def error_line(exc: BaseException) -> str:
    """The first line of a DuckDB error, for a one-line message: quoted parts (which may hold a value read
    from the user's data) are replaced by an ellipsis."""
    lines = str(exc).strip().splitlines()
    return _QUOTED.sub("…", lines[0]) if lines else type(exc).__name__

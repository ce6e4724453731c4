"""`rollctl ingest`: validate exports once and keep them in a DuckDB file the other commands read."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from rollctl import __version__
from rollctl.core.results import SCHEMA_VERSION, Reason
from rollctl.db import Database, DuckDBError, engine_version, error_line, quote_identifier
from rollctl.errors import InputError, UsageError
from rollctl.load import LoadOptions, LoadReport, load_inputs
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.load.files import InputFile, content_digest, is_remote
from rollctl.load.loader import input_files
from rollctl.sql import ingest as q

_TARGET = "rollctl_target"


@dataclass(frozen=True)
class TableIngest:
    table: str
    rows_read: int
    duplicates_in_input: int
    already_present: int
    added: int
    total_after: int


@dataclass(frozen=True)
class IngestResult:
    schema_version: str
    database: str
    files: tuple[str, ...]
    skipped_lines: int
    tables: tuple[TableIngest, ...]
    added: int
    warnings: tuple[Reason, ...]


# Bump when what a given export loads as changes in a way the rollctl version does not capture.
_FINGERPRINT_SCHEME = 2  # 2: file digests are chunked SHA-256 trees (`content_digest`)


class _Fingerprint:
    """The identity of one ingest's input: its files' contents (hashed in a background thread, so a first
    ingest pays the hash's CPU but not its wall time) and everything that decides what they load as."""

    def __init__(self, files: list[InputFile], options: LoadOptions) -> None:
        self._files = files
        self._stats = [_stat(f.path) for f in files]
        self._options = _options_key(options)
        self._digests: list[str] | None = None
        self._thread = threading.Thread(target=self._hash, daemon=True)
        self._thread.start()

    def _hash(self) -> None:
        try:
            self._digests = [content_digest(f.path) for f in self._files]
        except OSError:
            self._digests = None

    def value(self) -> str | None:
        """The fingerprint, or None when a file could not be hashed."""
        self._thread.join()
        if self._digests is None:
            return None
        key = {
            "scheme": _FINGERPRINT_SCHEME, "rollctl": __version__, "duckdb": engine_version(),
            "options": self._options,
            "files": [[f.format, d] for f, d in zip(self._files, self._digests, strict=True)],
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()

    def unchanged(self) -> bool:
        """Whether no file changed (size, mtime) since hashing began: else the hash may not be what loaded."""
        return [_stat(f.path) for f in self._files] == self._stats

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self._files]


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1  # gone or unreadable: the load reports it; a later stat then differs or fails alike
    return st.st_size, st.st_mtime_ns


def _options_key(options: LoadOptions) -> dict[str, object]:
    key = dataclasses.asdict(options)
    if options.trace_fields is not None:
        key["trace_fields"] = sorted(options.trace_fields)
    return key


def ingest(db: Database, paths: Sequence[str], target: str, options: LoadOptions | None = None) -> IngestResult:
    """Load and validate `paths`, then append rows not already in `target`.

    An input whose files have exactly the contents (and load options) of an earlier ingest into the same
    database is answered from that ingest's record without being read: its rows are all there already.
    """
    check_database_path(target)
    target_real = os.path.realpath(target)
    for p in paths:
        if os.path.exists(p) and os.path.realpath(p) == target_real:
            raise UsageError("--db is also an input", path=target, fix="write to a different database file")
    options = options or LoadOptions()
    files = input_files(paths, options) if paths else None
    fingerprint = _Fingerprint(files, options) if files else None
    if os.path.exists(target):
        try:
            return _ingest_into(db, paths, target, options, fingerprint)
        except DuckDBError as exc:
            with contextlib.suppress(DuckDBError):
                db.execute(f"DETACH {quote_identifier(_TARGET)}")
            raise InputError(f"cannot read or append to the database ({error_line(exc)})", path=target,
                             fix="it may be truncated or written by another tool: restore it, or pass a new --db "
                             "file") from None
    # A new database is built beside its final name and linked there once committed, so a killed or failed
    # first ingest leaves no file (nor a .wal) behind, and a reader never sees a half-written database.
    directory, name = os.path.split(os.path.abspath(target))
    _remove_abandoned_builds(directory, name)
    staging = os.path.join(directory, f".{name}.{os.getpid()}.{threading.get_ident()}.rollctl-new")
    try:
        result = _ingest_into(db, paths, staging, options, fingerprint)
        try:
            os.link(staging, target)  # unlike a rename, never replaces a database created meanwhile
        except FileExistsError:
            return ingest(db, paths, target, options)  # another ingest created it first: append to it
        except OSError as exc:
            raise InputError(f"cannot create the database ({exc.strerror})", path=target,
                             fix="check the directory exists and is writable") from None
        return dataclasses.replace(result, database=target)
    finally:
        for leftover in (staging, staging + ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _remove_abandoned_builds(directory: str, name: str) -> None:
    """Remove what a killed first ingest of the same database left beside it (its process is gone)."""
    prefix = f".{name}."
    for entry in os.listdir(directory):
        if not entry.startswith(prefix) or not entry.endswith((".rollctl-new", ".rollctl-new.wal")):
            continue
        pid = entry[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, entry))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_database_path(target: str) -> None:
    """A database rollctl writes is a local file: not ':memory:' or '' (nothing would be kept), nor a URL or
    an extension's prefix (`md:`, `s3://`, `http://`), which would make DuckDB reach the network."""
    if not target.strip() or target.strip() == ":memory:":
        raise UsageError("--db must name a database file (an in-memory database keeps nothing)", field="--db",
                         fix="pass a path, e.g. --db traces.duckdb")
    if is_remote(target):
        raise UsageError("--db must be a local file path, not a URL or remote database", field="--db",
                         fix="rollctl never reaches the network; pass a local path such as traces.duckdb")
    if os.path.isdir(target):
        raise UsageError("--db names a directory", path=target, field="--db", fix="pass a file path")


def _ingest_into(
    db: Database, paths: Sequence[str], target: str, options: LoadOptions, fingerprint: _Fingerprint | None
) -> IngestResult:
    if fingerprint is not None and os.path.exists(target):
        known = _already_ingested(db, target, fingerprint)
        if known is not None:
            return known
    streamed = _stream_into(db, paths, target, options, fingerprint)
    if streamed is not None:
        return streamed
    return _via_temp_tables(db, paths, target, options, fingerprint)


def _missing_request_id(missing: int) -> InputError:
    return InputError(
        f"{missing} trace row(s) have no request_id, so re-ingesting could not de-duplicate them",
        field="request_id", fix="map the request id with --map request_id=<field>",
    )


def _stream_into(
    db: Database, paths: Sequence[str], target: str, options: LoadOptions, fingerprint: _Fingerprint | None
) -> IngestResult | None:
    """Load the inputs straight into the database file in one transaction: validate, de-duplicate, commit.

    Loading into temp tables and then copying held every prompt and response in memory (spilled to disk past
    the 700 MB cap: ~2 GB of text for 1 M rows) and read it all back for the copy: at 1 M rows the load
    took 14.5 s of CPU and the copy 19 s. Streaming writes each row once. On any error the transaction is
    rolled back (a database file this call created is removed), so a failed ingest leaves the file as it was.
    None (nothing done) when the database cannot be opened or holds tables of another shape: the
    temp-table path then reports that after the inputs' own errors, in the usual order.
    """
    created = not os.path.exists(target)
    try:
        db.attach(target, _TARGET)
    except DuckDBError:
        return None
    committed = False
    ordered = bool(db.fetchone("SELECT current_setting('preserve_insertion_order')")[0])
    try:
        if not q.has_canonical_schema(db, _TARGET):
            return None
        try:
            report, tables = _load_and_commit(db, paths, options, fingerprint)
        except _NoRequestId as missing:
            _rollback(db, ordered)
            raise _missing_request_id(missing.count) from None
        except Exception:
            # DuckDB aborts an explicit transaction at its first error, so the loader's follow-up queries (that
            # find the line of a malformed record, or try a second way to read a file) fail inside one. Roll
            # back and let the temp-table path load the inputs again: it raises (or recovers) exactly as ever.
            _rollback(db, ordered)
            return None
        except BaseException:
            _rollback(db, ordered)
            raise
        committed = True
        db.execute("CHECKPOINT " + quote_identifier(_TARGET))
    finally:
        db.execute(f"DETACH {quote_identifier(_TARGET)}")
        if created and not committed:
            for leftover in (target, target + ".wal"):
                if os.path.exists(leftover):
                    os.remove(leftover)
    return _result(target, tuple(f.path for f in report.files), report.skipped_lines, tables)


class _NoRequestId(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def _rollback(db: Database, ordered: bool) -> None:
    """Roll back, and restore the insertion-order setting (the loader could not inside an aborted transaction:
    the temp-table path locates errors by row order)."""
    with contextlib.suppress(DuckDBError):  # no transaction open
        db.execute("ROLLBACK")
    db.execute("SET preserve_insertion_order = $v", {"v": ordered})


def _load_and_commit(
    db: Database, paths: Sequence[str], options: LoadOptions, fingerprint: _Fingerprint | None
) -> tuple[LoadReport, list[TableIngest]]:
    db.execute("BEGIN TRANSACTION")
    q.ensure_tables(db, _TARGET)
    had = {t: q.count_rows(db, _TARGET, t) for t in TABLE_FIELDS}
    q.add_load_flag(db, _TARGET)
    # Rows whose key is already there are written as their key only (then deleted): an export that mostly
    # repeats the database (a cumulative export) would otherwise compress and write all its text again.
    present = {t: q.TABLE_KEYS[t] for t, n in had.items() if n}
    report = load_inputs(db, paths, options, into=_TARGET, present_keys=present)
    if report.rows.get("traces"):
        missing = q.loaded_without_request_id(db, _TARGET)
        if missing:
            raise _NoRequestId(missing)
    # As in the temp-table path: row order carries no meaning once loaded (first-wins de-duplication
    # orders explicitly), and line numbers in load errors needed the reader's order only while loading.
    db.execute("SET preserve_insertion_order = false")
    tables = []
    for table in TABLE_FIELDS:
        read = report.rows.get(table, 0)
        dups = q.loaded_duplicates(db, _TARGET, table) if read else 0
        added = (q.keep_new_loaded(db, _TARGET, table, has_duplicates=dups > 0, had_rows=had[table] > 0)
                 if read else 0)
        tables.append(TableIngest(
            table=table, rows_read=read, duplicates_in_input=dups, already_present=read - dups - added,
            added=added, total_after=had[table] + added,
        ))
    q.drop_load_flag(db, _TARGET)
    _log(db, fingerprint, tables, report.skipped_lines)
    db.execute("COMMIT")
    return report, tables


def _log(db: Database, fingerprint: _Fingerprint | None, tables: list[TableIngest], skipped_lines: int) -> None:
    if fingerprint is None:
        return
    value = fingerprint.value()
    if value is not None and fingerprint.unchanged():
        counts = {t.table: (t.rows_read, t.duplicates_in_input, t.total_after) for t in tables}
        q.log_ingest(db, _TARGET, value, counts, skipped_lines, fingerprint.paths)


def _via_temp_tables(
    db: Database, paths: Sequence[str], target: str, options: LoadOptions, fingerprint: _Fingerprint | None
) -> IngestResult:
    """Load into temp tables, then append the new rows to the database (when it cannot be streamed into)."""
    report = load_inputs(db, paths, options)
    if report.rows.get("traces"):
        missing = int(db.fetchone("SELECT count(*) FROM traces WHERE request_id IS NULL")[0])
        if missing:
            raise _missing_request_id(missing)
    # Row order inside the database file carries no meaning (first-wins de-duplication orders by file
    # explicitly), and not preserving it lets DuckDB append in parallel with less memory. Set only after
    # loading: line numbers in load errors rely on the reader's order.
    db.execute("SET preserve_insertion_order = false")
    try:
        db.attach(target, _TARGET)
    except DuckDBError as exc:
        raise InputError(f"cannot open or create the database ({str(exc).splitlines()[0]})", path=target,
                         fix="check the path and that no other process holds it") from None
    try:
        if not q.has_canonical_schema(db, _TARGET):
            raise InputError("the database holds a traces, judgements or evals table that rollctl ingest did "
                             "not write", path=target,
                             fix="pass a new --db file, or one written by rollctl ingest")
        q.ensure_tables(db, _TARGET)
        tables = []
        for table in TABLE_FIELDS:
            read = report.rows.get(table, 0)
            dups = q.in_input_duplicates(db, table) if read else 0
            added = q.append_new(db, _TARGET, table, has_duplicates=dups > 0) if read else 0
            tables.append(TableIngest(
                table=table, rows_read=read, duplicates_in_input=dups, already_present=read - dups - added,
                added=added, total_after=q.count_rows(db, _TARGET, table),
            ))
        _log(db, fingerprint, tables, report.skipped_lines)
        db.execute("CHECKPOINT " + quote_identifier(_TARGET))
    finally:
        db.execute(f"DETACH {quote_identifier(_TARGET)}")
    return _result(target, tuple(f.path for f in report.files), report.skipped_lines, tables)


def _already_ingested(db: Database, target: str, fingerprint: _Fingerprint) -> IngestResult | None:
    """The result of re-ingesting an input this database has logged (see `_Fingerprint`), else None.

    Anything unexpected (the file is not a database we can open, a table is missing, a table holds fewer rows
    than right after that ingest: rows were deleted by hand) returns None, and the normal path then loads the
    input (restoring what is missing) and reports errors in its usual order.
    """
    try:
        db.attach(target, _TARGET)
    except DuckDBError:
        return None
    try:
        if not db.attached_table_exists(_TARGET, q.INGEST_LOG):
            return None
        value = fingerprint.value()
        logged = q.logged_ingest(db, _TARGET, value) if value is not None else None
        if logged is None or not all(db.attached_table_exists(_TARGET, t) for t in TABLE_FIELDS):
            return None
        tables = []
        for table in TABLE_FIELDS:
            read, dups, _, total_then = logged.get(table, (0, 0, 0, 0))
            total = q.count_rows(db, _TARGET, table)
            if total < total_then:
                return None
            tables.append(TableIngest(table=table, rows_read=read, duplicates_in_input=dups,
                                      already_present=read - dups, added=0, total_after=total))
        skipped = max(s for _, _, s, _ in logged.values())
    finally:
        db.execute(f"DETACH {quote_identifier(_TARGET)}")
    return _result(target, tuple(fingerprint.paths), skipped, tables)


def _result(target: str, files: tuple[str, ...], skipped_lines: int, tables: list[TableIngest]) -> IngestResult:
    warnings: list[Reason] = []
    total_added = sum(t.added for t in tables)
    if total_added == 0:
        warnings.append(Reason("NOTHING_NEW", "every row was already in the database; nothing was added"))
    for t in tables:
        if t.duplicates_in_input:
            keys = " + ".join(q.TABLE_KEYS[t.table])
            message = f"{t.duplicates_in_input} {t.table} row(s) repeat a {keys} in the input; kept the first"
            warnings.append(Reason("DUPLICATES_IN_INPUT", message))
    return IngestResult(
        schema_version=SCHEMA_VERSION, database=target, files=files,
        skipped_lines=skipped_lines, tables=tuple(tables), added=total_added, warnings=tuple(warnings),
    )

"""Canonical traces and eval results for `--engine spark`: Parquet or JSON lines, or a catalog table, read
by Spark.

The file adapters (Langfuse, LangSmith, OpenTelemetry, promptfoo, ...) stay on DuckDB: on a cluster the
inputs are expected in the canonical table contract (README, "Running on Spark or your warehouse"): the
canonical field names, typed as `CANONICAL_SPARK_TYPES` says or castable to it, `timestamp` a TIMESTAMP (or
an ISO-8601 text with its offset) read as a UTC instant. Each canonical column present is cast to its type
(Spark's ANSI casts raise on a value that does not fit, which becomes a one-line error); other columns are
not read. A Parquet export of the tables `rollctl ingest` builds follows this contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollctl.db import quote_identifier
from rollctl.engines.dialects import translate_expression
from rollctl.engines.spark import SparkEngine
from rollctl.errors import EmptyInputError, InputError, UsageError
from rollctl.load.canonical import EVAL_FIELDS, TRACE_FIELDS, CanonicalField
from rollctl.load.expressions import in_timestamp_window
from rollctl.load.types import FieldSource, FileReport, LoadOptions, LoadReport

CANONICAL_SPARK_TYPES = {
    "string": "string", "text": "string", "timestamp": "timestamp", "bool": "boolean", "float": "double",
    "int": "bigint", "thumbs": "int", "list": "array<string>", "json": "string",
}
"""Canonical field kind -> the Spark SQL type its column is cast to."""

CORRUPT = "_rollctl_malformed_line"
"""Where Spark's JSON reader puts a line it cannot parse."""
MALFORMED = "_rollctl_malformed"

_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


_DUCKDB_ONLY_SUFFIXES = (".duckdb", ".csv", ".csv.gz", ".zst", ".json.zst", ".jsonl.zst")


def spark_format(path: str) -> str:
    """'json' for JSON-lines paths (by suffix, globs allowed), else 'parquet' (files, directories, globs).
    A database file, CSV or zstd-compressed input is refused with the way to read it."""
    name = path.rstrip("/").lower()
    if name.endswith(_DUCKDB_ONLY_SUFFIXES):
        raise UsageError("--engine spark reads canonical Parquet or JSON lines; this input is read by DuckDB",
                         path=path, field="--engine",
                         fix="run without --engine spark, or export the canonical traces to Parquet "
                             "(rollctl ingest, then COPY traces TO 'traces.parquet' in DuckDB)")
    return "json" if name.endswith(_JSON_SUFFIXES) else "parquet"


def load_on_spark(engine: SparkEngine, paths: Sequence[str], options: LoadOptions, *,
                  table: str | None = None) -> LoadReport:
    """Expose the inputs to the engine's statements as the view `traces` (canonical columns, canonical types)."""
    if options.mapping or options.format or options.variant_from:
        raise UsageError("field mappings (--map, rollctl.toml [mapping]), --format and --variant-from read "
                         "exports on DuckDB; --engine spark reads canonical tables", field="--engine",
                         fix="convert the export with `rollctl ingest` first, or run without --engine spark")
    if table is not None and paths:
        raise UsageError("give input paths or --table, not both", field="--table")
    sources: list[tuple[str, str, Any]] = []
    reader = engine.session.read
    if table is not None:
        sources.append((table, "table", SparkEngine.guarded(lambda: engine.session.table(table))))
    if not sources and not paths:
        raise UsageError("no input given", fix="pass Parquet or JSON-lines paths, or --table NAME")
    for path in paths:
        fmt = spark_format(path)
        # A malformed JSON line becomes a row holding only its text in CORRUPT (never a row of NULL fields
        # counted as a trace): refused, or skipped and counted, as the DuckDB loader does.
        frame = SparkEngine.guarded(lambda p=path, f=fmt: reader.format(f).option("mode", "PERMISSIVE")
                                    .option("columnNameOfCorruptRecord", CORRUPT).load(p))
        sources.append((path, fmt, frame))
    by_table: dict[str, list[tuple[str, str, Any]]] = {}
    for where, fmt, frame in sources:
        # Eval results carry a case id; everything else is traces (as the DuckDB loader's detection has it).
        by_table.setdefault("evals" if "case_id" in frame.columns else "traces", []).append((where, fmt, frame))
    rows: dict[str, int] = {}
    skipped = 0
    reports: list[FileReport] = []
    for name, members in by_table.items():
        count, dropped, files = _load_table(engine, name, members, options)
        rows[name] = count
        skipped += dropped
        reports.extend(files)
    return LoadReport(files=tuple(reports), rows=rows, skipped_lines=skipped)


def _load_table(engine: SparkEngine, name: str, members: list[tuple[str, str, Any]],
                options: LoadOptions) -> tuple[int, int, list[FileReport]]:
    """One canonical table (`traces` or `evals`) from its sources: columns cast, rows checked, view registered.
    Eval rows keep the path they came from (`_file`), which eval-gate's two-file mode assigns arms by."""
    fields = TRACE_FIELDS if name == "traces" else EVAL_FIELDS
    chosen = options.fields_of(name)
    wanted = {f.name: f for f in fields if chosen is None or f.name in chosen}
    frames, reports = [], []
    for where, fmt, frame in members:
        present = [c for c in frame.columns if c in wanted]
        if not present:
            raise InputError(f"no canonical {name} field in this input", path=where,
                             fix="name the columns as the canonical table contract does (timestamp, user_id, "
                                 "variant, ...)")
        malformed = f"`{CORRUPT}` IS NOT NULL" if CORRUPT in frame.columns else "FALSE"
        cast = frame.selectExpr(*[f"CAST(`{c}` AS {CANONICAL_SPARK_TYPES[wanted[c].kind]}) AS `{c}`"
                                  for c in present], f"{malformed} AS {MALFORMED}")
        if name == "evals":
            from pyspark.sql.functions import lit  # the path as a value, never in SQL text

            cast = cast.withColumn("_file", lit(where))
        frames.append(cast)
        reports.append(FileReport(path=where, format=fmt, kind=name, rows={}, columns=tuple(present),
                                  sources=tuple(FieldSource(name, c, c) for c in present)))
    table = frames[0]
    for other in frames[1:]:
        table = table.unionByName(other, allowMissingColumns=True)
    if any(fmt == "json" for _, fmt, _ in members):
        table = table.cache()  # parsing JSON again for every pass would cost more than keeping the rows
    table, count, dropped = _checked(table, [f for f in fields if f.name in table.columns], options, members[0][0])
    if count == 0:
        raise EmptyInputError(f"the input holds no {name} rows", path=members[0][0],
                              fix="check the paths or the table")
    engine.register_dataframe(name, table)
    return count, dropped, reports


def _checked(traces: Any, fields: list[CanonicalField], options: LoadOptions, where: str) -> tuple[Any, int, int]:
    """One pass over the cast rows: how many there are, and how many break the contract as the DuckDB loader
    would refuse them: a malformed JSON line, a timestamp outside 2000-2099 (an epoch number cast by Spark
    reads as seconds, so epoch milliseconds land there rather than being silently misread), a value outside
    its field's range. With --on-bad-lines error the first kind found is the error; with skip, such rows are
    left out and counted."""
    problems: list[tuple[str, str, str, str]] = [
        (MALFORMED, "malformed JSON line(s)", "", "fix the line(s)")]
    if any(f.name == "timestamp" for f in fields):
        problems.append((f"NOT ({in_timestamp_window(quote_identifier('timestamp'))})", "trace row(s) with a "
                         "timestamp outside 2000-2099", "timestamp", "store UTC instants as TIMESTAMP or "
                         "ISO-8601 text with an offset (epoch numbers are read as seconds on Spark)"))
    for f in fields:
        outside = f.range_sql(quote_identifier(f.name))
        if outside is not None:
            problems.append((outside, f"trace row(s) with {f.name} outside its range (a number"
                             f"{f.range_phrase()})", f.name, "correct the values"))
    problems = [(translate_expression(sql, "spark"), what, field, fix) for sql, what, field, fix in problems]
    flagged = [f"coalesce({sql}, FALSE)" for sql, _, _, _ in problems]
    any_problem = " OR ".join(flagged)
    # One pass: the rows, each kind of problem, and the rows with any (what skip mode leaves out).
    counts = SparkEngine.guarded(lambda: traces.selectExpr(
        "count(*)", f"count_if({any_problem})", *[f"count_if({flag})" for flag in flagged]).toArrow())
    rows, dropped, *bad = (int(c[0].as_py()) for c in counts.columns)
    if dropped and options.on_bad_lines == "error":
        (sql, what, field, fix), n = next((p, n) for p, n in zip(problems, bad, strict=True) if n)
        raise InputError(f"{n:,} {what}", path=where, field=field or None,
                         fix=f"{fix}, or pass --on-bad-lines skip to leave them out and count them")
    kept = traces.where(f"NOT ({any_problem})") if dropped else traces
    return kept.drop(MALFORMED), rows - dropped, dropped

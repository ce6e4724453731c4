"""Traces for `--engine spark`: canonical-shaped Parquet or JSON lines, or a catalog table, read by Spark.

The file adapters (Langfuse, LangSmith, OpenTelemetry, ...) stay on DuckDB: on a cluster the traces are
expected in the canonical table contract (README, "Running on Spark or your warehouse"): the canonical
field names, typed as `CANONICAL_SPARK_TYPES` says or castable to it, `timestamp` a TIMESTAMP (or an
ISO-8601 text with its offset) read as a UTC instant. Each canonical column present is cast to its type
(Spark's ANSI casts raise on a value that does not fit, which becomes a one-line error); other columns are
not read. `rollctl ingest` writes exactly this contract, and so does a Parquet export of the canonical
table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollctl.engines.spark import SparkEngine
from rollctl.errors import EmptyInputError, InputError, UsageError
from rollctl.load.canonical import TRACE_FIELDS
from rollctl.load.types import FieldSource, FileReport, LoadOptions, LoadReport

CANONICAL_SPARK_TYPES = {
    "string": "string", "text": "string", "timestamp": "timestamp", "bool": "boolean", "float": "double",
    "int": "bigint", "thumbs": "int", "list": "array<string>", "json": "string",
}
"""Canonical field kind -> the Spark SQL type its column is cast to."""

_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def spark_format(path: str) -> str:
    """'json' for JSON-lines paths (by suffix, globs allowed), else 'parquet' (files, directories, globs)."""
    return "json" if path.rstrip("/").lower().endswith(_JSON_SUFFIXES) else "parquet"


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
        frame = SparkEngine.guarded(lambda p=path, f=fmt: reader.format(f).load(p))
        sources.append((path, fmt, frame))
    wanted = {f.name: f for f in TRACE_FIELDS
              if options.trace_fields is None or f.name in options.trace_fields}
    frames, reports = [], []
    for where, fmt, frame in sources:
        present = [c for c in frame.columns if c in wanted]
        if not present:
            raise InputError("no canonical trace field in this input", path=where,
                             fix="name the columns as the canonical table contract does (timestamp, user_id, "
                                 "variant, ...)")
        frames.append(frame.selectExpr(*[f"CAST(`{c}` AS {CANONICAL_SPARK_TYPES[wanted[c].kind]}) AS `{c}`"
                                         for c in present]))
        reports.append((where, fmt, present))
    traces = frames[0]
    for other in frames[1:]:
        traces = traces.unionByName(other, allowMissingColumns=True)
    if any(fmt == "json" for _, fmt, _ in sources):
        traces = traces.cache()  # parsing JSON again for every pass would cost more than keeping the rows
    rows = int(SparkEngine.guarded(traces.count))
    if rows == 0:
        raise EmptyInputError("the input holds no trace rows", path=sources[0][0],
                              fix="check the paths or the table")
    engine.register_dataframe("traces", traces)
    files = tuple(FileReport(path=where, format=fmt, kind="traces", rows={}, columns=tuple(present),
                             sources=tuple(FieldSource("traces", c, c) for c in present))
                  for where, fmt, present in reports)
    return LoadReport(files=files, rows={"traces": rows}, skipped_lines=0)

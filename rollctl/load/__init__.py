"""One way in for data: paths in, canonical DuckDB tables out (`traces`, `judgements`, `evals`)."""

from collections.abc import Sequence

from rollctl.db import Database
from rollctl.load.loader import (
    FieldSource,
    FileReport,
    LoadOptions,
    LoadReport,
    PairedRows,
    create_empty_tables,
    load_inputs,
)
from rollctl.load.require import require_fields


def paired_row_sources(db: Database, paths: Sequence[str], options: LoadOptions) -> list[PairedRows] | None:
    """See `rollctl.load.adapters.canonical.paired_row_sources` (imported late: the adapters import the loader)."""
    from rollctl.load.adapters.canonical import paired_row_sources as sources

    return sources(db, paths, options)


def store_paired_judgements(db: Database, rows_table: str, path: str, first_sid: int, end_sid: int) -> int:
    """See `rollctl.load.adapters.canonical.store_paired_judgements`."""
    from rollctl.load.adapters.canonical import store_paired_judgements as store

    return store(db, rows_table, path, first_sid, end_sid)


__all__ = ["FieldSource", "FileReport", "LoadOptions", "LoadReport", "PairedRows", "create_empty_tables",
           "load_inputs", "paired_row_sources", "require_fields", "store_paired_judgements"]

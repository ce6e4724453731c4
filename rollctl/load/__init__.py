"""One way in for data: paths in, canonical DuckDB tables out (`traces`, `judgements`, `evals`)."""

from collections.abc import Sequence

from rollctl.db import Database
from rollctl.load.loader import (
    FieldSource,
    FileReport,
    LoadOptions,
    LoadReport,
    TextSource,
    load_inputs,
)
from rollctl.load.require import require_fields


def paired_text_sources(db: Database, paths: Sequence[str], options: LoadOptions) -> list[TextSource] | None:
    """See `rollctl.load.adapters.canonical.paired_text_sources` (imported late: the adapters import the loader)."""
    from rollctl.load.adapters.canonical import paired_text_sources as sources

    return sources(db, paths, options)


__all__ = ["FieldSource", "FileReport", "LoadOptions", "LoadReport", "TextSource", "load_inputs",
           "paired_text_sources", "require_fields"]

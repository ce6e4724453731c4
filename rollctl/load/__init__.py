"""One way in for data: paths in, canonical DuckDB tables out (`traces`, `judgements`, `evals`)."""

from rollctl.load.loader import (
    FieldSource,
    FileReport,
    LoadOptions,
    LoadReport,
    load_inputs,
)
from rollctl.load.require import require_fields

__all__ = ["FieldSource", "FileReport", "LoadOptions", "LoadReport", "load_inputs", "require_fields"]

"""One way in for data: paths in, canonical DuckDB tables out (`traces`, `judgements`, `evals`).

The package's parts: `types` (the vocabulary), `files` (paths), `probe` (how a file is read), `adapters` (the
registry of formats), `select` (SQL assembly of canonical rows), `validate` (bad values named or skipped),
`loader` (the orchestration below), `require` (fields a command needs), `mapping` (`--map`).
"""

from rollctl.load.adapters.paired import store_paired_judgements
from rollctl.load.loader import create_empty_tables, load_inputs, paired_row_sources
from rollctl.load.require import require_fields
from rollctl.load.types import FieldSource, FileReport, LoadOptions, LoadReport, PairedRows

__all__ = ["FieldSource", "FileReport", "LoadOptions", "LoadReport", "PairedRows", "create_empty_tables",
           "load_inputs", "paired_row_sources", "require_fields", "store_paired_judgements"]

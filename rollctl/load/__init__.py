"""One way in for data: paths in, canonical DuckDB tables out (`traces`, `judgements`, `evals`).

The package's parts: `types` (the vocabulary), `files` (paths), `probe` (how a file is read), `adapters` (the
registry of formats), `select` (SQL assembly of canonical rows), `validate` (bad values named or skipped),
`loader` (the orchestration below), `require` (fields a command needs), `mapping` (`--map`).

The names below are resolved on first use: importing a light part (`rollctl.load.canonical`, which the plan
reads) must not import DuckDB and every adapter, or `rollctl --help` would pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rollctl.load.adapters.paired import store_paired_judgements
    from rollctl.load.loader import create_empty_tables, load_inputs, paired_row_sources
    from rollctl.load.require import require_fields
    from rollctl.load.types import FieldSource, FileReport, LoadOptions, LoadReport, PairedRows

_HOMES = {
    "FieldSource": "rollctl.load.types", "FileReport": "rollctl.load.types", "LoadOptions": "rollctl.load.types",
    "LoadReport": "rollctl.load.types", "PairedRows": "rollctl.load.types",
    "create_empty_tables": "rollctl.load.loader", "load_inputs": "rollctl.load.loader",
    "paired_row_sources": "rollctl.load.loader", "require_fields": "rollctl.load.require",
    "store_paired_judgements": "rollctl.load.adapters.paired",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rollctl.load' has no attribute {name!r}")
    return getattr(import_module(home), name)


__all__ = ["FieldSource", "FileReport", "LoadOptions", "LoadReport", "PairedRows", "create_empty_tables",
           "load_inputs", "paired_row_sources", "require_fields", "store_paired_judgements"]

"""The registry of input formats.

An adapter looks at a cheap probe of a file (its container format, its top-level columns and their
types) and says whether it recognises it; its `load` inserts canonical rows with SQL. Adding a format
means adding a module here and registering it: commands never change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollctl.load.loader import FileReport, LoadContext, Probe


@dataclass(frozen=True)
class Adapter:
    """A named input format: how to recognise it and how to load it into the canonical tables."""

    name: str
    description: str
    detect: Callable[[Probe], bool]
    load: Callable[[LoadContext, Probe], FileReport]
    priority: int = 100
    """Lower runs detection first; the generic canonical adapters come last."""
    envelope: bool = False
    """Every record of this format has the same fixed top-level keys (OTLP's `resourceSpans`), so
    detection may look at the first record only instead of a sample of thousands."""
    detect_dir: Callable[[str], bool] | None = None
    """For exports that are a directory of related tables (Langfuse's blob export: observations joined
    to scores): says whether a directory is such an export, by its layout alone."""
    load_dir: Callable[[LoadContext, str], FileReport] | None = None
    """Loads such a directory as one unit instead of file by file."""


_REGISTRY: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    _REGISTRY[adapter.name] = adapter
    return adapter


def adapters() -> list[Adapter]:
    _ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda a: (a.priority, a.name))


def adapter_named(name: str) -> Adapter | None:
    _ensure_loaded()
    return _REGISTRY.get(name)


def _ensure_loaded() -> None:
    # Importing the modules registers their adapters; done lazily to avoid an import cycle with loader.
    import rollctl.load.adapters.inspect_ai  # noqa: F401
    import rollctl.load.adapters.promptfoo  # noqa: F401
    from rollctl.load.adapters import (  # noqa: F401
        braintrust,
        canonical,  # noqa: F401
        judges,
        langfuse,
        langsmith,
        otel,
        refusals,
    )

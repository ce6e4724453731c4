"""The registry of input formats: every adapter, listed here explicitly.

An adapter looks at a cheap probe of a file (its container format, its top-level columns and their types)
and says whether it recognises it; its `load` inserts canonical rows with SQL. Adding a format means adding a
module here and its adapter to `ADAPTERS`: commands never change. The adapter modules import the loader's
parts (`rollctl.load.types`, `.probe`, `.select`), never the loader itself, which imports this registry.
"""

from __future__ import annotations

from rollctl.load.adapters import (
    braintrust,
    canonical,
    inspect_ai,
    judges,
    langfuse,
    langsmith,
    otel,
    paired,
    promptfoo,
    refusals,
)
from rollctl.load.types import Adapter, Probe

ADAPTERS: tuple[Adapter, ...] = tuple(sorted((
    refusals.REFUSE_OTLP_SIGNAL,
    otel.OTEL,
    langfuse.LANGFUSE,
    refusals.REFUSE_LANGFUSE_SCORES,
    langsmith.LANGSMITH,
    braintrust.BRAINTRUST,
    refusals.REFUSE_MTBENCH_SINGLE,
    judges.MTBENCH,
    judges.ALPACAEVAL,
    inspect_ai.INSPECT_JSON,
    inspect_ai.INSPECT_EVAL,
    promptfoo.PROMPTFOO,
    promptfoo.PROMPTFOO_JSONL,
    paired.PAIRED,
    canonical.EVALS,
    canonical.JUDGEMENTS,
    canonical.CANONICAL,
), key=lambda a: (a.priority, a.name)))
"""Every input format, in detection order (lower priority first; the generic canonical formats last)."""


def adapters() -> list[Adapter]:
    return list(ADAPTERS)


def adapter_named(name: str) -> Adapter | None:
    return next((a for a in ADAPTERS if a.name == name), None)


def detected_adapter(probe: Probe) -> Adapter | None:
    """The adapter that recognises a probed file (the first by priority), when no --format names one."""
    return next((a for a in ADAPTERS if a.detect(probe)), None)


def is_envelope(probe: Probe) -> bool:
    """Whether a format with a fixed envelope (`Adapter.envelope`) recognises a probe of the first record."""
    return any(a.envelope and a.detect(probe) for a in ADAPTERS)

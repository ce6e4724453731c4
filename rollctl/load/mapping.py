"""`--map canonical=source.path`: let users point canonical fields at their own names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rollctl.errors import UsageError
from rollctl.load.canonical import TABLE_FIELDS

_ALL_CANONICAL = {f.name for fields in TABLE_FIELDS.values() for f in fields}


def parse_mapping(items: Iterable[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merge `canonical=source` pairs over a base mapping (the config file's), validating names."""
    mapping = dict(base or {})
    for name in mapping:
        _check_canonical(name)
    for item in items:
        if "=" not in item:
            raise UsageError(f"--map expects canonical=source.path, got {item!r}", fix="e.g. --map user_id=userId")
        canonical, source = (part.strip() for part in item.split("=", 1))
        if not canonical or not source:
            raise UsageError(f"--map expects canonical=source.path, got {item!r}", fix="e.g. --map user_id=userId")
        _check_canonical(canonical)
        mapping[canonical] = source
    return mapping


def _check_canonical(name: str) -> None:
    if name not in _ALL_CANONICAL:
        raise UsageError(
            f"--map: {name!r} is not a canonical field",
            fix="canonical fields: " + ", ".join(sorted(_ALL_CANONICAL)),
        )


def resolve_source(source: str, columns: Iterable[str]) -> tuple[str, list[str]] | None:
    """Split `a.b.c` into a top-level column and a nested path, preferring the longest column name.

    Flat exports often have dots inside names (`gen_ai.request.model`), so a dotted name that is itself a
    column wins over reading it as a path.
    """
    names = set(columns)
    parts = source.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in names:
            return head, parts[cut:]
    return None


SCORE_PREFIX = "score:"


def is_score_source(source: str) -> bool:
    """`score:NAME` names a score by its name (e.g. `thumbs = "score:user_feedback"` in [mapping]).

    Formats that carry named scores (Langfuse scores, LangSmith feedback, Braintrust scores, OTel
    `gen_ai.evaluation.result` events) read it; flat formats ignore it, since it is no column.
    """
    return source.startswith(SCORE_PREFIX) and len(source) > len(SCORE_PREFIX)


def score_sources(mapping: Mapping[str, str]) -> dict[str, str]:
    """canonical field -> score name, for the `score:NAME` entries of a mapping."""
    return {k: v[len(SCORE_PREFIX):] for k, v in mapping.items() if is_score_source(v)}

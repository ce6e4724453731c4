"""`--map canonical=source.path`: let users point canonical fields at their own names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rapidfuzz import fuzz, process

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


def split_source(source: str) -> list[tuple[str, bool]]:
    """Split `a.b."c.d".e` into (name, was_quoted) segments.

    A segment that starts with a double quote runs to the closing quote (`""` inside stands for one
    quote), so a nested key that itself holds a dot can be named. Anything else is taken literally up to
    the next dot, quotes and brackets included (`we"ird`, `br[0]`).
    """
    parts: list[tuple[str, bool]] = []
    i, n = 0, len(source)
    while True:
        if i < n and source[i] == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise UsageError(f"--map: unclosed quote in {source!r}", fix='write e.g. metadata."a.b".id')
                if source[j] == '"':
                    if j + 1 < n and source[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(source[j])
                j += 1
            parts.append(("".join(buf), True))
            i = j + 1
            if i < n and source[i] != ".":
                raise UsageError(f"--map: expected '.' after a quoted name in {source!r}",
                                 fix='write e.g. metadata."a.b".id')
        else:
            j = source.find(".", i)
            j = n if j < 0 else j
            parts.append((source[i:j], False))
            i = j
        if i >= n:
            return parts
        i += 1  # the dot


def resolve_source(source: str, columns: Iterable[str]) -> tuple[str, list[str]] | None:
    """Split `a.b.c` into a top-level column and a nested path, preferring the longest column name.

    Flat exports often have dots inside names (`gen_ai.request.model`), so a dotted name that is itself a
    column wins over reading it as a path. Quoted segments are never joined with their neighbours.
    """
    names = set(columns)
    parts = split_source(source)
    for cut in range(len(parts), 0, -1):
        if cut > 1 and any(quoted for _, quoted in parts[:cut]):
            continue
        head = ".".join(name for name, _ in parts[:cut])
        if head in names:
            return head, [name for name, _ in parts[cut:]]
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


def normalised_name(name: str) -> str:
    """A field name without case or separators, for matching `userId` to `user_id`."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def suggest_source(canonical: str, columns: Iterable[str]) -> str | None:
    """The source column most likely meant for `canonical` (userId, user-id, UserID for user_id)."""
    names = list(columns)
    if not names:
        return None
    by_norm = {normalised_name(n): n for n in names}
    if normalised_name(canonical) in by_norm:
        return by_norm[normalised_name(canonical)]
    match = process.extractOne(normalised_name(canonical), list(by_norm), scorer=fuzz.ratio, score_cutoff=75)
    return by_norm[match[0]] if match else None

"""Check that the fields a command needs were found, and suggest `--map` when a close name exists."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

from rollctl.errors import MissingFieldError
from rollctl.load.loader import LoadReport


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def suggest_source(canonical: str, columns: Iterable[str]) -> str | None:
    """The source column most likely meant for `canonical` (userId, user-id, UserID for user_id)."""
    names = list(columns)
    if not names:
        return None
    by_norm = {_normalise(n): n for n in names}
    if _normalise(canonical) in by_norm:
        return by_norm[_normalise(canonical)]
    match = process.extractOne(_normalise(canonical), list(by_norm), scorer=fuzz.ratio, score_cutoff=75)
    return by_norm[match[0]] if match else None


def require_fields(report: LoadReport, table: str, fields: Iterable[str], *, command: str) -> None:
    """Raise `MissingFieldError` for the first required field that no input provided."""
    found = report.found_fields(table)
    for name in fields:
        if name in found:
            continue
        columns = report.columns_seen()
        path = report.files[0].path if len(report.files) == 1 else None
        shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
        guess = suggest_source(name, columns)
        fix = f"did you mean {guess}? use --map {name}={guess}" if guess else f"use --map {name}=<your field>"
        raise MissingFieldError(
            f"{command} needs the field {name}, which is missing (fields found: {shown or 'none'})",
            path=path, field=name, fix=fix,
        )

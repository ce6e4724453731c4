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
    """Raise one `MissingFieldError` naming every required field that no input provided, with a `--map`
    suggestion for each that has a close name, and the fields found (all of them, or the closest ones to the
    missing names when there are many): one run tells the whole fix."""
    found = report.found_fields(table)
    missing = list(dict.fromkeys(name for name in fields if name not in found))
    if not missing:
        return
    columns = report.columns_seen()
    path = report.files[0].path if len(report.files) == 1 else None
    guesses = {name: suggest_source(name, columns) for name in missing}
    maps = [f"--map {name}={guess}" for name, guess in guesses.items() if guess]
    unguessed = [name for name, guess in guesses.items() if not guess]
    others = " ".join(f"--map {name}=<your field>" for name in unguessed)
    if maps:
        fix = "did you mean " + " ".join(maps) + "?" + (f" and map the others: {others}" if others else "")
    else:
        fix = f"use {others}"
    if len(columns) > MAX_SHOWN:
        closest = list(dict.fromkeys(m[2] for name in missing for m in process.extract(
            _normalise(name), {c: _normalise(c) for c in columns}, scorer=fuzz.ratio, limit=5)))
        shown = f"{len(columns)} fields, the closest: " + ", ".join(closest[:MAX_SHOWN])
    else:
        shown = ", ".join(columns) or "none"
    what = f"the field {missing[0]}, which is" if len(missing) == 1 else "the fields " + ", ".join(missing) + \
        ", which are"
    raise MissingFieldError(f"{command} needs {what} missing (fields found: {shown})", path=path,
                            field=missing[0], fix=fix.strip())


MAX_SHOWN = 40
"""Past this many fields found, an error shows the closest ones to the missing names instead of all."""

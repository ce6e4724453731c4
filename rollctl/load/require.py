"""Check that the fields a command needs were found, and suggest `--map` when a close name exists."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

from rollctl.errors import MissingFieldError
from rollctl.load.mapping import normalised_name, suggest_source
from rollctl.load.types import LoadReport


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
            normalised_name(name), {c: normalised_name(c) for c in columns}, scorer=fuzz.ratio, limit=5)))
        shown = f"{len(columns)} fields, the closest: " + ", ".join(closest[:MAX_SHOWN])
    else:
        shown = ", ".join(columns) or "none"
    what = f"the field {missing[0]}, which is" if len(missing) == 1 else "the fields " + ", ".join(missing) + \
        ", which are"
    raise MissingFieldError(f"{command} needs {what} missing (fields found: {shown})", path=path,
                            field=missing[0], fix=fix.strip())


MAX_SHOWN = 40
"""Past this many fields found, an error shows the closest ones to the missing names instead of all."""

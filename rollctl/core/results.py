"""Types every command result shares: reasons, the JSON schema version, and how results write a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

SCHEMA_VERSION = "1.0"
"""Version of the --json schema; bump the minor for additions, the major for changes."""


@dataclass(frozen=True)
class Reason:
    """Why a verdict is what it is: a stable SNAKE_CASE code and a sentence for people."""

    code: str
    message: str


def skipped_lines_reason(count: int) -> Reason:
    """Said by every command that ran with `--on-bad-lines skip` and left lines out: never silently."""
    return Reason("SKIPPED_LINES", f"{count:,} malformed or wrong-typed line(s) were skipped "
                  "(--on-bad-lines skip); the result is computed without them")


def iso_utc(value: datetime | date | None) -> str | None:
    """A time (or day) from the traces as ISO-8601, UTC written as `Z`; None stays None."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")

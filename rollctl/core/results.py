"""Types every command result shares: reasons and the JSON schema version."""

from __future__ import annotations

from dataclasses import dataclass

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

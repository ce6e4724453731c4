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

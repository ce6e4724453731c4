"""Shared rich helpers: where human output goes, verdict colours, progress that stays out of the way."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

VERDICT_STYLES = {
    "pass": "bold green", "go": "bold green",
    "fail": "bold red", "no-go": "bold red", "rollback": "bold red",
    "inconclusive": "bold yellow", "hold": "bold yellow",
}


def _width() -> int | None:
    value = os.environ.get("ROLLCTL_WIDTH")
    return int(value) if value else None


def stdout_console() -> Console:
    return Console(file=sys.stdout, width=_width(), highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, width=_width(), highlight=False, soft_wrap=False)


@contextmanager
def progress_status(message: str, *, enabled: bool) -> Iterator[None]:
    """A spinner on stderr while slow work runs; silent with --json or when stderr is not a terminal."""
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield
        return
    with console.status(message):
        yield

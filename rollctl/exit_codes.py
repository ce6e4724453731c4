"""The exit-code contract, in one place.

CI systems read these numbers, so an input error must never share a code with a failed gate:
exit 1 means "evaluated, and the change is not safe", exit 2 means "could not evaluate".
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    GO = 0
    """go / pass: the change may proceed."""
    FAIL = 1
    """no-go / fail / rollback: evaluated, and the change must not proceed."""
    ERROR = 2
    """could not evaluate: usage error, unreadable or invalid input, bad plan."""
    HOLD = 3
    """hold / inconclusive: not enough evidence either way yet."""


# Verdict strings of every command (lower case, as in the --json contract) and their exit codes.
VERDICT_EXIT_CODES: dict[str, ExitCode] = {
    "pass": ExitCode.GO,
    "go": ExitCode.GO,
    "fail": ExitCode.FAIL,
    "no-go": ExitCode.FAIL,
    "rollback": ExitCode.FAIL,
    "inconclusive": ExitCode.HOLD,
    "hold": ExitCode.HOLD,
}

EXIT_CODE_HELP = (
    "Exit codes: 0 go/pass, 1 no-go/fail/rollback, 2 could not evaluate (bad input, usage or plan), "
    "3 hold/inconclusive."
)


InconclusivePolicy = Literal["exit3", "pass", "fail"]
"""eval-gate's `--inconclusive`: what an inconclusive gate exits with (3, or as a pass 0, or as a fail 1)."""
INCONCLUSIVE_POLICIES: tuple[InconclusivePolicy, ...] = ("exit3", "pass", "fail")


def exit_code_for(verdict: str, inconclusive: InconclusivePolicy = "exit3") -> ExitCode:
    """Map a verdict string to its exit code; an unknown verdict is a programming error. `inconclusive` is the
    policy for an inconclusive verdict: a team may choose to let an undecided gate pass or fail its CI step."""
    if verdict == "inconclusive" and inconclusive != "exit3":
        return VERDICT_EXIT_CODES[inconclusive]
    return VERDICT_EXIT_CODES[verdict]

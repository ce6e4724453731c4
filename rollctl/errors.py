"""One exception hierarchy for everything a user can get wrong.

The CLI catches `RollctlError` at its edge and prints `error: <message>` as one line on stderr, then
exits 2. Messages name the file, the line or field, and the fix. They never include record contents:
traces hold user data.
"""

from __future__ import annotations


class RollctlError(Exception):
    """Base class: the input, options or plan cannot be evaluated."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        self.fix = fix

    def one_line(self) -> str:
        """Render as `file:line: message (fix)`, the format every error uses."""
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        text = f"{where}{self.message}"
        if self.fix:
            text += f"; {self.fix}"
        return " ".join(text.split())


class UsageError(RollctlError):
    """Options that contradict each other or are out of range."""


class InputError(RollctlError):
    """A file that cannot be read or parsed."""


class EmptyInputError(InputError):
    """A file or directory with no rows to analyse."""


class MissingFieldError(InputError):
    """A field the command needs is absent from the input."""


class FieldTypeError(InputError):
    """A field holds values of the wrong type."""


class DuplicateRowsError(InputError):
    """Rows that must be unique (request_id + variant, case_id + variant + repeat) repeat."""


class PlanError(RollctlError):
    """A rollout plan or config file that is invalid."""

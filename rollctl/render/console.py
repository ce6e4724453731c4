"""Shared rich helpers: where human output goes, verdict colours, progress that stays out of the way.

Every string rollctl prints may have come from a trace or a plan (a variant, a judge, an error class, a
file name), so the consoles never read text as rich markup or emoji codes (`[/]`, `[bold]`, `:fire:` print
as themselves), and a render hook makes terminal control characters visible (ESC prints as ␛) instead of
letting them move the cursor, recolour the terminal or rewrite what was printed. Styling is added with
`rich.text.Text` and styles, never by formatting markup into a string.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.segment import Segment

VERDICT_STYLES = {
    "pass": "bold green", "go": "bold green",
    "fail": "bold red", "no-go": "bold red", "rollback": "bold red",
    "inconclusive": "bold yellow", "hold": "bold yellow",
}

# C0 controls but newline and tab, DEL, C1 controls, and the bidirectional overrides and isolates (which
# reorder what a reader sees around them).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode's Control Pictures: ␛ for ESC, ␍ for CR, one cell wide
    if code == 0x7F:
        return "\u2421"
    return f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every terminal control character replaced by a visible stand-in."""
    return _CONTROL.sub(lambda m: _shown(m.group(0)), text) if _CONTROL.search(text) else text


class _Visible:
    """Renders its renderable, then makes control characters in the rendered text visible."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.inner, options):
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


class _VisibleControls(RenderHook):
    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Visible(r) for r in renderables]


# Output captured by CI or a pipe is not a terminal, and rich would cut it to 80 columns, ellipsising model
# names and metric names in tables: it gets this width instead (a terminal keeps its own).
CAPTURED_WIDTH = 160


def _width(file: object) -> int | None:
    value = os.environ.get("ROLLCTL_WIDTH", "").strip()
    if value.isdigit() and 20 <= int(value) <= 10_000:
        return int(value)
    isatty = getattr(file, "isatty", None)
    if not os.environ.get("COLUMNS") and not (callable(isatty) and isatty()):
        return CAPTURED_WIDTH
    return None


def _console(file: object) -> Console:
    console = Console(file=file, width=_width(file), highlight=False, soft_wrap=False,  # type: ignore[arg-type]
                      markup=False, emoji=False)
    console.push_render_hook(_VisibleControls())
    return console


def stdout_console() -> Console:
    return _console(sys.stdout)


def stderr_console() -> Console:
    return _console(sys.stderr)


@contextmanager
def progress_status(message: str, *, enabled: bool) -> Iterator[None]:
    """A spinner on stderr while slow work runs; silent with --json or when stderr is not a terminal."""
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield
        return
    with console.status(message):
        yield

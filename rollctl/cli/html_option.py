"""The `--html PATH` option every analysis command shares, and writing the report behind the error edge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rollctl.render.console import stderr_console

HtmlOpt = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML report (charts, tables, verdict) to this path; "
                                "it opens offline in any browser.", show_default=False),
]


def write_html(kind: str, build: Callable[[], Any], path: Path | None) -> None:
    """Build the report context and write the file; the path goes to stderr so --json stdout stays one object."""
    if path is None:
        return
    from rollctl.render.html import write_report  # jinja2 and plotly load only when a report is asked for

    written = write_report(kind, build(), path)
    stderr_console().print(f"HTML report: {written}", soft_wrap=True, markup=False, highlight=False)

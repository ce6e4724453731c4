"""The typer application: parse arguments, call one core function, render, exit with the contract code."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from typer._click import Context
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from rollctl import __version__
from rollctl.errors import RollctlError
from rollctl.exit_codes import EXIT_CODE_HELP, ExitCode


class RollctlGroup(TyperGroup):
    """The error edge of every command: whatever goes wrong inside, exit 2 with one line on stderr.

    A `RollctlError` prints its own line (file, line or field, and the fix). Any other exception is a bug,
    but it must still not exit 1, which would read as a failed gate or a rollback: it becomes "internal
    error" with the exception's type only (never its message, locals or a record, which may hold user
    data) and exit 2. With `--json` among the arguments, stdout still gets its one JSON object, also for a
    usage error found while parsing the options. `ROLLCTL_DEBUG=1` re-raises the exception for a traceback.
    """

    def invoke(self, ctx: Context) -> Any:
        from rollctl.cli.common import report_error
        from rollctl.render.jsonout import error_code

        # The subcommand's arguments, not parsed yet (a usage error may be what is coming).
        json_mode = "--json" in [*getattr(ctx, "_protected_args", []), *ctx.args]
        try:
            return super().invoke(ctx)
        except RollctlError as exc:
            report_error(error_code(exc), exc.one_line(), json_mode=json_mode, error=exc)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ClickException as exc:
            if not json_mode:
                raise
            report_error("USAGE_ERROR", exc.format_message(), json_mode=True)
            raise typer.Exit(code=int(ExitCode.ERROR)) from None
        except Exception as exc:
            if os.environ.get("ROLLCTL_DEBUG"):
                raise
            report_error("INTERNAL_ERROR", f"internal error ({type(exc).__name__}); this is a bug in rollctl, "
                         "please report it with the command you ran (ROLLCTL_DEBUG=1 shows the traceback)",
                         json_mode=json_mode)
        raise typer.Exit(code=int(ExitCode.ERROR))


app = typer.Typer(
    cls=RollctlGroup,
    name="rollctl",
    help=(
        "Ship prompt changes and model swaps like a risky database migration: an offline eval gate, "
        "shadow traffic, a canary, a graduated ramp, each stage gating the next.\n\n" + EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# One module per command; each registers itself on `app` when imported. Imported here, after `app` exists, by
# name (not through a loop over strings) so readers and tools see every command, in the order of a rollout,
# which is the order `rollctl --help` lists them.
from rollctl.cli import inspect_cmd  # noqa: E402, F401, I001
from rollctl.cli import ingest_cmd  # noqa: E402, F401
from rollctl.cli import eval_gate_cmd  # noqa: E402, F401
from rollctl.cli import shadow_report_cmd  # noqa: E402, F401
from rollctl.cli import power_cmd  # noqa: E402, F401
from rollctl.cli import plan_cmd  # noqa: E402, F401
from rollctl.cli import decide_cmd  # noqa: E402, F401
from rollctl.cli import assign_cmd  # noqa: E402, F401
from rollctl.cli import serve_cmd  # noqa: E402, F401


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rollctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Ship prompt changes and model swaps like a risky database migration."""


def main() -> None:
    app()

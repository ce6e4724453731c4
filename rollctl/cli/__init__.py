"""The typer application: parse arguments, call one core function, render, exit with the contract code."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from rollctl import __version__
from rollctl.exit_codes import EXIT_CODE_HELP

app = typer.Typer(
    name="rollctl",
    help=(
        "Ship prompt changes and model swaps like a risky database migration: an offline eval gate, "
        "shadow traffic, a canary, a graduated ramp, each stage gating the next.\n\n" + EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# One module per command; each registers itself on `app` when imported.
_COMMAND_MODULES = [  # in the order of a rollout, which is the order `rollctl --help` lists them
    "rollctl.cli.inspect_cmd",
    "rollctl.cli.ingest_cmd",
    "rollctl.cli.eval_gate_cmd",
    "rollctl.cli.shadow_report_cmd",
    "rollctl.cli.power_cmd",
    "rollctl.cli.plan_cmd",
    "rollctl.cli.decide_cmd",
    "rollctl.cli.assign_cmd",
]
for _module in _COMMAND_MODULES:
    importlib.import_module(_module)


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

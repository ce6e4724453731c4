"""`rollctl plan init|check`: write a commented rollout-plan template, validate a plan."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rollctl.cli import app
from rollctl.cli.common import JsonOpt, check_outputs, emit_json, human
from rollctl.exit_codes import EXIT_CODE_HELP
from rollctl.plan import template
from rollctl.render.decide_view import render_plan_check

plan_app = typer.Typer(help="Write and validate rollout plans (the TOML that `rollctl decide` applies).",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")


class Change(StrEnum):
    model = "model"
    prompt = "prompt"
    tool = "tool"
    system_prompt = "system_prompt"
    retrieval = "retrieval"


@plan_app.command("init", epilog=EXIT_CODE_HELP)
def plan_init(
    change: Annotated[Change, typer.Option("--change", help="Kind of change: sets defaults (a tool change is "
                                           "major; a model bump requires pinned models).")] = Change.model,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout "
                                                "(refuses to overwrite).")] = None,
) -> None:
    """Print a commented plan template with defaults for the kind of change.

    Example:

        rollctl plan init --change prompt > rollout.toml
    """
    text = template(change.value)
    if output is None:
        sys.stdout.write(text)
        return
    from rollctl.errors import UsageError

    check_outputs([], output=output)  # its directory exists
    try:
        # Exclusive creation: never overwrites a file, and never writes through a symlink, dangling or not.
        with open(output, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise UsageError("file exists", path=str(output), fix="choose another --output or delete it first") from None
    human().print(f"wrote {output}")


@plan_app.command("check", epilog=EXIT_CODE_HELP)
def plan_check(
    plan: Annotated[Path, typer.Argument(help="The plan file to validate.")],
    json_output: JsonOpt = False,
) -> None:
    """Validate a rollout plan: keys, values, metrics, stages; refuses judge_score as the primary metric.

    Exit 0 when valid, 2 when not (the error names the key and the fix).

    Example:

        rollctl plan check sample_traces/rollout.toml
    """
    from rollctl.core.plan_check import check_plan  # here, not at start-up: it imports the metrics' SQL

    result = check_plan(plan)
    if json_output:
        emit_json(result)
    else:
        render_plan_check(result, human())

"""`rollctl assign`: which arm each unit gets under the plan's hash, salt and stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollctl.cli import app
from rollctl.cli.common import JsonOpt, emit_json, human
from rollctl.core.assign import assign_units
from rollctl.exit_codes import EXIT_CODE_HELP
from rollctl.plan import load_plan
from rollctl.render.decide_view import render_assign


@app.command(name="assign", epilog=EXIT_CODE_HELP)
def assign_command(
    units: Annotated[list[str], typer.Argument(help="Unit ids (user ids) to assign.", show_default=False)],
    plan: Annotated[Path, typer.Option("--plan", help="The rollout plan: its salt, hash and arms.")],
    stage: Annotated[float | None, typer.Option("--stage", help="Percent on the candidate (default: the plan's "
                                                "current_stage).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Print each unit's arm: stable across processes, machines and languages (unlike Python's hash()).

    Example:

        rollctl assign u_971384 u_771876 --plan sample_traces/rollout.toml --stage 25
    """
    result = assign_units(load_plan(plan), units, stage)
    if json_output:
        emit_json(result)
    else:
        render_assign(result, human())

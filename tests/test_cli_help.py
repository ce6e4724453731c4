"""Every command explains itself: help text, an example, the exit codes; the top level lists them all.

Commands are discovered from the click group typer builds, so a command added later is checked too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer.main

from rollctl import __version__
from rollctl.cli import app
from tests.conftest import REPO_ROOT, invoke


def _is_group(cmd: Any) -> bool:
    # typer vendors click (typer._click), so groups are recognised by their `commands` mapping.
    return isinstance(getattr(cmd, "commands", None), dict)


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, cmd in sorted(group.commands.items()):
        found.append(((*prefix, name), cmd))
        if _is_group(cmd):
            found += _commands(cmd, (*prefix, name))
    return found


ROOT = typer.main.get_command(app)
assert _is_group(ROOT)
COMMANDS = _commands(ROOT)
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not _is_group(cmd)]


def test_the_known_commands_are_registered() -> None:
    names = {path[0] for path, _ in COMMANDS}
    assert {"inspect", "ingest"} <= names


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_and_one_line_summary(path: tuple[str, ...], cmd: Any) -> None:
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"
    assert cmd.get_short_help_str(limit=200).strip()


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_command_help_has_an_example_and_exit_codes(path: tuple[str, ...], cmd: Any) -> None:
    out = invoke([*path, "--help"], expect=0).stdout
    assert "Example:" in out, f"`rollctl {' '.join(path)} --help` shows no example"
    example = out.split("Example:", 1)[1]
    assert f"rollctl {' '.join(path)}" in example, "the example should show the command being run"
    assert "Exit codes" in out


def test_top_level_help_lists_every_command() -> None:
    out = invoke(["--help"], expect=0).stdout
    for name in {path[0] for path, _ in COMMANDS}:
        assert name in out, f"rollctl --help does not list {name}"
    assert "Exit codes" in out


def test_no_arguments_shows_help() -> None:
    result = invoke([])
    assert "Usage" in result.stdout + result.stderr
    assert result.exit_code in (0, 2)


def test_version() -> None:
    assert invoke(["--version"], expect=0).stdout.strip() == f"rollctl {__version__}"


def test_unknown_command_exit_2() -> None:
    assert invoke(["no-such-command"]).exit_code == 2


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env,
                          timeout=120)


def test_python_dash_m_rollctl_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "rollctl", "--help"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "inspect" in proc.stdout and "Usage" in proc.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    """`rollctl --help` must stay fast: statistics and dataframe libraries load inside the commands."""
    code = (
        "import sys\n"
        "sys.argv = ['rollctl', '--help']\n"
        "from rollctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('scipy', 'statsmodels', 'pandas', 'plotly', 'jinja2') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    heavy = proc.stdout.rsplit("HEAVY=", 1)[1].strip()
    assert heavy == "", f"rollctl --help imported {heavy}"


@pytest.mark.parametrize("command", ["decide", "power"])
def test_the_spark_extra_is_named_in_help_not_eaten_as_markup(command: str) -> None:
    """`[spark]` in a help text is rich markup unless escaped: the help said `pip install 'rollctl'`."""
    out = invoke([command, "--help"], expect=0)
    assert "'rollctl[spark]'" in " ".join(out.stdout.replace("│", " ").split()).replace("' rollctl", "'rollctl")

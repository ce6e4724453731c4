"""Every command shown in the README runs, and the output it shows is what rollctl prints (docs that drift
are bugs).

Commands are read from the README's `sh` blocks (continuations joined, comments dropped) and from the `$ `
lines of its `text` blocks, whose following lines are the shown output. They run as a new user would run them
from a fresh clone, in a scratch directory holding the clone's `sample_traces/` and `tests/data/`, with the
README's output paths under `/tmp/` moved into that directory. A command exits as its comment says
("(exit N)"; a comment line speaks for the commands below it), else with a verdict's code (0, 1 or 3), never
2. Shown output is compared after removing the terminal's box-drawing characters and collapsing whitespace,
at the width it was captured at (115), and may be an excerpt of the full output. `make test` is CI itself
(`.ci/run`); `make demo`'s script runs below with the test environment's rollctl.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
WIDTH = "115"
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)
_EXIT = re.compile(r"\(exit (\d)\)")
_BOX = re.compile(r"[\u2500-\u257f]")


def _commands() -> list[tuple[str, int | None, str | None]]:
    """(command, expected exit code or None, shown output or None) for every README command, in order."""
    found: list[tuple[str, int | None, str | None]] = []
    for lang, body in _BLOCK.findall(README.read_text(encoding="utf-8")):
        if lang == "sh":
            expected: int | None = None
            pending = ""
            for raw in body.splitlines():
                line = raw.rstrip()
                if line.lstrip().startswith("#"):  # a comment line speaks for the commands below it
                    hit = _EXIT.search(line)
                    expected = int(hit.group(1)) if hit else None
                    continue
                code, _, comment = line.partition("  #")
                hit = _EXIT.search(comment)
                pending += code.rstrip().removesuffix("\\").rstrip() + " " if code.strip() else ""
                if code.rstrip().endswith("\\"):
                    continue
                if pending.strip() and not pending.strip().startswith("make "):
                    found.append((pending.strip(), int(hit.group(1)) if hit else expected, None))
                pending = ""
        elif lang == "text" and body.startswith("$ "):
            lines = body.splitlines()
            command = lines[0][2:]
            i = 1
            while command.rstrip().endswith("\\"):
                command = command.rstrip().removesuffix("\\") + " " + lines[i].strip()
                i += 1
            found.append((command.strip(), None, "\n".join(lines[i:])))
    return found


def _normal(text: str) -> str:
    return " ".join(_BOX.sub(" ", text).split())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fresh_clone")
    (home / "sample_traces").symlink_to(REPO_ROOT / "sample_traces")
    (home / "tests").mkdir()
    (home / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    return home


COMMANDS = _commands()


def test_the_readme_shows_commands_and_outputs() -> None:
    assert len(COMMANDS) > 25 and sum(1 for _, _, shown in COMMANDS if shown) >= 4


@pytest.mark.parametrize(("command", "expected", "shown"), COMMANDS, ids=[c[0][:70] for c in COMMANDS])
def test_readme_command(command: str, expected: int | None, shown: str | None, scratch: Path) -> None:
    assert command.startswith("rollctl "), command
    local = command.replace("/tmp/", f"{scratch}/")
    env = {**os.environ, "ROLLCTL_WIDTH": WIDTH, "NO_COLOR": "1", "TERM": "dumb", "PYTHONPATH": str(REPO_ROOT)}
    env.pop("ROLLCTL_DEBUG", None)
    shell = f'rollctl() {{ "{sys.executable}" -m rollctl "$@"; }}; {local}'
    before = _repository_changes()
    run = subprocess.run(["bash", "-c", shell], cwd=scratch, env=env, capture_output=True, text=True)
    detail = f"{command}\nexit {run.returncode}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-2000:]}"
    if expected is not None:
        assert run.returncode == expected, detail
    else:
        assert run.returncode in (0, 1, 3), detail
    if shown is not None:
        assert _normal(shown) in _normal(run.stdout), f"the README's shown output differs from:\n{run.stdout}"
    assert _repository_changes() == before, f"{command} wrote into the repository"


def _repository_changes() -> str:
    """What git sees changed or added in the repository (ignored files included, Python's bytecode caches not: a
    command may compile a module first imported there): a README command must not add to it. Empty outside a
    git checkout."""
    run = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=all",
                          "--ignored"], capture_output=True, text=True)
    if run.returncode != 0:
        return ""
    return "\n".join(line for line in run.stdout.splitlines() if "__pycache__" not in line)


def test_make_demo_runs_every_step_and_writes_outside_the_repository(tmp_path: Path) -> None:
    """`make demo` is `scripts/demo.sh .venv/bin`: the same script with the test environment's rollctl."""
    env = {**os.environ, "ROLLCTL_WIDTH": WIDTH, "NO_COLOR": "1", "TERM": "dumb", "TMPDIR": str(tmp_path)}
    env.pop("ROLLCTL_DEBUG", None)
    run = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "demo.sh"), str(Path(sys.executable).parent)],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    codes = re.findall(r"^\(exit (\d)\)$", run.stdout, re.M)
    assert len(codes) >= 12 and "2" not in codes, run.stdout[-3000:]
    assert (tmp_path / "rollctl-demo" / "report.html").stat().st_size > 0

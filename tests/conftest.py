"""Shared fixtures: a CLI runner that keeps stdout and stderr apart, and small trace files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from rollctl.cli import app

# A wide terminal and no colour keep rich output stable for assertions.
os.environ.setdefault("ROLLCTL_WIDTH", "200")
os.environ.setdefault("NO_COLOR", "1")
os.environ.setdefault("TERM", "dumb")
# A crash inside a command must fail its test with the traceback, not pass as the edge's "internal error"
# exit 2; tests of that edge itself unset this.
os.environ.setdefault("ROLLCTL_DEBUG", "1")

# CI explores the same hypothesis examples every run, so main stays green on a given commit; local runs keep
# exploring new examples (that is how the epoch-millisecond spelling bug in a test was found).
# No deadlines anywhere: the suite must pass on a busy 2-core machine, and a test over DuckDB or rapidfuzz that
# takes 250 ms under load is not wrong (one missed hypothesis' default 200 ms deadline that way).
settings.register_profile("local", deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TRACES = REPO_ROOT / "sample_traces"


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke(args: Sequence[str], *, expect: int | None = None) -> CliResult:
    """Run the CLI in-process; a crash (non-SystemExit exception) fails the test instead of passing as exit 1."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    out = CliResult(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)
    if expect is not None:
        detail = f"exit {out.exit_code}, expected {expect}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
        assert out.exit_code == expect, detail
    return out


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Write rows (dicts, or raw strings for malformed lines) one per line."""
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row))
            fh.write("\n")
    return path


def trace_row(i: int, variant: str = "control", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": f"r{i}",
        "timestamp": f"2026-11-16T{i % 24:02d}:00:00Z",
        "user_id": f"u{i % 7}",
        "session_id": f"s{i % 11}",
        "variant": variant,
        "served": True,
        "model": "claude-sonnet-4-5-20250929",
        "prompt_version": "v1",
        "input": "hello",
        "output": "hi there",
        "latency_ms": 800 + i,
        "thumbs": -1 if i % 5 == 0 else None,
    }
    row.update(extra)
    return row


@pytest.fixture
def traces_file(tmp_path: Path) -> Path:
    rows = [trace_row(i, "control" if i % 2 else "treatment") for i in range(40)]
    return write_jsonl(tmp_path / "traces.jsonl", rows)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium for the browser tests (installed by scripts/ensure_chromium.sh, else skipped)."""
    from tests.browser import find_or_install_chromium

    return find_or_install_chromium()


@pytest.fixture(scope="session")
def report_contexts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real context per HTML report kind (tests/report_samples.py), built through the core functions."""
    from tests.report_samples import SAMPLES

    return {kind: build(tmp_path_factory.mktemp(kind)) for kind, build in SAMPLES.items()}


@pytest.fixture(scope="session")
def spark() -> Any:
    """The suite's one local Spark session (see `tests/spark_session.py`)."""
    from tests.spark_session import spark_session

    return spark_session()

"""Big paired exports must stream under the memory cap, not fail with "Out of Memory".

Regression: the paired loader staged the whole JSONL file in a temp table and extracted each arm field
with its own `json_extract`, so 1 M pairs (2 GB) exited 2 at the default 700 MB cap. The same failure
shows on 15 k pairs at a 200 MB cap with one thread (measured: the old loader exits 2 there; the
streaming one passes down to ~160 MB).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import invoke

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_shadow_bench.py"


def _bench_writer() -> object:
    spec = importlib.util.spec_from_file_location("make_shadow_bench", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_jsonl


def test_paired_jsonl_loads_under_a_small_memory_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pairs.jsonl"
    write_jsonl = _bench_writer()
    write_jsonl(path, 15_000, 0)  # type: ignore[operator]
    monkeypatch.setenv("ROLLCTL_MEMORY_LIMIT", "200MB")
    monkeypatch.setenv("ROLLCTL_THREADS", "1")
    result = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment", "--json"])
    assert result.exit_code != 2, result.stderr
    data = json.loads(result.stdout)
    assert data["pairs"] == 15_000
    assert data["verdict"] in {"go", "no-go", "inconclusive"}

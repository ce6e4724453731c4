"""Exports written by the tools' own releases (tests/data/genuine/, each directory's PROVENANCE.json names the
version and the script under scripts/fixtures/ that wrote it), read as a new user would: no --format, no --map.

Every expectation is counted here from the file itself with plain json, never copied from rollctl's output.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, invoke

GENUINE = REPO_ROOT / "tests" / "data" / "genuine"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _eval_variants(path: Path) -> dict[str, dict[str, Any]]:
    out = invoke(["inspect", str(path), "--json"], expect=0).json()
    return {v["variant"]: v for v in out["evals"]["variants"]}


# promptfoo --------------------------------------------------------------------------------------------------


def _promptfoo_results(name: str) -> list[dict[str, Any]]:
    path = GENUINE / "promptfoo" / name
    if name.endswith(".jsonl"):
        return _jsonl(path)
    return list(json.loads(path.read_text(encoding="utf-8"))["results"]["results"])


def _promptfoo_expected(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm (provider × prompt): rows, distinct tests, passes and provider errors, counted from the file."""
    arms: dict[str, dict[str, Any]] = defaultdict(lambda: {"rows": 0, "tests": set(), "passed": 0, "errors": 0})
    for r in results:
        provider = r["provider"]["label"] or r["provider"]["id"]
        arm = arms[f"{provider} / {r['prompt']['label']}"]
        arm["rows"] += 1
        arm["tests"].add(json.dumps(r["testCase"]["vars"], sort_keys=True))
        arm["passed"] += bool(r["success"])
        arm["errors"] += r["failureReason"] == 2
    return arms


@pytest.mark.parametrize("name", ["results.json", "results.jsonl"])
def test_promptfoo_unlabelled_providers_are_arms_of_their_own(name: str) -> None:
    results = _promptfoo_results(name)
    assert {r["provider"]["label"] for r in results} == {""}, "the fixture must keep promptfoo's default label"
    expected = _promptfoo_expected(results)
    got = _eval_variants(GENUINE / "promptfoo" / name)
    assert set(got) == set(expected)
    repeats = Counter(json.dumps(r["testCase"]["vars"], sort_keys=True) for r in results)
    for arm, want in expected.items():
        assert got[arm]["rows"] == want["rows"]
        assert got[arm]["cases"] == len(want["tests"])
        assert got[arm]["repeats"] == max(repeats.values()) // len(expected)
        assert got[arm]["passed_rows"] == want["passed"]
        assert got[arm]["error_rows"] == want["errors"]


def test_promptfoo_jsonl_is_read_as_eval_results_and_gated() -> None:
    path = GENUINE / "promptfoo" / "results.jsonl"
    out = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert out["traces"] is None and out["files"][0]["format"] == "promptfoo_jsonl"
    gate = invoke(["eval-gate", str(path), "--baseline", "echo / short", "--candidate",
                   "file://provider.js / short", "--json"]).json()
    expected = _promptfoo_expected(_promptfoo_results("results.jsonl"))
    assert gate["baseline"]["cases"] == len(expected["echo / short"]["tests"])
    assert gate["candidate"]["cases"] == len(expected["file://provider.js / short"]["tests"])

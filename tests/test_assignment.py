"""Deterministic assignment: vendors' published vectors, the documented sha256 rule, monotone ramps."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rollctl.assignment import (
    growthbook_bucket_ranges,
    growthbook_choose_variation,
    growthbook_hash,
    is_candidate,
    launchdarkly_bucket,
    sha256_bucket,
)
from tests.conftest import invoke

CASES = json.loads((Path(__file__).parent / "data" / "growthbook_bucketing_cases.json").read_text())


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_growthbook_hash_vectors(seed: str, value: str, version: int, expected: float | None) -> None:
    got = growthbook_hash(seed, value, version)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_growthbook_bucket_ranges(name: str, args: list[object], expected: list[list[float]]) -> None:
    got = growthbook_bucket_ranges(*args)  # type: ignore[arg-type]
    assert len(got) == len(expected), name
    flat_got = [x for r in got for x in r]
    assert flat_got == pytest.approx([x for r in expected for x in r], abs=1e-9), name


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_growthbook_choose_variation(name: str, n: float, ranges: list[list[float]], expected: int) -> None:
    assert growthbook_choose_variation(n, ranges) == expected, name


@pytest.mark.parametrize(("prefix", "key", "expected"), [
    ("hashKey.saltyA", "userKeyA", 0.42157587), ("hashKey.saltyA", "userKeyB", 0.6708485),
    ("hashKey.saltyA", "userKeyC", 0.10343106), ("61", "userKeyA", 0.09801207),
    ("61", "userKeyB", 0.14483777), ("61", "userKeyC", 0.9242641),
])
def test_launchdarkly_vectors(prefix: str, key: str, expected: float) -> None:
    assert launchdarkly_bucket(prefix, key) == pytest.approx(expected, abs=1e-7)


def test_sha256_is_the_documented_formula() -> None:
    for unit in ("u_971384", "alice", "ü-ß", ""):
        digest = hashlib.sha256(f"support_bot_model_bump_2026_11.{unit}".encode()).digest()
        assert sha256_bucket("support_bot_model_bump_2026_11", unit) == int.from_bytes(digest[:8], "big") % 10000


@pytest.mark.parametrize("scheme", ["sha256", "growthbook-v2", "launchdarkly"])
def test_ramps_are_monotone_and_near_their_share(scheme: str) -> None:
    units = [f"user{i}" for i in range(4000)]
    previous: set[str] = set()
    for pct in (1, 5, 25, 50, 100):
        now = {u for u in units if is_candidate(scheme, "salt", u, pct)}
        assert previous <= now, f"{scheme}: a unit left the candidate when ramping to {pct} %"
        assert abs(len(now) / len(units) - pct / 100) < 0.03
        previous = now
    assert not any(is_candidate(scheme, "salt", u, 0) for u in units[:50])


def test_python_hash_is_not_stable_but_ours_is() -> None:
    code = "import sys; from rollctl.assignment import sha256_bucket; print(hash('u_42'), sha256_bucket('s', 'u_42'))"
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.split())
    assert outs[0][0] != outs[1][0]
    assert outs[0][1] == outs[1][1]


def test_assign_cli(tmp_path: Path) -> None:
    plan = Path(__file__).resolve().parent.parent / "sample_traces" / "rollout.toml"
    data = invoke(["assign", "u_971384", "u_1", "--plan", str(plan), "--stage", "25", "--json"], expect=0).json()
    arms = {u["unit"]: u["arm"] for u in data["units"]}
    for unit, arm in arms.items():
        expect = "treatment" if sha256_bucket("support_bot_model_bump_2026_11", unit) < 2500 else "control"
        assert arm == expect
    text = invoke(["assign", "u_971384", "--plan", str(plan)], expect=0).stdout
    assert "u_971384" in text
    invoke(["assign", "u_1", "--plan", str(plan), "--stage", "150"], expect=2)


SDK_VECTORS = json.loads((Path(__file__).parent / "data" / "growthbook_hash_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("seed", "value", "version", "expected"), SDK_VECTORS["cases"])
def test_growthbook_hash_matches_the_sdks_outside_the_basic_plane(seed: str, value: str, version: int,
                                                                  expected: float) -> None:
    """Ids with emoji and other astral characters, hashed by GrowthBook's JS and Python SDKs themselves."""
    assert growthbook_hash(seed, value, version) == expected

"""promptfoo results.json and inspect_ai logs (.json and .eval zip) read directly, on schema fixtures."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from rollctl.db import connect
from rollctl.load import load_inputs
from tests.conftest import invoke

DATA = Path(__file__).parent / "data"


def _load(*paths: Path) -> list[tuple[object, ...]]:
    db = connect()
    try:
        report = load_inputs(db, [str(p) for p in paths])
        assert {f.kind for f in report.files} == {"evals"}
        return db.fetchall('SELECT case_id, variant, "repeat", passed, score, error FROM evals ORDER BY ALL')
    finally:
        db.close()


def test_promptfoo_rows_map_cases_variants_and_errors() -> None:
    rows = _load(DATA / "promptfoo_candidate.json")
    assert len(rows) == 16
    assert {r[0] for r in rows} == {f"case-{i}" for i in range(8)}
    assert {r[1] for r in rows} == {"sonnet-4-6"}
    errored = [r for r in rows if r[5] is not None]
    assert errored == [("case-7", "sonnet-4-6", 1, False, 0.0, "provider_error")]
    assert {r[2] for r in rows} == {0, 1}


@pytest.mark.parametrize("mode", ["two_file", "one_file"])
def test_promptfoo_gate(mode: str) -> None:
    if mode == "two_file":
        args = [str(DATA / "promptfoo_baseline.json"), str(DATA / "promptfoo_candidate.json")]
    else:
        args = [str(DATA / "promptfoo_both.json"), "--baseline", "sonnet-4-5", "--candidate", "sonnet-4-6"]
    data = invoke(["eval-gate", *args, "--json"], expect=1).json()
    assert data["n_cases"] == 8
    assert data["regressions"] == ["case-1"] and data["fixes"] == ["case-5"]
    assert data["newly_flaky"] == ["case-7"]
    assert data["reasons"][0]["code"] == "MORE_ERRORS"
    assert "IMPLICIT_REPEATS" not in [n["code"] for n in data["notes"]]


def test_inspect_json_and_eval_zip() -> None:
    rows = _load(DATA / "inspect_baseline.json", DATA / "inspect_candidate.eval")
    assert len(rows) == 32
    assert {r[1] for r in rows} == {"anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-6-20260301"}
    assert {r[2] for r in rows} == {1, 2}
    assert ("1", "anthropic/claude-sonnet-4-6-20260301", 1, False, 0.0, None) in rows
    assert sum(1 for r in rows if r[5] == "sample_error") == 1
    data = invoke(["eval-gate", str(DATA / "inspect_baseline.json"), str(DATA / "inspect_candidate.eval"),
                   "--json"], expect=1).json()
    assert data["regressions"] == ["1"] and data["fixes"] == ["5"]
    assert data["difference"]["method"] == "cluster_robust_t"
    assert data["baseline"]["name"] == "anthropic/claude-sonnet-4-5-20250929"


def test_inspect_numeric_and_partial_scores(tmp_path: Path) -> None:
    log = json.loads((DATA / "inspect_baseline.json").read_text())
    log["samples"][0]["scores"]["match"]["value"] = 0.25
    log["samples"][1]["scores"]["match"]["value"] = "P"
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    rows = _load(path)
    assert ("0", "anthropic/claude-sonnet-4-5-20250929", 1, None, 0.25, None) in rows
    assert ("0", "anthropic/claude-sonnet-4-5-20250929", 2, False, 0.5, None) in rows


def test_bad_eval_zip_is_one_line_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "broken.eval"
    junk.write_bytes(b"not a zip at all")
    err = invoke(["eval-gate", str(DATA / "inspect_baseline.json"), str(junk)], expect=2)
    assert "cannot read the .eval zip" in err.stderr
    empty = tmp_path / "header_only.eval"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("header.json", json.dumps({"eval": {"model": "m"}}))
    err = invoke(["eval-gate", str(DATA / "inspect_baseline.json"), str(empty)], expect=2)
    assert "holds no samples" in err.stderr


def _zip_zstd(path: Path, members: dict[str, bytes]) -> None:
    """Write a zip whose members use zstd (method 93), as newer inspect_ai versions do; zipfile cannot."""
    import struct
    import zlib

    import zstandard

    local, central = b"", b""
    for name, data in members.items():
        packed = zstandard.ZstdCompressor().compress(data)
        crc, fname = zlib.crc32(data), name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 63, 0, 93, 0, 0x21, crc, len(packed), len(data),
                             len(fname), 0) + fname + packed
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 63, 63, 0, 93, 0, 0x21, crc, len(packed),
                               len(data), len(fname), 0, 0, 0, 0, 0, offset) + fname
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(local + central + end)


def test_inspect_eval_with_zstd_members(tmp_path: Path) -> None:
    with zipfile.ZipFile(DATA / "inspect_candidate.eval") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    path = tmp_path / "zstd.eval"
    _zip_zstd(path, members)
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {93}
    assert _load(path) == _load(DATA / "inspect_candidate.eval")

"""shadow-report reads a paired file's answers as a stream instead of storing them: the report must be the
one the stored answers give, and any file the stream cannot serve exactly must fall back to them."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

import rollctl.core.shadow_report.pairing as core
from rollctl import text_distance
from rollctl.core.shadow_report import ShadowOptions, ShadowSettings, shadow_report
from rollctl.db import connect
from rollctl.load import LoadOptions, paired_row_sources
from rollctl.render.jsonout import dumps
from rollctl.sql.shadow import pairs as sql_pairs
from tests.conftest import REPO_ROOT, invoke, write_jsonl
from tests.shadow_fixtures import as_parquet, eval_rows, make_pairs


def _report(paths: list[Path], *, stream: bool, monkeypatch: pytest.MonkeyPatch,
            **kw: Any) -> tuple[dict[str, Any], str]:
    """The whole result as a dict, with the answers streamed (when the inputs allow) or stored, and the way
    the pairs were made ("streamed" or "stored")."""
    ways: list[str] = []
    stored = core._pair_stored

    def recording(*args: Any) -> Any:
        ways.append("stored")
        return stored(*args)

    with monkeypatch.context() as patch:
        patch.setattr(core, "_pair_stored", recording)
        if not stream:
            patch.setattr(core, "paired_row_sources", lambda db, paths, options: None)
        baseline, candidate = kw.pop("arms", ("control", "treatment"))
        options = ShadowOptions(paths=tuple(str(p) for p in paths), baseline=baseline, candidate=candidate,
                                load=LoadOptions(), **kw)
        db = connect()
        try:
            result = dataclasses.asdict(shadow_report(db, options))
        finally:
            db.close()
    return result, ways[0] if ways else "streamed"


def _same_both_ways(paths: list[Path], monkeypatch: pytest.MonkeyPatch, *, way: str = "streamed",
                    **kw: Any) -> dict[str, Any]:
    """Both ways print the same --json (DuckDB's parallel float sums differ in the last bits between runs,
    which the --json contract rounds away), and the inputs were read the `way` expected."""
    streamed, used = _report(paths, stream=True, monkeypatch=monkeypatch, **dict(kw))
    stored, _ = _report(paths, stream=False, monkeypatch=monkeypatch, **dict(kw))
    assert dumps(streamed) == dumps(stored)
    assert used == way
    return streamed


def _streamed(paths: list[Path]) -> bool:
    db = connect()
    try:
        return paired_row_sources(db, [str(p) for p in paths], LoadOptions()) is not None
    finally:
        db.close()


def test_sample_export_reports_the_same_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = REPO_ROOT / "sample_traces" / "shadow" / "pairs.jsonl.gz"
    evals = write_jsonl(tmp_path / "evals.jsonl", eval_rows())
    assert _streamed([pairs])
    result = _same_both_ways([pairs], monkeypatch, segment_by="metadata.intent", eval_set=str(evals), examples=8)
    assert result["verdict"] == "no-go" and len(result["examples"]) == 8
    assert all(e["baseline_output"] and e["candidate_output"] and e["input"] for e in result["examples"])


@pytest.mark.parametrize("kw", [
    {"expect_json": True},
    {"expect_json": False, "examples": 0},
    {"arms": ("treatment", "control")},  # the file's `candidate` objects are the baseline arm here
    {"segment_by": "error"},
])
def test_options_report_the_same_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any]) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(400, missing_candidate=7, candidate_timeouts=5))
    _same_both_ways([path], monkeypatch, **kw)


def test_parquet_reports_the_same_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parquet = as_parquet(write_jsonl(tmp_path / "pairs.jsonl", make_pairs(300)), tmp_path / "pairs.parquet")
    assert _streamed([parquet])
    _same_both_ways([parquet], monkeypatch, segment_by="metadata.intent")


def _rows_with_split_pair() -> list[Any]:
    rows: list[Any] = make_pairs(250)
    last = rows[-1]
    # One request's arms on two rows: the stored answers pair them, a row-by-row stream cannot.
    rows[-1] = {**last, "candidate": None, "judgements": []}
    rows.append({k: v for k, v in last.items() if k != "baseline"} | {"baseline": None})
    return rows


@pytest.mark.parametrize("case", ["split pair", "duplicate requests", "two files"])
def test_odd_inputs_report_the_same_streamed_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    rows: list[Any] = make_pairs(250)
    paths = [tmp_path / "pairs.jsonl"]
    if case == "split pair":
        rows = _rows_with_split_pair()
    elif case == "duplicate requests":
        rows += rows[:20]
    else:
        half = len(rows) // 2
        write_jsonl(tmp_path / "more.jsonl", rows[half:])
        rows = rows[:half]
        paths.append(tmp_path / "more.jsonl")
    write_jsonl(paths[0], rows)
    # Duplicated requests are not pairs, and pairs in two files are pairs: the stream counts both as the stored
    # answers do. A split pair falls back to the stored answers. (An arm that is not an object is a bad row:
    # tests/test_hostile_input.py.)
    way = "stored" if case == "split pair" else "streamed"
    result = _same_both_ways(paths, monkeypatch, way=way, segment_by="metadata.intent")
    assert result["pairs"] > 0


def test_a_split_pair_is_paired_from_the_stored_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", _rows_with_split_pair())
    streamed, way = _report([path], stream=True, monkeypatch=monkeypatch)
    assert streamed["pairs"] == 250 and way == "stored"


@pytest.mark.parametrize("given", ["trace rows", "skip mode"])
def test_other_inputs_are_not_streamed(tmp_path: Path, given: str) -> None:
    if given == "trace rows":
        rows = [{"request_id": f"r{i}", "variant": v, "output": "x"} for i in range(3) for v in ("a", "b")]
        path = write_jsonl(tmp_path / "traces.jsonl", rows)
        assert not _streamed([path])
    else:
        path = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(20))
        db = connect()
        assert paired_row_sources(db, [str(path)], LoadOptions(on_bad_lines="skip")) is None
        db.close()


@pytest.mark.parametrize("kept", ["kept while streaming", "read again"])
def test_examples_show_the_same_answers_kept_or_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           kept: str) -> None:
    """The stream keeps the answers of the rows likeliest to be examples; when it kept every example's row they are
    shown from there (the files are not read again), otherwise the files are read again: the same examples."""
    pairs = REPO_ROOT / "sample_traces" / "shadow" / "pairs.jsonl.gz"
    stored, _ = _report([pairs], stream=False, monkeypatch=monkeypatch, segment_by="metadata.intent", examples=8)
    with monkeypatch.context() as patch:
        if kept == "kept while streaming":
            def no_reading(*args: Any) -> Any:
                raise AssertionError("the examples' answers were read again")
            patch.setattr(core.q, "example_texts_streamed", no_reading)
        else:
            patch.setattr(core._LikelyExamples, "offer", lambda self, batch, first_sid, dist: None)
        streamed, way = _report([pairs], stream=True, monkeypatch=monkeypatch, segment_by="metadata.intent",
                                examples=8)
    assert way == "streamed"
    assert streamed["examples"] == stored["examples"] and len(streamed["examples"]) == 8


def test_a_judgements_file_beside_paired_rows_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[Any] = make_pairs(300)
    listed = [{"request_id": r["request_id"], "judge": "second", "winner": "candidate"} for r in rows[::3]]
    judgements = write_jsonl(tmp_path / "judgements.jsonl", listed)
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = _same_both_ways([path], monkeypatch, judgements=(str(judgements),), segment_by="metadata.intent")
    assert {j["judge"] for j in result["other_judges"]} | {result["judge"]["judge"]} == {"judge-a", "second"}


@pytest.mark.parametrize(("where", "field"), [("baseline", "latency_ms"), ("candidate", "cost_usd"),
                                              ("judgements", "preference")])
def test_a_wrong_value_is_reported_as_the_load_reports_it(tmp_path: Path, where: str, field: str) -> None:
    """The stream flags a value the load would refuse and hands over to the load, which names field and line."""
    rows: list[Any] = make_pairs(50)
    if where == "judgements":
        rows[2]["judgements"][0]["preference"] = "very much"
    else:
        rows[2][where][field] = "slow"
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment"], expect=2)
    assert result.stdout == ""
    assert f"field {field}" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    if where != "judgements":
        assert f"{path}:3:" in result.stderr


@pytest.mark.parametrize("budget", [1, 60_000])
def test_rows_kept_in_duckdb_past_the_budget_report_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            budget: int) -> None:
    """Past a byte budget the streamed rows move to DuckDB (every batch, or some batches and a remainder): the
    report is the one the stored answers give."""
    path = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(1200, missing_candidate=9))
    monkeypatch.setattr(core, "_KEPT_IN_PYTHON", budget)
    spills: list[int] = []
    spill = core.q.RowStore._spill

    def counted(store: Any) -> None:
        spills.append(len(store.pending))
        spill(store)

    monkeypatch.setattr(core.q.RowStore, "_spill", counted)
    _same_both_ways([path], monkeypatch, segment_by="metadata.intent", settings=ShadowSettings(batch_size=100))
    assert len(spills) >= 3 and (max(spills) == 1) == (budget == 1)


def _near_copy(text: str, rng: random.Random) -> str:
    """The text with about 3 % of its characters replaced."""
    return "".join("#" if rng.random() < 0.03 else ch for ch in text)


@pytest.mark.parametrize("stream", [True, False])
def test_edit_distances_are_exact_while_batches_take_a_score_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  stream: bool) -> None:
    """Answers that differ little for 800 requests, then unrelated ones: the batches in between take rapidfuzz's
    score hint, and every mean distance is still the one computed pair by pair."""
    rng = random.Random(5)
    rows = make_pairs(1200)
    for i, row in enumerate(rows):
        if i < 800:
            row["candidate"]["output"] = _near_copy(row["baseline"]["output"], rng)
        else:
            row["candidate"]["output"] = "".join(rng.choice("xyz ") for _ in range(300))
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    hints: list[float | None] = []
    measured = text_distance.edit_distances

    def recording(outputs: Any, finals: Any, *, score_hint: float | None = None) -> Any:
        hints.append(score_hint)
        return measured(outputs, finals, score_hint=score_hint)

    monkeypatch.setattr(text_distance, "edit_distances", recording)
    result, _ = _report([path], stream=stream, monkeypatch=monkeypatch, segment_by="metadata.intent",
                        settings=ShadowSettings(batch_size=100))
    d = np.array([Levenshtein.normalized_distance(r["baseline"]["output"], r["candidate"]["output"]) for r in rows])
    assert result["diffs"]["mean_edit_distance"] == pytest.approx(d.mean(), rel=1e-6)
    intents = np.array([r["metadata"]["intent"] for r in rows])
    for seg in result["segments"]:
        assert seg["mean_edit_distance"] == pytest.approx(d[intents == seg["segment"]].mean(), rel=1e-6)
    assert hints[0] is None and hints[-1] is None and sum(h is not None for h in hints) >= 5


_ANSWER_CHARS = st.sampled_from([" ", "\n", "\t", "\r", "\f", "\v", "\u00a0", "\u2003", "x", "é", "{", "[", "`", "}",
                                  "\"", ":", "1"])


@settings(max_examples=300)
@given(st.one_of(st.none(), st.text(_ANSWER_CHARS, max_size=150)))
def test_text_features_read_an_answer_as_their_definitions_do(answer: str | None) -> None:
    """The shortcuts in `_text_features` (the first character, the first 64 characters) decide as the plain
    definitions would: an answer is there when trim() leaves something, looks like JSON when its first 64
    characters start with { or [ after blanks and an optional code fence, and its JSON is valid once a fence is
    stripped."""
    db = connect()
    try:
        features = core.q.text_features("o", "", with_hash=False)
        got = db.fetch_dicts(f"SELECT {features} FROM (SELECT CAST($o AS VARCHAR) AS o)",
                             {"o": answer, **core.q.text_params(None, "zzz")})[0]
        plain = db.fetch_dicts(
            "SELECT coalesce(trim(o) <> '', FALSE) AS has_out, "
            "coalesce(o <> '' AND regexp_matches(left(o, 64), $json_like), FALSE) AS json_like, "
            "coalesce(o <> '' AND regexp_matches(left(o, 64), $json_like) "
            "AND json_valid(regexp_replace(o, $fence, '', 'g')), FALSE) AS json_ok "
            "FROM (SELECT CAST($o AS VARCHAR) AS o)",
            {"o": answer, "json_like": sql_pairs._JSON_LIKE, "fence": sql_pairs._FENCE_STRIP})[0]
    finally:
        db.close()
    assert {k: got[k] for k in plain} == plain
    assert got["len"] == (len(answer) if answer is not None else None)

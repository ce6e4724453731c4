"""`rollctl shadow-report` through the CLI: verdicts, exit codes, --json shape, pairing, bad inputs."""

from __future__ import annotations

import itertools
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from rollctl.stats import shadow as ss
from rollctl.stats.judge import combine_orders
from tests.conftest import SAMPLE_TRACES, invoke, write_jsonl
from tests.shadow_fixtures import as_parquet, eval_rows, make_pairs

ARMS = ["--baseline", "control", "--candidate", "treatment"]


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("shadow")
    pairs = write_jsonl(d / "pairs.jsonl", make_pairs(1000, missing_candidate=6, candidate_timeouts=3))
    evals = write_jsonl(d / "evals.jsonl", eval_rows())
    return pairs, evals


@pytest.fixture(scope="module")
def regression_json(regression: tuple[Path, Path]) -> dict[str, Any]:
    pairs, evals = regression
    result = invoke(["shadow-report", str(pairs), *ARMS, "--eval-set", str(evals),
                     "--segment-by", "metadata.intent", "--json"], expect=1)
    assert result.stderr == ""
    data: dict[str, Any] = result.json()
    return data


def test_planted_regression_is_a_no_go(regression_json: dict[str, Any]) -> None:
    d = regression_json
    assert d["verdict"] == "no-go" and d["exit_code"] == 1
    codes = {r["code"] for r in d["reasons"]}
    assert {"JSON_BREAKS_UP", "SEGMENT_LOSES", "EVAL_SET_GAP", "UNPAIRED_ROWS"} <= codes
    assert d["segment_losses"] == ["order_status"]
    json_tail = next(t for t in d["tails"] if t["name"] == "json_breaks")
    assert json_tail["baseline"] == 0 and json_tail["candidate"] > 40 and json_tail["worse"]
    # only order_status pairs answer in JSON, so only they are checked: 200 of them, less r0 (candidate
    # timed out, no answer) and r995 (candidate missing, not a pair)
    assert json_tail["pairs"] == 198
    assert d["eval_gap"]["uncovered_segments"] == ["warranty_claim"]
    assert d["eval_gap"]["uncovered_share"] == pytest.approx(0.2, abs=0.01)
    assert all(e["segment"] == "order_status" for e in d["examples"])
    assert "new JSON break" in d["examples"][0]["why"]


def test_json_shape(regression_json: dict[str, Any]) -> None:
    d = regression_json
    assert d["schema_version"] == "1.0"
    for key in ("verdict", "exit_code", "reasons", "pairs", "judge", "latency", "cost", "tails", "segments",
                "examples"):
        assert key in d
    for key in ("wins", "ties", "losses", "errors", "win_rate", "ci_low", "ci_high", "p_value",
                "order_consistency", "length_controlled_win_rate"):
        assert key in d["judge"]
    assert all(r["code"].isupper() and r["message"] for r in d["reasons"])
    assert isinstance(d["latency"]["delta"], float)
    assert [q["q"] for q in d["latency"]["quantiles"]] == [0.5, 0.95, 0.99]
    assert d["cost"]["per_million_requests"] == pytest.approx(d["cost"]["delta"] * 1e6)
    hist = d["latency"]["histogram"]
    assert len(hist["edges"]) == 41
    assert sum(hist["baseline"]) == sum(hist["candidate"]) == d["latency"]["pairs"]
    # full texts in JSON
    assert d["examples"][0]["baseline_output"].startswith("{")


def test_pairing_counts_and_timeouts(regression_json: dict[str, Any]) -> None:
    p = regression_json["pairing"]
    assert regression_json["pairs"] == 994 and p["pairs"] == 994
    assert p["baseline_only_rows"] == 6 and p["candidate_only_rows"] == 0
    timeouts = next(t for t in regression_json["tails"] if t["name"] == "timeouts")
    assert timeouts["candidate"] == 3 and timeouts["baseline"] == 0


def test_judge_position_bias_and_mt_bench_ties(regression_json: dict[str, Any]) -> None:
    j = regression_json["judge"]
    assert j["wins"] + j["ties"] + j["losses"] + j["errors"] == 994
    assert j["both_orders"] == 994
    assert j["first_position_rate"] > 0.6
    assert 0 < j["order_consistency"] < 0.6
    assert {r["code"] for r in regression_json["reasons"]} >= {"JUDGE_POSITION_BIAS"}


def test_human_output(regression: tuple[Path, Path]) -> None:
    pairs, evals = regression
    out = invoke(["shadow-report", str(pairs), *ARMS, "--segment-by", "metadata.intent", "--examples", "2"],
                 expect=1).stdout
    assert "NO-GO" in out and "order_status" in out
    assert "json breaks" in out and "Examples to read" in out
    assert out.count("   candidate: ") == 2


def test_seeded_results_repeat(regression: tuple[Path, Path]) -> None:
    pairs, _ = regression
    args = ["shadow-report", str(pairs), *ARMS, "--json", "--seed", "3"]
    assert invoke(args).stdout == invoke(args).stdout


def test_clean_candidate_over_a_weekend_is_a_go(tmp_path: Path) -> None:
    pairs = write_jsonl(tmp_path / "p.jsonl", make_pairs(800, json_break_rate=0.0, judge="fair"))
    d = invoke(["shadow-report", str(pairs), *ARMS, "--segment-by", "metadata.intent", "--json"], expect=0).json()
    assert d["verdict"] == "go"
    assert d["reasons"][0]["code"] == "NO_REGRESSION_FOUND"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"hours": 10.0}, "SPAN_TOO_SHORT"),
        ({"hours": 30.0, "start_weekday": True}, "NO_WEEKEND"),
        ({"n": 60, "hours": 60.0}, "TOO_FEW_PAIRS"),
    ],
)
def test_inconclusive(tmp_path: Path, kwargs: dict[str, Any], code: str) -> None:
    from datetime import datetime

    n = kwargs.pop("n", 800)
    if kwargs.pop("start_weekday", False):
        kwargs["start"] = datetime(2026, 11, 11, tzinfo=UTC)  # Wed-Thu
    pairs = write_jsonl(tmp_path / "p.jsonl", make_pairs(n, json_break_rate=0.0, judge="fair", **kwargs))
    result = invoke(["shadow-report", str(pairs), *ARMS, "--json"], expect=3)
    d = result.json()
    assert d["verdict"] == "inconclusive"
    assert code in {r["code"] for r in d["reasons"]}
    if code == "TOO_FEW_PAIRS":
        assert d["mde"] is not None
        human = invoke(["shadow-report", str(pairs), *ARMS], expect=3).stdout
        assert "Minimum detectable" in human


def _unjudged(n: int) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "judgements"} for r in make_pairs(n, json_break_rate=0.0, judge="fair")]


def test_without_judgements_too_few_pairs_for_the_tails_is_inconclusive_with_the_mde(tmp_path: Path) -> None:
    # 300 clean pairs, 60 of them JSON: a 2-point rise in errors or JSON breaks cannot be seen yet.
    pairs = write_jsonl(tmp_path / "p.jsonl", _unjudged(300))
    d = invoke(["shadow-report", str(pairs), *ARMS, "--json"], expect=3).json()
    assert d["judge"] is None
    tails = {t["name"]: t for t in d["tails"]}
    assert tails["errors"]["mde"] == pytest.approx(ss.mcnemar_mde(300, 0))
    assert tails["errors"]["mde"] > 0.02
    reason = next(r for r in d["reasons"] if r["code"] == "UNDERPOWERED")
    assert "no judgements" in reason["message"]
    assert f"the errors rate over 300 pairs is {100 * tails['errors']['mde']:.1f}%" in reason["message"]
    assert "McNemar" in reason["message"] and "2.0% that matters" in reason["message"]
    # JSON answers are 60 pairs, fewer than min_pairs: shown with their MDE but not gating.
    assert tails["json_breaks"]["pairs"] == 60 and "json breaks" not in reason["message"]
    human = invoke(["shadow-report", str(pairs), *ARMS], expect=3).stdout
    assert "smallest detectable rise" in " ".join(human.split())
    # What matters is configurable: a 10-point rise these pairs can see, so the verdict is go.
    cfg = tmp_path / "rollctl.toml"
    cfg.write_text("[shadow]\nmin_tail_effect = 0.1\n")
    d = invoke(["shadow-report", str(pairs), *ARMS, "--config", str(cfg), "--json"], expect=0).json()
    assert d["verdict"] == "go"


def test_cost_and_latency_limits_are_off_by_default_and_block_when_the_interval_is_above(tmp_path: Path) -> None:
    # The fixture's candidate is ~10% slower (lat * 1.1) and ~10% dearer (0.0022 vs 0.002 per request).
    pairs = write_jsonl(tmp_path / "p.jsonl", make_pairs(800, json_break_rate=0.0, judge="fair"))
    base = ["shadow-report", str(pairs), *ARMS, "--json"]
    assert invoke(base, expect=0).json()["verdict"] == "go"
    cfg = tmp_path / "rollctl.toml"

    def run(toml: str, code: int) -> dict[str, Any]:
        cfg.write_text("[shadow]\n" + toml)
        out: dict[str, Any] = invoke([*base, "--config", str(cfg)], expect=code).json()
        return out

    d = run("max_cost_increase_relative = 0.05\n", 1)
    assert [r["code"] for r in d["reasons"]][0] == "COST_UP"
    assert d["cost"]["ci_low"] / d["cost"]["baseline_mean"] > 0.05
    d = run("max_latency_increase_ms = 20\nmax_latency_p95_increase_ms = 20\n", 1)
    codes = {r["code"] for r in d["reasons"]}
    assert {"LATENCY_UP", "LATENCY_P95_UP"} <= codes
    # Generous limits, or one the interval still reaches (a 15% cost rise is inside it): no change.
    d = run("max_cost_increase_relative = 0.15\nmax_latency_increase_ms = 500\n"
            "max_latency_p95_increase_ms = 2000\n", 0)
    assert d["verdict"] == "go" and d["settings"]["max_cost_increase_relative"] == 0.15


def _trace(rid: str, variant: str | None, served: bool, out: str, **extra: Any) -> dict[str, Any]:
    row = {"request_id": rid, "user_id": "u" + rid[-1], "timestamp": "2026-11-14T10:00:00Z", "served": served,
           "output": out, "latency_ms": 900.0}
    if variant is not None:
        row["variant"] = variant
    row.update(extra)
    return row


def test_trace_rows_pair_by_served_flag_and_count_unpaired_and_duplicates(tmp_path: Path) -> None:
    rows = []
    for i in range(20):
        rows.append(_trace(f"r{i}", None, True, "same answer"))
        rows.append(_trace(f"r{i}", None, False, "same answer" if i % 2 else "other answer"))
    rows.append(_trace("only-b", None, True, "x"))
    rows.append(_trace("only-c1", None, False, "x"))
    rows.append(_trace("only-c2", None, False, "x"))
    rows += [_trace("dup", None, True, "x"), _trace("dup", None, True, "y"), _trace("dup", None, False, "z")]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    d = invoke(["shadow-report", str(path), "--json"], expect=3).json()
    p = d["pairing"]
    assert p["pairs"] == 20
    assert (p["baseline_only_rows"], p["candidate_only_rows"]) == (1, 2)
    assert (p["duplicate_requests"], p["duplicate_rows"]) == (1, 3)
    assert d["diffs"]["exact_match_rate"] == pytest.approx(0.5)
    assert "UNPAIRED_ROWS" in {r["code"] for r in d["reasons"]}


def test_separate_judgement_file_with_errors_in_the_denominator(tmp_path: Path) -> None:
    rows = [r for i in range(300) for r in (_trace(f"r{i}", "control", True, "a"),
                                           _trace(f"r{i}", "treatment", False, "b"))]
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    judg = []
    for i in range(300):
        w = "error" if i < 30 else ("candidate" if i % 2 else "baseline")
        judg.append({"request_id": f"r{i}", "judge": "j1", "order": "baseline_first", "winner": w})
    judg.append({"request_id": "not-a-pair", "judge": "j1", "order": "baseline_first", "winner": "tie"})
    jfile = write_jsonl(tmp_path / "j.jsonl", judg)
    d = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(jfile), "--json"]).json()
    j = d["judge"]
    assert (j["wins"], j["losses"], j["errors"]) == (135, 135, 30)
    assert j["error_rate"] == pytest.approx(0.1)
    assert j["win_rate_errors_as_losses"] == pytest.approx(135 / 300)
    assert d["unmatched_judgements"] == 1
    assert "JUDGE_ERRORS" in {r["code"] for r in d["reasons"]}


def test_sql_order_rule_matches_the_reference(tmp_path: Path) -> None:
    values = [None, "baseline", "candidate", "tie", "error"]
    combos = list(itertools.product(values, values))
    rows, judg = [], []
    for k, (g1, g2) in enumerate(combos):
        rows += [_trace(f"r{k}", "control", True, "a"), _trace(f"r{k}", "treatment", False, "b")]
        if g1 is not None:
            judg.append({"request_id": f"r{k}", "judge": "j", "order": "baseline_first", "winner": g1})
        if g2 is not None:
            judg.append({"request_id": f"r{k}", "judge": "j", "order": "candidate_first", "winner": g2})
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    jfile = write_jsonl(tmp_path / "j.jsonl", judg)
    d = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(jfile), "--json"]).json()
    judged = [combine_orders(g1, g2) for g1, g2 in combos if (g1, g2) != (None, None)]
    j = d["judge"]
    assert (j["wins"], j["ties"], j["losses"], j["errors"]) == (
        judged.count("win"), judged.count("tie"), judged.count("loss"), judged.count("error"))


def test_numeric_preferences(tmp_path: Path) -> None:
    rows = [r for i in range(50) for r in (_trace(f"r{i}", "control", True, "a"),
                                          _trace(f"r{i}", "treatment", False, "b"))]
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    judg = [{"request_id": f"r{i}", "judge": "j", "preference": 0.2 + (i % 5) * 0.1} for i in range(50)]
    jfile = write_jsonl(tmp_path / "j.jsonl", judg)
    j = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(jfile), "--json"]).json()["judge"]
    assert j["numeric_units"] == 50
    assert j["preference_mean"] == pytest.approx(0.4)
    assert j["preference_p_value"] < 0.001


def test_refusal_patterns_are_overridable(tmp_path: Path) -> None:
    rows = []
    for i in range(40):
        rows.append(_trace(f"r{i}", "control", True, "Sure, here you go."))
        rows.append(_trace(f"r{i}", "treatment", False, "NOPE NOPE" if i < 20 else "Sure, here it is."))
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    default = invoke(["shadow-report", str(traces), *ARMS, "--json"]).json()
    assert next(t for t in default["tails"] if t["name"] == "refusals")["candidate"] == 0
    cfg = tmp_path / "rollctl.toml"
    cfg.write_text('[shadow]\nrefusal_patterns = ["nope nope"]\n')
    custom = invoke(["shadow-report", str(traces), *ARMS, "--config", str(cfg), "--json"]).json()
    refusals = next(t for t in custom["tails"] if t["name"] == "refusals")
    assert refusals["candidate"] == 20 and refusals["worse"]
    assert custom["verdict"] == "no-go"


def test_default_refusal_patterns_catch_common_refusals(tmp_path: Path) -> None:
    texts = ["I'm sorry, but I can't help with that.", "I cannot assist with this request.",
             "As an AI, I do not have opinions.", "I am unable to provide that information."]
    rows = []
    for i, t in enumerate(texts):
        rows += [_trace(f"r{i}", "control", True, "Here is the answer."), _trace(f"r{i}", "treatment", False, t)]
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    d = invoke(["shadow-report", str(traces), *ARMS, "--json"]).json()
    assert next(t for t in d["tails"] if t["name"] == "refusals")["candidate"] == 4


def test_expect_json_flag(tmp_path: Path) -> None:
    rows = []
    for i in range(10):
        rows += [_trace(f"r{i}", "control", True, "plain"), _trace(f"r{i}", "treatment", False, "plain too")]
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    auto = invoke(["shadow-report", str(traces), *ARMS, "--json"]).json()
    assert next(t for t in auto["tails"] if t["name"] == "json_breaks")["pairs"] == 0
    forced = invoke(["shadow-report", str(traces), *ARMS, "--expect-json", "--json"]).json()
    jt = next(t for t in forced["tails"] if t["name"] == "json_breaks")
    assert jt["pairs"] == 10 and jt["baseline"] == 10 and jt["candidate"] == 10


# ----- bad inputs: exit 2, one line on stderr, nothing on stdout -----------------------------------------


def _bad(tmp_path: Path, case: str) -> list[str]:
    good = [r for i in range(5) for r in (_trace(f"r{i}", "control", True, "a"),
                                         _trace(f"r{i}", "treatment", False, "b"))]
    traces = write_jsonl(tmp_path / "t.jsonl", good)
    base = ["shadow-report", str(traces), *ARMS]
    if case == "wrong_names":
        return ["shadow-report", str(traces), "--baseline", "old", "--candidate", "new"]
    if case == "same_names":
        return ["shadow-report", str(traces), "--baseline", "control", "--candidate", "control"]
    if case == "no_request_id":
        rows = [{k: v for k, v in r.items() if k != "request_id"} for r in good]
        return ["shadow-report", str(write_jsonl(tmp_path / "n.jsonl", rows)), *ARMS]
    if case == "bad_winner":
        j = write_jsonl(tmp_path / "j.jsonl", [{"request_id": "r1", "order": "baseline_first", "winner": "A"}])
        return [*base, "--judgements", str(j)]
    if case == "bad_order":
        j = write_jsonl(tmp_path / "j.jsonl", [{"request_id": "r1", "order": "first", "winner": "tie"}])
        return [*base, "--judgements", str(j)]
    if case == "bad_preference":
        j = write_jsonl(tmp_path / "j.jsonl", [{"request_id": "r1", "preference": 3}])
        return [*base, "--judgements", str(j)]
    if case == "eval_without_segment":
        return [*base, "--eval-set", str(write_jsonl(tmp_path / "e.jsonl", eval_rows()))]
    if case == "eval_set_not_evals":
        return [*base, "--segment-by", "metadata.intent", "--eval-set", str(traces)]
    if case == "bad_segment":
        return [*base, "--segment-by", "output"]
    if case == "missing_file":
        return ["shadow-report", str(tmp_path / "nope.jsonl"), *ARMS]
    if case == "malformed_line":
        bad = write_jsonl(tmp_path / "m.jsonl", [*good[:3], "{not json", *good[3:]])
        return ["shadow-report", str(bad), *ARMS]
    if case == "negative_examples":
        return [*base, "--examples", "-1"]
    if case == "bad_config":
        cfg = tmp_path / "rollctl.toml"
        cfg.write_text("[shadow]\nalpha = 2\n")
        return [*base, "--config", str(cfg)]
    if case == "unknown_config_key":
        cfg = tmp_path / "rollctl.toml"
        cfg.write_text("[shadow]\nalfa = 0.1\n")
        return [*base, "--config", str(cfg)]
    if case == "negative_limit":
        cfg = tmp_path / "rollctl.toml"
        cfg.write_text("[shadow]\nmax_latency_p95_increase_ms = -5\n")
        return [*base, "--config", str(cfg)]
    if case == "bad_refusal_regex":
        cfg = tmp_path / "rollctl.toml"
        cfg.write_text('[shadow]\nrefusal_patterns = ["(unclosed"]\n')
        return [*base, "--config", str(cfg)]
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("wrong_names", "no request was answered by both"),
        ("same_names", "same variant"),
        ("no_request_id", "request_id"),
        ("bad_winner", "winner"),
        ("bad_order", "order"),
        ("bad_preference", "[-1, 1]"),
        ("eval_without_segment", "--segment-by"),
        ("eval_set_not_evals", "no eval rows"),
        ("bad_segment", "--segment-by output"),
        ("missing_file", "nope.jsonl"),
        ("malformed_line", ":4"),
        ("negative_examples", "--examples"),
        ("bad_config", "alpha"),
        ("unknown_config_key", "alfa"),
        ("bad_refusal_regex", "refusal"),
        ("negative_limit", "max_latency_p95_increase_ms"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, case: str, needle: str) -> None:
    result = invoke(_bad(tmp_path, case), expect=2)
    assert result.stdout == ""
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 or "Usage" in result.stderr


def test_bad_input_with_json_prints_one_error_object_on_stdout(tmp_path: Path) -> None:
    result = invoke([*_bad(tmp_path, "wrong_names"), "--json"], expect=2)
    data = result.json()
    assert data["exit_code"] == 2 and data["verdict"] is None and data["reasons"][0]["code"] == "INPUT_ERROR"
    assert result.stderr.startswith("error: ")


def test_judge_scores_and_several_judges(tmp_path: Path) -> None:
    rows = []
    for i in range(40):
        rows.append(_trace(f"r{i}", "control", True, "a", judge_score=7.0))
        rows.append(_trace(f"r{i}", "treatment", False, "b", judge_score=6.0 + (i % 2)))
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    judg = [{"request_id": f"r{i}", "judge": "big", "order": "baseline_first", "winner": "tie"} for i in range(40)]
    judg += [{"request_id": f"r{i}", "judge": "small", "order": "baseline_first", "winner": "baseline"}
             for i in range(10)]
    jfile = write_jsonl(tmp_path / "j.jsonl", judg)
    d = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(jfile), "--json"]).json()
    assert d["judge_score"]["delta"] == pytest.approx(-0.5)
    assert d["judge"]["judge"] == "big" and d["judge"]["ties"] == 40
    assert [j["judge"] for j in d["other_judges"]] == ["small"]
    assert d["other_judges"][0]["losses"] == 10


def test_parquet_paired_rows(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", make_pairs(300))
    out = as_parquet(src, tmp_path / "p.parquet")
    a = invoke(["shadow-report", str(src), *ARMS, "--json"]).json()
    b = invoke(["shadow-report", str(out), *ARMS, "--json"]).json()
    assert a["pairs"] == b["pairs"] == 300
    assert a["judge"]["wins"] == b["judge"]["wins"]
    assert a["tails"] == b["tails"]


@pytest.mark.skipif(not (SAMPLE_TRACES / "shadow" / "pairs.jsonl.gz").exists(), reason="sample_traces not generated")
def test_readme_example_finds_the_planted_regression() -> None:
    d = invoke(["shadow-report", str(SAMPLE_TRACES / "shadow" / "pairs.jsonl.gz"), *ARMS,
                "--eval-set", str(SAMPLE_TRACES / "evals" / "baseline.jsonl"), "--segment-by", "metadata.intent",
                "--json"], expect=1).json()
    assert "order_status" in d["segment_losses"]
    order = next(s for s in d["segments"] if s["segment"] == "order_status")
    assert {"judge", "json_breaks"} <= set(order["loss_reasons"])
    assert d["eval_gap"]["uncovered_segments"] == ["warranty_claim"]
    assert all(e["segment"] == "order_status" for e in d["examples"])
    j = d["judge"]
    assert j["length_controlled_win_rate"] < j["win_rate"]  # the judge's planted length bias
    assert d["pairing"]["baseline_only_rows"] == 10


def test_examples_are_ranked_by_severity_then_edit_distance(tmp_path: Path) -> None:
    # (baseline answer, candidate answer, verdicts in each order, None: not judged in that order): a loss in both
    # orders (severity 9) outranks a new refusal with a loss (5), then a new refusal (4, the more edited first),
    # a new JSON break (4), plain losses (1, the more edited first); a win is no example.
    cases: dict[str, tuple[str, str, tuple[str, str | None]]] = {
        "lost-both": ("Here it is.", "Here it is!", ("baseline", "baseline")),
        "refusal-lost": ("Here it is.", "I'm sorry, but I can't help with that.", ("baseline", None)),
        "refusal": ("Here it is.", "I cannot assist with this request.", ("tie", "tie")),
        "json-break": ('{"a": 1}', '{"a": 1', ("tie", "tie")),
        "loss-far": ("Here it is.", "Something else entirely, much longer.", ("baseline", None)),
        "loss-near": ("Here it is.", "Here it was.", ("baseline", None)),
        "win": ("Here it is.", "Here it is, better.", ("candidate", "candidate")),
    }
    rows, verdicts = [], []
    for rid, (b, c, (first, second)) in cases.items():
        rows += [_trace(rid, "control", True, b), _trace(rid, "treatment", False, c)]
        verdicts.append({"request_id": rid, "judge": "j", "order": "baseline_first", "winner": first})
        if second is not None:
            verdicts.append({"request_id": rid, "judge": "j", "order": "candidate_first", "winner": second})
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    judged = write_jsonl(tmp_path / "j.jsonl", verdicts)
    d = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(judged), "--examples", "10",
                "--json"]).json()
    assert [e["request_id"] for e in d["examples"]] == [
        "lost-both", "refusal-lost", "refusal", "json-break", "loss-far", "loss-near"]
    assert "judge preferred the baseline in both orders" in d["examples"][0]["why"]


def test_a_judge_that_always_prefers_the_longer_answer_has_no_length_controlled_rate(tmp_path: Path) -> None:
    # Each candidate answer is longer or shorter than the baseline's, and the judge picks whichever is longer:
    # length predicts every verdict, so the length-controlled rate does not exist (it crashed the report once).
    rows, verdicts = [], []
    for i in range(40):
        longer = i % 2 == 0
        rows += [_trace(f"r{i}", "control", True, "x" * 50),
                 _trace(f"r{i}", "treatment", False, "y" * (50 + (i + 1) * (3 if longer else -1)))]
        winner = "candidate" if longer else "baseline"
        verdicts += [{"request_id": f"r{i}", "judge": "j", "order": order, "winner": winner}
                     for order in ("baseline_first", "candidate_first")]
    traces = write_jsonl(tmp_path / "t.jsonl", rows)
    judged = write_jsonl(tmp_path / "j.jsonl", verdicts)
    result = invoke(["shadow-report", str(traces), *ARMS, "--judgements", str(judged), "--json"])
    assert result.exit_code in (0, 1, 3) and result.stderr == ""
    j = result.json()["judge"]
    assert (j["wins"], j["losses"]) == (20, 20)
    assert j["length_controlled_win_rate"] is None and j["length_controlled_reason"] == "LC_SEPARATION"


def test_position_bias_is_not_measured_from_one_order(tmp_path: Path) -> None:
    """With every verdict in one order, "shown first" is always the baseline: a candidate that genuinely wins
    must not be reported as a judge biased towards the second position."""
    from tests.shadow_fixtures import make_pairs

    rows = make_pairs(300, json_break_rate=0.0, judge="fair")
    for i, row in enumerate(rows):
        row["judgements"] = [{"judge": "j", "order": "baseline_first", "winner": "candidate" if i % 5 else "tie"}]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    data = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment",
                   "--json"]).json()
    codes = [r["code"] for r in data["reasons"]]
    assert "JUDGE_POSITION_BIAS" not in codes and "JUDGE_POSITION_NOT_MEASURABLE" in codes
    assert data["judge"]["first_position_rate"] is None and data["judge"]["first_position_p_value"] is None


@pytest.mark.parametrize("stream", [True, False])
def test_a_misspelled_segment_key_is_an_input_error_naming_the_keys_found(tmp_path: Path, stream: bool) -> None:
    from tests.shadow_fixtures import make_pairs

    path = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(120))
    args = ["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment",
            "--segment-by", "metadata.intnt"] + ([] if stream else ["--on-bad-lines", "skip"])
    out = invoke(args, expect=2)
    assert "no pair's metadata has this key" in out.stderr and "metadata.intent" in out.stderr


@pytest.mark.parametrize("shape", ["paired stream", "paired stored", "trace rows"])
def test_the_arms_are_read_from_the_data_when_not_named(tmp_path: Path, shape: str) -> None:
    """A paired file says which answer is which (its baseline and candidate objects), and trace rows say it with
    `served`: naming the arms is needed only when the data cannot tell."""
    from tests.shadow_fixtures import make_pairs

    if shape == "trace rows":
        rows: list[Any] = []
        for i in range(60):
            rows.append(_trace(f"r{i}", "prod-v3", True, f"answer {i}"))
            rows.append(_trace(f"r{i}", "next-v4", False, f"answer {i}" + ("!" if i % 3 else "")))
    else:
        rows = make_pairs(150)
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    extra = ["--on-bad-lines", "skip"] if shape == "paired stored" else []
    inferred = invoke(["shadow-report", str(path), "--json", *extra]).json()
    names = ("prod-v3", "next-v4") if shape == "trace rows" else ("control", "treatment")
    named = invoke(["shadow-report", str(path), "--baseline", names[0], "--candidate", names[1], "--json",
                    *extra]).json()
    assert (inferred["baseline"], inferred["candidate"]) == names
    assert inferred == named


def test_a_renamed_request_id_gets_the_map_hint(tmp_path: Path) -> None:
    from tests.shadow_fixtures import make_pairs

    rows = make_pairs(60)
    for row in rows:
        row["rid"] = row.pop("request_id")
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = invoke(["shadow-report", str(path)], expect=2)
    assert "--map request_id=FIELD" in out.stderr and "rid" in out.stderr
    assert invoke(["shadow-report", str(path), "--map", "request_id=rid", "--json"]).json()["pairs"] == 60

"""`rollctl decide` end to end: verdicts, exit codes, reasons, JSON contract, the decision log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_TRACES, invoke
from tests.decide_sim import trace_table, write_parquet

PLAN = """
[rollout]
name = "sim"
change = "model"
baseline = "control"
candidate = "treatment"
salt = "sim_salt"
hash = "sha256"
stages = [{stage}, 100]
current_stage = {stage}
canary_min_days = 7
planned_units = 3000

[[guardrails]]
metric = "thumbs_down_rate"
max_relative_increase = 0.5

[[guardrails]]
metric = "error_rate"
max_absolute_increase = 0.02

[[guardrails]]
metric = "latency_p95_ms"
max_relative_increase = 0.25

[[primary]]
metric = "task_completion_rate"
direction = "increase"
min_detectable_effect = 0.05
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("decide")
    plan = d / "plan.toml"
    plan.write_text(PLAN.format(stage=50), encoding="utf-8")
    return {
        "plan": plan,
        "aa": write_parquet(trace_table(1, users=4000, percent=50), d / "aa.parquet"),
        "bad": write_parquet(trace_table(2, users=4000, percent=50, lift_thumbs=1.5, lift_error=4.0),
                             d / "bad.parquet"),
        "reqhash": write_parquet(trace_table(3, users=3000, percent=50, request_hashing=True), d / "req.parquet"),
        "srm": write_parquet(trace_table(4, users=4000, percent=50, candidate_share_override=0.45), d / "srm.parquet"),
        "cache": write_parquet(trace_table(8, users=3000, percent=50, cache_rates=(0.30, 0.50)), d / "cache.parquet"),
        "prompt": write_parquet(trace_table(5, users=1500, percent=50, prompts=("v1", "v2")), d / "prompt.parquet"),
        "unpinned": write_parquet(trace_table(6, users=1500, percent=50, models=("gpt-4o", "gpt-4o-mini")),
                                  d / "unpinned.parquet"),
    }


def codes(result: dict[str, object]) -> set[str]:
    return {r["code"] for r in result["reasons"]}  # type: ignore[attr-defined, index]


def test_no_difference_goes_with_the_next_stage(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["aa"]), "--plan", str(data["plan"]), "--json", "--daily"], expect=0).json()
    assert result["verdict"] == "go" and result["exit_code"] == 0
    assert result["next_stage"] == 100 and "50 % → 100 %" in result["next_step"]
    assert codes(result) == {"ALL_CLEAR"}
    for m in result["metrics"]:
        assert m["status"] in ("within_tolerance", "no_significant_difference"), m
        est = m["relative_estimate"] if m["scale"] == "relative" else m["estimate"]
        assert m["ci_low"] < est < m["ci_high"]
    thumbs = next(m for m in result["metrics"] if m["name"] == "thumbs_down_rate")
    assert len(thumbs["sequence"]) == 7 and thumbs["sequence"][-1]["estimate"] == pytest.approx(
        thumbs["relative_estimate"], rel=1e-9)
    assert {t["variant"] for t in result["traffic"]} == {"control", "treatment"}
    assert result["srm"]["p_value"] > 0.001
    assert result["schema_version"] and result["plan"]["sha256"]


def test_daily_sequences_only_when_asked_and_the_decision_does_not_depend_on_them(data: dict[str, Path]) -> None:
    args = ["decide", str(data["bad"]), "--plan", str(data["plan"]), "--json"]
    plain, daily = invoke(args, expect=1).json(), invoke([*args, "--daily"], expect=1).json()
    assert all(m["sequence"] == [] for m in plain["metrics"])
    assert any(len(m["sequence"]) == 7 for m in daily["metrics"])
    for a, b in zip(plain["metrics"], daily["metrics"], strict=True):
        assert {k: v for k, v in a.items() if k != "sequence"} == {k: v for k, v in b.items() if k != "sequence"}
    assert (plain["verdict"], plain["reasons"], plain["checks"], plain["traffic"]) == \
        (daily["verdict"], daily["reasons"], daily["checks"], daily["traffic"])
    assert len(plain["traffic"]) == 14  # a week, two arms: the traffic per day is always there


def test_regression_rolls_back_naming_metric_estimate_interval_and_rule(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"]), "--json"], expect=1).json()
    assert result["verdict"] == "rollback" and result["exit_code"] == 1
    breached = [r["message"] for r in result["reasons"] if r["code"] == "GUARDRAIL_BREACHED"]
    assert any(m.startswith("thumbs_down_rate") and "max_relative_increase = 0.5" in m and "interval" in m
               for m in breached)
    assert any(m.startswith("error_rate") for m in breached)
    human = invoke(["decide", str(data["bad"]), "--plan", str(data["plan"])], expect=1).stdout
    assert "ROLLBACK" in human and "thumbs_down_rate" in human


def test_request_hashing_holds_never_goes(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["reqhash"]), "--plan", str(data["plan"]), "--json"], expect=3).json()
    assert "MIXED_EXPOSURE" in codes(result) and "ASSIGNMENT_MISMATCH" in codes(result)
    check = next(c for c in result["checks"] if c["code"] == "MIXED_EXPOSURE")
    assert check["status"] == "fail" and check["figures"]["mixed_units"] > 0
    assert result["units"]["mixed_excluded"] == check["figures"]["mixed_units"]


def test_srm_holds(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["srm"]), "--plan", str(data["plan"]), "--json"], expect=3).json()
    assert "SAMPLE_RATIO_MISMATCH" in codes(result)
    assert result["srm"]["p_value"] < 0.001


def test_two_changes_and_unpinned_models_hold(data: dict[str, Path], tmp_path: Path) -> None:
    result = invoke(["decide", str(data["prompt"]), "--plan", str(data["plan"]), "--json"], expect=3).json()
    assert "MORE_THAN_ONE_CHANGE" in codes(result)
    result = invoke(["decide", str(data["unpinned"]), "--plan", str(data["plan"]), "--json"], expect=3).json()
    assert {"UNPINNED_MODEL"} <= codes(result)


def test_as_of_replays_an_early_day_and_holds_for_time(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["aa"]), "--plan", str(data["plan"]), "--as-of", "2026-11-18", "--json"],
                    expect=3).json()
    assert "CANARY_TOO_SHORT" in codes(result) and "NO_WEEKEND_TRAFFIC" in codes(result)
    assert result["as_of"].startswith("2026-11-18T23:59:59")
    assert result["time_needed"]["days_remaining"] >= 4
    assert "re-run in about" in result["next_step"]


def test_decision_log_is_appended(data: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    for _ in range(2):
        invoke(["decide", str(data["aa"]), "--plan", str(data["plan"]), "--log", str(log), "--json"], expect=0)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["verdict"] == "go"
    assert lines[0]["plan_sha256"] == lines[1]["plan_sha256"] and lines[0]["data"] == lines[1]["data"]
    assert lines[0]["data"]["rows"] > 0 and len(lines[0]["data"]["sha256"]) == 64


@pytest.mark.parametrize(("args", "message"), [
    (["--stage", "7"], "not one of the plan's stages"),
    (["--as-of", "yesterday"], "--as-of"),
])
def test_bad_usage_exits_2(data: dict[str, Path], args: list[str], message: str) -> None:
    result = invoke(["decide", str(data["aa"]), "--plan", str(data["plan"]), *args, "--json"], expect=2)
    assert message in result.stderr and result.json()["exit_code"] == 2


def test_missing_arm_and_bad_plan_exit_2(data: dict[str, Path], tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(PLAN.format(stage=50).replace('candidate = "treatment"', 'candidate = "canary"'))
    result = invoke(["decide", str(data["aa"]), "--plan", str(plan)], expect=2)
    assert "'canary' is not in the traces" in result.stderr and "treatment" in result.stderr
    plan.write_text("[rollout]\n")
    invoke(["decide", str(data["aa"]), "--plan", str(plan)], expect=2)


def test_missing_field_exits_2(tmp_path: Path, data: dict[str, Path]) -> None:
    df = trace_table(7, users=200, percent=50).drop(columns=["thumbs"])
    path = write_parquet(df, tmp_path / "nothumbs.parquet")
    result = invoke(["decide", str(path), "--plan", str(data["plan"])], expect=2)
    assert "thumbs" in result.stderr


CANARY = SAMPLE_TRACES / "canary" / "traces.jsonl.gz"
SAMPLE_PLAN = SAMPLE_TRACES / "rollout.toml"


@pytest.mark.skipif(not CANARY.exists(), reason="sample_traces/canary not generated yet")
def test_sample_canary_rolls_back_for_the_planted_regression() -> None:
    result = invoke(["decide", str(CANARY), "--plan", str(SAMPLE_PLAN), "--stage", "5", "--json"], expect=1).json()
    assert result["verdict"] == "rollback"
    breached = {r["message"].split(":")[0] for r in result["reasons"] if r["code"] == "GUARDRAIL_BREACHED"}
    assert "thumbs_down_rate" in breached and "error_rate" in breached
    checks = {c["code"]: c["status"] for c in result["checks"]}
    assert checks["SAMPLE_RATIO"] == "pass" and checks["ASSIGNMENT_AUDIT"] == "pass"
    assert checks["WEEKLY_CYCLE"] == "pass" and checks["PINNED_MODELS"] == "pass"


def test_cache_skew_warns_and_reports_strata(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["cache"]), "--plan", str(data["plan"]), "--json"]).json()
    check = next(c for c in result["checks"] if c["code"] == "CACHE_HIT_SKEW")
    assert check["status"] == "warn" and check["figures"]["candidate_rate"] > check["figures"]["baseline_rate"]
    thumbs = next(m for m in result["metrics"] if m["name"] == "thumbs_down_rate")
    assert [s["stratum"] for s in thumbs["strata"]] == ["cache_hit", "cache_miss"]
    human = invoke(["decide", str(data["cache"]), "--plan", str(data["plan"])]).stdout
    assert "Within cache-hit strata" in human


def test_planned_sample_not_reached_holds_with_time_needed(data: dict[str, Path], tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(PLAN.format(stage=50).replace("planned_units = 3000", "planned_units = 9000"))
    result = invoke(["decide", str(data["aa"]), "--plan", str(plan), "--json"], expect=3).json()
    assert "SAMPLE_NOT_REACHED" in codes(result)
    need = result["time_needed"]
    assert need["planned_units"] == 9000 and need["units_remaining"] == 9000 - need["units_now"]
    assert need["days_remaining"] >= 1 and need["new_units_per_day"] > 0


def test_custom_metric_guardrail_end_to_end(data: dict[str, Path], tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(PLAN.format(stage=50) + '\n[metrics.json_failures]\nnumerator = "error == \'json_parse\'"\n'
                    '\n[[guardrails]]\nmetric = "json_failures"\nmax_absolute_increase = 0.01\n')
    result = invoke(["decide", str(data["bad"]), "--plan", str(plan), "--json"], expect=1).json()
    custom = next(m for m in result["metrics"] if m["name"] == "json_failures")
    error = next(m for m in result["metrics"] if m["name"] == "error_rate")
    assert custom["estimate"] == pytest.approx(error["estimate"])  # every planted error is json_parse
    assert custom["status"] == "breached"


def test_error_class_with_no_events_uses_the_zero_event_bound(data: dict[str, Path], tmp_path: Path) -> None:
    plan = tmp_path / "p.toml"
    plan.write_text(PLAN.format(stage=50) + '\n[[guardrails]]\nmetric = "error_rate:rate_limit"\n'
                    'max_absolute_increase = 0.01\n')
    result = invoke(["decide", str(data["aa"]), "--plan", str(plan), "--json"], expect=0).json()
    rl = next(m for m in result["metrics"] if m["name"] == "error_rate:rate_limit")
    assert rl["status"] == "within_tolerance" and 0 < rl["ci_high"] < 0.01 and "no events" in rl["problem"]


@pytest.mark.skipif(not CANARY.exists(), reason="sample_traces/canary not generated yet")
def test_sample_canary_replayed_rolls_back_on_day_one() -> None:
    result = invoke(["decide", str(CANARY), "--plan", str(SAMPLE_PLAN), "--as-of", "2026-11-16", "--json"],
                    expect=1).json()
    assert any(r["code"] == "GUARDRAIL_BREACHED" and r["message"].startswith("error_rate") for r in result["reasons"])
    assert "CANARY_TOO_SHORT" in codes(result)


def test_the_data_fingerprint_ignores_the_last_bits_of_parallel_float_sums() -> None:
    """DuckDB's parallel sums differ in their last bits from run to run (seen on 3 M rows): the same data must
    give the same fingerprint, or a replayed decision looks like one on other data."""
    from rollctl.core.decide.log import fingerprint as _fingerprint

    arm = {"variant": "control", "requests": 10, "first": None, "last": None, "thumbs_sum": -3.0,
           "latency_sum": 12345.678901234567, "cost_sum": 0.1 + 0.2, "errors": 1, "models": ["m"],
           "prompt_versions": ["v1"]}
    wobbled = {**arm, "latency_sum": 12345.678901234569, "cost_sum": 0.3}
    assert _fingerprint({"control": arm})["sha256"] == _fingerprint({"control": wobbled})["sha256"]
    assert _fingerprint({"control": arm})["sha256"] != _fingerprint({"control": {**arm, "errors": 2}})["sha256"]


def test_captured_output_is_wide_enough_for_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI captures stdout (no terminal): rich's 80 columns cut metric and check names to `thumbs…`."""
    monkeypatch.delenv("ROLLCTL_WIDTH", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    out = invoke(["decide", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"), "--plan",
                  str(SAMPLE_TRACES / "rollout.toml"), "--stage", "5"], expect=1).stdout
    for name in ("thumbs_down_rate", "task_completion_rate", "SAMPLE_NOT_REACHED", "within tolerance"):
        assert name in out
    assert max(len(line) for line in out.splitlines()) <= 160


def test_a_plan_value_the_statistics_refuse_is_a_plan_error_naming_the_key(data: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    """alpha = 0.3 passes the plan's range check but is too large for a peek-safe test with one guardrail: the
    error names the plan and its key, not a command-line option decide does not have."""
    plan = tmp_path / "plan.toml"
    rollout = PLAN.format(stage=50).split("[[guardrails]]")[0].replace("planned_units = 3000\n", "")
    plan.write_text(rollout + 'alpha = 0.3\n\n[[guardrails]]\nmetric = "thumbs_down_rate"\n'
                    'max_relative_increase = 0.5\n', encoding="utf-8")
    result = invoke(["decide", str(data["aa"]), "--plan", str(plan), "--json"], expect=2).json()
    assert result["reasons"][0]["code"] == "PLAN_ERROR"
    assert result["error"] == {"path": str(plan), "line": None, "field": "alpha",
                               "fix": "use alpha below 0.25 one-sided / 0.5 two-sided"}

"""`rollctl power` and `rollctl power eval` through the CLI: numbers, exit codes, JSON, trace estimates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import invoke, write_jsonl

PIN = ["power", "--metric", "proportion", "--baseline-rate", "0.10", "--mde", "0.01"]


def make_traces(path: Path, users: int = 800, seed: int = 5, icc: float = 0.15) -> Path:
    """A week of canary traces: several requests per user, a per-user thumbs-down propensity, repeated inputs."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    scale = 1 / icc - 1
    for u in range(users):
        variant = "treatment" if u % 10 == 0 else "control"
        pi = rng.beta(0.1 * scale, 0.9 * scale)
        day = int(rng.integers(16, 23))
        for j in range(1 + int(rng.poisson(3))):
            rows.append({
                "request_id": f"r{u}_{j}", "user_id": f"u{u}", "variant": variant,
                "timestamp": f"2026-11-{day:02d}T{int(rng.integers(0, 24)):02d}:00:00Z",
                "input": f"question {int(rng.integers(0, 60))}", "output": "answer",
                "thumbs": -1 if rng.random() < pi else (1 if rng.random() < 0.3 else None),
                "latency_ms": abs(float(800 + 300 * rng.standard_normal())),  # a latency is never negative
                "model": "claude-sonnet-4-5-20250929",
            })
    return write_jsonl(path, rows)


def make_evals(path: Path, cases: int = 40, repeats: int = 3, seed: int = 1, variants: tuple[str, ...] = ("main",)) \
        -> Path:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0, 1, size=cases)
    rows = []
    for v_i, v in enumerate(variants):
        for c in range(cases):
            p = min(max(difficulty[c] + (0.05 * v_i), 0), 1)
            rows.extend({"case_id": f"c{c}", "variant": v, "repeat": k, "passed": bool(rng.random() < p),
                         "score": float(rng.random() < p)} for k in range(repeats))
    return write_jsonl(path, rows)


def test_pinned_statsmodels_number_and_no_inflation() -> None:
    data = invoke([*PIN, "--json"], expect=0).json()
    assert data["n_per_arm"] == {"treatment": 14_749, "control": 14_749}
    assert data["n_total"] == 29_498
    assert data["inflation"]["total"] == pytest.approx(1.0)
    assert data["naive_n_per_arm"] == data["n_per_arm"]
    assert data["schema_version"] == "1.0" and data["exit_code"] == 0 and "verdict" not in data
    assert data["mde"]["absolute"] == pytest.approx(0.01) and data["mde"]["relative"] == pytest.approx(0.1)
    assert data["power"] == 0.8 and data["solved_for"] == "n"
    assert {p["name"] for p in data["inflation"]["parts"]} == {"repeat requests", "response variance",
                                                                "peek-safe testing", "guardrails"}


def test_inflation_parts_multiply_and_show_in_the_users() -> None:
    args = ["power", "--metric", "mean", "--baseline-mean", "412", "--sd", "180", "--mde", "0.05", "--relative",
            "--requests-per-user", "5", "--icc", "0.2", "--response-variance-share", "0.25", "--sequential",
            "--guardrails", "3", "--sides", "1", "--json"]
    data = invoke(args, expect=0).json()
    inf = data["inflation"]
    assert inf["design_effect"] == pytest.approx(1.8)
    assert inf["response_variance"] == pytest.approx(4 / 3)
    assert inf["total"] == pytest.approx(inf["design_effect"] * inf["response_variance"] * inf["sequential"]
                                         * inf["guardrails"])
    naive_obs = data["naive_n_per_arm"]["treatment"]
    # users needed = naive observations × inflation / requests per user
    assert data["n_per_arm"]["treatment"] == pytest.approx(naive_obs * inf["total"] / 5, rel=2e-3)


def test_human_output_explains_why() -> None:
    args = ["power", "--metric", "proportion", "--baseline-rate", "0.08", "--mde", "0.2", "--relative", "--sides",
            "1", "--requests-per-user", "4", "--icc", "0.1", "--sequential", "--daily-users", "20000",
            "--canary-percent", "5"]
    out = invoke(args, expect=0).stdout
    assert "Why this many" in out and "repeat requests" in out and "peek-safe testing" in out
    assert "run 7 days" in out and "Users needed" in out


def test_days_round_up_to_weeks_with_exact_figure() -> None:
    args = [*PIN, "--daily-users", "3000", "--canary-percent", "10", "--json"]
    data = invoke(args, expect=0).json()
    n_t = data["n_per_arm"]["treatment"]
    assert data["allocation"]["treatment_share"] == pytest.approx(0.1)
    assert data["days"] == pytest.approx(n_t / 300)
    assert data["days_rounded"] == 7 * math.ceil(data["days"] / 7) and data["days_rounded"] >= 7
    assert data["curve"] and data["curve"][9]["power"] == pytest.approx(0.8, abs=0.01)


def test_solve_for_mde_then_power_round_trips() -> None:
    base = ["power", "--metric", "proportion", "--baseline-rate", "0.08", "--ratio", "5:95"]
    mde = invoke([*base, "--n-per-arm", "2000", "--json"], expect=0).json()
    assert mde["solved_for"] == "mde" and mde["n_per_arm"]["treatment"] == 2000
    assert mde["n_per_arm"]["control"] == 38_000
    delta = mde["mde"]["absolute"]
    back = invoke([*base, "--n-per-arm", "2000", "--mde", str(delta), "--json"], expect=0).json()
    assert back["solved_for"] == "power" and back["power"] == pytest.approx(0.8, abs=1e-3)


def test_days_instead_of_users() -> None:
    data = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.08", "--days", "14", "--daily-users",
                   "10000", "--canary-percent", "5", "--json"], expect=0).json()
    assert data["n_per_arm"]["treatment"] == 7000 and data["solved_for"] == "mde"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0"], "non-zero"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--power", "1"], "power"),
        (["--metric", "proportion", "--baseline-rate", "0", "--mde", "0.01"], "rate"),
        (["--metric", "proportion", "--baseline-rate", "1", "--mde", "0.01"], "rate"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--ratio", "0:100"], "0 %"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--canary-percent", "0"], "canary"),
        (["--metric", "proportion", "--baseline-rate", "0.1"], "nothing to solve"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--n-per-arm", "100", "--power",
          "0.8"], "leave out"),
        (["--metric", "mean", "--mde", "5"], "--sd"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--response-variance-share", "0.2"],
         "0/1 rate"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.95"], "outside"),
        (["--metric", "proportion", "--baseline-rate", "0.1", "--mde", "0.01", "--ratio", "x"], "ratio"),
    ],
)
def test_impossible_requests_exit_2(extra: list[str], message: str) -> None:
    result = invoke(["power", *extra], expect=2)
    assert message in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_from_traces_estimates_and_plans(tmp_path: Path) -> None:
    path = make_traces(tmp_path / "t.jsonl")
    args = ["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--canary-percent", "5",
            "--mde", "0.2", "--relative", "--sides", "1", "--json"]
    data = invoke(args, expect=0).json()
    est = data["estimates"]
    assert est["baseline_variant"] == "control"
    assert 0.06 < est["baseline"] < 0.14
    assert est["requests_per_user"] == pytest.approx(est["requests"] / est["users"])
    assert est["design_effect"] > 1.1  # planted per-user propensity
    assert est["daily_users"] == pytest.approx(800 / 7)
    assert est["baseline_daily_users"] == pytest.approx(720 / 7)
    assert est["repeated_inputs"] == 60 and est["response_variance_share"] is not None
    assert data["inflation"]["design_effect"] == pytest.approx(est["design_effect"])
    assert data["inflation"]["response_variance"] == 1.0  # a 0/1 rate: explained, not multiplied
    assert data["mde"]["absolute"] > 0  # thumbs-down: harm is an increase
    assert data["days_rounded"] % 7 == 0
    codes = {r["code"] for r in data["reasons"]}
    assert "RESPONSE_SHARE_NOT_A_MULTIPLIER_FOR_RATES" in codes
    human = invoke(args[:-1], expect=0).stdout
    assert "Measured on the traces" in human and "design effect" in human


def test_from_traces_mean_metric_and_simulation(tmp_path: Path) -> None:
    path = make_traces(tmp_path / "t.jsonl")
    args = ["power", "--from-traces", str(path), "--metric-name", "latency_mean_ms", "--mde", "0.05", "--relative",
            "--simulate", "--simulations", "200", "--json"]
    data = invoke(args, expect=0).json()
    sim = data["simulation"]
    assert sim["runs"] == 200 and abs(sim["simulated_power"] - 0.8) < 0.1


def test_from_traces_needs_user_id(tmp_path: Path) -> None:
    rows = [{"request_id": f"r{i}", "userId": f"u{i % 3}", "variant": "control", "thumbs": -1 if i % 4 else None}
            for i in range(20)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    result = invoke(["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--mde", "0.2",
                     "--relative"], expect=2)
    assert "--map user_id=userId" in result.stderr


def test_from_traces_unknown_metric_and_conflicts(tmp_path: Path) -> None:
    path = make_traces(tmp_path / "t.jsonl", users=50)
    invoke(["power", "--from-traces", str(path), "--metric-name", "nope", "--mde", "0.1"], expect=2)
    r = invoke(["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--baseline-rate", "0.1",
                "--mde", "0.1"], expect=2)
    assert "both describe" in r.stderr


def test_simulate_prints_beside_target() -> None:
    out = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.2", "--mde", "0.05", "--requests-per-user",
                  "3", "--icc", "0.1", "--simulate", "--simulations", "300"], expect=0).stdout
    assert "Simulation check (300 simulated canaries, seed 0)" in out and "vs planned 80.0 %" in out


def test_eval_manual_and_no_repeats_suffice() -> None:
    data = invoke(["power", "eval", "--sd-diff", "0.3", "--response-sd", "0.4", "--mde", "0.05", "--json"],
                  expect=0).json()
    z2 = (1.959963984540054 + 0.8416212335729143) ** 2
    assert data["cases_needed"] == math.ceil(z2 * (0.09 + 0.32) / 0.0025)
    small = invoke(["power", "eval", "--sd-diff", "0.3", "--response-sd", "0.4", "--mde", "0.05", "--cases", "120",
                    "--json"], expect=0).json()
    assert small["solved_for"] == "power" and small["no_repeats_suffice"] is True
    assert any(r["code"] == "NO_REPEATS_SUFFICE" for r in small["reasons"])
    out = invoke(["power", "eval", "--sd-diff", "0.3", "--response-sd", "0.4", "--mde", "0.05", "--cases", "120"],
                 expect=0).stdout
    assert "No number of repeats suffices" in out


def test_eval_from_file_one_and_two_variants(tmp_path: Path) -> None:
    one = make_evals(tmp_path / "e.jsonl")
    data = invoke(["power", "eval", "--from-evals", str(one), "--json"], expect=0).json()
    assert data["solved_for"] == "mde" and data["cases"] == 40 and data["repeats"] == 3
    assert 0 < data["response_variance_share"] < 1
    assert any(r["code"] == "CORRELATION_ASSUMED" for r in data["reasons"])
    two = make_evals(tmp_path / "e2.jsonl", variants=("main", "pr-1"))
    paired = invoke(["power", "eval", "--from-evals", str(two), "--mde", "0.1", "--json"], expect=0).json()
    assert paired["estimated"]["candidate_variant"] == "pr-1" and paired["cases_needed"] > 0
    assert paired["power_at_current_cases"] is not None


@pytest.mark.parametrize(
    "extra",
    [["--sd-diff", "0.3", "--mde", "0"], ["--sd-diff", "0.3", "--mde", "0.05", "--power", "1"], [],
     ["--sd-diff", "0.3", "--mde", "0.05", "--repeats", "0"]],
)
def test_eval_impossible_requests_exit_2(extra: list[str]) -> None:
    invoke(["power", "eval", *extra], expect=2)


def test_help_lists_eval_and_exit_codes() -> None:
    out = invoke(["power", "--help"], expect=0).stdout
    assert "eval" in out and "--from-traces" in out and "Exit codes" in out
    assert "power" in invoke(["--help"], expect=0).stdout


def test_json_is_only_one_object(tmp_path: Path) -> None:
    out = invoke([*PIN, "--json", "--simulate", "--simulations", "50"], expect=0).stdout
    json.loads(out)


def test_no_detectable_effect_exits_3() -> None:
    data = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.5", "--n-per-arm", "3", "--json"],
                  expect=3).json()
    assert data["mde"] is None and data["exit_code"] == 3
    assert any(r["code"] == "NO_DETECTABLE_EFFECT" for r in data["reasons"])


def test_shadow_rows_are_not_counted(tmp_path: Path) -> None:
    path = make_traces(tmp_path / "t.jsonl", users=200)
    served = invoke(["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--mde", "0.2",
                     "--relative", "--json"], expect=0).json()["estimates"]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    shadow = [{**r, "request_id": r["request_id"] + "s", "served": False, "thumbs": -1} for r in rows[:300]]
    both = write_jsonl(tmp_path / "both.jsonl", rows + shadow)
    again = invoke(["power", "--from-traces", str(both), "--metric-name", "thumbs_down_rate", "--mde", "0.2",
                    "--relative", "--json"], expect=0).json()["estimates"]
    assert again["baseline"] == pytest.approx(served["baseline"]) and again["requests"] == served["requests"]


def test_negative_mde_looks_for_a_decrease() -> None:
    up = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.3", "--mde", "0.05", "--json"],
                expect=0).json()
    down = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.3", "--mde", "-0.05", "--json"],
                  expect=0).json()
    assert down["mde"]["absolute"] == pytest.approx(-0.05) and down["mde"]["treatment_value"] == pytest.approx(0.25)
    # p(1 − p) is smaller at 25 % than at 35 %: detecting the drop needs fewer users
    assert down["n_per_arm"]["treatment"] < up["n_per_arm"]["treatment"]


def test_sample_canary_worked_example() -> None:
    """The README's worked example: the bundled week of canary traces, 5 % canary, +20 % thumbs-down."""
    from tests.conftest import SAMPLE_TRACES

    path = SAMPLE_TRACES / "canary" / "traces.jsonl.gz"
    if not path.exists():
        pytest.skip("sample_traces not generated")
    data = invoke(["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--canary-percent", "5",
                   "--mde", "0.2", "--relative", "--sides", "1", "--sequential", "--json"], expect=0).json()
    est = data["estimates"]
    assert est["baseline_variant"] == "control" and 0.07 < est["baseline"] < 0.09
    assert est["design_effect"] > 1.3 and est["daily_users"] == pytest.approx(20_000 / 7, rel=0.05)
    assert data["days_rounded"] % 7 == 0 and data["days_rounded"] >= data["days"]
    assert data["inflation"]["total"] > 3


def test_a_range_error_from_the_statistics_names_the_option() -> None:
    """The statistics name the parameter (`mde`); `rollctl power` words it as its own option."""
    result = invoke(["power", "--metric", "proportion", "--baseline-rate", "0.08", "--mde", "0.95", "--json"],
                    expect=2).json()
    assert result["error"] == {"path": None, "line": None, "field": "mde", "fix": "use a smaller --mde"}
    assert "is outside (0, 1)" in result["reasons"][0]["message"]

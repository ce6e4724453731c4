"""`rollctl eval-gate` through the CLI: verdicts, exit codes, JSON, JUnit, Markdown and bad input."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from tests.conftest import invoke, write_jsonl

Outcomes = dict[str, list[Any]]
REGRESSED = [f"c{i:03d}" for i in range(31, 47) if i != 40]


def base_outcomes(n: int = 120, fail_every: int = 10) -> Outcomes:
    """n cases × 3 repeats; every `fail_every`-th case fails, cases 5 and 15 are flaky."""
    out: Outcomes = {}
    for i in range(n):
        ok = i % fail_every != 0
        out[f"c{i:03d}"] = [ok, ok, ok]
    if n > 15:
        out["c005"] = [True, False, True]
        out["c015"] = [False, True, False]
    return out


def rows(variant: str, outcomes: Outcomes, *, errors: dict[str, int] | None = None,
         tags: dict[str, list[str]] | None = None, clusters: bool = False) -> list[dict[str, Any]]:
    out = []
    for case, results in outcomes.items():
        for r, passed in enumerate(results):
            err = "timeout" if (errors or {}).get(case) == r else None
            row: dict[str, Any] = {"case_id": case, "variant": variant, "repeat": r,
                                   "passed": None if err else passed, "error": err,
                                   "tags": (tags or {}).get(case, ["faq"])}
            if clusters:
                row["cluster"] = f"doc{int(case[1:]) // 4}"
            out.append(row)
    return out


def write(tmp: Path, name: str, variant: str, outcomes: Outcomes, **kw: Any) -> str:
    return str(write_jsonl(tmp / name, rows(variant, outcomes, **kw)))


def flip(outcomes: Outcomes, cases: list[str], value: bool | None = None) -> Outcomes:
    new = {k: list(v) for k, v in outcomes.items()}
    for c in cases:
        new[c] = [(not x) if value is None else value for x in new[c]]
    return new


@pytest.fixture
def evals(tmp_path: Path) -> dict[str, str]:
    base = base_outcomes()
    tags = {"c001": ["high_stakes"], "c030": ["high_stakes"]}
    return {
        "base": write(tmp_path, "base.jsonl", "main", base, tags=tags),
        "swap": write(tmp_path, "swap.jsonl", "pr-481", flip(base, ["c001", "c010", "c020"]), tags=tags),
        "improved": write(tmp_path, "improved.jsonl", "pr-482", flip(base, [f"c{i:03d}" for i in range(0, 120, 10)]),
                          tags=tags),
        "regression": write(tmp_path, "regression.jsonl", "pr-483",
                            flip(base, REGRESSED), tags=tags),
    }


def test_improved_candidate_passes(evals: dict[str, str]) -> None:
    data = invoke(["eval-gate", evals["base"], evals["improved"], "--json"], expect=0).json()
    assert data["verdict"] == "pass" and data["exit_code"] == 0
    assert data["reasons"][0]["code"] == "NON_INFERIOR"
    assert data["n_cases"] == 120
    assert len(data["fixes"]) == 12 and data["regressions"] == []
    assert data["baseline"]["name"] == "main" and data["candidate"]["name"] == "pr-482"
    assert data["difference"]["ci_low"] > 0
    assert isinstance(data["p_value"], float) and isinstance(data["mde"], float)


@pytest.mark.parametrize(
    ("extra", "code", "verdict", "first_reason"),
    [
        (["--strict"], 1, "fail", "STRICT_REGRESSION"),
        (["--strict-tag", "high_stakes"], 1, "fail", "STRICT_REGRESSION"),
        (["--strict-tag", "refunds"], 3, "inconclusive", "NOT_SHOWN_NON_INFERIOR"),
        (["--margin", "0.05"], 0, "pass", "NON_INFERIOR"),
        ([], 3, "inconclusive", "NOT_SHOWN_NON_INFERIOR"),
        (["--inconclusive", "pass"], 0, "inconclusive", "NOT_SHOWN_NON_INFERIOR"),
        (["--inconclusive", "fail"], 1, "inconclusive", "NOT_SHOWN_NON_INFERIOR"),
        (["--strict", "--margin", "0.05"], 1, "fail", "STRICT_REGRESSION"),
    ],
)
def test_swap_strict_and_tolerant(evals: dict[str, str], extra: list[str], code: int, verdict: str,
                                  first_reason: str) -> None:
    data = invoke(["eval-gate", evals["base"], evals["swap"], "--json", *extra], expect=code).json()
    assert data["verdict"] == verdict and data["exit_code"] == code
    assert data["reasons"][0]["code"] == first_reason
    assert data["regressions"] == ["c001"] and data["fixes"] == ["c010", "c020"]
    if verdict == "fail":
        assert data["strict_violations"] == ["c001"]
        assert "c001" in data["reasons"][0]["message"]


def test_real_regression_fails_with_its_reasons(evals: dict[str, str]) -> None:
    data = invoke(["eval-gate", evals["base"], evals["regression"], "--json"], expect=1).json()
    assert data["verdict"] == "fail"
    assert [r["code"] for r in data["reasons"]] == ["SIGNIFICANTLY_WORSE"]
    assert len(data["regressions"]) == 15
    assert data["difference"]["ci_high"] < 0


def test_mcnemar_and_paired_t_in_the_result_match_references(evals: dict[str, str]) -> None:
    data = invoke(["eval-gate", evals["base"], evals["regression"], "--json"], expect=1).json()
    mc = data["mcnemar"]
    ref = mcnemar([[mc["n"] - mc["b"] - mc["c"], mc["b"]], [mc["c"], 0]], exact=True)
    assert (mc["b"], mc["c"]) == (15, 0)
    assert mc["p_value"] == pytest.approx(ref.pvalue)
    base = np.array([sum(v) / 3 for v in base_outcomes().values()])
    cand = np.array([sum(v) / 3 for v in flip(base_outcomes(), REGRESSED).values()])
    ref_t = stats.ttest_rel(cand, base)
    assert data["difference"]["p_value"] == pytest.approx(ref_t.pvalue)
    assert data["difference"]["estimate"] == pytest.approx(float((cand - base).mean()))
    # flaky cases make per-case values fractional, so the headline p-value is the paired t's
    assert data["p_value_method"] == "paired_t"


def test_binary_single_repeat_uses_mcnemar_p(tmp_path: Path) -> None:
    base = {f"c{i}": [i % 5 != 0] for i in range(60)}
    cand = flip(base, ["c1", "c2", "c3", "c0"])
    data = invoke(["eval-gate", write(tmp_path, "b.jsonl", "a", base), write(tmp_path, "c.jsonl", "b", cand),
                   "--json"], expect=3).json()
    assert data["p_value_method"] == "mcnemar_exact"
    assert data["p_value"] == pytest.approx(mcnemar([[56 - 0, 3], [1, 0]], exact=True).pvalue)
    assert data["mcnemar"]["difference"] == pytest.approx((1 - 3) / 60)


def test_flaky_classification(tmp_path: Path) -> None:
    base = {"stay_flaky": [True, False, True], "regress": [True, True, True], "newly_flaky": [True, True, True],
            "flaky_to_fail": [True, False, False], "fix": [False, False, False], "ok": [True, True, True]}
    cand = {"stay_flaky": [False, True, False], "regress": [False, False, False],
            "newly_flaky": [True, False, True], "flaky_to_fail": [False, False, False], "fix": [True, True, True],
            "ok": [True, True, True]}
    data = invoke(["eval-gate", write(tmp_path, "b.jsonl", "a", base), write(tmp_path, "c.jsonl", "b", cand),
                   "--json", "--strict"], expect=1).json()
    assert data["regressions"] == ["regress"]
    assert data["fixes"] == ["fix"]
    assert data["newly_flaky"] == ["newly_flaky"]
    assert sorted(data["flaky"]) == ["flaky_to_fail", "newly_flaky", "stay_flaky"]
    assert data["strict_violations"] == ["regress"]
    by_case = {c["case_id"]: c for c in data["changed_cases"]}
    assert by_case["flaky_to_fail"]["transition"] == "flaky_to_fail"
    assert "stay_flaky" not in by_case and data["changed_cases_total"] == len(by_case) == 4
    assert by_case["flaky_to_fail"]["baseline"]["value"] == pytest.approx(1 / 3)
    assert data["transitions"]["pass"]["fail"] == 1 and data["transitions"]["flaky"]["flaky"] == 1


def test_missing_case_counts_as_failed_never_dropped(tmp_path: Path) -> None:
    base = base_outcomes()
    cand = {k: v for k, v in base.items() if k != "c001"}
    data = invoke(["eval-gate", write(tmp_path, "b.jsonl", "a", base), write(tmp_path, "c.jsonl", "b", cand),
                   "--json", "--margin", "0.05"], expect=1).json()
    assert data["n_cases"] == 120
    assert data["missing_in_candidate"] == ["c001"]
    assert data["regressions"] == ["c001"]
    assert data["reasons"][0]["code"] == "MISSING_CASES"
    assert data["candidate"]["missing"] == 1


def test_new_cases_in_candidate_are_reported_not_paired(tmp_path: Path) -> None:
    base = base_outcomes()
    cand = {**base, "new1": [True, True, True]}
    data = invoke(["eval-gate", write(tmp_path, "b.jsonl", "a", base), write(tmp_path, "c.jsonl", "b", cand),
                   "--json", "--margin", "0.05"], expect=0).json()
    assert data["n_cases"] == 120 and data["new_cases"] == ["new1"]
    assert "NEW_CASES" in [n["code"] for n in data["notes"]]


def test_errors_above_baseline_fail(tmp_path: Path) -> None:
    base = base_outcomes()
    p_b = write(tmp_path, "b.jsonl", "a", base)
    p_c = write(tmp_path, "c.jsonl", "b", base, errors={"c002": 1, "c003": 0})
    data = invoke(["eval-gate", p_b, p_c, "--json", "--margin", "0.05"], expect=1).json()
    assert data["reasons"][0]["code"] == "MORE_ERRORS"
    assert data["candidate"]["errors"] == 2 and data["candidate"]["error_classes"] == {"timeout": 2}


def test_case_with_no_result_is_missing(tmp_path: Path) -> None:
    base = base_outcomes()
    cand = flip(base, [], None)
    cand["c002"] = [None, None, None]
    data = invoke(["eval-gate", write(tmp_path, "b.jsonl", "a", base), write(tmp_path, "c.jsonl", "b", cand),
                   "--json", "--margin", "0.05"], expect=1).json()
    assert data["reasons"][0]["code"] == "MISSING_CASES"
    assert data["regressions"] == ["c002"]


@pytest.mark.parametrize("value", [True, False])
def test_all_pass_or_all_fail_arms_give_finite_numbers(tmp_path: Path, value: bool) -> None:
    outcomes = {f"c{i}": [value] * 3 for i in range(50)}
    p_b = write(tmp_path, "b.jsonl", "a", outcomes)
    p_c = write(tmp_path, "c.jsonl", "b", outcomes)
    data = invoke(["eval-gate", p_b, p_c, "--json"], expect=3).json()
    assert data["difference"]["method"] == "exact_zero_discordance"
    assert data["difference"]["lower_bound"] == pytest.approx(-(1 - 0.05 ** (1 / 50)))
    assert data["correlation"] is None
    assert data["mcnemar"]["p_value"] == 1.0
    assert "NO_CHANGED_CASES" in [n["code"] for n in data["notes"]]
    text = json.dumps(data)
    assert "NaN" not in text and "Infinity" not in text
    passed = invoke(["eval-gate", p_b, p_c, "--json", "--margin", "0.1"], expect=0).json()
    assert passed["verdict"] == "pass"


def test_single_case_is_inconclusive_not_a_crash(tmp_path: Path) -> None:
    p_b = write(tmp_path, "b.jsonl", "a", {"only": [True]})
    p_c = write(tmp_path, "c.jsonl", "b", {"only": [False]})
    data = invoke(["eval-gate", p_b, p_c, "--json"], expect=3).json()
    assert data["reasons"][0]["code"] == "TOO_FEW_CASES"
    assert data["regressions"] == ["only"] and data["difference"]["ci_low"] is None
    invoke(["eval-gate", p_b, p_c, "--strict"], expect=1)


def test_one_file_mode(tmp_path: Path) -> None:
    base = base_outcomes()
    both = rows("main", base) + rows("pr-481", flip(base, ["c001", "c010", "c020"]))
    path = str(write_jsonl(tmp_path / "all.jsonl", both))
    data = invoke(["eval-gate", path, "--baseline", "main", "--candidate", "pr-481", "--json", "--margin", "0.05"],
                  expect=0).json()
    assert data["settings"]["mode"] == "one_file" and data["regressions"] == ["c001"]
    invoke(["eval-gate", path], expect=2)
    bad = invoke(["eval-gate", path, "--baseline", "main", "--candidate", "nope"], expect=2)
    assert "variants found: main, pr-481" in bad.stderr


def test_clusters_use_cluster_robust_se(tmp_path: Path) -> None:
    base = base_outcomes()
    p_b = write(tmp_path, "b.jsonl", "a", base, clusters=True)
    p_c = write(tmp_path, "c.jsonl", "b", flip(base, ["c001", "c010", "c020"]), clusters=True)
    data = invoke(["eval-gate", p_b, p_c, "--json"], expect=3).json()
    assert data["difference"]["method"] == "cluster_robust_t"
    assert data["difference"]["clusters"] == 30 and data["bootstrap"]["unit"] == "cluster"


def test_scores_paired_t_and_score_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    b = rng.uniform(2, 9, 80)
    c = np.clip(b + rng.normal(0.3, 1.0, 80), 0, 10)
    rb = [{"case_id": f"s{i}", "variant": "a", "score": float(x)} for i, x in enumerate(b)]
    rc = [{"case_id": f"s{i}", "variant": "b", "score": float(x)} for i, x in enumerate(c)]
    p_b, p_c = str(write_jsonl(tmp_path / "b.jsonl", rb)), str(write_jsonl(tmp_path / "c.jsonl", rc))
    err = invoke(["eval-gate", p_b, p_c], expect=2)
    assert "--score-range" in err.stderr
    data = invoke(["eval-gate", p_b, p_c, "--score-range", "0,10", "--json"]).json()
    assert data["settings"]["metric"] == "mean_score"
    ref = stats.ttest_rel(c / 10, b / 10)
    assert data["difference"]["estimate"] == pytest.approx(float((c - b).mean() / 10))
    assert data["difference"]["p_value"] == pytest.approx(ref.pvalue)
    assert data["p_value_method"] == "paired_t"
    low, high = data["bootstrap"]["ci_low"], data["bootstrap"]["ci_high"]
    assert low < data["difference"]["estimate"] < high
    again = invoke(["eval-gate", p_b, p_c, "--score-range", "0,10", "--json"]).json()
    assert again["bootstrap"] == data["bootstrap"]


def test_protected_cases(tmp_path: Path, evals: dict[str, str]) -> None:
    protect = tmp_path / "protect.txt"
    protect.write_text("# must pass\nc002\nc001  # refund path\n")
    data = invoke(["eval-gate", evals["base"], evals["swap"], "--protect", str(protect), "--margin", "0.05",
                   "--json"], expect=1).json()
    assert data["reasons"][0]["code"] == "PROTECTED_CASE_FAILED" and data["protected_failed"] == ["c001"]
    protect.write_text("no_such_case\n")
    err = invoke(["eval-gate", evals["base"], evals["swap"], "--protect", str(protect)], expect=2)
    assert "protected case" in err.stderr


def test_config_section_sets_defaults(tmp_path: Path, evals: dict[str, str]) -> None:
    cfg = tmp_path / "rollctl.toml"
    cfg.write_text('[eval_gate]\nmargin = 0.05\nstrict_tags = ["high_stakes"]\n')
    data = invoke(["eval-gate", evals["base"], evals["swap"], "--config", str(cfg), "--json"], expect=1).json()
    assert data["settings"]["margin"] == 0.05 and data["reasons"][0]["code"] == "STRICT_REGRESSION"
    cfg.write_text('[eval_gate]\nmargin = 0.05\n')
    invoke(["eval-gate", evals["base"], evals["swap"], "--config", str(cfg)], expect=0)
    (tmp_path / "protected.txt").write_text("c001\n")
    cfg.write_text('[eval_gate]\nmargin = 0.05\nprotect = "protected.txt"\n')
    data = invoke(["eval-gate", evals["base"], evals["swap"], "--config", str(cfg), "--json"], expect=1).json()
    assert data["protected_failed"] == ["c001"]
    cfg.write_text('[eval_gate]\nmargn = 0.05\n')
    err = invoke(["eval-gate", evals["base"], evals["swap"], "--config", str(cfg)], expect=2)
    assert "unknown key 'margn'" in err.stderr


@pytest.mark.parametrize(
    ("make", "args_extra", "message"),
    [
        ("dup", [], "repeat a case_id + variant + repeat"),
        ("traces", [], "has no eval rows"),
        ("no_case", [], "have no case_id"),
        ("same", [], "same file"),
        ("two_variants", [], "hold 2 variants"),
        ("ok", ["--alpha", "0.7"], "--alpha"),
        ("ok", ["--margin", "-0.1"], "--margin"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, make: str, args_extra: list[str], message: str) -> None:
    base = base_outcomes(20)
    p_b = write(tmp_path, "b.jsonl", "a", base)
    p_c = write(tmp_path, "c.jsonl", "b", base)
    if make == "dup":
        p_c = str(write_jsonl(tmp_path / "c.jsonl", rows("b", base) + rows("b", {"c001": [True]})))
    elif make == "traces":
        p_c = str(write_jsonl(tmp_path / "c.jsonl", [{"request_id": "r1", "variant": "b", "output": "x"}]))
    elif make == "no_case":
        p_c = str(write_jsonl(tmp_path / "c.jsonl", [*rows("b", base), {"case_id": None, "variant": "b",
                                                                        "passed": True}]))
    elif make == "same":
        p_c = p_b
    elif make == "two_variants":
        p_c = str(write_jsonl(tmp_path / "c.jsonl", rows("b", base) + rows("x", base)))
    result = invoke(["eval-gate", p_b, p_c, *args_extra], expect=2)
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_three_unquoted_paths_are_a_usage_error(tmp_path: Path) -> None:
    p = write(tmp_path, "b.jsonl", "a", base_outcomes(5))
    assert "quote globs" in invoke(["eval-gate", p, p, p], expect=2).stderr


def test_junit_parses_back(tmp_path: Path, evals: dict[str, str]) -> None:
    out = tmp_path / "junit.xml"
    invoke(["eval-gate", evals["base"], evals["swap"], "--strict", "--junit", str(out)], expect=1)
    suite = ET.parse(out).getroot()
    cases = suite.findall("testcase")
    assert suite.tag == "testsuite" and int(suite.get("tests", "0")) == len(cases) == 121
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {"gate", "c001"}
    assert int(suite.get("failures", "0")) == 2
    message = failed["c001"].get("message", "")  # type: ignore[union-attr]
    assert "baseline: 3/3 passed" in message and "candidate: 0/3 passed" in message
    assert failed["gate"].get("type") == "STRICT_REGRESSION"  # type: ignore[union-attr]
    invoke(["eval-gate", evals["base"], evals["swap"], "--junit", str(out)], expect=3)
    gate = next(c for c in ET.parse(out).getroot().findall("testcase") if c.get("name") == "gate")
    assert gate.find("skipped") is not None


def test_markdown_summary_and_step_summary(tmp_path: Path, evals: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    md = tmp_path / "summary.md"
    invoke(["eval-gate", evals["base"], evals["regression"], "--markdown", str(md)], expect=1)
    text = md.read_text()
    assert "rollctl eval-gate: **FAIL**" in text
    assert "| baseline | `main` |" in text and "| candidate | `pr-483` |" in text
    assert "Regressions (15)" in text and "`c031`" in text
    assert "detects only drops of" in text and "needs about" in text
    step = tmp_path / "step.md"
    step.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    invoke(["eval-gate", evals["base"], evals["improved"]], expect=0)
    appended = step.read_text()
    assert appended.startswith("# earlier step\n") and "**PASS**" in appended


def test_terminal_output(evals: dict[str, str]) -> None:
    out = invoke(["eval-gate", evals["base"], evals["swap"], "--strict"], expect=1)
    assert "FAIL" in out.stdout and "strict mode" in out.stdout
    assert "regressions (1)" in out.stdout and "c001" in out.stdout
    assert "detects only drops of" in out.stdout
    assert out.stderr == ""


def test_json_is_one_object_and_complete(evals: dict[str, str]) -> None:
    result = invoke(["eval-gate", evals["base"], evals["regression"], "--json"], expect=1)
    data = json.loads(result.stdout)
    for key in ("schema_version", "verdict", "exit_code", "reasons", "n_cases", "baseline", "candidate",
                "difference", "p_value", "regressions", "fixes", "flaky", "mde", "transitions", "power"):
        assert key in data
    assert data["baseline"]["pass_rate"] == pytest.approx(np.mean([sum(v) / 3 for v in base_outcomes().values()]))
    assert math.isfinite(data["baseline"]["ci_low"])
    assert result.stderr == ""


def test_rows_without_repeat_index_are_read_as_repeats(tmp_path: Path) -> None:
    base = [{"case_id": f"c{i}", "variant": "a", "passed": i % 4 != 0} for i in range(30) for _ in range(2)]
    cand = [{"case_id": f"c{i}", "variant": "b", "passed": i % 4 != 0} for i in range(30) for _ in range(2)]
    p_b, p_c = write_jsonl(tmp_path / "b.jsonl", base), write_jsonl(tmp_path / "c.jsonl", cand)
    data = invoke(["eval-gate", str(p_b), str(p_c), "--json", "--margin", "0.2"], expect=0).json()
    assert data["baseline"]["repeats_max"] == 2 and data["baseline"]["observations"] == 60
    assert "IMPLICIT_REPEATS" in [n["code"] for n in data["notes"]]


def test_ingested_database_in_one_file_mode(tmp_path: Path) -> None:
    base = base_outcomes(30)
    path = str(write_jsonl(tmp_path / "all.jsonl", rows("main", base) + rows("pr", flip(base, ["c001"]))))
    db = str(tmp_path / "evals.duckdb")
    invoke(["ingest", path, "--db", db], expect=0)
    data = invoke(["eval-gate", db, "--baseline", "main", "--candidate", "pr", "--json"]).json()
    assert data["regressions"] == ["c001"] and data["n_cases"] == 30
    err = invoke(["eval-gate", db, path], expect=2)
    assert "one-file mode" in err.stderr


SAMPLE_EVALS = Path(__file__).resolve().parent.parent / "sample_traces" / "evals"


@pytest.mark.skipif(not (SAMPLE_EVALS / "baseline.jsonl").exists(), reason="sample_traces/ not generated yet")
@pytest.mark.parametrize(
    ("candidate", "extra", "code", "first_reason"),
    [
        ("candidate_improved.jsonl", [], 0, "NON_INFERIOR"),
        ("candidate_swap.jsonl", ["--strict"], 1, "STRICT_REGRESSION"),
        ("candidate_swap.jsonl", ["--strict-tag", "high_stakes"], 1, "STRICT_REGRESSION"),
        ("candidate_swap.jsonl", ["--margin", "0.05"], 0, "NON_INFERIOR"),
        ("candidate_regression.jsonl", [], 1, "SIGNIFICANTLY_WORSE"),
    ],
)
def test_readme_examples_on_sample_evals(candidate: str, extra: list[str], code: int, first_reason: str) -> None:
    data = invoke(["eval-gate", str(SAMPLE_EVALS / "baseline.jsonl"), str(SAMPLE_EVALS / candidate), "--json",
                   *extra], expect=code).json()
    assert data["reasons"][0]["code"] == first_reason
    assert data["n_cases"] == 120
    if candidate == "candidate_regression.jsonl":
        codes = [r["code"] for r in data["reasons"]]
        assert codes == ["SIGNIFICANTLY_WORSE", "MORE_ERRORS", "MISSING_CASES"]

"""Platform exports work with the analysis commands, not only with inspect: same adapters, same loader."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO_ROOT, invoke

DATA = REPO_ROOT / "tests" / "data"


def _braintrust_experiment(tmp_path: Path, name: str) -> Path:
    """A second Braintrust experiment: the same events under another experiment name."""
    out = tmp_path / f"{name}.jsonl"
    lines = (DATA / "braintrust" / "experiment.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [{**json.loads(line), "experiment_name": name, "experiment_id": f"exp-{name}"} for line in lines]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


def test_braintrust_experiments_through_eval_gate(tmp_path: Path) -> None:
    baseline = DATA / "braintrust" / "experiment.jsonl"
    candidate = _braintrust_experiment(tmp_path, "pr")
    data = invoke(["eval-gate", str(baseline), str(candidate), "--json", "--margin", "0.05"]).json()
    assert data["n_cases"] == 2
    assert data["baseline"]["pass_rate"] == data["candidate"]["pass_rate"]
    assert data["regressions"] == [] and data["exit_code"] in (0, 3)


def test_mtbench_judgements_through_shadow_report(tmp_path: Path) -> None:
    """MT-Bench pairwise files feed shadow-report's judge statistics when paired with trace rows."""
    rows = []
    for qid, turn in ((81, 1), (81, 2), (82, 1)):
        request = str(qid) if turn == 1 else f"{qid}:turn{turn}"
        for variant, served, output in (("gpt-3.5-turbo", True, "a short answer"), ("vicuna-13b", False, "a reply")):
            rows.append({"request_id": request, "user_id": f"u{qid}", "timestamp": "2026-11-12T10:00:00Z",
                         "variant": variant, "served": served, "output": output})
    traces = tmp_path / "pairs.jsonl"
    traces.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = invoke(["shadow-report", str(traces), "--judgements", str(DATA / "mtbench" / "gpt-4_pair.jsonl"),
                     "--baseline", "gpt-3.5-turbo", "--candidate", "vicuna-13b", "--json"])
    assert result.exit_code in (0, 1, 3), result.stderr
    judge = result.json()["judge"]
    assert judge["wins"] + judge["ties"] + judge["losses"] + judge["errors"] >= 1


def test_otel_spans_reach_power_from_traces() -> None:
    """The OTel fixture loads through power's loader; three spans carry no variance to plan with, and say so."""
    result = invoke(["power", "--from-traces", str(DATA / "otel" / "export.jsonl"), "--metric-name", "error_rate",
                     "--mde", "0.5", "--relative", "--canary-percent", "5", "--json"], expect=2)
    assert "no variance to plan with" in result.json()["reasons"][0]["message"]
    assert "no variance to plan with" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

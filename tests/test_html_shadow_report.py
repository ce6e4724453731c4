"""`rollctl shadow-report --html`: sections, numbers equal to --json, example outputs diffed, hostile text inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollctl.render.jsonout import round_significant
from tests.browser import View, check_in_browser
from tests.conftest import invoke, write_jsonl
from tests.html_parse import parse_report
from tests.shadow_fixtures import eval_rows, make_pairs
from tests.test_html_inspect import HOSTILE, _assert_inert


def _num(value: str | None) -> float | None:
    """The report's number as --json prints it (12 significant digits)."""
    return None if value in (None, "") else round_significant(float(value))


def _run(tmp_path: Path, rows: list[dict[str, object]], name: str = "pairs.jsonl") -> tuple[object, dict, Path]:
    pairs = write_jsonl(tmp_path / name, rows)
    evals = write_jsonl(tmp_path / "evals.jsonl", eval_rows())
    out = tmp_path / "shadow.html"
    args = ["shadow-report", str(pairs), "--baseline", "control", "--candidate", "treatment", "--eval-set",
            str(evals), "--segment-by", "metadata.intent", "--html", str(out)]
    data = invoke([*args, "--json"]).json()
    return parse_report(out), data, out


def test_shadow_report_html_matches_json(tmp_path: Path) -> None:
    parsed, data, _ = _run(tmp_path, make_pairs(400, missing_candidate=3, candidate_timeouts=2))
    assert {"verdict", "inputs", "judge", "segments-section", "tails-section", "metrics-section", "examples",
            "pairing-section"} <= parsed.ids
    assert parsed.verdict == data["verdict"].upper()
    assert parsed.reasons == [r["code"] for r in data["reasons"]]
    judge = parsed.table_values("judges")[0]
    j = data["judge"]
    assert judge[0] == j["judge"] and _num(judge[6]) == j["win_rate"]
    assert [_num(x) for x in str(judge[7]).split()] == [j["ci_low"], j["ci_high"]]
    assert _num(judge[8]) == j["length_controlled_win_rate"]
    segments = {r[0]: r for r in parsed.table_values("segments")}
    for s in data["segments"]:
        row = segments[s["segment"]]
        assert _num(row[1]) == s["pairs"] and _num(row[6]) == s["win_rate"] and (row[9] == "loses") == s["loses"]
    tails = {r[0]: r for r in parsed.table_values("tails")}
    for t in data["tails"]:
        assert _num(tails[t["name"]][6]) == t["delta"] and _num(tails[t["name"]][4]) == t["new_only"]
    metrics = {r[0]: r for r in parsed.table_values("metrics")}
    assert _num(metrics["latency"][4]) == data["latency"]["delta"]
    assert _num(metrics["cost"][2]) == data["cost"]["baseline_mean"]
    seg_chart = parsed.chart("segment-chart")["data"][0]
    assert [_num(str(x)) for x in seg_chart["x"]] == [s["win_rate"] for s in data["segments"]]
    assert {"metric-latency", "metric-cost", "judge-chart", "tail-chart"} <= set(parsed.charts)
    # Every example is shown, with both outputs reassembled from the diff spans.
    for e in data["examples"]:
        assert e["request_id"] in parsed.all_text
        assert e["baseline_output"] in parsed.all_text and e["candidate_output"] in parsed.all_text


def test_shadow_report_hostile_outputs_inputs_ids_and_segments_are_inert(tmp_path: Path) -> None:
    names = list(HOSTILE.values())
    rows = make_pairs(300)
    for i, row in enumerate(rows):
        h = names[i % len(names)]
        row["request_id"] = f"{h}{i}"
        row["user_id"] = h
        row["input"] = h
        row["metadata"] = {"intent": names[i % 2] if i % 5 == 0 else row["metadata"]["intent"]}
        row["baseline"]["output"] = f"{h} baseline {i}"
        if row["candidate"] and row["candidate"].get("output"):
            row["candidate"]["output"] = f"{h} candidate {i} {names[(i + 1) % 4]}"
        row["baseline"]["model"] = h
        for j in row["judgements"]:
            j["judge"] = names[0]
    parsed, data, out = _run(tmp_path, rows, name=f"{HOSTILE['img']}.jsonl")
    page = out.read_text(encoding="utf-8")
    _assert_inert(parsed, page)
    assert data["examples"], "the fixture should produce example pairs to show"
    for e in data["examples"]:
        assert e["baseline_output"] in parsed.all_text and e["candidate_output"] in parsed.all_text
    assert names[0] in parsed.all_text  # judge name shown as text
    assert any(r[0] in (names[0], names[1]) for r in parsed.table_values("segments"))


@pytest.mark.browser
def test_shadow_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    from tests.shadow_fixtures import eval_rows, make_pairs

    pairs = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(400, missing_candidate=3, candidate_timeouts=2))
    evals = write_jsonl(tmp_path / "evals.jsonl", eval_rows())
    report = tmp_path / "shadow.html"
    invoke(["shadow-report", str(pairs), "--baseline", "control", "--candidate", "treatment", "--eval-set",
            str(evals), "--segment-by", "metadata.intent", "--html", str(report)])
    [probe] = check_in_browser(chromium, report, tmp_path, View("shadow_report", size="1280,4000"))
    assert probe["plots"] >= 4


def test_quantiles_are_drawn_as_separate_bars_not_a_line(tmp_path: Path) -> None:
    """p50, p95 and p99 are three summaries: a line through them would draw a distribution never measured."""
    from tests.conftest import SAMPLE_TRACES

    out = tmp_path / "shadow.html"
    invoke(["shadow-report", str(SAMPLE_TRACES / "shadow" / "pairs.jsonl.gz"), "--baseline", "control",
            "--candidate", "treatment", "--html", str(out)])
    latency = parse_report(out).chart("metric-latency")
    assert {trace["type"] for trace in latency["data"]} == {"bar"}
    assert latency["data"][0]["x"] == ["p50", "p95", "p99"]

"""`rollctl inspect --html`: the report a user opens, parsed back; its numbers are the --json numbers; hostile
trace text stays text everywhere (page, tables, reasons, chart payloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollctl.render.html import plot_text
from tests.conftest import invoke, trace_row, write_jsonl
from tests.html_parse import ParsedReport, parse_report

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '"><img src=x onerror=alert(1)>',
    "close": "</script><script>alert(2)</script>",
    "linesep": "a\u2028b\u2029c",
}


def _num(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def _render(tmp_path: Path, *paths: Path) -> tuple[ParsedReport, dict[str, Any], str]:
    out = tmp_path / "out" / "inspect.html"
    result = invoke(["inspect", *map(str, paths), "--html", str(out), "--json"], expect=0)
    data = result.json()  # stdout stays one JSON object with --html
    assert f"HTML report: {out}" in result.stderr
    page = out.read_text(encoding="utf-8")
    return parse_report(page), data, page


def test_inspect_report_sections_and_numbers_match_json(tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "traces.jsonl",
                         [trace_row(i, "control" if i % 2 else "treatment", served=i % 5 != 0) for i in range(40)])
    evals = write_jsonl(tmp_path / "evals.jsonl", [
        {"case_id": f"c{i}", "variant": "main", "repeat": r, "passed": (i + r) % 3 != 0, "score": 0.5,
         "tags": ["intent:a"], "error": None}
        for i in range(10) for r in range(2)
    ])
    parsed, data, _ = _render(tmp_path, traces, evals)
    assert {"verdict", "inputs", "traces", "coverage", "eval-results"} <= parsed.ids
    assert parsed.verdict == "INSPECT"
    # Inputs: one row per file with its row count.
    files = parsed.table_values("input-files")
    assert [(r[0], _num(r[3])) for r in files] == [(f["path"], sum(f["rows"].values())) for f in data["files"]]
    # Overview and variants: every number equals the JSON.
    overview = {r[0]: _num(r[1]) for r in parsed.table_values("overview")}
    t = data["traces"]
    assert overview == {"rows": t["rows"], "users": t["users"], "sessions": t["sessions"],
                        "served rows": t["served_rows"], "shadow rows": t["shadow_rows"],
                        "hours covered": t["hours"], "full days": t["full_days"],
                        "calendar days": t["calendar_days"], "duplicate request ids": t["duplicate_request_ids"]}
    variants = parsed.table_values("variants")
    assert [[r[0], *map(_num, r[1:5])] for r in variants] == [
        [v["variant"], v["rows"], v["served_rows"], v["shadow_rows"], v["users"]] for v in t["variants"]]
    coverage = parsed.table_values("coverage-traces")
    assert [(r[0], _num(r[1]), _num(r[2])) for r in coverage] == [
        (c["name"], c["rows_with_value"], c["share"]) for c in t["coverage"]]
    evals_rows = parsed.table_values("evals")
    assert [[r[0], *map(_num, r[1:])] for r in evals_rows] == [
        [v["variant"], v["rows"], v["cases"], v["repeats"], v["passed_rows"], v["error_rows"]]
        for v in data["evals"]["variants"]]
    # The charts carry the same numbers.
    chart = parsed.chart("variant-chart")
    served = next(tr for tr in chart["data"] if tr["name"] == "served")
    assert served["y"] == [v["served_rows"] for v in t["variants"]]
    cov_chart = parsed.chart("coverage-chart")
    assert cov_chart["data"][0]["x"] == [c["share"] for c in t["coverage"]]


def test_inspect_report_lists_every_warning_as_a_reason(tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "t.jsonl", [trace_row(i, model="gpt-4o") for i in range(5)])
    parsed, data, _ = _render(tmp_path, traces)
    assert parsed.reasons == [w["code"] for w in data["warnings"]]
    assert "UNPINNED_MODEL" in parsed.reasons


def test_html_to_a_directory_is_a_usage_error(tmp_path: Path, traces_file: Path) -> None:
    result = invoke(["inspect", str(traces_file), "--html", str(tmp_path)], expect=2)
    assert "--html" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _hostile_inputs(tmp_path: Path) -> list[Path]:
    rows = []
    names = list(HOSTILE.values())
    for i in range(24):
        h = names[i % len(names)]
        rows.append(trace_row(
            i, variant=names[i % 2], model=h, prompt_version=h, user_id=h + str(i % 3), input=h, output=h,
            tags=[h], metadata={"intent": h}, request_id=h if i < 2 else f"r{i}",
        ))
    rows.append(trace_row(99, variant=names[0], request_id=names[0]))  # duplicate id → a warning quoting it
    traces = write_jsonl(tmp_path / f"{HOSTILE['img']}.jsonl", rows)
    evals = write_jsonl(tmp_path / "<script>alert(3)<.jsonl", [
        {"case_id": h, "variant": names[2], "repeat": 0, "passed": True, "tags": [h], "cluster": h, "error": None}
        for h in names
    ])
    judgements = write_jsonl(tmp_path / "judgements.jsonl", [
        {"request_id": h, "judge": h, "order": "baseline_first", "winner": "baseline"} for h in names
    ])
    return [traces, evals, judgements]


def _assert_inert(parsed: ParsedReport, page: str) -> None:
    assert [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed", "svg", "a", "form")] == []
    script_tags = [dict(a) for t, a in parsed.tags if t == "script"]
    assert len([a for a in script_tags if not a]) == 2  # the plotly bundle and our boot script
    assert all(a == {} or (a.get("type") == "application/json" and a.get("data-chart")) for a in script_tags)
    assert all(not name.startswith("on") for _, attrs in parsed.tags for name, _ in attrs)
    for text in HOSTILE.values():
        if "<" in text:
            assert text not in page, f"{text!r} reached the page unescaped"
    for chart_id, payload in parsed.charts.items():
        for forbidden in ("<", ">", "\u2028", "\u2029"):
            assert forbidden not in payload, f"chart {chart_id} payload holds {forbidden!r}"
        json.loads(payload)


def test_hostile_trace_text_is_inert_everywhere(tmp_path: Path) -> None:
    parsed, data, page = _render(tmp_path, *_hostile_inputs(tmp_path))
    _assert_inert(parsed, page)
    text = parsed.all_text
    # Shown as text, not dropped: file names, variants, models, prompt versions, judges, eval variants, reasons.
    for value in HOSTILE.values():
        assert value in text
    assert HOSTILE["img"] + ".jsonl" in text
    assert any(r[0] == HOSTILE["close"] for r in parsed.table_values("evals"))
    assert {r[0] for r in parsed.table_values("judgements")} == set(HOSTILE.values())
    assert "DUPLICATE_REQUEST_IDS" in parsed.reasons and "UNPINNED_MODEL" in parsed.reasons
    # Chart labels and hover text hold the plotly-escaped strings, never the raw ones.
    chart = parsed.chart("variant-chart")
    labels = chart["data"][0]["x"] + chart["data"][0]["hovertext"]
    assert plot_text(HOSTILE["script"]) in labels
    assert all("<" not in label for label in labels)
    assert {v["variant"] for v in data["traces"]["variants"]} == {HOSTILE["script"], HOSTILE["img"]}


@pytest.mark.parametrize("name", ["report.html", "nested/dir/report.html"])
def test_report_path_parents_are_created(tmp_path: Path, traces_file: Path, name: str) -> None:
    invoke(["inspect", str(traces_file), "--html", str(tmp_path / name)], expect=0)
    assert (tmp_path / name).stat().st_size > 1_000_000  # the plotly bundle is inside


def test_the_banner_carries_the_answer(tmp_path: Path, report_contexts: dict[str, Any]) -> None:
    """inspect and power have no verdict: their banner says what was found (rows, users, arms, span) and what the
    plan needs, instead of just the command's name."""
    from rollctl.render.html import render_report

    for kind in ("inspect", "power"):
        page = render_report(kind, report_contexts[kind])
        banner = page.split('<section id="verdict"', 1)[1].split("</section>", 1)[0]
        assert 'id="headline"' in banner, kind
        headline = report_contexts[kind].headline
        assert headline and headline in banner.replace("&gt;", ">").replace("&#39;", "'"), kind
    assert "trace rows from" in report_contexts["inspect"].headline

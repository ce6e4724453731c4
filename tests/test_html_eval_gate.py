"""`rollctl eval-gate --html`: sections, numbers equal to --json, hostile case ids / tags / names inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollctl.render.jsonout import round_significant
from tests.browser import View, check_in_browser
from tests.conftest import invoke
from tests.html_parse import parse_report
from tests.test_cli_eval_gate import REGRESSED, base_outcomes, flip, write
from tests.test_html_inspect import HOSTILE, _assert_inert


def _num(value: str | None) -> float | None:
    """The report's number as --json prints it (12 significant digits)."""
    return None if value in (None, "") else round_significant(float(value))


@pytest.mark.parametrize(("flipped", "code"), [(REGRESSED, 1), ([f"c{i:03d}" for i in range(0, 120, 10)], 0)])
def test_eval_gate_report_matches_json(tmp_path: Path, flipped: list[str], code: int) -> None:
    base = base_outcomes()
    a = write(tmp_path, "base.jsonl", "main", base)
    b = write(tmp_path, "cand.jsonl", "pr-9", flip(base, flipped), errors={"c002": 1} if code else None)
    out = tmp_path / "gate.html"
    result = invoke(["eval-gate", a, b, "--html", str(out), "--json"], expect=code)
    data = result.json()
    parsed = parse_report(out)
    assert {"verdict", "inputs", "pass-rates", "transitions-section", "cases", "power-section"} <= parsed.ids
    assert parsed.verdict == data["verdict"].upper()
    assert parsed.reasons == [r["code"] for r in data["reasons"]]
    arms = parsed.table_values("arms")
    for row, arm in zip(arms, (data["baseline"], data["candidate"]), strict=True):
        assert row[0] == arm["name"]
        assert [_num(row[1]), _num(row[2])] == [arm["cases"], arm["observations"]]
        assert _num(row[4]) == arm["pass_rate"]
        assert [_num(x) for x in str(row[5]).split()] == [arm["ci_low"], arm["ci_high"]]
        assert [_num(v) for v in row[6:11]] == [arm[k] for k in ("stable_pass", "stable_fail", "flaky", "missing",
                                                                  "errors")]
    diff = parsed.table_values("difference")[0]
    d = data["difference"]
    assert _num(diff[1]) == d["estimate"] and _num(diff[3]) == d["lower_bound"] and _num(diff[5]) == d["p_value"]
    matrix = parsed.table_values("transitions")
    assert {r[0]: [_num(v) for v in r[1:]] for r in matrix} == {
        k: list(v.values()) for k, v in data["transitions"].items()}
    cells = parsed.chart("transition-chart")["data"][0]
    assert list(zip(cells["y"], cells["x"], cells["text"], strict=True)) == [
        (row, column, f"{count:,}") for row, counts in data["transitions"].items() for column, count in counts.items()
        if count is not None]
    assert [r[0] for r in parsed.table_values("changed-cases")] == [c["case_id"] for c in data["changed_cases"]]
    assert f"({data['changed_cases_total']})" in parsed.all_text
    forest = parsed.chart("pass-rate-chart")["data"][0]
    assert [_num(str(x)) for x in forest["x"]] == [data["baseline"]["pass_rate"], data["candidate"]["pass_rate"]]


def test_eval_gate_report_hostile_text_is_inert(tmp_path: Path) -> None:
    names = list(HOSTILE.values())
    base = {f"{names[i % 4]}{i}": [i % 5 != 0] * 2 for i in range(40)}
    cand = {k: ([not v[0]] * 2 if i % 7 == 0 else v) for i, (k, v) in enumerate(base.items())}
    tags = {k: [names[i % 4]] for i, k in enumerate(base)}
    a = write(tmp_path, f"{HOSTILE['img']}.jsonl", HOSTILE["script"], base, tags=tags)
    b = write(tmp_path, "cand.jsonl", HOSTILE["close"], cand, tags=tags)
    out = tmp_path / "gate.html"
    invoke(["eval-gate", a, b, "--html", str(out)])
    page = out.read_text(encoding="utf-8")
    parsed = parse_report(page)
    _assert_inert(parsed, page)
    assert HOSTILE["script"] in parsed.all_text and HOSTILE["close"] in parsed.all_text
    assert any(HOSTILE["img"] in r[0] for r in parsed.table_values("changed-cases"))


@pytest.mark.browser
def test_eval_gate_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    from tests.test_cli_eval_gate import REGRESSED, base_outcomes, flip, write

    base = base_outcomes()
    a = write(tmp_path, "base.jsonl", "main", base)
    b = write(tmp_path, "cand.jsonl", "pr-483", flip(base, REGRESSED), errors={"c002": 1})
    report = tmp_path / "eval_gate.html"
    invoke(["eval-gate", a, b, "--html", str(report)], expect=1)
    [probe] = check_in_browser(chromium, report, tmp_path, View("eval_gate", size="1280,2600"))
    assert probe["plots"] == 3


def test_transition_matrix_colours_regressions_and_fixes_apart_from_unchanged_cells() -> None:
    """A regression (pass → fail) must not look like fail → fail: red for worse, green for better, whatever the
    count."""
    from rollctl.render.charts import TONES, heatmap_chart

    chart = heatmap_chart("m", "m", "", rows=["pass", "fail", "flaky"], columns=["pass", "fail"],
                          values=[[50, 1], [2, 50], [0, 0]], x_title="c", y_title="b",
                          tones=[[None, "worse"], ["better", None], ["worse", "better"]])
    import json

    cells = json.loads(str(chart.payload).replace("\\u003c", "<").replace("\\u003e", ">"))["data"][0]
    colour = {(y, x): c for y, x, c in zip(cells["y"], cells["x"], cells["marker"]["color"], strict=True)}
    assert colour[("pass", "fail")] == TONES["worse"] and colour[("fail", "pass")] == TONES["better"]
    assert colour[("pass", "pass")] == colour[("fail", "fail")] not in TONES.values()
    assert colour[("flaky", "pass")] not in TONES.values()  # no case changed that way: no colour for it

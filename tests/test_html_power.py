"""`rollctl power --html`: the plan and the power curve, numbers equal to --json; the page opens in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollctl.render.jsonout import round_significant
from tests.browser import View, check_in_browser
from tests.conftest import invoke
from tests.html_parse import parse_report

ARGS = ["power", "--metric", "proportion", "--baseline-rate", "0.08", "--mde", "0.2", "--relative", "--sides", "1",
        "--sequential", "--daily-users", "20000", "--canary-percent", "5"]


def _num(value: str | None) -> float | None:
    """The report's number as --json prints it (12 significant digits)."""
    return None if value in (None, "") else round_significant(float(value))


def test_power_report_matches_json(tmp_path: Path) -> None:
    out = tmp_path / "power.html"
    data = invoke([*ARGS, "--html", str(out), "--json"], expect=0).json()
    parsed = parse_report(out)
    assert {"verdict", "inputs", "headline", "plan-section", "curve-section", "inflation-section"} <= parsed.ids
    assert parsed.reasons == [r["code"] for r in data["reasons"]]
    plan = {r[0]: _num(r[1]) for r in parsed.table_values("plan")}
    assert plan["treatment users"] == data["n_per_arm"]["treatment"]
    assert plan["control users"] == data["n_per_arm"]["control"]
    assert plan["MDE (absolute)"] == data["mde"]["absolute"] and plan["days"] == data["days"]
    assert plan["naive treatment users"] == data["naive_n_per_arm"]["treatment"]
    curve = parsed.table_values("curve")
    assert [[_num(v) for v in row] for row in curve] == [
        [p["n_total"], p["n_treatment"], p["n_control"], p["days"], p["power"]] for p in data["curve"]]
    chart = parsed.chart("power-users-chart")["data"][0]
    assert chart["x"] == [p["n_total"] for p in data["curve"]]
    assert [_num(str(y)) for y in chart["y"]] == [p["power"] for p in data["curve"]]
    inflation = {r[0]: _num(r[1]) for r in parsed.table_values("inflation")}
    assert inflation["total"] == data["inflation"]["total"]
    assert {p["name"]: p["factor"] for p in data["inflation"]["parts"]}.items() <= inflation.items()
    assert "4,643 treatment" in parsed.all_text


@pytest.mark.browser
def test_power_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    report = tmp_path / "power.html"
    invoke([*ARGS, "--html", str(report)], expect=0)
    [probe] = check_in_browser(chromium, report, tmp_path, View("power", size="1280,2600"))
    assert probe["plots"] == 3


def test_power_report_from_traces_shows_their_time_range(tmp_path: Path) -> None:
    """A plan measured on a week of traces says which week, not "no timestamps"."""
    from tests.conftest import SAMPLE_TRACES

    out = tmp_path / "plan.html"
    data = invoke(["power", "--from-traces", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"), "--metric-name",
                   "thumbs_down_rate", "--canary-percent", "5", "--mde", "0.2", "--relative", "--sides", "1",
                   "--html", str(out), "--json"], expect=0).json()
    first, last = data["estimates"]["first"], data["estimates"]["last"]
    assert first < last and first.startswith("2026-11-16")
    page = out.read_text(encoding="utf-8")
    assert f"{first} → {last}" in page and "no timestamps" not in page

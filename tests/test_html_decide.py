"""`rollctl decide --html`: metrics against tolerances, confidence sequences, traffic, SRM; numbers equal --json."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollctl.render.jsonout import round_significant
from tests.browser import View, check_in_browser
from tests.conftest import invoke
from tests.decide_sim import trace_table, write_parquet
from tests.html_parse import parse_report
from tests.test_cli_decide import PLAN


def _num(value: str | None) -> float | None:
    """The report's number as --json prints it (12 significant digits)."""
    return None if value in (None, "") else round_significant(float(value))


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("decide_html")
    plan = d / "plan.toml"
    plan.write_text(PLAN.format(stage=50), encoding="utf-8")
    data = write_parquet(trace_table(2, users=4000, percent=50, lift_thumbs=1.5, lift_error=4.0), d / "bad.parquet")
    return data, plan


def test_decide_report_matches_json(canary: tuple[Path, Path], tmp_path: Path) -> None:
    data_path, plan = canary
    out = tmp_path / "decide.html"
    data = invoke(["decide", str(data_path), "--plan", str(plan), "--html", str(out), "--json"], expect=1).json()
    parsed = parse_report(out)
    assert {"verdict", "inputs", "next-step", "metrics-section", "sequences-section", "traffic-section",
            "checks-section"} <= parsed.ids
    assert parsed.verdict == "ROLLBACK"
    assert parsed.reasons == [r["code"] for r in data["reasons"]]
    assert data["plan"]["sha256"] in parsed.all_text
    # decide does not know its files' formats or row counts: those columns are left out, never shown blank.
    assert [len(row) for row in parsed.table_values("input-files")] == [2]
    metrics = {r[0]: r for r in parsed.table_values("metrics")}
    for m in data["metrics"]:
        row = metrics[m["name"]]
        value = m["relative_estimate"] if m["scale"] == "relative" else m["estimate"]
        assert _num(row[5]) == value
        assert [_num(x) for x in str(row[6]).split()] == [m["ci_low"], m["ci_high"]]
        assert row[8].startswith(m["status"])
    sequences = parsed.table_values("sequences")
    expected = [(m["name"], p["day"], p["estimate"]) for m in data["metrics"] for p in m["sequence"]]
    assert [(r[0], r[1], _num(r[4])) for r in sequences] == expected
    traffic = parsed.table_values("traffic")
    assert [(r[0], r[1], _num(r[3])) for r in traffic] == [(t["day"], t["variant"], t["new_units"])
                                                           for t in data["traffic"]]
    srm = {r[0]: _num(r[1]) for r in parsed.table_values("srm")}
    assert srm["p value"] == data["srm"]["p_value"]
    assert [r[0] for r in parsed.table_values("checks")] == [c["code"] for c in data["checks"]]
    assert {"metrics-relative-chart", "traffic-chart"} <= set(parsed.charts)


@pytest.mark.browser
def test_decide_report_in_chromium(chromium: str, canary: tuple[Path, Path], tmp_path: Path) -> None:
    data_path, plan = canary
    report = tmp_path / "decide.html"
    invoke(["decide", str(data_path), "--plan", str(plan), "--html", str(report)], expect=1)
    [probe] = check_in_browser(chromium, report, tmp_path, View("decide", size="1280,4200"))
    assert probe["plots"] >= 4

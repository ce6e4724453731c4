"""The shared chart shapes: numbers carried as given, None as a gap, every label escaped; all draw in Chromium."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rollctl.render.charts import bar_chart, heatmap_chart, interval_chart, line_chart
from rollctl.render.html import Chart, ReportInputs, ReportMeta, environment, render_template, report_meta
from rollctl.render.jsonout import round_significant
from tests.html_parse import parse_report

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '"><img src=x onerror=alert(1)>'


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Every chart shape on one page (test only)."""

    meta: ReportMeta = dataclasses.field(metadata={"help": "header"})
    charts: tuple[Chart, ...] = dataclasses.field(metadata={"help": "charts"})


def gallery() -> Gallery:
    charts = (
        interval_chart("forest", EVIL, EVIL_IMG, labels=[EVIL, "latency"], estimates=[0.03, None],
                       lows=[0.01, None], highs=[0.05, None], axis_title=EVIL, pct=True, tolerances=[0.02, 0.1],
                       hover=[EVIL_IMG, "x"]),
        bar_chart("bars", "bars", "", categories=["2026-11-16", EVIL], series={EVIL_IMG: [10, 12], "b": [3, None]},
                  axis_title="users", errors={"b": ([2, None], [4, None])}),
        line_chart("lines", "lines", "", x=["d1", "d2", "d3"], series={EVIL: [0.1, 0.05, 0.02]},
                   bands={EVIL: ([0.0, 0.01, 0.0], [0.2, 0.09, 0.04])}, axis_title="delta",
                   hlines={EVIL_IMG: 0.03}, reference=0.0),
        heatmap_chart("matrix", "matrix", "", rows=["pass", EVIL], columns=["pass", "fail"],
                      values=[[100, 2], [5, None]], x_title="candidate", y_title="baseline"),
    )
    meta = report_meta(title=EVIL, command="gallery", verdict="hold", exit_code=3, reasons=(),
                       inputs=ReportInputs(files=(), row_counts=(), first=None, last=None, plan=None, plan_hash=None))
    return Gallery(meta=meta, charts=charts)


GALLERY_TEMPLATE = ('{% extends "_base.html" %}{% import "_chart.html" as c %}'
                    '{% block content %}{% for x in report.charts %}{{ c.chart(x) }}{% endfor %}{% endblock %}')


def render_gallery(path: Path) -> Path:
    path.write_text(render_template(environment().from_string(GALLERY_TEMPLATE), gallery()), encoding="utf-8")
    return path


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_chart_payloads_escape_every_label_and_keep_numbers(tmp_path: Path) -> None:
    parsed = parse_report(render_gallery(tmp_path / "g.html"))
    assert set(parsed.charts) == {"forest", "bars", "lines", "matrix"}
    for chart_id in parsed.charts:
        figure = parsed.chart(chart_id)
        for text in _strings(figure):
            assert "<script" not in text and "<img" not in text, (chart_id, text)
    forest = parsed.chart("forest")["data"][0]
    assert forest["x"] == [0.03, None]  # None is a gap, not a zero
    assert forest["error_x"]["array"][0] == round_significant(0.05 - 0.03)
    assert forest["error_x"]["arrayminus"][1] is None
    assert forest["y"][0] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    bars = parsed.chart("bars")["data"]
    assert bars[1]["y"] == [3, None]
    matrix = parsed.chart("matrix")
    cells = matrix["data"][0]
    assert cells["type"] == "scatter"  # the reports inline plotly's basic bundle: scatter and bar only
    assert list(zip(cells["y"], cells["x"], cells["text"], strict=True)) == [
        ("pass", "pass", "100"), ("pass", "fail", "2"), ("&lt;script&gt;alert(1)&lt;/script&gt;", "pass", "5")]
    assert matrix["layout"]["xaxis"]["categoryarray"] == ["pass", "fail"]  # the empty cell keeps its column
    # The page title (a hostile string here too) is text.
    assert EVIL in parsed.all_text


def test_reports_use_only_the_traces_of_the_inlined_bundle_which_matches_plotly(tmp_path: Path) -> None:
    """The vendored basic bundle draws scatter, bar and pie only; it is the version the plotly package ships."""
    import re

    from plotly.offline import get_plotlyjs

    from rollctl.render.html import _plotly_js

    version = re.compile(r"plotly\.js \(?[a-z -]*\)? ?v(\d+\.\d+\.\d+)")
    assert version.search(_plotly_js()[:300]).group(1) == version.search(get_plotlyjs()[:300]).group(1)  # type: ignore[union-attr]
    parsed = parse_report(render_gallery(tmp_path / "g.html"))
    kinds = {trace.get("type", "scatter") for chart_id in parsed.charts for trace in parsed.chart(chart_id)["data"]}
    assert kinds <= {"scatter", "bar", "pie"}

"""The HTML report machinery: number filters, script-safe chart JSON, text diffs, and the context contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from jinja2 import StrictUndefined, UndefinedError

from rollctl.render.html import (
    Chart,
    ReportInputs,
    environment,
    fmt_ci,
    fmt_duration,
    fmt_num,
    fmt_pct,
    fmt_pvalue,
    json_for_script,
    plot_text,
    render_report,
    report_meta,
    text_diff,
)
from rollctl.render.reports import CONTEXTS
from tests.html_parse import parse_report

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "line\u2028sep\u2029para",
    "<!-- <script>",
    "a & b ' \"",
]


@pytest.mark.parametrize(("func", "args", "expected"), [
    (fmt_num, (1234567,), "1,234,567"),
    (fmt_num, (0.012345,), "0.0123"),
    (fmt_num, (2.5, 2), "2.50"),
    (fmt_num, (None,), "—"),
    (fmt_num, (float("nan"),), "—"),
    (fmt_num, (True,), "—"),
    (fmt_pct, (0.1234,), "12.3%"),
    (fmt_pct, (0.012, 2, True), "+1.20%"),
    (fmt_pct, (-0.05, 1, True), "-5.0%"),
    (fmt_pct, (float("inf"),), "—"),
    (fmt_ci, ((0.1, 0.25),), "[0.1, 0.25]"),
    (fmt_ci, ((-0.012, 0.034), "pct"), "[-1.2%, +3.4%]"),
    (fmt_ci, ((None, None),), "—"),
    (fmt_ci, ("ab",), "—"),
    (fmt_pvalue, (0.0004,), "p < 0.001"),
    (fmt_pvalue, (0.0312,), "p = 0.031"),
    (fmt_pvalue, (None,), "—"),
    (fmt_duration, (350, "ms"), "350 ms"),
    (fmt_duration, (1.25,), "1.2 s"),
    (fmt_duration, (3 * 3600 + 12 * 60,), "3 h 12 min"),
    (fmt_duration, (150,), "2 min 30 s"),
    (fmt_duration, (96, "h"), "4.0 days"),
])
def test_number_filters(func: Any, args: tuple[Any, ...], expected: str) -> None:
    assert func(*args) == expected


def test_filters_are_registered_on_the_one_environment() -> None:
    env = environment()
    assert env is environment()
    assert env.undefined is StrictUndefined
    assert env.autoescape is True
    for name in ("pct", "num", "ci", "pvalue", "duration"):
        assert name in env.filters
    assert env.from_string("{{ x|pct }} {{ y|pvalue }}").render(x=0.5, y=0.2) == "50.0% p = 0.200"


@pytest.mark.parametrize("text", HOSTILE)
def test_json_for_script_cannot_close_the_element_and_round_trips(text: str) -> None:
    payload = json_for_script({"label": text, "nested": [text]})
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in payload
    assert json.loads(payload) == {"label": text, "nested": [text]}


def test_plot_text_escapes_plotly_pseudo_html() -> None:
    assert plot_text("<b>x</b> & \"y\"") == "&lt;b&gt;x&lt;/b&gt; &amp; \"y\""
    assert plot_text(None) == ""


def test_text_diff_keeps_both_texts_and_marks_changes() -> None:
    d = text_diff("r1", "baseline", "candidate", "The order shipped on Monday.", "The order has not shipped yet.")
    assert "".join(s.text for s in d.left) == "The order shipped on Monday."
    assert "".join(s.text for s in d.right) == "The order has not shipped yet."
    assert {s.op for s in d.left} <= {"equal", "delete", "replace"}
    assert {s.op for s in d.right} <= {"equal", "insert", "replace"}
    assert any(s.op == "insert" and "not" in s.text for s in d.right)
    assert d.left[0].op == d.right[0].op == "equal" and d.right[0].text == "The order "


def test_text_diff_is_bounded() -> None:
    d = text_diff("r", "a", "b", "x" * 10_000, "y", limit=100)
    assert d.truncated
    assert sum(len(s.text) for s in d.left) == 100


@pytest.mark.parametrize("text", HOSTILE)
def test_diff_partial_shows_hostile_outputs_as_text(text: str) -> None:
    d = text_diff(text, text, "candidate", f"ok {text}", f"{text} changed")
    page = environment().from_string('{% import "_diff.html" as d %}{{ d.diff(x) }}').render(x=d)
    parsed = parse_report(page)
    assert [t for t, _ in parsed.tags if t in ("script", "img")] == []
    assert all(not name.startswith("on") for _, attrs in parsed.tags for name, _ in attrs)
    assert f"ok {text}" in parsed.all_text and f"{text} changed" in parsed.all_text


# ----- the context contract (datasette's template_contexts idea) ---------------------------------------------------


def _dataclasses_reachable(cls: type, seen: set[type] | None = None) -> set[type]:
    seen = set() if seen is None else seen
    if cls in seen:
        return seen
    seen.add(cls)
    for hint in get_type_hints(cls).values():
        for arg in _flatten(hint):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                _dataclasses_reachable(arg, seen)
    return seen


def _flatten(hint: Any) -> list[Any]:
    args = getattr(hint, "__args__", None)
    if not args:
        return [hint]
    return [a for arg in args for a in _flatten(arg)]


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_context_field_is_documented(kind: str) -> None:
    for cls in _dataclasses_reachable(CONTEXTS[kind]):
        if cls.__module__.startswith("rollctl.core"):
            continue  # result objects are documented by the --json contract
        assert cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("), f"{cls.__name__} needs a docstring"
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_report_kind_has_a_template_that_renders_strictly(kind: str, report_contexts: dict[str, Any]) -> None:
    assert kind in report_contexts, f"add a sample context for {kind!r} to the report_contexts fixture"
    context = report_contexts[kind]
    assert isinstance(context, CONTEXTS[kind])
    page = render_report(kind, context)
    parsed = parse_report(page)
    assert {"verdict", "inputs"} <= parsed.ids
    charts = [v for v in dataclasses.astuple(context) if isinstance(v, Chart)]
    assert len(parsed.scripts) == (2 if parsed.charts else 1)
    assert len(parsed.charts) >= len(charts)


def test_a_missing_context_field_fails_instead_of_rendering_blank() -> None:
    @dataclasses.dataclass(frozen=True)
    class Incomplete:
        title: str

    meta = report_meta(title="t", command="inspect", verdict="go", exit_code=0, reasons=(),
                       inputs=ReportInputs(files=(), row_counts=(), first=None, last=None, plan=None, plan_hash=None))
    with pytest.raises(UndefinedError):
        environment().get_template("inspect.html").render(report=Incomplete("x"), plotly_js=None, csp="")
    page = environment().get_template("_base.html").render(
        report=type("R", (), {"meta": meta})(), plotly_js=None, csp="")
    assert parse_report(page).verdict == "GO"


def test_plotly_bundle_is_inlined_once_and_nothing_is_fetched(tmp_path: Path,
                                                              report_contexts: dict[str, Any]) -> None:
    page = render_report("inspect", report_contexts["inspect"])
    assert page.count("<script>") == 2
    parsed = parse_report(page)
    from importlib import resources

    from rollctl.render.html import PLOTLY_BUNDLE

    bundle = resources.files("rollctl").joinpath("templates", PLOTLY_BUNDLE).read_text(encoding="utf-8")
    assert [s for s in parsed.scripts if len(s) > 100_000] == [bundle.replace("</", "<\\/")]
    for tag, attrs in parsed.tags:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data"):
                raise AssertionError(f"<{tag} {name}={value!r}> would load something")
    csp = next(dict(a)["content"] for t, a in parsed.tags if t == "meta" and dict(a).get("http-equiv"))
    assert csp is not None and "default-src 'none'" in csp
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "unsafe-inline" not in script_src and script_src.count("'sha256-") == 2


def test_generated_at_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollctl.render.html import generated_at

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    assert generated_at() == "2026-11-18T11:06:40Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert generated_at().endswith("Z") and generated_at() != "2026-11-18T11:06:40Z"


def test_every_report_stays_under_one_and_a_half_megabytes(report_contexts: dict[str, Any]) -> None:
    """A report is shared as one file (a PR comment attachment, an email): the inlined plotly.js is its bulk,
    so reports inline plotly's basic bundle (1.2 MB), not the full one (4.8 MB)."""
    for kind, context in report_contexts.items():
        size = len(render_report(kind, context).encode("utf-8"))
        assert size < 1_500_000, (kind, size)

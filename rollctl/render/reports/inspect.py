"""The HTML report of `rollctl inspect`: files, variants, field coverage and warnings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import plotly.graph_objects as go

from rollctl.core.inspect import FieldCoverage, InspectResult
from rollctl.render.html import (
    Chart,
    Column,
    InputFile,
    ReportInputs,
    ReportMeta,
    Table,
    documented,
    make_chart,
    plot_text,
    report_meta,
)


@dataclass(frozen=True)
class InspectReportContext:
    """Everything `templates/inspect.html` shows, built from an `InspectResult`."""

    meta: ReportMeta = documented("Title, inputs, version; the warnings as reasons (inspect has no verdict).")
    overview: Table | None = documented("Trace counts: rows, users, sessions, served/shadow rows, hours and days; "
                                   "None without traces.")
    variants: Table | None = documented("Per variant: rows, served, shadow, users, models, prompt versions.")
    variant_chart: Chart | None = documented("Rows per variant, served vs shadow, models in the hover text.")
    coverage_chart: Chart | None = documented("Share of rows with a value, per canonical field (traces and evals).")
    coverage: tuple[Table, ...] = documented("Field coverage tables, one per canonical table present.")
    evals: Table | None = documented("Per eval variant: rows, cases, repeats, passed rows, error rows.")
    judgements: Table | None = documented("Per judge: rows, requests, baseline-first, candidate-first, errors.")
    headline: str = documented("What the inputs hold, in one sentence (the banner's answer).")


def _coverage_table(table_id: str, caption: str, coverage: tuple[FieldCoverage, ...]) -> Table:
    return Table(
        id=table_id, caption=caption,
        columns=(Column("field", "text"), Column("rows with value", "num"), Column("share", "pct")),
        rows=tuple((c.name, c.rows_with_value, c.share) for c in coverage),
    )


def _int(value: object) -> int:
    return int(str(value))


def build_inspect_context(result: InspectResult, *, title: str = "rollctl inspect") -> InspectReportContext:
    row_counts: Counter[str] = Counter()
    for f in result.files:
        row_counts.update(f.rows)
    first = result.traces.first if result.traces is not None else None
    last = result.traces.last if result.traces is not None else None
    inputs = ReportInputs(
        files=tuple(InputFile(path=f.path, format=f.format, kind=f.kind, rows=sum(f.rows.values()))
                    for f in result.files),
        row_counts=tuple(sorted(row_counts.items())), first=first, last=last, plan=None, plan_hash=None,
    )
    meta = report_meta(title=title, command="inspect", verdict=None, exit_code=None, reasons=result.warnings,
                       inputs=inputs)
    overview = variants = evals = judgements = None
    variant_chart = coverage_chart = None
    coverage: list[Table] = []
    coverage_series: list[tuple[str, tuple[FieldCoverage, ...]]] = []
    t = result.traces
    if t is not None:
        overview = Table(
            id="overview", caption="Traces",
            columns=(Column("measure", "text"), Column("value", "num")),
            rows=(("rows", t.rows), ("users", t.users), ("sessions", t.sessions), ("served rows", t.served_rows),
                  ("shadow rows", t.shadow_rows), ("hours covered", t.hours), ("full days", t.full_days),
                  ("calendar days", t.calendar_days), ("duplicate request ids", t.duplicate_request_ids)),
        )
        variants = Table(
            id="variants", caption="Variants",
            columns=(Column("variant", "text"), Column("rows", "num"), Column("served", "num"),
                     Column("shadow", "num"), Column("users", "num"), Column("models", "text"),
                     Column("prompt versions", "text"), Column("first", "text"), Column("last", "text")),
            rows=tuple((v.variant if v.variant is not None else "(no variant)", v.rows, v.served_rows,
                        v.shadow_rows, v.users, ", ".join(v.models), ", ".join(v.prompt_versions), v.first, v.last)
                       for v in t.variants),
        )
        names = [plot_text(v.variant if v.variant is not None else "(no variant)") for v in t.variants]
        hover = [plot_text(", ".join(v.models) or "no model") for v in t.variants]
        fig = go.Figure([
            go.Bar(name="served", x=names, y=[v.served_rows for v in t.variants], hovertext=hover),
            go.Bar(name="shadow", x=names, y=[v.shadow_rows for v in t.variants], hovertext=hover),
        ])
        fig.update_layout(barmode="stack", height=340, margin={"l": 60, "r": 20, "t": 10, "b": 60},
                          yaxis={"title": {"text": "rows"}}, xaxis={"type": "category"},
                          legend={"orientation": "h", "y": 1.1})
        variant_chart = make_chart("variant-chart", "Rows per variant",
                                   "Served and shadow rows per variant; hover for the models that served them.", fig)
        coverage.append(_coverage_table("coverage-traces", "Field coverage (traces)", t.coverage))
        coverage_series.append(("traces", t.coverage))
    e = result.evals
    if e is not None:
        evals = Table(
            id="evals", caption=f"Eval results: {e.rows:,} rows",
            columns=(Column("variant", "text"), Column("rows", "num"), Column("cases", "num"),
                     Column("repeats", "num"), Column("passed rows", "num"), Column("error rows", "num")),
            rows=tuple((str(r["variant"]), *(_int(r[k]) for k in ("rows", "cases", "repeats", "passed_rows",
                                                                    "error_rows"))) for r in e.variants),
        )
        coverage.append(_coverage_table("coverage-evals", "Field coverage (evals)", e.coverage))
        coverage_series.append(("evals", e.coverage))
    j = result.judgements
    if j is not None:
        judgements = Table(
            id="judgements", caption=f"Judgements: {j.rows:,} rows",
            columns=(Column("judge", "text"), Column("rows", "num"), Column("requests", "num"),
                     Column("baseline first", "num"), Column("candidate first", "num"), Column("errors", "num")),
            rows=tuple((str(r["judge"]), *(_int(r[k]) for k in ("rows", "requests", "baseline_first",
                                                                  "candidate_first", "errors"))) for r in j.judges),
        )
    if coverage_series:
        fig = go.Figure([
            go.Bar(name=table, orientation="h", y=[c.name for c in cov], x=[c.share for c in cov],
                   customdata=[c.rows_with_value for c in cov],
                   hovertemplate="%{y}: %{x:.1%} (%{customdata:,} rows)<extra>" + table + "</extra>")
            for table, cov in coverage_series
        ])
        longest = max(len(cov) for _, cov in coverage_series)
        fig.update_layout(barmode="group", height=max(260, 22 * longest * len(coverage_series) // 1 + 80),
                          margin={"l": 120, "r": 20, "t": 10, "b": 40},
                          xaxis={"tickformat": ".0%", "range": [0, 1]}, yaxis={"autorange": "reversed"},
                          legend={"orientation": "h", "y": 1.05})
        coverage_chart = make_chart("coverage-chart", "Field coverage",
                                    "Share of rows that carry each canonical field; commands that need a missing "
                                    "field ask for --map.", fig)
    return InspectReportContext(meta=meta, overview=overview, variants=variants, variant_chart=variant_chart,
                                coverage_chart=coverage_chart, coverage=tuple(coverage), evals=evals,
                                judgements=judgements, headline=_headline(result))


def _headline(result: InspectResult) -> str:
    """Rows, users, arms and time span of the traces, then eval rows and judgements: what inspect found."""
    parts: list[str] = []
    t = result.traces
    if t is not None:
        span = f", {t.first} → {t.last}" if t.first and t.last else ", no timestamps"
        parts.append(f"{t.rows:,} trace rows from {t.users:,} users in {len(t.variants)} variant(s){span}")
    if result.evals is not None:
        parts.append(f"{result.evals.rows:,} eval rows in {len(result.evals.variants)} variant(s)")
    if result.judgements is not None:
        parts.append(f"{result.judgements.rows:,} judge verdicts from {len(result.judgements.judges)} judge(s)")
    return "; ".join(parts) + "." if parts else "No rows."

"""Terminal rendering of `rollctl inspect`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rollctl.core.inspect import FieldCoverage, InspectResult


def _coverage_table(title: str, coverage: tuple[FieldCoverage, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("field")
    table.add_column("rows with value", justify="right")
    table.add_column("share", justify="right")
    for c in coverage:
        style = "dim" if c.rows_with_value == 0 else ""
        table.add_row(Text(c.name), f"{c.rows_with_value:,}", f"{c.share:.1%}", style=style)
    return table


def _count(value: object) -> str:
    return f"{int(str(value)):,}"


_CONTAINERS = ("jsonl", "json", "csv", "parquet", "duckdb")


def _render_mapping(result: InspectResult, console: Console) -> None:
    """For platform formats, where each canonical field came from, so the user can check the mapping."""
    for f in result.files:
        renamed = {k: v for k, v in f.mapped.items() if v != k}
        if f.format in _CONTAINERS and not renamed and not f.notes:
            continue
        console.print()
        if f.format not in _CONTAINERS or renamed:
            table = Table(title=f"Mapped from ({f.format}): {f.path}", title_justify="left", show_edge=False)
            table.add_column("field")
            table.add_column("read from")
            for canonical, source in (f.mapped.items() if f.format not in _CONTAINERS else renamed.items()):
                table.add_row(Text(canonical), Text(source))
            console.print(table)
        for note in f.notes:
            console.print(Text(f"  note: {note}"))


def render_inspect(result: InspectResult, console: Console) -> None:
    files = Table(title="Files", title_justify="left", show_edge=False)
    for col in ("path", "format", "kind", "rows", "skipped"):
        files.add_column(col, justify="right" if col in ("rows", "skipped") else "left")
    for f in result.files:
        rows = ", ".join(f"{n:,} {t}" for t, n in f.rows.items())
        files.add_row(Text(f.path), f.format, f.kind, rows, f"{f.skipped_lines:,}")
    console.print(files)
    _render_mapping(result, console)
    if result.traces is not None:
        t = result.traces
        console.print()
        span = f"{t.first} → {t.last}" if t.first else "no timestamps"
        hours = f"{t.hours:,.1f} h, {t.full_days} full day(s), {t.calendar_days} calendar day(s)" if t.hours else ""
        console.print(Text(f"Traces: {t.rows:,} rows, {t.users:,} users, {t.sessions:,} sessions; "
                           f"{t.served_rows:,} served, {t.shadow_rows:,} shadow"))
        console.print(Text(f"Time range (UTC): {span}  {hours}"))
        variants = Table(title="Variants", title_justify="left", show_edge=False)
        for col in ("variant", "rows", "served", "shadow", "users", "models", "prompt versions"):
            variants.add_column(col, justify="right" if col in ("rows", "served", "shadow", "users") else "left")
        for v in t.variants:
            variants.add_row(
                Text(v.variant if v.variant is not None else "(none)"), f"{v.rows:,}", f"{v.served_rows:,}",
                f"{v.shadow_rows:,}", f"{v.users:,}", Text(", ".join(v.models)), Text(", ".join(v.prompt_versions)),
            )
        console.print(variants)
        console.print(_coverage_table("Field coverage (traces)", t.coverage))
    if result.evals is not None:
        e = result.evals
        console.print()
        evals = Table(title=f"Eval results: {e.rows:,} rows", title_justify="left", show_edge=False)
        for col in ("variant", "rows", "cases", "repeats", "passed rows", "error rows"):
            evals.add_column(col, justify="left" if col == "variant" else "right")
        for row in e.variants:
            evals.add_row(Text(str(row["variant"])), *(_count(row[k]) for k in
                          ("rows", "cases", "repeats", "passed_rows", "error_rows")))
        console.print(evals)
    if result.judgements is not None:
        j = result.judgements
        console.print()
        judges = Table(title=f"Judgements: {j.rows:,} rows", title_justify="left", show_edge=False)
        for col in ("judge", "rows", "requests", "baseline first", "candidate first", "errors"):
            judges.add_column(col, justify="left" if col == "judge" else "right")
        for jrow in j.judges:
            judges.add_row(Text(str(jrow["judge"])), *(_count(jrow[k]) for k in
                           ("rows", "requests", "baseline_first", "candidate_first", "errors")))
        console.print(judges)
    if result.warnings:
        console.print()
        console.print(Text("Suspicious", style="bold yellow"))
        for w in result.warnings:
            console.print(Text(f"  {w.code}: {w.message}"))

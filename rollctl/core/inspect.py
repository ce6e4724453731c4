"""`rollctl inspect`: what is in a set of trace, judgement and eval files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollctl.checks import is_pinned_model
from rollctl.core.results import SCHEMA_VERSION, Reason, iso_utc
from rollctl.db import Database
from rollctl.load import LoadOptions, LoadReport, load_inputs
from rollctl.load.canonical import TABLE_FIELDS
from rollctl.sql import inspect as q


@dataclass(frozen=True)
class FieldCoverage:
    name: str
    rows_with_value: int
    share: float


@dataclass(frozen=True)
class VariantSummary:
    variant: str | None
    rows: int
    served_rows: int
    shadow_rows: int
    users: int
    models: tuple[str, ...]
    prompt_versions: tuple[str, ...]
    first: str | None
    last: str | None


@dataclass(frozen=True)
class FileSummary:
    path: str
    format: str
    kind: str
    rows: dict[str, int]
    skipped_lines: int
    mapped: dict[str, str]
    """canonical field -> where it was read from"""
    notes: tuple[str, ...]


@dataclass(frozen=True)
class TraceSummary:
    rows: int
    users: int
    sessions: int
    served_rows: int
    shadow_rows: int
    first: str | None
    last: str | None
    hours: float | None
    full_days: int | None
    calendar_days: int
    variants: tuple[VariantSummary, ...]
    coverage: tuple[FieldCoverage, ...]
    duplicate_request_ids: int
    duplicate_examples: tuple[str, ...]


@dataclass(frozen=True)
class EvalSummary:
    rows: int
    variants: tuple[dict[str, object], ...]
    coverage: tuple[FieldCoverage, ...]
    duplicate_rows: int
    duplicate_examples: tuple[str, ...]


@dataclass(frozen=True)
class JudgementSummary:
    rows: int
    judges: tuple[dict[str, object], ...]


@dataclass(frozen=True)
class InspectResult:
    """The answer to "what is in these files?", rendered as a table or as --json."""

    schema_version: str
    files: tuple[FileSummary, ...]
    skipped_lines: int
    traces: TraceSummary | None
    evals: EvalSummary | None
    judgements: JudgementSummary | None
    warnings: tuple[Reason, ...]


def inspect_inputs(db: Database, paths: Sequence[str], options: LoadOptions | None = None) -> InspectResult:
    """Load the inputs (text fields as presence only) and summarise them."""
    options = options or LoadOptions(keep_text=False)
    report = load_inputs(db, paths, options)
    return summarise(db, report)


def summarise(db: Database, report: LoadReport) -> InspectResult:
    """Summarise what `load_inputs` put in the canonical tables."""
    warnings: list[Reason] = []
    files = tuple(
        FileSummary(
            path=f.path, format=f.format, kind=f.kind, rows=dict(f.rows), skipped_lines=f.skipped_lines,
            mapped={s.canonical: s.source for s in f.sources if s.table in f.rows}, notes=f.notes,
        )
        for f in report.files
    )
    traces = _trace_summary(db, warnings) if report.rows.get("traces") else None
    evals = _eval_summary(db, warnings) if report.rows.get("evals") else None
    judgements = None
    if report.rows.get("judgements"):
        judgements = JudgementSummary(rows=report.rows["judgements"], judges=tuple(q.judgement_overview(db)))
    if report.skipped_lines:
        warnings.append(Reason("SKIPPED_LINES", f"{report.skipped_lines} malformed or wrong-typed line(s) skipped"))
    return InspectResult(
        schema_version=SCHEMA_VERSION, files=files, skipped_lines=report.skipped_lines, traces=traces,
        evals=evals, judgements=judgements, warnings=tuple(warnings),
    )


def _coverage(db: Database, table: str) -> tuple[FieldCoverage, ...]:
    total, counts = q.coverage(db, table)
    return tuple(
        FieldCoverage(name=f.name, rows_with_value=counts[f.name], share=counts[f.name] / total if total else 0.0)
        for f in TABLE_FIELDS[table]
    )


def _trace_summary(db: Database, warnings: list[Reason]) -> TraceSummary:
    overview = q.trace_overview(db)
    variants = tuple(
        VariantSummary(
            variant=v["variant"], rows=int(v["rows"]), served_rows=int(v["served_rows"]),
            shadow_rows=int(v["shadow_rows"]), users=int(v["users"]), models=tuple(v["models"] or ()),
            prompt_versions=tuple(v["prompt_versions"] or ()), first=iso_utc(v["first"]), last=iso_utc(v["last"]),
        )
        for v in q.per_variant(db)
    )
    coverage = _coverage(db, "traces")
    first, last = overview["first"], overview["last"]
    hours = (last - first).total_seconds() / 3600 if first is not None and last is not None else None
    dup_count, dup_examples = q.duplicate_keys(db, "traces", ["request_id", "variant"])
    total = sum(v.rows for v in variants)
    _trace_warnings(warnings, variants, coverage, overview, dup_count, dup_examples)
    return TraceSummary(
        rows=total, users=int(overview["users"]), sessions=int(overview["sessions"]),
        served_rows=int(overview["served_rows"]), shadow_rows=int(overview["shadow_rows"]),
        first=iso_utc(first), last=iso_utc(last), hours=round(hours, 3) if hours is not None else None,
        full_days=_full_days(hours),
        calendar_days=int(overview["distinct_days"]), variants=variants, coverage=coverage,
        duplicate_request_ids=dup_count, duplicate_examples=tuple(dup_examples),
    )


def _full_days(hours: float | None) -> int | None:
    """Whole 24 h periods in the span; a span within 15 minutes of a whole day counts as that day.

    Exports of a week from Monday 00:00 to Sunday 23:59:59 span 167.99 h, which every reader calls 7 days.
    """
    if hours is None:
        return None
    return int((hours + 0.25) // 24)


def _trace_warnings(
    warnings: list[Reason],
    variants: tuple[VariantSummary, ...],
    coverage: tuple[FieldCoverage, ...],
    overview: dict[str, object],
    dup_count: int,
    dup_examples: list[str],
) -> None:
    for v in variants:
        name = v.variant if v.variant is not None else "(no variant)"
        unpinned = [m for m in v.models if not is_pinned_model(m)]
        if unpinned:
            warnings.append(Reason(
                "UNPINNED_MODEL",
                f"variant {name}: model {', '.join(unpinned)} names no version or date; providers can change "
                "it silently, pin a snapshot",
            ))
        if len(v.models) > 1:
            warnings.append(Reason(
                "MULTIPLE_MODELS_IN_VARIANT",
                f"variant {name} was served by {len(v.models)} model strings ({', '.join(v.models[:4])}): "
                "provider drift or a mixed arm",
            ))
    if any(v.variant is None for v in variants):
        warnings.append(Reason("MISSING_VARIANT", "some rows have no variant; map one with --map variant=..."))
    future = int(str(overview.get("future_rows") or 0))
    if future:
        warnings.append(Reason("FUTURE_TIMESTAMPS", f"{future} row(s) have timestamps in the future: check the unit"))
    if dup_count:
        warnings.append(Reason(
            "DUPLICATE_REQUEST_IDS",
            f"{dup_count} request_id + variant combination(s) appear more than once (e.g. {', '.join(dup_examples)})",
        ))
    by_name = {c.name: c for c in coverage}
    for needed in ("variant", "user_id", "timestamp"):
        if by_name[needed].rows_with_value == 0:
            warnings.append(Reason("FIELD_ABSENT", f"no row has {needed}; commands that need it will ask for --map"))


def _eval_summary(db: Database, warnings: list[Reason]) -> EvalSummary:
    variants = tuple(q.eval_overview(db))
    dup_count, dup_examples = q.duplicate_keys(db, "evals", ["case_id", "variant", "repeat"])
    if dup_count:
        warnings.append(Reason(
            "DUPLICATE_EVAL_ROWS",
            f"{dup_count} case_id + variant + repeat combination(s) repeat (e.g. {', '.join(dup_examples)})",
        ))
    total = sum(int(str(v["rows"])) for v in variants)
    return EvalSummary(rows=total, variants=variants, coverage=_coverage(db, "evals"), duplicate_rows=dup_count,
                       duplicate_examples=tuple(dup_examples))

"""rollctl's own formats: canonical trace rows, paired shadow rows, eval results and judgement rows."""

from __future__ import annotations

from rollctl.db import quote_identifier
from rollctl.errors import InputError
from rollctl.load.expressions import RawValue, SqlParams, column, nested
from rollctl.load.mapping import suggest_source
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, row_check, select_canonical, source_values
from rollctl.load.types import Adapter, FieldSource, FileReport, LoadContext, Probe, Reader


def _as_json(value: RawValue) -> str:
    """A value as JSON for the json_* functions, without `to_json` on what already is JSON.

    `to_json` of a JSON column re-serialises every value into memory DuckDB does not release until the
    statement ends: on a paired export it ran out of memory under the cap (1 M pairs at 700 MB).
    """
    return value.sql if value.is_json else f"to_json({value.sql})"


def _is_eval(probe: Probe) -> bool:
    return "case_id" in probe.columns or "case_id" in probe.mapped


def _is_judgement(probe: Probe) -> bool:
    cols = set(probe.columns) | probe.mapped
    return "request_id" in cols and ("winner" in cols or "preference" in cols) and "output" not in cols


def _load_traces(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "traces", kind="traces")


def _load_evals(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "evals", kind="evals")


def _load_judgements(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "judgements", kind="judgements")


_KEY_FIELDS = {
    "traces": ("request_id", "user_id", "variant", "timestamp", "output"),
    "evals": ("case_id", "variant", "passed", "score"),
    "judgements": ("request_id", "winner", "preference"),
}
"""The fields worth a `--map` suggestion when a file maps to nothing."""


def _load_flat(ctx: LoadContext, probe: Probe, table: str, *, kind: str) -> FileReport:
    reader = reader_for_load(ctx, probe)
    params = SqlParams()
    values, descriptions = source_values(table, probe.columns, ctx.options.mapping, params)
    selection = select_canonical(table, values, params, keep_text=ctx.options.keep_text, descriptions=descriptions)
    if probe.file.format in ("jsonl", "json") and probe.columns:
        # DuckDB reads a `null` line (or `{}`) as a record whose every field is null: a phantom row, unless
        # it is a bad row like any other line that is not a record.
        empty = " AND ".join(f"{quote_identifier(c)} IS NULL" for c in probe.columns)
        selection = selection.checked([row_check("record", empty, "records with at least one field (the line "
                                                 "is null or {})", params)])
    rows = {table: insert_rows(ctx, probe, table, selection, reader, params)}
    if not selection.sources and rows[table] > 0:
        # Rows of nulls would be counted as traffic with every field missing: a wrong file, not an empty one.
        found = ", ".join(list(probe.columns)[:12]) + (", ..." if len(probe.columns) > 12 else "")
        guesses = [f"--map {name}={guess}" for name in _KEY_FIELDS[table]
                   if (guess := suggest_source(name, probe.columns)) is not None]
        raise InputError(f"no field of this file is a canonical {table} field or a known export's (found: {found})",
                         path=probe.file.path,
                         fix=("did you mean " + " ".join(guesses) + "? " if guesses else "")
                         + "pass --format NAME if it is a known export, or --map CANONICAL=FIELD for your names")
    sources = list(selection.sources)
    if table == "traces" and _has_inline_judgement(probe):
        rows["judgements"] = _insert_inline_judgements(ctx, probe, reader)
        sources.append(FieldSource("judgements", "winner", "winner"))
    return FileReport(
        path=probe.file.path, format=probe.file.format, kind=kind, rows=rows,
        columns=tuple(probe.columns), sources=tuple(sources), skipped_lines=reader.skipped_lines,
    )


def _has_inline_judgement(probe: Probe) -> bool:
    return "judgements" in probe.columns


def _insert_inline_judgements(
    ctx: LoadContext, probe: Probe, reader: Reader, columns: dict[str, str] | None = None
) -> int:
    """Rows of a `judgements: [...]` array on a trace or paired row become judgement rows.

    `columns` are the reader's column types when they differ from the probe's (the paired loader reads the
    judgements as a list of structs of text: each verdict's fields come straight from the reader).
    """
    params = SqlParams()
    columns = columns or probe.columns
    if "request_id" not in columns:
        return 0
    judgements = column("judgements", columns["judgements"])
    request = column("request_id", columns["request_id"])
    names = ("judge", "order", "winner", "preference")
    if judgements.type == _JUDGEMENT_STRUCT:
        listed = judgements.sql
        values = {name: RawValue(f"_j.{quote_identifier(name)}", "VARCHAR") for name in names}
    else:
        listed = f"CAST(json_extract({_as_json(judgements)}, '$[*]') AS JSON[])"
        values = {name: nested(RawValue("_j", "JSON"), [name], params) for name in names}
    exploded = Reader(
        sql=f"(SELECT {request.sql} AS _request_id, unnest({listed}) AS _j FROM {reader.sql} AS src)",
        params=reader.params,
        one_row_per_record=False,
    )
    values["request_id"] = RawValue("_request_id", request.type)
    selection = select_canonical("judgements", values, params, keep_text=True)
    return insert_rows(ctx, probe, "judgements", selection, exploded, params)


_JUDGEMENT_STRUCT = 'STRUCT("judge" VARCHAR, "order" VARCHAR, "winner" VARCHAR, "preference" VARCHAR)[]'



EVALS = Adapter("evals", "eval results {case_id, variant, repeat, passed, score}", _is_eval, _load_evals,
                 priority=910)


JUDGEMENTS = Adapter("judgements", "judge verdicts {request_id, judge, order, winner | preference}", _is_judgement,
                 _load_judgements, priority=920)


CANONICAL = Adapter("canonical", "canonical trace rows, one per LLM call", lambda probe: True, _load_traces,
                 priority=1000)

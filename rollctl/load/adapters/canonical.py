"""rollctl's own formats: canonical trace rows, paired shadow rows, eval results and judgement rows."""

from __future__ import annotations

from rollctl.db import quote_identifier
from rollctl.load.adapters import Adapter, register
from rollctl.load.expressions import RawValue, SqlParams, column, nested
from rollctl.load.loader import (
    FieldSource,
    FileReport,
    LoadContext,
    Probe,
    Reader,
    insert_rows,
    reader_for_load,
    select_canonical,
    source_values,
)

_ARM_FIELDS = (
    "request_id", "timestamp", "user_id", "session_id", "variant", "served", "model",
    "prompt_version", "input", "output", "latency_ms", "ttft_ms", "cost_usd", "input_tokens",
    "output_tokens", "cached_tokens", "cache_hit", "error", "thumbs", "retried", "abandoned",
    "follow_up", "task_completed", "final_text", "judge_score", "tags", "metadata",
)
_PAIR_SHARED = ("request_id", "user_id", "session_id", "timestamp", "input", "metadata", "tags")


def _is_paired(probe: Probe) -> bool:
    return "baseline" in probe.columns and "candidate" in probe.columns


def _is_eval(probe: Probe) -> bool:
    return "case_id" in probe.columns


def _is_judgement(probe: Probe) -> bool:
    cols = probe.columns
    return "request_id" in cols and ("winner" in cols or "preference" in cols) and "output" not in cols


def _load_traces(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "traces", kind="traces")


def _load_evals(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "evals", kind="evals")


def _load_judgements(ctx: LoadContext, probe: Probe) -> FileReport:
    return _load_flat(ctx, probe, "judgements", kind="judgements")


def _load_flat(ctx: LoadContext, probe: Probe, table: str, *, kind: str) -> FileReport:
    reader = reader_for_load(ctx, probe)
    params = SqlParams()
    values, descriptions = source_values(table, probe.columns, ctx.options.mapping, params)
    selection = select_canonical(table, values, params, keep_text=ctx.options.keep_text, descriptions=descriptions)
    rows = {table: insert_rows(ctx, probe, table, selection, reader, params)}
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


def _insert_inline_judgements(ctx: LoadContext, probe: Probe, reader: Reader) -> int:
    """Rows of a `judgements: [...]` array on a trace or paired row become judgement rows."""
    params = SqlParams()
    if "request_id" not in probe.columns:
        return 0
    judgements = column("judgements", probe.columns["judgements"])
    request = column("request_id", probe.columns["request_id"])
    exploded = Reader(
        sql=(
            f"(SELECT {request.sql} AS _request_id, "
            f"unnest(CAST(json_extract(to_json({judgements.sql}), '$[*]') AS JSON[])) AS _j FROM {reader.sql} AS src)"
        ),
        params=reader.params,
        one_row_per_record=False,
    )
    j = RawValue("_j", "JSON")
    values = {
        "request_id": RawValue("_request_id", request.type),
        "judge": nested(j, ["judge"], params),
        "order": nested(j, ["order"], params),
        "winner": nested(j, ["winner"], params),
        "preference": nested(j, ["preference"], params),
    }
    selection = select_canonical("judgements", values, params, keep_text=True)
    return insert_rows(ctx, probe, "judgements", selection, exploded, params)


def _load_paired(ctx: LoadContext, probe: Probe) -> FileReport:
    """Flatten `{request_id, ..., baseline: {...}, candidate: {...}, judgements: [...]}` rows.

    The file is staged once (one parse), then each arm becomes a trace row: arm fields win over the
    shared top-level ones; an arm without `variant` takes the --baseline/--candidate name, and `served`
    defaults to true for the baseline and false for the candidate (a shadow computation).
    """
    db = ctx.db
    reader = reader_for_load(ctx, probe)
    stage = quote_identifier("_stage_paired")
    if probe.file.format == "parquet":
        # Columnar and cheap to re-read: staging would copy every answer once more (and spill on big files).
        staged = Reader(sql=f"(SELECT * FROM {reader.sql})", params=dict(reader.params))
    else:
        db.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM {reader.sql}", reader.params)
        staged = Reader(sql=stage, params=dict(reader.params), rescan_sql=reader.sql)
    rows: dict[str, int] = {"traces": 0}
    sources: list[FieldSource] = []
    top_mapping = {k: v for k, v in ctx.options.mapping.items() if k in _PAIR_SHARED}
    try:
        for arm, default_variant, default_served in (
            ("baseline", ctx.options.baseline_name, True),
            ("candidate", ctx.options.candidate_name, False),
        ):
            params = SqlParams()
            top, descriptions = source_values("traces", probe.columns, top_mapping, params)
            arm_col = column(arm, probe.columns[arm])
            values: dict[str, RawValue] = {}
            # Parquet arms are structs: serialise and parse each once per row (one json_extract with a list
            # of paths) instead of once per field reference. JSON files keep per-field extraction, which
            # the bad-line locator can re-run on the raw lines.
            one_parse = probe.file.format == "parquet"
            arm_stage = staged
            if one_parse:
                arm_json = arm_col.sql if arm_col.is_json else f"to_json({arm_col.sql})"
                paths = params.add(["$." + quote_identifier(name) for name in _ARM_FIELDS])
                arm_stage = Reader(
                    sql=f"(SELECT *, json_extract({arm_json}, {paths}) AS _arm FROM {staged.sql})",
                    params=dict(staged.params),
                )
            for i, name in enumerate(_ARM_FIELDS):
                from_arm = RawValue(f"_arm[{i + 1}]", "JSON") if one_parse else nested(arm_col, [name], params)
                fallback = top.get(name)
                if fallback is not None:
                    fallback_json = fallback if fallback.is_json else RawValue(f"to_json({fallback.sql})", "JSON")
                    values[name] = RawValue(f"coalesce({from_arm.sql}, {fallback_json.sql})", "JSON")
                    descriptions[name] = f"{arm}.{name} or {descriptions.get(name, name)}"
                else:
                    values[name] = from_arm
                    descriptions[name] = f"{arm}.{name}"
            values["variant"] = RawValue(
                f"coalesce({values['variant'].sql}, to_json(CAST({params.add(default_variant)} AS VARCHAR)))", "JSON"
            )
            values["served"] = RawValue(
                f"coalesce({values['served'].sql}, to_json(CAST({params.add(default_served)} AS BOOLEAN)))", "JSON"
            )
            selection = select_canonical(
                "traces", values, params, keep_text=ctx.options.keep_text, descriptions=descriptions
            )
            # Skip arms that are absent on this row (the shadow call was dropped): counted as unpaired later.
            where = f"WHERE {arm_col.sql} IS NOT NULL AND json_type(to_json({arm_col.sql})) <> 'NULL'"
            rows["traces"] += insert_rows(ctx, probe, "traces", selection, arm_stage, params, where_sql=where)
            sources += [s for s in selection.sources if s.canonical not in {x.canonical for x in sources}]
        if _has_inline_judgement(probe):
            rows["judgements"] = _insert_inline_judgements(ctx, probe, staged)
    finally:
        db.execute(f"DROP TABLE IF EXISTS {stage}")
    return FileReport(
        path=probe.file.path, format=probe.file.format, kind="paired", rows=rows,
        columns=tuple(probe.columns), sources=tuple(sources), skipped_lines=reader.skipped_lines,
    )


register(Adapter("paired", "paired shadow rows {request_id, baseline: {...}, candidate: {...}}", _is_paired,
                 _load_paired, priority=900))
register(Adapter("evals", "eval results {case_id, variant, repeat, passed, score}", _is_eval, _load_evals,
                 priority=910))
register(Adapter("judgements", "judge verdicts {request_id, judge, order, winner | preference}", _is_judgement,
                 _load_judgements, priority=920))
register(Adapter("canonical", "canonical trace rows, one per LLM call", lambda probe: True, _load_traces,
                 priority=1000))

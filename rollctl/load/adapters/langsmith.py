"""LangSmith runs (the run export / `list_runs` JSON): one canonical trace row per root run.

Child runs (`parent_run_id` set) are the steps inside a call and would count one request many times,
so only root runs load; how many were skipped is in the notes. Times are ISO strings; latency and time
to first token come from `end_time − start_time` and `first_token_time − start_time`. Feedback arrives
summarised as `feedback_stats {key: {n, avg}}`: a `score:KEY` entry in [mapping] reads `avg`.
"""

from __future__ import annotations

from rollctl.load.adapters import Adapter, register
from rollctl.load.adapters.support import (
    apply_mapping,
    drop,
    error_class,
    ms_between,
    pick,
    pick_all,
    stage,
    thumbs_from_score,
    variant_override,
)
from rollctl.load.expressions import RawValue, SqlParams, as_text, nested
from rollctl.load.loader import (
    FileReport,
    LoadContext,
    Probe,
    Reader,
    insert_rows,
    reader_for_load,
    select_canonical,
)
from rollctl.load.mapping import score_sources

DEFAULT_THUMBS_KEYS = ("user_feedback", "thumbs", "user_score")
_TABLE = "_ls_runs"


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    return "run_type" in cols and ("parent_run_id" in cols or "dotted_order" in cols)


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    try:
        return _insert(ctx, probe, cols, reader)
    finally:
        drop(ctx.db, _TABLE)


def _insert(ctx: LoadContext, probe: Probe, cols: dict[str, str], reader: Reader) -> FileReport:
    params = SqlParams()
    values: dict[str, RawValue] = {}
    desc: dict[str, str] = {}

    def take(canonical: str, *names: str) -> None:
        hit = pick_all(cols, names, params)
        if hit is not None:
            values[canonical], desc[canonical] = hit

    take("request_id", "id")
    take("timestamp", "start_time")
    take("user_id", "extra.metadata.user_id", "extra.metadata.userId")
    take("session_id", "extra.metadata.session_id", "extra.metadata.thread_id", "extra.metadata.conversation_id")
    take("model", "extra.metadata.ls_model_name", "extra.invocation_params.model",
         "extra.invocation_params.model_name")
    take("prompt_version", "extra.metadata.prompt_version")
    take("input", "inputs")
    take("output", "outputs")
    take("cost_usd", "total_cost")
    take("input_tokens", "prompt_tokens")
    take("output_tokens", "completion_tokens")
    take("cached_tokens", "prompt_token_details.cache_read")
    take("tags", "tags")
    take("metadata", "extra.metadata")
    start, end = pick(cols, ("start_time",), params), pick(cols, ("end_time",), params)
    first = pick(cols, ("first_token_time",), params)
    if start and end:
        values["latency_ms"] = RawValue(ms_between(start[0], end[0]), "DOUBLE")
        desc["latency_ms"] = "end_time − start_time"
    if start and first:
        values["ttft_ms"] = RawValue(ms_between(start[0], first[0]), "DOUBLE")
        desc["ttft_ms"] = "first_token_time − start_time"
    error = pick(cols, ("error",), params)
    if error:
        values["error"] = RawValue(error_class(as_text(error[0])), "VARCHAR")
        desc["error"] = "error (class from the exception text)"
    values["served"], desc["served"] = RawValue("true", "BOOLEAN"), "constant true (a traced call was served)"
    override = variant_override(ctx, cols, params)
    if override is not None:
        values["variant"], desc["variant"] = override
    else:
        take("variant", "extra.metadata.variant", "session_name", "session_id")
        if "variant" in desc:
            desc["variant"] += " (choose another with --variant-from PATH)"
    notes = _feedback(ctx, cols, values, desc, params)
    apply_mapping("traces", values, desc, cols, ctx.options.mapping, params)
    selection = select_canonical("traces", values, params, keep_text=ctx.options.keep_text, descriptions=desc)
    parent = pick(cols, ("parent_run_id",), params)
    where = ""
    if parent is not None:
        where = f"WHERE nullif(trim({as_text(parent[0])}), '') IS NULL"
    rows = insert_rows(ctx, probe, "traces", selection, Reader(sql=_TABLE, params={}), params, where_sql=where)
    total = int(ctx.db.fetchone(f"SELECT count(*) FROM {_TABLE}")[0])
    if total > rows:
        notes.append(f"{total - rows:,} child run(s) skipped (only root runs, parent_run_id null, are calls)")
    return FileReport(path=probe.file.path, format="langsmith", kind="traces", rows={"traces": rows},
                      columns=tuple(probe.columns), sources=selection.sources, skipped_lines=reader.skipped_lines,
                      notes=tuple(notes))


def _feedback(
    ctx: LoadContext, cols: dict[str, str], values: dict[str, RawValue], desc: dict[str, str], params: SqlParams
) -> list[str]:
    stats = pick(cols, ("feedback_stats",), params)
    wanted = score_sources(ctx.options.mapping)
    if stats is None:
        return ["no feedback_stats: thumbs and judge scores not loaded"] if not wanted else []
    keys = [str(r[0]) for r in ctx.db.fetchall(
        f"SELECT DISTINCT unnest(json_keys(to_json({stats[0].sql}))) FROM {_TABLE} ORDER BY 1 LIMIT 50")]
    if "thumbs" not in wanted:
        default = next((k for k in DEFAULT_THUMBS_KEYS if k in keys), None)
        if default is not None:
            wanted["thumbs"] = default
    for canonical, key in wanted.items():
        avg = nested(stats[0], [key, "avg"], params)
        if canonical == "thumbs":
            values[canonical] = thumbs_from_score(as_text(avg))
        else:
            values[canonical] = avg
        desc[canonical] = f"feedback_stats.{key}.avg"
    return [f"feedback keys found: {', '.join(keys[:10]) or 'none'}"]


register(Adapter("langsmith", "LangSmith runs (root runs: run_type, parent_run_id null)", _detect, _load,
                 priority=120))

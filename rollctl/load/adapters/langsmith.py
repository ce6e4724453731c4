"""LangSmith runs (the run export / `list_runs` JSON, JSONL, or API pages `{"runs": [...], "cursors"}`): one
canonical trace row per root run.

Child runs (`parent_run_id` set) are the steps inside a call and would count one request many times,
so only root runs load; how many were skipped is in the notes. But in a trace written by the SDK the model
and the token usage sit on the child `llm` run (the root is the application's chain), so a root run without
them takes them from its trace's `llm` runs: the model of the last one (the response's `outputs.model`,
pinned, before the requested `ls_model_name`), tokens summed over them. A file of `llm` runs without their
roots (`list_runs(run_type="llm")`) loads one row per `llm` run, said in the notes.

Times are ISO strings; latency and time to first token come from `end_time − start_time` and
`first_token_time − start_time`. Feedback arrives summarised as `feedback_stats {key: {n, avg}}`: a
`score:KEY` entry in [mapping] reads `avg`.
"""

from __future__ import annotations

from rollctl.db import quote_identifier
from rollctl.errors import InputError
from rollctl.load.adapters.support import (
    apply_mapping,
    drop,
    error_class,
    ms_between,
    pick,
    pick_all,
    stage,
    thumbs_from_score,
    unwrap_pages,
    variant_override,
)
from rollctl.load.expressions import RawValue, SqlParams, as_text, nested
from rollctl.load.files import InputFile
from rollctl.load.mapping import score_sources
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, referenced_params, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

DEFAULT_THUMBS_KEYS = ("user_feedback", "thumbs", "user_score")
_TABLE = "_ls_runs"


_LLM_TABLE = "_ls_llm_runs"
_RUN_KEYS = frozenset({"run_type", "trace_id"})


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    runs = "run_type" in cols and ("parent_run_id" in cols or "dotted_order" in cols)
    return runs or probe.page_keys.get("runs", frozenset()) >= _RUN_KEYS


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    try:
        if "run_type" not in cols and "runs" in cols:
            cols = unwrap_pages(ctx, _TABLE, "runs", probe.file)
        return _insert(ctx, probe, cols, reader)
    finally:
        drop(ctx.db, _TABLE, _LLM_TABLE)


def _llm_values(cols: dict[str, str], params: SqlParams) -> dict[str, RawValue]:
    """Model and tokens as an `llm` run records them itself. A failed call has no response model, and the
    alias it asked for is not what served: it records none (a false "several models" warning otherwise)."""
    found: dict[str, RawValue] = {}
    for canonical, names in _LLM_SOURCES.items():
        if canonical == "model":
            continue
        hit = pick_all(cols, names, params)
        if hit is not None:
            found[canonical] = hit[0]
    response = pick(cols, _LLM_SOURCES["model"][:1], params)
    requested = pick_all(cols, _LLM_SOURCES["model"][1:], params)
    if requested is None:
        if response is not None:
            found["model"] = response[0]
        return found
    error = pick(cols, ("error",), params)
    alias = as_text(requested[0])
    if error is not None:
        alias = f"CASE WHEN nullif(trim({as_text(error[0])}), '') IS NULL THEN {alias} END"
    response_sql = as_text(response[0]) if response is not None else "NULL"
    found["model"] = RawValue(f"coalesce({response_sql}, {alias})", "VARCHAR")
    return found


_LLM_SOURCES: dict[str, tuple[str, ...]] = {
    "model": ("outputs.model", "extra.metadata.ls_model_name", "extra.invocation_params.model",
              "extra.invocation_params.model_name"),
    "input_tokens": ("prompt_tokens", "outputs.usage_metadata.input_tokens",
                     "extra.metadata.usage_metadata.input_tokens"),
    "output_tokens": ("completion_tokens", "outputs.usage_metadata.output_tokens",
                      "extra.metadata.usage_metadata.output_tokens"),
    "cached_tokens": ("prompt_token_details.cache_read", "outputs.usage_metadata.input_token_details.cache_read"),
}
"""Where an `llm` run keeps what the root run of its trace lacks (the API's computed columns first)."""


def _trace_llm_join(ctx: LoadContext, cols: dict[str, str]) -> tuple[str, list[str]] | None:
    """Stage per trace what its `llm` runs say (last model, summed tokens): the JOIN that lends it to roots, and
    the fields it lends (`llm_model`, `llm_input_tokens`, ...)."""
    params = SqlParams()
    run_type, trace = pick(cols, ("run_type",), params), pick(cols, ("trace_id",), params)
    if run_type is None or trace is None:
        return None
    own = _llm_values(cols, params)
    start = pick(cols, ("start_time",), params)
    order = as_text(start[0]) if start else "0"
    lent: dict[str, str] = {}
    if "model" in own:
        lent["model"] = f"arg_max({as_text(own['model'])}, {order})"
    for name in ("input_tokens", "output_tokens", "cached_tokens"):
        if name in own:
            lent[name] = f"sum(TRY_CAST({as_text(own[name])} AS DOUBLE))"
    if not lent:
        return None
    parts = [f"{as_text(trace[0])} AS trace_key", *(f"{sql} AS llm_{name}" for name, sql in lent.items())]
    sql = (f"SELECT {', '.join(parts)} FROM {quote_identifier(_TABLE)} "
           f"WHERE lower({as_text(run_type[0])}) = 'llm' GROUP BY ALL")
    stage(ctx, _LLM_TABLE, sql, referenced_params(sql, params.values), InputFile(_TABLE, "table"))
    join_params = SqlParams()
    root_trace = pick(cols, ("trace_id",), join_params, "r")
    assert root_trace is not None and not join_params.values
    join = f"LEFT JOIN {quote_identifier(_LLM_TABLE)} AS llm ON llm.trace_key = {as_text(root_trace[0])}"
    return join, list(lent)


def _insert(ctx: LoadContext, probe: Probe, cols: dict[str, str], reader: Reader) -> FileReport:
    params = SqlParams()
    values: dict[str, RawValue] = {}
    desc: dict[str, str] = {}

    def take(canonical: str, *names: str) -> None:
        hit = pick_all(cols, names, params)
        if hit is not None:
            values[canonical], desc[canonical] = hit

    parent = pick(cols, ("parent_run_id",), params)
    is_root = f"nullif(trim({as_text(parent[0])}), '') IS NULL" if parent is not None else "true"
    roots = int(ctx.db.fetchone(
        f"SELECT count(*) FILTER (WHERE {is_root}) FROM {_TABLE}", referenced_params(is_root, params.values))[0])
    run_type = pick(cols, ("run_type",), params)
    llm_rows = roots == 0 and run_type is not None
    take("request_id", "id")
    take("timestamp", "start_time")
    take("user_id", "extra.metadata.user_id", "extra.metadata.userId")
    take("session_id", "extra.metadata.session_id", "extra.metadata.thread_id", "extra.metadata.conversation_id")
    take("prompt_version", "extra.metadata.prompt_version")
    take("input", "inputs")
    take("output", "outputs")
    take("cost_usd", "total_cost")
    own = _llm_values(cols, params)
    join, lent_fields = (None if llm_rows else _trace_llm_join(ctx, cols)) or ("", [])
    for canonical, raw in own.items():
        lent = f"llm_{canonical}" if canonical in lent_fields else None
        if lent is None:
            values[canonical] = raw
            desc[canonical] = " or ".join(_LLM_SOURCES[canonical])
        else:
            values[canonical] = RawValue(f"coalesce({as_text(raw)}, CAST({lent} AS VARCHAR))", "VARCHAR")
            desc[canonical] = (" or ".join(_LLM_SOURCES[canonical])
                               + (", else the last llm run of its trace" if canonical == "model"
                                  else ", else the sum over the llm runs of its trace"))
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
    if llm_rows:
        assert run_type is not None
        where = f"WHERE lower({as_text(run_type[0])}) = 'llm'"
        notes.append("no root run in the file (parent_run_id null): each llm run is one call")
    else:
        where = f"WHERE {is_root}"
    lent_columns = "".join(f", llm.llm_{name}" for name in lent_fields)
    source = f"(SELECT r.*{lent_columns} FROM {_TABLE} AS r {join})" if join else _TABLE
    rows = insert_rows(ctx, probe, "traces", selection, Reader(sql=source, params={}), params, where_sql=where)
    total = int(ctx.db.fetchone(f"SELECT count(*) FROM {_TABLE}")[0])
    if llm_rows and rows == 0 and total > 0:
        raise InputError(f"these {total:,} LangSmith runs are all child runs (parent_run_id set) and none is an llm "
                         "run: no run here is a model call", path=probe.file.path,
                         fix="export the traces' root runs (or their llm runs), e.g. list_runs(is_root=True)")
    if total > rows:
        kept = "llm runs" if llm_rows else "root runs, parent_run_id null,"
        notes.append(f"{total - rows:,} other run(s) skipped (only {kept} are calls)")
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


LANGSMITH = Adapter("langsmith", "LangSmith runs (root runs: run_type, parent_run_id null)", _detect, _load,
                 priority=120)

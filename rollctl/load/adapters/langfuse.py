"""Langfuse exports: the blob-storage export directory and the public API's JSON.

A blob export is a directory: `observations_v2/` (enriched observations, one row per LLM call and per
span), or legacy `traces/` (+ `observations/`), and `scores/`, each holding JSONL, JSON, CSV or Parquet
files. It is loaded as one unit (the adapter's `load_dir`), because rows join across folders: scores
attach to traces by `trace_id`, legacy traces lend user, session and release to their observations.
The API's JSON (`{"data": [...]}` pages, or arrays of observations) uses camelCase names for the same
fields; every field below is looked up under both spellings.

Traps handled:
- an API page (`{"data": [...], "meta": {...}}`, e.g. `GET /api/public/v2/observations`) is recognised by what
  its `data` elements hold, without `--format`;
- Langfuse writes `""` for an unset `userId`, `sessionId`, `version` and `release`: empty text is no value;
- scores of the current API (`/api/public/v3/scores`) name what they score as `subject: {kind, id}` (a
  trace, or an observation with its `traceId`) instead of `traceId`; session-level scores attach to nothing;
- `latency` and `time_to_first_token` are seconds in newer exports and milliseconds in older ones: the
  unit is decided per export from `latency / (end_time − start_time)` (or, without times, from the
  median's size) and written in the file notes.
- `usage_details` buckets are exclusive: `input` excludes cached tokens, so canonical `input_tokens` is
  the sum of every `input*` bucket (input + input_cached_tokens + input_cache_read + ...), and
  `cached_tokens` the sum of the cache-read buckets.
- Scores are per trace; a trace with several generations would count one thumbs several times, so
  scores attach to the trace's last generation (the answer the user saw).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rollctl.db import quote_identifier
from rollctl.errors import InputError, MissingFieldError
from rollctl.load.adapters.support import (
    apply_mapping,
    drop,
    error_class,
    ms_between,
    pick,
    stage,
    thumbs_from_score,
    unwrap_pages,
    variant_override,
)
from rollctl.load.expressions import RawValue, SqlParams, as_text, nested
from rollctl.load.files import InputFile, expand_paths
from rollctl.load.mapping import score_sources
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, referenced_params, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

OBSERVATION_FOLDERS = ("observations_v2", "observations")
TRACE_FOLDER = "traces"
SCORE_FOLDER = "scores"
DEFAULT_THUMBS_SCORES = ("user_feedback", "user-feedback", "thumbs", "feedback")
"""Score names read as thumbs unless [mapping] says otherwise (e.g. thumbs = "score:helpful")."""


def _detect_dir(path: str) -> bool:
    """observations_v2/ is Langfuse's own name; a bare traces/ or observations/ folder is too common to claim
    alone, but beside scores/ it is Langfuse's layout (an API dump of observations and scores)."""
    def has(name: str) -> bool:
        return os.path.isdir(os.path.join(path, name))
    return (has("observations_v2") or (has(TRACE_FOLDER) and (has(SCORE_FOLDER) or has("observations")))
            or (has("observations") and has(SCORE_FOLDER)))


def _is_export_dir(path: str) -> bool:
    return any(os.path.isdir(os.path.join(path, d)) for d in (*OBSERVATION_FOLDERS, TRACE_FOLDER))


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    snake = "trace_id" in cols and "type" in cols and ("usage_details" in cols or "provided_model_name" in cols)
    camel = "traceId" in cols and "type" in cols and ("usageDetails" in cols or "providedModelName" in cols)
    return snake or camel or _is_observation_page(probe)


def _is_observation_page(probe: Probe) -> bool:
    """An API page of observations: `data` is a list of objects with Langfuse's observation fields."""
    keys = probe.page_keys.get("data", frozenset())
    return "meta" in probe.columns and {"traceId", "startTime", "type"} <= keys


def _reader(files: list[InputFile]) -> tuple[str, dict[str, object]]:
    """One relation over the files of a folder (they share a format), unioned by column name."""
    kinds = {f.format for f in files}
    if len(kinds) > 1:
        raise InputError(f"mixed file types in one export folder ({', '.join(sorted(kinds))})",
                         path=os.path.dirname(files[0].path), fix="export each folder in one format")
    kind = kinds.pop()
    params: dict[str, object] = {"files": [f.path for f in files]}
    if kind == "parquet":
        return "read_parquet($files, union_by_name = true)", params
    if kind == "csv":
        return "read_csv($files, header = true, all_varchar = true, union_by_name = true)", params
    if kind in ("json", "jsonl"):
        fmt = "newline_delimited" if kind == "jsonl" else "auto"
        return (f"read_json($files, format = '{fmt}', union_by_name = true, maximum_object_size = 33554432, "
                "sample_size = -1)"), params
    raise InputError(f"cannot read {kind} files in a Langfuse export", path=files[0].path,
                     fix="use JSONL, JSON, CSV or Parquet")


def _stage_folder(ctx: LoadContext, folder: str, table: str) -> dict[str, str]:
    files = expand_paths([folder])
    sql, params = _reader(files)
    cols = stage(ctx, table, f"SELECT * FROM {sql}", params, InputFile(folder, files[0].format))
    if "data" in cols and "trace_id" not in cols and "traceId" not in cols:
        cols = _unwrap_api_pages(ctx, table, InputFile(folder, files[0].format))
    return cols


def _unwrap_api_pages(ctx: LoadContext, table: str, source: InputFile) -> dict[str, str]:
    """API list responses are `{"data": [...], "meta": {...}}` pages: one row per element of `data`."""
    return unwrap_pages(ctx, table, "data", source)


@dataclass
class _Export:
    """The staged parts of one export: observations (or traces as rows), legacy traces, scores."""

    path: str
    observations: dict[str, str] | None
    traces: dict[str, str] | None
    scores: dict[str, str] | None
    kind: str


_UNSET_AS_EMPTY = ("user_id", "session_id", "variant", "prompt_version", "model")
"""Fields Langfuse writes as "" when unset; an empty string there is no value, not a user or an arm named ""."""

_OBS, _TRC, _SCR, _SCA = "_lf_obs", "_lf_trc", "_lf_scr", "_lf_score_agg"


def _load_dir(ctx: LoadContext, path: str) -> FileReport:
    if not _is_export_dir(path):
        raise InputError("not a Langfuse blob export", path=path,
                         fix="expected observations_v2/ (or traces/) and scores/ folders")
    try:
        obs_folder = next((os.path.join(path, d) for d in OBSERVATION_FOLDERS if os.path.isdir(os.path.join(path, d))),
                          None)
        observations = _stage_folder(ctx, obs_folder, _OBS) if obs_folder else None
        trace_folder = os.path.join(path, TRACE_FOLDER)
        traces = _stage_folder(ctx, trace_folder, _TRC) if os.path.isdir(trace_folder) else None
        score_folder = os.path.join(path, SCORE_FOLDER)
        scores = _stage_folder(ctx, score_folder, _SCR) if os.path.isdir(score_folder) else None
        kind = os.path.basename(obs_folder) if obs_folder else "traces"
        return _load_export(ctx, _Export(path, observations, traces, scores, kind))
    finally:
        drop(ctx.db, _OBS, _TRC, _SCR, _SCA)


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    """One file of observations (blob export) or of API observations (camelCase, or `data` pages)."""
    reader = reader_for_load(ctx, probe)
    try:
        cols = stage(ctx, _OBS, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
        if "data" in cols and "trace_id" not in cols and "traceId" not in cols:
            cols = _unwrap_api_pages(ctx, _OBS, probe.file)
        report = _load_export(ctx, _Export(probe.file.path, cols, None, None, "observations"))
    finally:
        drop(ctx.db, _OBS, _TRC, _SCR, _SCA)
    return FileReport(path=report.path, format=report.format, kind=report.kind, rows=report.rows,
                      columns=tuple(probe.columns), sources=report.sources, skipped_lines=reader.skipped_lines,
                      notes=report.notes)


def _as_json(raw: RawValue) -> str:
    if raw.is_json:
        return raw.sql
    if raw.is_text:
        return f"(CASE WHEN json_valid({raw.sql}) THEN CAST({raw.sql} AS JSON) END)"
    return f"to_json({raw.sql})"


def _bucket_sum(usage: RawValue, like: str, params: SqlParams) -> str:
    """Sum of usage buckets whose name matches a LIKE pattern (exclusive buckets add up)."""
    entries = f"map_entries(TRY_CAST({_as_json(usage)} AS MAP(VARCHAR, JSON)))"
    return (f"list_sum(list_transform(list_filter({entries}, lambda e: e.key LIKE {params.add(like)}), "
            f"lambda e: TRY_CAST(e.value AS DOUBLE)))")


def _seconds(ts: RawValue) -> str:
    return f"epoch(TRY_CAST({as_text(ts)} AS TIMESTAMPTZ))" if not ts.type.startswith("TIMESTAMP") else (
        f"epoch(CAST({ts.sql} AS TIMESTAMPTZ))")


def _load_export(ctx: LoadContext, export: _Export) -> FileReport:
    db = ctx.db
    params = SqlParams()
    values: dict[str, RawValue] = {}
    desc: dict[str, str] = {}
    notes: list[str] = []
    obs = export.observations
    trc = export.traces

    def take(canonical: str, cols: dict[str, str] | None, names: tuple[str, ...], qualifier: str,
             label: str) -> None:
        if cols is None or canonical in values:
            return
        hit = pick(cols, names, params, qualifier)
        if hit is not None:
            values[canonical], desc[canonical] = hit[0], f"{label}.{hit[1]}"

    if obs is not None:
        row_cols, rq, rlabel = obs, "o", os.path.basename(export.kind)
        trace_key = pick(obs, ("trace_id", "traceId"), params, "o")
        if trace_key is None:
            raise MissingFieldError("Langfuse observations without trace_id", path=export.path, field="trace_id",
                                    fix="export observations_v2 (or observations) with their trace_id")
        start = pick(obs, ("start_time", "startTime"), params, "o")
        end = pick(obs, ("end_time", "endTime"), params, "o")
        first_token = pick(obs, ("completion_start_time", "completionStartTime"), params, "o")
        take("request_id", obs, ("id",), "o", rlabel)
        take("timestamp", obs, ("start_time", "startTime"), "o", rlabel)
        take("model", obs, ("provided_model_name", "providedModelName", "model"), "o", rlabel)
        take("prompt_version", obs, ("prompt_version", "promptVersion"), "o", rlabel)
        take("input", obs, ("input",), "o", rlabel)
        take("output", obs, ("output",), "o", rlabel)
        take("cost_usd", obs, ("total_cost", "calculatedTotalCost", "totalCost", "cost_details.total",
                               "costDetails.total", "total_price"), "o", rlabel)
        usage = pick(obs, ("usage_details", "usageDetails", "usage"), params, "o")
        if usage is not None:
            values["input_tokens"] = RawValue(_bucket_sum(usage[0], "input%", params), "DOUBLE")
            values["output_tokens"] = RawValue(_bucket_sum(usage[0], "output%", params), "DOUBLE")
            cached = (f"coalesce({_bucket_sum(usage[0], '%cache%read%', params)}, 0) + "
                      f"coalesce({_bucket_sum(usage[0], '%cached%', params)}, 0)")
            has_cached = (f"({_bucket_sum(usage[0], '%cache%read%', params)} IS NOT NULL OR "
                          f"{_bucket_sum(usage[0], '%cached%', params)} IS NOT NULL)")
            values["cached_tokens"] = RawValue(f"(CASE WHEN {has_cached} THEN {cached} END)", "DOUBLE")
            values["cache_hit"] = RawValue(f"(CASE WHEN {has_cached} THEN {cached} > 0 END)", "BOOLEAN")
            u = f"{rlabel}.{usage[1]}"
            desc["input_tokens"] = f"sum of {u}.input* buckets (Langfuse's input excludes cached tokens)"
            desc["output_tokens"] = f"sum of {u}.output* buckets"
            desc["cached_tokens"] = f"{u} cache-read buckets (input_cached_tokens, input_cache_read, ...)"
            desc["cache_hit"] = "cached_tokens > 0"
        level = pick(obs, ("level",), params, "o")
        status = pick(obs, ("status_message", "statusMessage"), params, "o")
        if level is not None:
            message = error_class(as_text(status[0])) if status else "NULL"
            values["error"] = RawValue(
                f"(CASE WHEN upper({as_text(level[0])}) = 'ERROR' THEN coalesce({message}, 'error') END)",
                "VARCHAR")
            desc["error"] = f"{rlabel}.level = ERROR (class from status_message)"
        factor, unit_note = _latency_unit(ctx, obs, start, end)
        latency = pick(obs, ("latency",), params, "o")
        if latency is not None:
            fallback = ms_between(start[0], end[0]) if start and end else "NULL"
            values["latency_ms"] = RawValue(
                f"coalesce(TRY_CAST({as_text(latency[0])} AS DOUBLE) * {factor}, {fallback})", "DOUBLE")
            desc["latency_ms"] = f"{rlabel}.latency ({unit_note})"
            notes.append(f"latency read as {unit_note}")
        elif start and end:
            values["latency_ms"] = RawValue(ms_between(start[0], end[0]), "DOUBLE")
            desc["latency_ms"] = f"{rlabel}.end_time − start_time"
        ttft = pick(obs, ("time_to_first_token", "timeToFirstToken"), params, "o")
        if ttft is not None:
            values["ttft_ms"] = RawValue(f"TRY_CAST({as_text(ttft[0])} AS DOUBLE) * {factor}", "DOUBLE")
            desc["ttft_ms"] = f"{rlabel}.time_to_first_token (same unit as latency)"
        elif first_token and start:
            values["ttft_ms"] = RawValue(ms_between(start[0], first_token[0]), "DOUBLE")
            desc["ttft_ms"] = f"{rlabel}.completion_start_time − start_time"
        # Trace-level fields: on the enriched observation, else on the legacy trace row.
        for canonical, names in (("user_id", ("user_id", "userId")), ("session_id", ("session_id", "sessionId")),
                                 ("tags", ("tags",))):
            take(canonical, obs, names, "o", rlabel)
            take(canonical, trc, names, "t", "traces")
        obs_meta = pick(obs, ("metadata",), params, "o")
        trace_meta = pick(trc, ("metadata",), params, "t") if trc else None
        if obs_meta and trace_meta:  # segments (intent, tier) usually live on the trace
            values["metadata"] = RawValue(
                f"json_merge_patch(coalesce({_as_json(trace_meta[0])}, '{{}}'::JSON), "
                f"coalesce({_as_json(obs_meta[0])}, '{{}}'::JSON))", "JSON")
            desc["metadata"] = f"traces.metadata merged with {rlabel}.metadata"
        elif obs_meta or trace_meta:
            take("metadata", obs, ("metadata",), "o", rlabel)
            take("metadata", trc, ("metadata",), "t", "traces")
        join_trace = ""
        if trc is not None:
            trace_row_id = pick(trc, ("id",), params, "t")
            if trace_row_id is None:
                raise MissingFieldError("Langfuse traces without id", path=export.path, field="id",
                                        fix="export the traces folder with its id column")
            join_trace = (f"LEFT JOIN {quote_identifier(_TRC)} AS t "
                          f"ON {as_text(trace_row_id[0])} = {as_text(trace_key[0])}")
        trace_id_sql = as_text(trace_key[0])
        type_col = pick(obs, ("type",), params, "o")
        where = f"WHERE upper({as_text(type_col[0])}) = 'GENERATION'" if type_col else ""
        last = _mark_last_generation(ctx, obs, type_col is not None)
        from_table = quote_identifier(_OBS)
    else:
        if trc is None:
            raise InputError("Langfuse export has neither observations nor traces", path=export.path,
                             fix="export observations_v2/ (or traces/) with scores/")
        row_cols, rq, rlabel = trc, "o", "traces"
        for canonical, names in (("request_id", ("id",)), ("timestamp", ("timestamp",)),
                                 ("user_id", ("user_id", "userId")), ("session_id", ("session_id", "sessionId")),
                                 ("input", ("input",)), ("output", ("output",)), ("tags", ("tags",)),
                                 ("metadata", ("metadata",))):
            take(canonical, trc, names, "o", "traces")
        latency = pick(trc, ("latency",), params, "o")
        if latency is not None:  # the API's TraceWithDetails latency is in seconds
            values["latency_ms"] = RawValue(f"TRY_CAST({as_text(latency[0])} AS DOUBLE) * 1000", "DOUBLE")
            desc["latency_ms"] = "traces.latency (seconds)"
        join_trace, where, last = "", "", "true"
        trace_id_sql = as_text(pick(trc, ("id",), params, "o")[0])  # type: ignore[index]
        from_table = quote_identifier(_TRC)
        notes.append("no observations folder: one row per trace (no model, tokens or cost)")

    values["served"], desc["served"] = RawValue("true", "BOOLEAN"), "constant true (a traced call was served)"
    _variant(ctx, values, desc, row_cols, trc, params, rlabel)
    for name in _UNSET_AS_EMPTY:
        if name in values and name not in ctx.options.mapping:
            values[name] = RawValue(f"nullif(trim({as_text(values[name])}), '')", "VARCHAR")
    score_join = _scores(ctx, export, values, desc, notes, trace_id_sql, last, params)
    apply_mapping("traces", values, desc, row_cols, ctx.options.mapping, params, rq)
    selection = select_canonical("traces", values, params, keep_text=ctx.options.keep_text, descriptions=desc)
    reader = Reader(sql=f"{from_table} AS o {join_trace} {score_join}", params={})
    rows = insert_rows(ctx, Probe(InputFile(export.path, "langfuse"), "", {}, row_cols), "traces", selection,
                       reader, params, where_sql=where)
    if obs is not None and where:
        total = int(db.fetchone(f"SELECT count(*) FROM {quote_identifier(_OBS)}")[0])
        if total > rows:
            notes.append(f"{total - rows:,} observation(s) that are not GENERATIONs skipped (spans, events, tools)")
    return FileReport(path=export.path, format="langfuse", kind=export.kind, rows={"traces": rows},
                      columns=tuple(row_cols), sources=selection.sources, notes=tuple(notes))


def _latency_unit(
    ctx: LoadContext, obs: dict[str, str], start: tuple[RawValue, str] | None, end: tuple[RawValue, str] | None
) -> tuple[str, str]:
    """Seconds or milliseconds: compare `latency` with the span's own duration, else judge by size."""
    params = SqlParams()
    latency = pick(obs, ("latency", "time_to_first_token", "timeToFirstToken"), params)
    if latency is None:
        return "1000", "seconds"
    lat = f"TRY_CAST({as_text(latency[0])} AS DOUBLE)"
    if start is not None and end is not None and latency[1] == "latency":
        s = pick(obs, [start[1]], params)
        e = pick(obs, [end[1]], params)
        assert s is not None and e is not None
        duration = f"({_seconds(e[0])} - {_seconds(s[0])})"
        row = ctx.db.fetchone(
            f"SELECT median({lat} / {duration}) FROM {quote_identifier(_OBS)} WHERE {lat} > 0 AND {duration} > 0",
            params.values)
        if row[0] is not None:
            ratio = float(row[0])
            if ratio > 100:
                return "1", f"milliseconds (latency ≈ {ratio:,.0f} × end_time − start_time in seconds)"
            return "1000", f"seconds (latency ≈ {ratio:.2f} × end_time − start_time in seconds)"
    row = ctx.db.fetchone(f"SELECT median({lat}) FROM {quote_identifier(_OBS)} WHERE {lat} > 0", params.values)
    if row[0] is not None and float(row[0]) >= 100:
        return "1", f"milliseconds (median {float(row[0]):,.0f}; no start/end times to compare)"
    return "1000", "seconds (median below 100; no start/end times to compare)"


def _mark_last_generation(ctx: LoadContext, obs: dict[str, str], has_type: bool) -> str:
    """Add `_rollctl_last`: the trace's last generation, the one its scores attach to."""
    params = SqlParams()
    trace = pick(obs, ("trace_id", "traceId"), params)
    start = pick(obs, ("start_time", "startTime"), params)
    type_ = pick(obs, ("type",), params)
    assert trace is not None
    only_gen = f"upper({as_text(type_[0])}) = 'GENERATION'" if has_type and type_ else "true"
    order = f"ORDER BY {start[0].sql} DESC NULLS LAST" if start else ""
    marked = _OBS + "_marked"
    ctx.db.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_identifier(marked)} AS SELECT *, "
        f"({only_gen}) AND row_number() OVER (PARTITION BY {as_text(trace[0])}, ({only_gen}) {order}) = 1 "
        f"AS _rollctl_last FROM {quote_identifier(_OBS)}", params.values)
    drop(ctx.db, _OBS)
    ctx.db.execute(f"ALTER TABLE {quote_identifier(marked)} RENAME TO {quote_identifier(_OBS)}")
    return "o._rollctl_last"


def _variant(
    ctx: LoadContext,
    values: dict[str, RawValue],
    desc: dict[str, str],
    row_cols: dict[str, str],
    trc: dict[str, str] | None,
    params: SqlParams,
    label: str,
) -> None:
    try:
        override = variant_override(ctx, row_cols, params, qualifier="o")
    except MissingFieldError:
        if trc is None:
            raise
        # Legacy exports keep release, version, tags and metadata on the trace rows.
        override = variant_override(ctx, trc, params, qualifier="t")
    if override is not None:
        values["variant"], desc["variant"] = override
        return
    where = label
    hit = pick(row_cols, ("release",), params, "o")
    if hit is None and trc is not None:
        hit, where = pick(trc, ("release",), params, "t"), "traces"
    if hit is not None:
        values["variant"], desc["variant"] = hit[0], (
            f"{where}.release (choose another with --variant-from version|prompt_version|metadata.KEY|tag:PREFIX)")


def _scores(
    ctx: LoadContext,
    export: _Export,
    values: dict[str, RawValue],
    desc: dict[str, str],
    notes: list[str],
    trace_id_sql: str,
    last: str,
    params: SqlParams,
) -> str:
    """Pivot the scores per trace (latest value per name) and return the JOIN that attaches them."""
    wanted = score_sources(ctx.options.mapping)
    if export.scores is None:
        if wanted:
            raise MissingFieldError(
                f"[mapping] reads score {', '.join(sorted(set(wanted.values())))}, but the export has no scores",
                path=export.path, field="scores",
                fix="include the scores/ folder of the Langfuse export (or remove the score: mapping)",
            )
        notes.append("no scores/ folder: thumbs and judge scores not loaded")
        return ""
    sp = SqlParams()
    cols = export.scores
    name = pick(cols, ("name",), sp)
    trace = pick(cols, ("trace_id", "traceId"), sp)
    subject = pick(cols, ("subject",), sp)
    if trace is None and subject is not None:
        # v3 scores: {kind: trace, id} scores a trace; {kind: observation, id, traceId} one of its observations.
        kind = as_text(nested(subject[0], ["kind"], sp))
        trace = (RawValue(f"(CASE WHEN {kind} = 'trace' THEN {as_text(nested(subject[0], ['id'], sp))} "
                          f"WHEN {kind} = 'observation' THEN {as_text(nested(subject[0], ['traceId'], sp))} END)",
                          "VARCHAR"), "subject")
    value = pick(cols, ("value",), sp)
    if name is None or trace is None or value is None:
        raise MissingFieldError("Langfuse scores need name, trace_id (or subject) and value", path=export.path,
                                field="scores", fix="export the scores folder with its standard columns")
    found_sql = f"SELECT DISTINCT {as_text(name[0])} FROM {quote_identifier(_SCR)} ORDER BY 1 LIMIT 50"
    found = [str(r[0]) for r in ctx.db.fetchall(found_sql, referenced_params(found_sql, sp.values))]
    if "thumbs" not in wanted:
        default = next((n for n in DEFAULT_THUMBS_SCORES if n in found), None)
        if default is not None:
            wanted["thumbs"] = default
    missing = sorted({n for n in wanted.values() if n not in found})
    if missing:
        raise MissingFieldError(
            f"[mapping] reads score {', '.join(missing)}, which the export does not have",
            path=export.path, field=missing[0],
            fix="scores found: " + (", ".join(found[:20]) or "none"),
        )
    string_value = pick(cols, ("string_value", "stringValue"), sp)
    data_type = pick(cols, ("data_type", "dataType"), sp)
    stamp = pick(cols, ("timestamp", "created_at", "createdAt"), sp)
    number = f"TRY_CAST({as_text(value[0])} AS DOUBLE)"
    text = as_text(string_value[0]) if string_value else "NULL"
    is_bool = f"upper({as_text(data_type[0])}) = 'BOOLEAN'" if data_type else "false"
    parts = []
    for canonical, score_name in sorted(wanted.items()):
        p = sp.add(score_name)
        order = f", {as_text(stamp[0])}" if stamp else ", 0"
        if canonical == "thumbs":
            thumbs = thumbs_from_score(number, text).sql
            expr = f"(CASE WHEN {is_bool} THEN (CASE WHEN {number} = 1 THEN '1' WHEN {number} = 0 THEN '-1' END) " \
                   f"ELSE {thumbs} END)"
        else:
            expr = f"coalesce(CAST({number} AS VARCHAR), {text})"
        parts.append(f"arg_max({expr}{order}) FILTER (WHERE {as_text(name[0])} = {p}) "
                     f"AS {quote_identifier('s_' + canonical)}")
    if not parts:
        notes.append(f"scores found ({', '.join(found[:10])}) but none mapped: map them in [mapping], "
                     'e.g. judge_score = "score:NAME"')
        return ""
    ctx.db.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_identifier(_SCA)} AS SELECT {as_text(trace[0])} AS trace_id, "
        f"{', '.join(parts)} FROM {quote_identifier(_SCR)} WHERE {as_text(trace[0])} IS NOT NULL GROUP BY ALL",
        sp.values)
    for canonical, score_name in wanted.items():
        values[canonical] = RawValue(f"(CASE WHEN {last} THEN sc.{quote_identifier('s_' + canonical)} END)",
                                     "VARCHAR")
        desc[canonical] = f"score {score_name} (joined on trace_id, latest value, on the trace's last generation)"
    notes.append(f"scores found: {', '.join(found[:10])}; used: "
                 + ", ".join(f"{k} ← {v}" for k, v in sorted(wanted.items())))
    return f"LEFT JOIN {quote_identifier(_SCA)} AS sc ON sc.trace_id = {trace_id_sql}"


LANGFUSE = Adapter("langfuse", "Langfuse blob export (observations_v2/ or traces/ + scores/) or API JSON",
                 _detect, _load, priority=110, detect_dir=_detect_dir, load_dir=_load_dir)

"""OpenTelemetry GenAI spans as OTLP/JSON (`resourceSpans[].scopeSpans[].spans[]`).

One export object per line (the Collector's file exporter) or one per file. DuckDB parses the export
straight into typed structs (`read_json` with an explicit structure), `unnest` flattens resource →
scope → span, and attributes (OTLP key/value lists) are looked up by key in SQL. Traps handled:
64-bit integers arrive as decimal strings (or numbers), ids are case-insensitive hex, status is the
integer enum (2 = ERROR), only LLM calls become rows (`gen_ai.operation.name`), and cached tokens are
already included in `gen_ai.usage.input_tokens` (the convention says so), so they are not added again.
"""

from __future__ import annotations

from rollctl.db import quote_identifier
from rollctl.load.adapters import Adapter, register
from rollctl.load.adapters.support import drop, stage
from rollctl.load.canonical import field_names
from rollctl.load.expressions import RawValue, SqlParams
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

_ANY_VALUE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue VARCHAR, boolValue VARCHAR, "
    "arrayValue JSON, kvlistValue JSON, bytesValue VARCHAR)"
)
_KEY_VALUES = f"STRUCT(key VARCHAR, value {_ANY_VALUE})[]"
_SPAN = (
    "STRUCT(traceId VARCHAR, spanId VARCHAR, parentSpanId VARCHAR, name VARCHAR, kind VARCHAR, "
    f"startTimeUnixNano VARCHAR, endTimeUnixNano VARCHAR, attributes {_KEY_VALUES}, "
    f"events STRUCT(timeUnixNano VARCHAR, name VARCHAR, attributes {_KEY_VALUES})[], "
    "status STRUCT(code VARCHAR, message VARCHAR))"
)
_STRUCTURE = {
    "resourceSpans": f"STRUCT(resource STRUCT(attributes {_KEY_VALUES}), "
                     f"scopeSpans STRUCT(scope STRUCT(name VARCHAR, version VARCHAR), spans {_SPAN}[])[])[]"
}

LLM_OPERATIONS = ("chat", "text_completion", "generate_content")
"""Operations that are one model call producing output; agents, tools, retrieval and embeddings are not."""

EVALUATION_EVENT = "gen_ai.evaluation.result"

# canonical field -> span attribute keys, first present wins (current names, then deprecated ones).
_SPAN_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "user_id": ("user.id", "enduser.id"),
    "session_id": ("session.id", "gen_ai.conversation.id"),
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "prompt_version": ("gen_ai.prompt.version",),
    "input": ("gen_ai.input.messages", "gen_ai.prompt"),
    "output": ("gen_ai.output.messages", "gen_ai.completion"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cost_usd": ("gen_ai.usage.cost.amount", "gen_ai.usage.cost"),
}
_OPERATION = "gen_ai.operation.name"
_FLAG_VARIANT = "feature_flag.result.variant"
_SERVICE_VERSION = "service.version"
_TTFT = "gen_ai.response.time_to_first_chunk"
_ERROR_TYPE = "error.type"


def _detect(probe: Probe) -> bool:
    return probe.file.format in ("json", "jsonl") and "resourceSpans" in probe.columns


def _scalar(value: str) -> str:
    """Text of an OTLP AnyValue: strings, int64-as-string, doubles and bools alike."""
    return (
        f"coalesce({value}.stringValue, {value}.intValue, {value}.doubleValue, {value}.boolValue, "
        f"CAST({value}.arrayValue AS VARCHAR), CAST({value}.kvlistValue AS VARCHAR))"
    )


def _attribute(kv_list: str, key_param: str) -> str:
    """The value of one key in an OTLP attribute list (NULL when absent)."""
    return f"list_transform(list_filter({kv_list}, lambda a: a.key = {key_param}), lambda a: {_scalar('a.value')})[1]"


def _attribute_map(kv_list: str) -> str:
    """The attribute list as a MAP key -> text, built once per span so each lookup is cheap.

    A MAP needs unique keys; OTLP says keys are unique but exporters do not all enforce it, so the
    first occurrence of a key is kept.
    """
    entries = f"list_transform({kv_list}, lambda a: {{'key': a.key, 'value': {_scalar('a.value')}}})"
    keys = f"list_transform({kv_list}, lambda b: b.key)"
    return f"map_from_entries(list_filter({entries}, lambda e, i: list_position({keys}, e.key) = i))"


def _hex(sql: str) -> str:
    # OTLP/JSON ids are case-insensitive hex; one spelling keeps joins and de-duplication exact.
    return f"(CASE WHEN regexp_full_match({sql}, '[0-9A-Fa-f]+') THEN lower({sql}) ELSE nullif({sql}, '') END)"


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    db = ctx.db
    reader: Reader = reader_for_load(ctx, probe, structure=dict(_STRUCTURE))
    params = SqlParams()
    span_keys: dict[str, str] = {}
    resource_keys: dict[str, str] = {}

    def span_attr(key: str) -> str:
        if key not in span_keys:
            span_keys[key] = f"sa{len(span_keys)}"
        return span_keys[key]

    def resource_attr(key: str) -> str:
        if key not in resource_keys:
            resource_keys[key] = f"ra{len(resource_keys)}"
        return resource_keys[key]

    scores = score_sources(ctx.options.mapping)
    mapped = {k: v for k, v in ctx.options.mapping.items() if k in field_names("traces") and k not in scores}

    # Which attribute feeds each field; --map names an attribute key (span first, then resource).
    values: dict[str, RawValue] = {}
    descriptions: dict[str, str] = {}
    for canonical, keys in _SPAN_ATTRIBUTES.items():
        if canonical in mapped:
            continue
        cols = [span_attr(k) for k in keys]
        values[canonical] = RawValue(f"coalesce({', '.join(cols)})", "VARCHAR")
        descriptions[canonical] = " or ".join(f"span attribute {k}" for k in keys)
    for canonical, key in mapped.items():
        values[canonical] = RawValue(f"coalesce({span_attr(key)}, {resource_attr(key)})", "VARCHAR")
        descriptions[canonical] = f"attribute {key} (--map)"
    if ctx.options.variant_from and "variant" not in mapped:
        key = ctx.options.variant_from
        values["variant"] = RawValue(f"coalesce({span_attr(key)}, {resource_attr(key)})", "VARCHAR")
        descriptions["variant"] = f"attribute {key} (--variant-from)"
    elif "variant" not in mapped:
        values["variant"] = RawValue(
            f"coalesce({span_attr(_FLAG_VARIANT)}, {resource_attr(_SERVICE_VERSION)})", "VARCHAR"
        )
        descriptions["variant"] = f"span attribute {_FLAG_VARIANT}, else resource attribute {_SERVICE_VERSION}"
    op = span_attr(_OPERATION)
    error_type = span_attr(_ERROR_TYPE)
    ttft = span_attr(_TTFT)

    key_columns = [f"map_extract_value(sattrs, {params.add(k)}) AS {c}" for k, c in span_keys.items()]
    key_columns += [f"{_attribute('rattrs', params.add(k))} AS {c}" for k, c in resource_keys.items()]
    score_name = scores.get("judge_score")
    name_filter = ""
    if score_name is not None:
        name_filter = (
            f" AND {_attribute('e.attributes', params.add('gen_ai.evaluation.name'))} = {params.add(score_name)}"
        )
    evaluation = (
        f"list_filter(s.events, lambda e: e.name = {params.add(EVALUATION_EVENT)}{name_filter})"
    )
    value_key = params.add("gen_ai.evaluation.score.value")
    name_key = params.add("gen_ai.evaluation.name")
    stage_sql = f"""
        SELECT {_hex('s.traceId')} AS trace_id, {_hex('s.spanId')} AS span_id,
               TRY_CAST(s.startTimeUnixNano AS HUGEINT) AS start_ns,
               TRY_CAST(s.endTimeUnixNano AS HUGEINT) AS end_ns,
               upper(trim(s.status.code)) AS status_code,
               list_avg(list_transform({evaluation},
                   lambda e: TRY_CAST({_attribute('e.attributes', value_key)} AS DOUBLE))) AS evaluation_score,
               list_transform(list_filter(s.events, lambda e: e.name = {params.add(EVALUATION_EVENT)}),
                   lambda e: {_attribute('e.attributes', name_key)}) AS evaluation_names,
               to_json(sattrs) AS attributes,
               {', '.join(key_columns)}
        FROM (SELECT *, {_attribute_map('s.attributes')} AS sattrs
              FROM (SELECT rattrs, unnest(ss.spans) AS s
                    FROM (SELECT r.resource.attributes AS rattrs, unnest(r.scopeSpans) AS ss
                          FROM (SELECT unnest(resourceSpans) AS r FROM {reader.sql} AS src))))
    """
    table = "_otel_spans"
    stage(ctx, table, stage_sql, {**reader.params, **params.values}, probe.file)
    try:
        return _insert(ctx, probe, table, values, descriptions, op=op, error_type=error_type, ttft=ttft,
                       reader=reader, score_name=score_name)
    finally:
        drop(db, table)


def _insert(
    ctx: LoadContext,
    probe: Probe,
    table: str,
    values: dict[str, RawValue],
    descriptions: dict[str, str],
    *,
    op: str,
    error_type: str,
    ttft: str,
    reader: Reader,
    score_name: str | None,
) -> FileReport:
    params = SqlParams()
    values.update({
        "request_id": RawValue("span_id", "VARCHAR"),
        "timestamp": RawValue("make_timestamp(CAST(start_ns // 1000 AS BIGINT))", "TIMESTAMP"),
        "latency_ms": RawValue("CAST(end_ns - start_ns AS DOUBLE) / 1e6", "DOUBLE"),
        "ttft_ms": RawValue(f"TRY_CAST({ttft} AS DOUBLE) * 1000", "DOUBLE"),
        "served": RawValue("true", "BOOLEAN"),
        "error": RawValue(
            f"coalesce({error_type}, CASE WHEN status_code IN ('2', 'STATUS_CODE_ERROR', 'ERROR') "
            "THEN 'error' END)", "VARCHAR"),
        "judge_score": RawValue("evaluation_score", "DOUBLE"),
        "cache_hit": RawValue(f"TRY_CAST({values['cached_tokens'].sql} AS DOUBLE) > 0", "BOOLEAN")
        if "cached_tokens" in values else RawValue("NULL", "BOOLEAN"),
        "metadata": RawValue(
            "json_merge_patch(coalesce(attributes, '{}'::JSON), "
            "json_object('otel.trace_id', trace_id, 'otel.span_id', span_id))", "JSON"),
    })
    descriptions.update({
        "request_id": "span spanId (hex, lower-cased)",
        "timestamp": "span startTimeUnixNano",
        "latency_ms": "span endTimeUnixNano − startTimeUnixNano",
        "ttft_ms": f"span attribute {_TTFT} (seconds × 1000)",
        "served": "constant true (a traced call was served)",
        "error": f"span attribute {_ERROR_TYPE}, else 'error' when status.code = 2 (ERROR)",
        "judge_score": f"mean gen_ai.evaluation.score.value of {EVALUATION_EVENT} events"
        + (f" named {score_name}" if score_name else ""),
        "cache_hit": "cached_tokens > 0",
        "metadata": "all span attributes + otel.trace_id, otel.span_id",
    })
    selection = select_canonical("traces", values, params, keep_text=ctx.options.keep_text,
                                 descriptions=descriptions)
    ops = params.add(list(LLM_OPERATIONS))
    where = f"WHERE list_contains({ops}, lower({op}))"
    rows = insert_rows(ctx, probe, "traces", selection, Reader(sql=quote_identifier(table), params={}),
                       params, where_sql=where)
    notes = _notes(ctx, table, op)
    return FileReport(
        path=probe.file.path, format="otel", kind="traces", rows={"traces": rows},
        columns=tuple(probe.columns), sources=selection.sources,
        skipped_lines=reader.skipped_lines, notes=notes,
    )


def _notes(ctx: LoadContext, table: str, op: str) -> tuple[str, ...]:
    params = SqlParams()
    ops = params.add(list(LLM_OPERATIONS))
    skipped = ctx.db.fetchall(
        f"SELECT coalesce(lower({op}), '(no {_OPERATION})') AS o, count(*) FROM {quote_identifier(table)} "
        f"WHERE NOT coalesce(list_contains({ops}, lower({op})), false) GROUP BY ALL ORDER BY 2 DESC, 1",
        params.values,
    )
    notes: list[str] = [f"rows are spans whose {_OPERATION} is {', '.join(LLM_OPERATIONS)}"]
    total = sum(int(n) for _, n in skipped)
    if total:
        detail = ", ".join(f"{o}: {int(n):,}" for o, n in skipped[:8])
        notes.append(f"{total:,} span(s) that are not LLM calls skipped ({detail})")
    names = [str(r[0]) for r in ctx.db.fetchall(
        f"SELECT DISTINCT n FROM (SELECT unnest(evaluation_names) AS n FROM {quote_identifier(table)}) "
        "WHERE n IS NOT NULL ORDER BY n LIMIT 10")]
    if names:
        notes.append(f"evaluation results found: {', '.join(names)} "
                     '(choose one with judge_score = "score:NAME" in [mapping])')
    return tuple(notes)


register(Adapter("otel", "OpenTelemetry GenAI spans, OTLP/JSON (resourceSpans[].scopeSpans[].spans[])",
                 _detect, _load, priority=100, envelope=True))

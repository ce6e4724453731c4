"""OpenTelemetry GenAI spans as OTLP/JSON (`resourceSpans[].scopeSpans[].spans[]`).

One export object per line (the Collector's file exporter) or one per file. DuckDB parses the export
straight into typed structs (`read_json` with an explicit structure), `unnest` flattens resource →
scope → span, and attributes (OTLP key/value lists) are looked up by key in SQL. Traps handled:
64-bit integers arrive as decimal strings (or numbers), ids are case-insensitive hex, status is the
integer enum (2 = ERROR), and cached tokens are already included in `gen_ai.usage.input_tokens` (the
convention says so), so they are not added again.

Instrumentations write three generations of the GenAI conventions, all read here:

- current (`gen_ai.operation.name`, `gen_ai.input.messages` / `gen_ai.output.messages` as JSON message
  lists): the output is the text parts of the output messages, not the raw JSON;
- older (`gen_ai.system`, `llm.request.type`, indexed `gen_ai.prompt.N.role|content` and
  `gen_ai.completion.N.content`, `gen_ai.usage.prompt_tokens`, as openllmetry before 0.4x writes them): the
  indexed prompt becomes a JSON message list, the first completion the output;
- content in span events (`gen_ai.content.prompt` / `gen_ai.content.completion`, as OpenLIT writes them).

Only LLM calls become rows: the operation is `gen_ai.operation.name`, else `llm.request.type`, else "chat"
for a span naming a requested model. A failed call stays a call: its error class comes from `error.type`,
else the `exception` event's `exception.type`, else "error" for an ERROR status, normalised like every
adapter's (`RateLimitError` → rate_limit, `APITimeoutError` → timeout). `user.id` and `session.id` are
often set by the application on its own request span, an ancestor of the call: a span without them takes
the value its trace carries (when the trace carries one value). An errored span that has no response model
records no model, since the requested alias is not what served (it raised false "several models" warnings).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollctl.db import quote_identifier
from rollctl.load.adapters.support import drop, error_class, stage
from rollctl.load.canonical import field_names
from rollctl.load.expressions import RawValue, SqlParams
from rollctl.load.mapping import score_sources
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

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
    "model": ("gen_ai.response.model",),
    "prompt_version": ("gen_ai.prompt.version",),
    "input": ("gen_ai.input.messages", "gen_ai.prompt"),
    "output": ("gen_ai.output.messages", "gen_ai.completion"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cost_usd": ("gen_ai.usage.cost.amount", "gen_ai.usage.cost"),
}
_OPERATION = "gen_ai.operation.name"
_LEGACY_OPERATION = "llm.request.type"
_REQUEST_MODEL = "gen_ai.request.model"
_RESPONSE_MODEL = "gen_ai.response.model"
_OUTPUT_MESSAGES = "gen_ai.output.messages"
_CONTENT_EVENTS = {"input": ("gen_ai.content.prompt", "gen_ai.prompt"),
                   "output": ("gen_ai.content.completion", "gen_ai.completion")}
"""Content carried in span events (OpenLIT): event name and the event attribute holding the text."""
_TRACE_SHARED = ("user_id", "session_id")
"""Fields an application sets once on its request span: a call span without them takes its trace's value."""
_FLAG_VARIANT = "feature_flag.result.variant"
_SERVICE_VERSION = "service.version"
_TTFT = "gen_ai.response.time_to_first_chunk"
_TTFT_OPENLIT = "gen_ai.server.time_to_first_token"
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


def _event_attribute(event_param: str, key_param: str) -> str:
    """An attribute of the span's first event of one name (NULL when there is none)."""
    return (f"list_transform(list_filter(s.events, lambda e: e.name = {event_param}), "
            f"lambda e: {_attribute('e.attributes', key_param)})[1]")


def _indexed_messages(prefix_param: str, first_param: str) -> str:
    """openllmetry's indexed prompt (`gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, ...) as a JSON list of
    {role, content} in index order (NULL when the span has none). Only a span holding the first message
    (`first_param`, a map lookup) walks its attribute list: spans in the current conventions cost nothing."""
    matching = (f"list_filter(s.attributes, lambda a: starts_with(a.key, {prefix_param}) "
                "AND ends_with(a.key, '.content'))")
    entries = (f"list_sort(list_transform({matching}, lambda a: {{'i': TRY_CAST(regexp_extract(a.key, "
               f"'\\.([0-9]+)\\.content$', 1) AS INTEGER), 'role': sattrs[replace(a.key, '.content', '.role')], "
               f"'content': {_scalar('a.value')}}}))")
    return (f"(CASE WHEN map_contains(sattrs, {first_param}) THEN CAST(to_json(list_transform({entries}, "
            "lambda m: {'role': m.role, 'content': m.content})) AS VARCHAR) END)")


def _message_text(json_sql: str) -> str:
    """The text parts of a GenAI message list (`[{role, parts: [{type: "text", content}]}]`), joined by newlines;
    NULL when the value is not such a list, so the caller falls back to the raw value."""
    parts = f"CAST(json_extract({json_sql}, '$[*].parts[*]') AS JSON[])"
    texts = f"list_transform(list_filter({parts}, lambda p: p ->> '$.type' = 'text'), lambda p: p ->> '$.content')"
    return (f"(CASE WHEN json_valid({json_sql}) AND json_type({json_sql}) = 'ARRAY' "
            f"THEN nullif(array_to_string({texts}, chr(10)), '') END)")


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
    op, legacy_op = span_attr(_OPERATION), span_attr(_LEGACY_OPERATION)
    request_model, response_model = span_attr(_REQUEST_MODEL), span_attr(_RESPONSE_MODEL)
    error_type = span_attr(_ERROR_TYPE)
    ttft = f"coalesce({span_attr(_TTFT)}, {span_attr(_TTFT_OPENLIT)})"
    output_messages = span_attr(_OUTPUT_MESSAGES)

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
    # Content the older conventions carry elsewhere (events, indexed attributes) and the exception event: one
    # struct, NULL for a span that has neither events nor an indexed prompt or completion (every span of an
    # export in the current conventions), so such exports stage one empty column instead of five.
    first_prompt, first_completion = params.add("gen_ai.prompt.0.content"), params.add("gen_ai.completion.0.content")
    legacy_fields = [
        f"event_{canonical} := {_event_attribute(params.add(event), params.add(key))}"
        for canonical, (event, key) in _CONTENT_EVENTS.items()
    ]
    legacy_fields += [
        f"indexed_input := {_indexed_messages(params.add('gen_ai.prompt.'), first_prompt)}",
        f"indexed_output := map_extract_value(sattrs, {first_completion})",
        f"exception_type := {_event_attribute(params.add('exception'), params.add('exception.type'))}",
    ]
    content_columns = [
        f"(CASE WHEN len(s.events) > 0 OR map_contains(sattrs, {first_prompt}) OR map_contains(sattrs, "
        f"{first_completion}) THEN struct_pack({', '.join(legacy_fields)}) END) AS legacy"
    ]
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
               {', '.join(content_columns)},
               {', '.join(key_columns)}
        FROM (SELECT *, {_attribute_map('s.attributes')} AS sattrs
              FROM (SELECT rattrs, unnest(ss.spans) AS s
                    FROM (SELECT r.resource.attributes AS rattrs, unnest(r.scopeSpans) AS ss
                          FROM (SELECT unnest(resourceSpans) AS r FROM {reader.sql} AS src))))
    """
    table = "_otel_spans"
    stage(ctx, table, stage_sql, {**reader.params, **params.values}, probe.file)
    try:
        columns = _Columns(op=op, legacy_op=legacy_op, request_model=request_model, response_model=response_model,
                           error_type=error_type, ttft=ttft, output_messages=output_messages)
        return _insert(ctx, probe, table, values, descriptions, columns, reader=reader, score_name=score_name)
    finally:
        drop(db, table)


@dataclass(frozen=True)
class _Columns:
    """Names of the staged columns holding the attributes the load reasons about (not only copies)."""

    op: str
    legacy_op: str
    request_model: str
    response_model: str
    error_type: str
    ttft: str
    output_messages: str

    def operation(self) -> str:
        """The span's GenAI operation: current attribute, else the older one, else chat for a model call."""
        legacy = f"lower({self.legacy_op})"
        return (f"lower(coalesce({self.op}, CASE WHEN {legacy} = 'completion' THEN 'text_completion' "
                f"ELSE {legacy} END, CASE WHEN {self.request_model} IS NOT NULL THEN 'chat' END))")

    def error(self) -> str:
        return (f"coalesce({error_class(f'coalesce({self.error_type}, legacy.exception_type)')}, "
                "CASE WHEN status_code IN ('2', 'STATUS_CODE_ERROR', 'ERROR') THEN 'error' END)")


def _lacking_in_some_trace(ctx: LoadContext, table: str, values: dict[str, str]) -> list[str]:
    """The fields (name -> SQL) some span lacks while another span of its trace has them: one grouped scan,
    skipped when no span lacks any of them."""
    if not values:
        return []
    spans = quote_identifier(table)
    missing = ctx.db.fetchone(f"SELECT {', '.join(f'bool_or(({v}) IS NULL)' for v in values.values())} FROM {spans}")
    candidates = {name: sql for (name, sql), some_null in zip(values.items(), missing, strict=True) if some_null}
    if not candidates:
        return []
    per_trace = ", ".join(f"count(*) FILTER (WHERE ({v}) IS NULL) > 0 AND count({v}) > 0 AS l{i}"
                          for i, v in enumerate(candidates.values()))
    row = ctx.db.fetchone(f"SELECT {', '.join(f'bool_or(l{i})' for i in range(len(candidates)))} FROM "
                          f"(SELECT {per_trace} FROM {spans} GROUP BY trace_id)")
    return [name for name, lacks in zip(candidates, row, strict=True) if lacks]


def _shared_by_trace(value_sql: str) -> str:
    """The span's own value, else the one value its trace carries (an ancestor request span sets it)."""
    window = "OVER (PARTITION BY trace_id)"
    return (f"coalesce({value_sql}, CASE WHEN min({value_sql}) {window} = max({value_sql}) {window} "
            f"THEN min({value_sql}) {window} END)")


def _insert(
    ctx: LoadContext,
    probe: Probe,
    table: str,
    values: dict[str, RawValue],
    descriptions: dict[str, str],
    columns: _Columns,
    *,
    reader: Reader,
    score_name: str | None,
) -> FileReport:
    params = SqlParams()
    if "input" in values and "input" not in ctx.options.mapping:
        values["input"] = RawValue(f"coalesce({values['input'].sql}, legacy.indexed_input, legacy.event_input)",
                                   "VARCHAR")
        descriptions["input"] += (", else indexed gen_ai.prompt.N.role|content, "
                                  "else event gen_ai.content.prompt")
    if "output" in values and "output" not in ctx.options.mapping:
        values["output"] = RawValue(
            f"coalesce({_message_text(columns.output_messages)}, {values['output'].sql}, legacy.indexed_output, "
            "legacy.event_output)", "VARCHAR")
        descriptions["output"] = (f"text parts of span attribute {_OUTPUT_MESSAGES}, else span attribute "
                                  "gen_ai.completion, else gen_ai.completion.0.content, "
                                  "else event gen_ai.content.completion")
    if "model" in values and "model" not in ctx.options.mapping:
        values["model"] = RawValue(
            f"coalesce({columns.response_model}, CASE WHEN _error IS NULL THEN {columns.request_model} END)",
            "VARCHAR")
        descriptions["model"] = (f"span attribute {_RESPONSE_MODEL}, else {_REQUEST_MODEL} "
                                 "(not for a failed call: the alias asked for is not what served)")
    shared = [name for name in _TRACE_SHARED if name in values and name not in ctx.options.mapping]
    # The window over each trace sorts every span: worth it only when a span lacks the value its trace has.
    lacking = _lacking_in_some_trace(ctx, table, {name: values[name].sql for name in shared})
    trace_columns = "".join(f", {_shared_by_trace(f'({values[name].sql})')} AS _trace_{name}" for name in lacking)
    trace_columns += "".join(f", {values[name].sql} AS _trace_{name}" for name in shared if name not in lacking)
    for name in shared:
        values[name] = RawValue(f"_trace_{name}", "VARCHAR")
        descriptions[name] += " (on the span, else the one value its trace carries)"
    values.update({
        "request_id": RawValue("span_id", "VARCHAR"),
        "timestamp": RawValue("make_timestamp(CAST(start_ns // 1000 AS BIGINT))", "TIMESTAMP"),
        "latency_ms": RawValue("CAST(end_ns - start_ns AS DOUBLE) / 1e6", "DOUBLE"),
        "ttft_ms": RawValue(f"TRY_CAST({columns.ttft} AS DOUBLE) * 1000", "DOUBLE"),
        "served": RawValue("true", "BOOLEAN"),
        "error": RawValue("_error", "VARCHAR"),
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
        "ttft_ms": f"span attribute {_TTFT}, else {_TTFT_OPENLIT} (seconds × 1000)",
        "served": "constant true (a traced call was served)",
        "error": (f"span attribute {_ERROR_TYPE}, else event exception's exception.type (as a class: "
                  "rate_limit, timeout, ...), else 'error' when status.code = 2 (ERROR)"),
        "judge_score": f"mean gen_ai.evaluation.score.value of {EVALUATION_EVENT} events"
        + (f" named {score_name}" if score_name else ""),
        "cache_hit": "cached_tokens > 0",
        "metadata": "all span attributes + otel.trace_id, otel.span_id",
    })
    selection = select_canonical("traces", values, params, keep_text=ctx.options.keep_text,
                                 descriptions=descriptions)
    ops = params.add(list(LLM_OPERATIONS))
    where = f"WHERE list_contains({ops}, {columns.operation()})"
    # The error class is computed once per span here: the model reads it too.
    spans = f"(SELECT *, {columns.error()} AS _error{trace_columns} FROM {quote_identifier(table)})"
    rows = insert_rows(ctx, probe, "traces", selection, Reader(sql=spans, params={}), params, where_sql=where)
    notes = _notes(ctx, table, columns.operation())
    return FileReport(
        path=probe.file.path, format="otel", kind="traces", rows={"traces": rows},
        columns=tuple(probe.columns), sources=selection.sources,
        skipped_lines=reader.skipped_lines, notes=notes,
    )


def _notes(ctx: LoadContext, table: str, operation_sql: str) -> tuple[str, ...]:
    params = SqlParams()
    ops = params.add(list(LLM_OPERATIONS))
    skipped = ctx.db.fetchall(
        f"SELECT coalesce({operation_sql}, '(no {_OPERATION})') AS o, count(*) FROM {quote_identifier(table)} "
        f"WHERE NOT coalesce(list_contains({ops}, {operation_sql}), false) GROUP BY ALL ORDER BY 2 DESC, 1",
        params.values,
    )
    notes: list[str] = [f"rows are spans whose operation ({_OPERATION}, else {_LEGACY_OPERATION}, else chat for "
                        f"a span with {_REQUEST_MODEL}) is {', '.join(LLM_OPERATIONS)}"]
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


OTEL = Adapter("otel", "OpenTelemetry GenAI spans, OTLP/JSON (resourceSpans[].scopeSpans[].spans[])",
                 _detect, _load, priority=100, envelope=True)

"""Braintrust experiment events: root events become eval rows (for eval-gate) and trace rows.

An experiment export holds one event per span (JSONL, or API fetch pages `{"events": [...]}`); `is_root` (or
an empty `span_parents`) marks the test-case row. The case is `dataset_record_id`, else a hash of `input`
(so two experiments over the same inputs align). The variant is the experiment. Repeats (trials) are
numbered by order of `created` within a case and variant. `scores` is a name → 0..1 map: `score` is their
mean (or one score chosen with `score = "score:NAME"` in [mapping]) and `passed` is `score >= 0.5`.
`metrics` holds epoch-second `start`/`end` and token counts.

The SDK's evaluator writes the root `eval` span without scores: each scorer's result sits on a child `score`
span, and the model and tokens on a child `llm` span (`metadata.model`, `metrics.prompt_tokens`, ...). A
root without its own scores takes its children's (same `root_span_id`); model and tokens likewise come
from its `llm` spans (the last one's model, tokens summed) when the root has none.
"""

from __future__ import annotations

from rollctl.load.adapters.support import (
    apply_mapping,
    drop,
    error_class,
    pick,
    pick_all,
    stage,
    unwrap_pages,
    variant_override,
)
from rollctl.load.expressions import RawValue, SqlParams, as_text
from rollctl.load.files import InputFile
from rollctl.load.mapping import score_sources
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, referenced_params, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

_TABLE = "_bt_events"
PASS_THRESHOLD = 0.5


_CHILDREN = "_bt_children"
_EVENT_KEYS = frozenset({"root_span_id", "span_attributes"})


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    events = "scores" in cols and ("span_attributes" in cols or "root_span_id" in cols or "is_root" in cols)
    return events or probe.page_keys.get("events", frozenset()) >= _EVENT_KEYS


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    if "events" in cols and "root_span_id" not in cols:  # API fetch pages: {"events": [...]}
        cols = unwrap_pages(ctx, _TABLE, "events", probe.file)
    try:
        return _insert(ctx, probe, cols, reader)
    finally:
        drop(ctx.db, _TABLE, _CHILDREN)


def _children(ctx: LoadContext, cols: dict[str, str], not_root: str, score_name: str | None) -> list[str]:
    """Stage per root what its child spans hold (scorer results, llm model and tokens); the names of the staged
    columns besides `root_key`. Empty when the file has no `root_span_id` to join on."""
    params = SqlParams()
    key = pick(cols, ("root_span_id",), params)
    if key is None:
        return []
    lent: dict[str, str] = {}  # staged column -> its aggregate over the root's child spans
    scores = pick(cols, ("scores",), params)
    if scores is not None:
        score_map = f"TRY_CAST(to_json({scores[0].sql}) AS MAP(VARCHAR, DOUBLE))"
        if score_name is not None:
            value = f"element_at({score_map}, {params.add(score_name)})[1]"
            lent["child_score"] = f"avg({value})"
        else:
            lent["child_score"] = f"avg(list_avg(list_filter(map_values({score_map}), lambda v: v IS NOT NULL)))"
    kind = pick(cols, ("span_attributes.type",), params)
    is_llm = f"lower({as_text(kind[0])}) = 'llm'" if kind else "false"
    start = pick(cols, ("metrics.start",), params)
    order = f"TRY_CAST({as_text(start[0])} AS DOUBLE)" if start else "0"
    model = pick(cols, ("metadata.model",), params)
    if model is not None:
        lent["child_model"] = f"arg_max({as_text(model[0])}, {order}) FILTER (WHERE {is_llm})"
    for name, source in (("input_tokens", "metrics.prompt_tokens"), ("output_tokens", "metrics.completion_tokens"),
                         ("cached_tokens", "metrics.prompt_cached_tokens")):
        hit = pick(cols, (source,), params)
        if hit is not None:
            lent[f"child_{name}"] = f"sum(TRY_CAST({as_text(hit[0])} AS DOUBLE)) FILTER (WHERE {is_llm})"
    parts = [f"{as_text(key[0])} AS root_key", *(f"{sql} AS {name}" for name, sql in lent.items())]
    sql = f"SELECT {', '.join(parts)} FROM {_TABLE} WHERE {not_root} GROUP BY ALL"
    stage(ctx, _CHILDREN, sql, referenced_params(sql, params.values), InputFile(_TABLE, "table"))
    return list(lent)


def _insert(ctx: LoadContext, probe: Probe, cols: dict[str, str], reader: Reader) -> FileReport:
    params = SqlParams()
    root = pick(cols, ("is_root",), params)
    parents = pick(cols, ("span_parents",), params)
    if root is not None:
        is_root = f"coalesce(TRY_CAST({as_text(root[0])} AS BOOLEAN), false)"
    elif parents is not None:
        is_root = f"coalesce(json_array_length(to_json({parents[0].sql})), 0) = 0"
    else:
        is_root = "true"
    where = f"WHERE {is_root}"
    scores = pick(cols, ("scores",), params)
    score_map = f"TRY_CAST(to_json({scores[0].sql}) AS MAP(VARCHAR, DOUBLE))" if scores else "NULL"
    chosen = score_sources(ctx.options.mapping).get("score")
    if chosen is not None:
        score_sql = f"element_at({score_map}, {params.add(chosen)})[1]"
        score_desc = f"scores.{chosen}"
    else:
        score_sql = f"list_avg(list_filter(map_values({score_map}), lambda v: v IS NOT NULL))"
        score_desc = "mean of scores.* (choose one with score = \"score:NAME\" in [mapping])"
    lent = _children(ctx, cols, f"NOT ({is_root})", chosen) if is_root != "true" else []
    join = ""
    if lent:
        score_sql = f"coalesce({score_sql}, c.child_score)" if "child_score" in lent else score_sql
        score_desc += ", else the mean over the child score spans of the same root_span_id"
        key = pick(cols, ("root_span_id",), params, "e")
        assert key is not None
        join = f" AS e LEFT JOIN {_CHILDREN} AS c ON c.root_key = {as_text(key[0])}"
    override = variant_override(ctx, cols, params)
    variant = override or pick_all(cols, ("experiment_name", "experiment_id", "project_id"), params)
    case = pick_all(cols, ("dataset_record_id",), params)
    input_ = pick(cols, ("input",), params)
    case_sql = as_text(case[0]) if case else "NULL"
    if input_ is not None:
        case_sql = f"coalesce({case_sql}, left(md5(CAST(to_json({input_[0].sql}) AS VARCHAR)), 16))"
    created = pick_all(cols, ("created", "metrics.start"), params)
    error = pick(cols, ("error",), params)
    error_sql = error_class(as_text(error[0])) if error else "NULL"
    lent_columns = "".join(f", c.{name}" for name in lent if name != "child_score")
    stage_sql = (
        f"SELECT {'e.' if join else ''}*{lent_columns}, {case_sql} AS _case, "
        f"{as_text(variant[0]) if variant else 'NULL'} AS _variant, "
        f"{score_sql} AS _score, {error_sql} AS _error FROM {_TABLE}{join} {where}"
    )
    rows_table = _TABLE + "_roots"
    stage(ctx, rows_table, stage_sql, params.values, probe.file)
    order = f"ORDER BY {as_text(created[0])}" if created else ""
    try:
        ctx.db.execute(f"ALTER TABLE {rows_table} ADD COLUMN _repeat BIGINT")
        update = (f"UPDATE {rows_table} SET _repeat = r.n FROM (SELECT rowid AS rid, row_number() OVER "
                  f"(PARTITION BY _case, _variant {order}) - 1 AS n FROM {rows_table}) AS r WHERE rowid = r.rid")
        ctx.db.execute(update, referenced_params(update, params.values))
        rcols = {**cols, "_case": "VARCHAR", "_variant": "VARCHAR", "_score": "DOUBLE", "_error": "VARCHAR",
                 "_repeat": "BIGINT", **{name: "VARCHAR" for name in lent if name != "child_score"}}
        return _insert_tables(ctx, probe, rcols, rows_table, reader, score_desc,
                              variant[1] if variant else None)
    finally:
        drop(ctx.db, rows_table)


def _insert_tables(
    ctx: LoadContext, probe: Probe, cols: dict[str, str], table: str, reader: Reader, score_desc: str,
    variant_desc: str | None,
) -> FileReport:
    src = Reader(sql=table, params={})
    # Eval rows.
    p = SqlParams()
    ev: dict[str, RawValue] = {
        "case_id": RawValue("_case", "VARCHAR"),
        "repeat": RawValue("_repeat", "BIGINT"),
        "score": RawValue("_score", "DOUBLE"),
        "passed": RawValue(f"_score >= {PASS_THRESHOLD}", "BOOLEAN"),
        "error": RawValue("_error", "VARCHAR"),
    }
    ed = {"case_id": "dataset_record_id, else a hash of input", "repeat": "order of created within case and variant",
          "score": score_desc, "passed": f"score >= {PASS_THRESHOLD}", "error": "error (class)"}
    if variant_desc:
        ev["variant"], ed["variant"] = RawValue("_variant", "VARCHAR"), variant_desc
    tags = pick(cols, ("tags",), p)
    if tags:
        ev["tags"], ed["tags"] = tags[0], "tags"
    apply_mapping("evals", ev, ed, cols, ctx.options.mapping, p)
    sel_e = select_canonical("evals", ev, p, keep_text=True, descriptions=ed)
    n_evals = insert_rows(ctx, probe, "evals", sel_e, src, p)
    # Trace rows: the same root events as calls, for cost / latency / token comparisons.
    q = SqlParams()
    tv: dict[str, RawValue] = {}
    td: dict[str, str] = {}
    for canonical, names in (("request_id", ("id",)), ("timestamp", ("created",)), ("input", ("input",)),
                             ("output", ("output",)), ("model", ("metadata.model",)), ("tags", ("tags",)),
                             ("metadata", ("metadata",)), ("input_tokens", ("metrics.prompt_tokens",)),
                             ("output_tokens", ("metrics.completion_tokens",)),
                             ("cached_tokens", ("metrics.prompt_cached_tokens",)),
                             ("cost_usd", ("metrics.estimated_cost",))):
        hit = pick_all(cols, names, q)
        if hit is not None:
            tv[canonical], td[canonical] = hit
        if f"child_{canonical}" in cols:  # the root's llm spans say it when the root does not
            own = as_text(hit[0]) if hit is not None else "NULL"
            tv[canonical] = RawValue(f"coalesce({own}, CAST(child_{canonical} AS VARCHAR))", "VARCHAR")
            td[canonical] = (f"{hit[1] + ', else ' if hit else ''}its llm spans' "
                             + ("metadata.model (the last)" if canonical == "model" else "metrics (summed)"))
    start, end = pick(cols, ("metrics.start",), q), pick(cols, ("metrics.end",), q)
    if start and end:
        tv["latency_ms"] = RawValue(
            f"(TRY_CAST({as_text(end[0])} AS DOUBLE) - TRY_CAST({as_text(start[0])} AS DOUBLE)) * 1000", "DOUBLE")
        td["latency_ms"] = "metrics.end − metrics.start (epoch seconds)"
    tv["judge_score"], td["judge_score"] = RawValue("_score", "DOUBLE"), score_desc
    tv["error"], td["error"] = RawValue("_error", "VARCHAR"), "error (class)"
    tv["served"], td["served"] = RawValue("false", "BOOLEAN"), "constant false (offline experiment)"
    if variant_desc:
        tv["variant"], td["variant"] = RawValue("_variant", "VARCHAR"), variant_desc
    apply_mapping("traces", tv, td, cols, ctx.options.mapping, q)
    sel_t = select_canonical("traces", tv, q, keep_text=ctx.options.keep_text, descriptions=td)
    n_traces = insert_rows(ctx, probe, "traces", sel_t, src, q)
    total = int(ctx.db.fetchone(f"SELECT count(*) FROM {table}")[0])
    notes = (f"{total:,} root event(s) loaded as eval and trace rows (child spans skipped)",)
    return FileReport(path=probe.file.path, format="braintrust", kind="evals",
                      rows={"evals": n_evals, "traces": n_traces}, columns=tuple(probe.columns),
                      sources=sel_e.sources + sel_t.sources, skipped_lines=reader.skipped_lines, notes=notes)


BRAINTRUST = Adapter("braintrust", "Braintrust experiment events (is_root, scores, metrics, dataset_record_id)",
                 _detect, _load, priority=130)

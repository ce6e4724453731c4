"""Braintrust experiment events: root events become eval rows (for eval-gate) and trace rows.

An experiment export holds one event per span; `is_root` (or an empty `span_parents`) marks the
test-case row. The case is `dataset_record_id`, else a hash of `input` (so two experiments over the
same inputs align). The variant is the experiment. Repeats (trials) are numbered by order of
`created` within a case and variant. `scores` is a name → 0..1 map: `score` is their mean (or one
score chosen with `score = "score:NAME"` in [mapping]) and `passed` is `score >= 0.5`. `metrics` holds
epoch-second `start`/`end` and token counts.
"""

from __future__ import annotations

from rollctl.load.adapters import Adapter, register
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
from rollctl.load.loader import (
    FileReport,
    LoadContext,
    Probe,
    Reader,
    insert_rows,
    reader_for_load,
    referenced_params,
    select_canonical,
)
from rollctl.load.mapping import score_sources

_TABLE = "_bt_events"
PASS_THRESHOLD = 0.5


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    return "scores" in cols and ("span_attributes" in cols or "root_span_id" in cols or "is_root" in cols)


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    if "events" in cols and "scores" not in cols:  # API fetch pages: {"events": [...]}
        cols = unwrap_pages(ctx, _TABLE, "events", probe.file)
    try:
        return _insert(ctx, probe, cols, reader)
    finally:
        drop(ctx.db, _TABLE)


def _insert(ctx: LoadContext, probe: Probe, cols: dict[str, str], reader: Reader) -> FileReport:
    params = SqlParams()
    root = pick(cols, ("is_root",), params)
    parents = pick(cols, ("span_parents",), params)
    if root is not None:
        where = f"WHERE coalesce(TRY_CAST({as_text(root[0])} AS BOOLEAN), false)"
    elif parents is not None:
        where = f"WHERE coalesce(json_array_length(to_json({parents[0].sql})), 0) = 0"
    else:
        where = ""
    scores = pick(cols, ("scores",), params)
    score_map = f"TRY_CAST(to_json({scores[0].sql}) AS MAP(VARCHAR, DOUBLE))" if scores else "NULL"
    chosen = score_sources(ctx.options.mapping).get("score")
    if chosen is not None:
        score_sql = f"element_at({score_map}, {params.add(chosen)})[1]"
        score_desc = f"scores.{chosen}"
    else:
        score_sql = f"list_avg(list_filter(map_values({score_map}), lambda v: v IS NOT NULL))"
        score_desc = "mean of scores.* (choose one with score = \"score:NAME\" in [mapping])"
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
    stage_sql = (
        f"SELECT *, {case_sql} AS _case, {as_text(variant[0]) if variant else 'NULL'} AS _variant, "
        f"{score_sql} AS _score, {error_sql} AS _error FROM {_TABLE} {where}"
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
                 "_repeat": "BIGINT"}
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


register(Adapter("braintrust", "Braintrust experiment events (is_root, scores, metrics, dataset_record_id)",
                 _detect, _load, priority=130))

"""Paired shadow rows `{request_id, baseline: {...}, candidate: {...}}`: the one module that owns them.

The adapter loads each arm as a trace row (shared fields from the top level, the arm's own fields from its
object); the stream (`paired_row_source`) gives shadow-report both arms of every row side by side, converted
and checked exactly as the load converts and checks them, so a big paired export is read once instead of
loaded; `store_paired_judgements` keeps the verdicts listed on the streamed rows."""

from __future__ import annotations

from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.errors import InputError
from rollctl.load.adapters.canonical import (
    _JUDGEMENT_STRUCT,
    _as_json,
    _has_inline_judgement,
    _insert_inline_judgements,
)
from rollctl.load.canonical import JUDGEMENT_FIELDS
from rollctl.load.expressions import RawValue, SqlParams, column, convert
from rollctl.load.probe import reader_for_load
from rollctl.load.select import (
    FieldSql,
    insert_rows,
    referenced_params,
    row_check,
    select_canonical,
    source_values,
    unconverted,
)
from rollctl.load.types import Adapter, FieldSource, FileReport, LoadContext, PairedRows, Probe, Reader

_ARM_FIELDS = (
    "request_id", "timestamp", "user_id", "session_id", "variant", "served", "model",
    "prompt_version", "input", "output", "latency_ms", "ttft_ms", "cost_usd", "input_tokens",
    "output_tokens", "cached_tokens", "cache_hit", "error", "thumbs", "retried", "abandoned",
    "follow_up", "task_completed", "final_text", "judge_score", "tags", "metadata",
)


_PAIR_SHARED = ("request_id", "user_id", "session_id", "timestamp", "input", "metadata", "tags")


def _struct_fields(ctx: LoadContext, reader: Reader, arm: RawValue) -> dict[str, str] | None:
    """The typed fields of an arm stored as a struct (Parquet), else None (JSON: extracted by path).

    Reading a struct's fields directly costs nothing; `to_json` of the whole struct followed by
    `json_extract` re-serialised and re-parsed every answer, a third of a Parquet load.
    """
    if not arm.type.startswith("STRUCT("):
        return None
    sql = f"DESCRIBE SELECT {arm.sql}.* FROM {reader.sql} AS _src LIMIT 0"
    rows = ctx.db.fetchall(sql, referenced_params(sql, dict(reader.params)))
    return {str(r[0]): str(r[1]) for r in rows}


def _is_paired(probe: Probe) -> bool:
    return "baseline" in probe.columns and "candidate" in probe.columns


def _load_paired(ctx: LoadContext, probe: Probe) -> FileReport:
    """Flatten `{request_id, ..., baseline: {...}, candidate: {...}, judgements: [...]}` rows.

    Each arm becomes a trace row (one streaming scan of the file per arm): arm fields win over the shared
    top-level ones; an arm without `variant` takes the --baseline/--candidate name, and `served` defaults to
    true for the baseline and false for the candidate (a shadow computation).

    A JSON file is first read with the arms (and the judgements) declared as structs of text leaves, so
    DuckDB's reader hands over each field as it parses the line: the same text a JSON path would extract
    (numbers as written, objects as their JSON), without re-parsing every arm and judgement from JSON text
    (measured on 1 M pairs, `scripts/profile_shadow.py`: the two arm statements 10.7 s wall / 17.2 s CPU before,
    6.4 s / 10.3 s after; the judgements 1.9 s / 3.7 s before, 1.6 s / 3.1 s after). The reader refuses what
    a struct cannot hold (an arm that is not an object, a key given twice, judgements that are not a list of
    objects); such a file is then loaded again through JSON paths, which store the same rows
    (`tests/test_load_paired.py`), so the struct read changes speed only.
    """
    typed = _typed_arms(ctx, probe)
    if typed is None:
        return _load_paired_from(ctx, probe, None)
    if ctx.into is not None:
        # Inside `rollctl ingest`'s transaction: an error aborts it, and ingest loads again through temp tables,
        # where the fallback below applies.
        return _load_paired_from(ctx, probe, typed)
    ctx.db.execute("BEGIN TRANSACTION")
    try:
        report = _load_paired_from(ctx, probe, typed)
    except (InputError, DuckDBError):
        ctx.db.execute("ROLLBACK")
        return _load_paired_from(ctx, probe, None)
    except BaseException:
        ctx.db.execute("ROLLBACK")
        raise
    ctx.db.execute("COMMIT")
    return report


def _typed_arms(ctx: LoadContext, probe: Probe) -> dict[str, str] | None:
    """The reader's columns with each arm a struct of the loaded fields (text, or JSON for tags and
    metadata) and the judgements a list of structs; None when the file is not JSON read as JSON text."""
    if probe.file.format not in ("jsonl", "json") or any(probe.columns.get(a) != "JSON" for a in _ARMS):
        return None
    if ctx.options.on_bad_lines == "skip":
        # Skip mode parses lines with from_json, which turns an arm or a judgements value a struct cannot hold
        # into NULL instead of failing: the shape checks (`_arm_checks`) need the JSON itself.
        return None
    keep = ctx.options.fields_of("traces")
    leaves = ", ".join(
        f"{quote_identifier(name)} {'JSON' if name in ('tags', 'metadata') else 'VARCHAR'}"
        for name in _ARM_FIELDS if keep is None or name in keep or name == "error"  # see _arm_checks
    )
    structure = {**probe.columns, **dict.fromkeys(_ARMS, f"STRUCT({leaves})")}
    if probe.columns.get("judgements") == "JSON":
        structure["judgements"] = _JUDGEMENT_STRUCT
    return structure


_ARMS = ("baseline", "candidate")


def _paired_reader(ctx: LoadContext, probe: Probe,
                   structure: dict[str, str] | None) -> tuple[Reader, dict[str, str], Reader]:
    """(the file's reader, its column types, the subquery each arm selects from).

    The file itself is read once per arm rather than staged in a temp table: a staged copy of every answer
    held ~600 MB of the 700 MB cap on 1 M pairs and the next insert ran out of memory; each arm's scan
    streams, so memory stays bounded whatever the file size (Parquet is columnar and cheap to re-read).
    """
    reader = reader_for_load(ctx, probe, structure)
    return reader, structure or probe.columns, Reader(sql=f"(SELECT * FROM {reader.sql})", params=dict(reader.params))


def _load_paired_from(ctx: LoadContext, probe: Probe, structure: dict[str, str] | None) -> FileReport:
    reader, columns, staged = _paired_reader(ctx, probe, structure)
    rows: dict[str, int] = {"traces": 0}
    sources: list[FieldSource] = []
    for arm, default_variant, default_served in _arm_defaults(ctx):
        params = SqlParams()
        arm_col, arm_stage, values, descriptions, own = _arm_values(
            ctx, reader, staged, columns, arm, default_variant, default_served, params)
        selection = select_canonical(
            "traces", values, params, keep_text=ctx.options.keep_text, descriptions=descriptions
        ).checked(_arm_checks(arm, arm_col, own, columns, params, judgements=arm == "baseline"))
        rows["traces"] += insert_rows(ctx, probe, "traces", selection, arm_stage, params,
                                      where_sql=f"WHERE {_arm_present(arm_col)}")
        sources += [s for s in selection.sources if s.canonical not in {x.canonical for x in sources}]
    if _has_inline_judgement(probe):
        rows["judgements"] = _insert_inline_judgements(ctx, probe, staged, columns)
    return FileReport(
        path=probe.file.path, format=probe.file.format, kind="paired", rows=rows,
        columns=tuple(probe.columns), sources=tuple(sources), skipped_lines=reader.skipped_lines,
    )


def _present_raw(raw: RawValue) -> str:
    return f"({raw.sql} IS NOT NULL AND json_type({raw.sql}) <> 'NULL')" if raw.is_json else f"({raw.sql} IS NOT NULL)"


def _arm_checks(arm: str, arm_col: RawValue, own: list[RawValue], columns: dict[str, str],
                params: SqlParams, *, judgements: bool, suffix: str = "") -> list[FieldSql]:
    """The shape of a paired row, checked like a value (a bad row: an error with its line, or skipped and
    counted): an arm that is not an object (a string, a list), an arm object that holds nothing (`{}`,
    `{"output": null}`: no call is described, so it pairs with nothing), and (once per row, with the
    baseline) judgements that are not a list. Otherwise each would pair, or be dropped, silently."""
    checks = []
    problems = []
    if arm_col.is_json:
        problems.append(f"json_type({arm_col.sql}) <> 'OBJECT'")
    if own:
        problems.append("NOT (" + " OR ".join(_present_raw(v) for v in own) + ")")
    if problems:
        checks.append(row_check(arm, " OR ".join(problems), "objects describing a call (an output, an error, "
                                "a latency, ...)", params, suffix=suffix))
    listed = column("judgements", columns["judgements"]) if judgements and "judgements" in columns else None
    if listed is not None and listed.is_json:
        checks.append(row_check("judgements", f"({listed.sql} IS NOT NULL AND json_type({listed.sql}) "
                                "NOT IN ('ARRAY', 'NULL'))", "lists of verdicts", params, suffix=suffix))
    return checks


def _arm_defaults(ctx: LoadContext) -> tuple[tuple[str, str, bool], ...]:
    """(arm, its default variant, its default `served`) for the two arms of a paired row."""
    return (("baseline", ctx.options.baseline_name, True), ("candidate", ctx.options.candidate_name, False))


def _arm_present(arm_col: RawValue) -> str:
    """True where the row has this arm (absent arms, a dropped shadow call, are counted as unpaired later).

    DuckDB's JSON readers give SQL NULL for a JSON null and minified text otherwise, so a JSON `null` that
    survives is exactly 'null': compared as text, since json_type() re-parsed every arm (8% of the load), and
    to_json() of a Parquet struct re-serialised every answer just to learn it was not null.
    """
    return f"{arm_col.sql} IS NOT NULL" + (f" AND CAST({arm_col.sql} AS VARCHAR) <> 'null'" if arm_col.is_json else "")


def _is_bool(name: str, value: RawValue) -> bool:
    """A typed boolean `served` (Parquet): read as it is, with a boolean default, not through JSON text."""
    return name == "served" and value.type == "BOOLEAN"


def _arm_values(
    ctx: LoadContext, reader: Reader, staged: Reader, columns: dict[str, str], arm: str, default_variant: str,
    default_served: bool, params: SqlParams,
) -> tuple[RawValue, Reader, dict[str, RawValue], dict[str, str], list[RawValue]]:
    """One arm's raw canonical values over the file's rows: (the arm column, the reader to select them from,
    the values, where each came from, the arm's own values before any shared one or default). Arm fields win
    over the shared top-level ones."""
    top_mapping = {k: v for k, v in ctx.options.mapping.items() if k in _PAIR_SHARED}
    top, descriptions = source_values("traces", columns, top_mapping, params)
    arm_col = column(arm, columns[arm])
    values: dict[str, RawValue] = {}
    # Parse each arm once per row (one json_extract with a list of paths) instead of once per field
    # reference: ~30 extractions of the same object each held a chunk's parse, which ran 1 M pairs
    # out of memory under the 700 MB cap, and cost a parse each.
    # Only the fields the command loads are extracted (LoadOptions.trace_fields); the others still get a
    # value (never selected: `insert_rows` keeps only loaded fields) so the report says where they are.
    keep = ctx.options.fields_of("traces")
    # (error always, a short string: an arm holding only an error is a failed call, not an empty arm; see
    # `_arm_checks`, which looks at the fields read.)
    extracted = [name for name in _ARM_FIELDS if keep is None or name in keep or name == "error"]
    position = {name: i + 1 for i, name in enumerate(extracted)}
    typed = _struct_fields(ctx, reader, arm_col)
    if typed is None:
        paths = params.add(["$." + quote_identifier(name) for name in extracted])
        arm_stage = Reader(
            sql=staged.sql, params=dict(staged.params),
            derived_sql=f"json_extract({_as_json(arm_col)}, {paths}) AS _arm",
        )
    else:
        arm_stage = staged
    own: list[RawValue] = []
    for name in _ARM_FIELDS:
        if typed is None:
            from_arm = RawValue(f"_arm[{position[name]}]" if name in position else "CAST(NULL AS JSON)", "JSON")
            if name in position:
                own.append(from_arm)
        elif name in typed:
            from_arm = RawValue(f"{arm_col.sql}.{quote_identifier(name)}", typed[name])
            own.append(from_arm)
        elif name not in top and name not in ("variant", "served"):
            # A typed file whose arms have no such field, nor the row: the field is absent (a NULL constant of
            # JSON type would reach conversions that bind differently on a constant, e.g. a list's).
            continue
        else:
            from_arm = RawValue("CAST(NULL AS JSON)", "JSON")
        if name in ("variant", "served") and not (from_arm.is_json or from_arm.is_text or _is_bool(name, from_arm)):
            from_arm = RawValue(f"to_json({from_arm.sql})", "JSON")  # coalesced with a JSON default below
        fallback = top.get(name)
        if fallback is not None and typed is not None and name not in typed:
            # The arms have no such field at all (a typed file's arms are one struct type): the shared value as
            # it is typed, not re-serialised to JSON and parsed back (request ids, times, requests of a Parquet
            # file: a quarter of its stream's cost).
            values[name] = fallback
            descriptions[name] = f"{arm}.{name} or {descriptions.get(name, name)}"
        elif fallback is not None and typed is not None and fallback.type == from_arm.type:
            values[name] = RawValue(f"coalesce({from_arm.sql}, {fallback.sql})", from_arm.type)
            descriptions[name] = f"{arm}.{name} or {descriptions.get(name, name)}"
        elif fallback is not None:
            from_arm = from_arm if from_arm.is_json else RawValue(f"to_json({from_arm.sql})", "JSON")
            if typed is None:
                # An arm's `null` gives way to the shared value, as an absent key does (and as the struct
                # read, which cannot tell the two apart, does).
                from_arm = RawValue(f"nullif({from_arm.sql}, CAST('null' AS JSON))", "JSON")
            fallback_json = fallback if fallback.is_json else RawValue(f"to_json({fallback.sql})", "JSON")
            values[name] = RawValue(f"coalesce({from_arm.sql}, {fallback_json.sql})", "JSON")
            descriptions[name] = f"{arm}.{name} or {descriptions.get(name, name)}"
        else:
            values[name] = from_arm
            descriptions[name] = f"{arm}.{name}"
    for name, default in (("variant", default_variant), ("served", default_served)):
        # Text leaves take a text default (`served` as 'true'/'false', read like any boolean text).
        if values[name].is_text:
            text = str(default).lower() if isinstance(default, bool) else default
            values[name] = RawValue(f"coalesce({values[name].sql}, CAST({params.add(text)} AS VARCHAR))", "VARCHAR")
        elif _is_bool(name, values[name]):
            values[name] = RawValue(f"coalesce({values[name].sql}, CAST({params.add(default)} AS BOOLEAN))", "BOOLEAN")
        else:
            cast = "BOOLEAN" if isinstance(default, bool) else "VARCHAR"
            values[name] = RawValue(
                f"coalesce({values[name].sql}, to_json(CAST({params.add(default)} AS {cast})))", "JSON")
    return arm_col, arm_stage, values, descriptions, own


def paired_row_source(ctx: LoadContext, probe: Probe) -> PairedRows | None:
    structure = _typed_arms(ctx, probe)
    if structure is None and probe.file.format != "parquet":
        return None
    reader, columns, staged = _paired_reader(ctx, probe, structure)
    params = SqlParams()
    inner: list[str] = []
    outer: list[str] = []
    for x, (arm, default_variant, default_served) in enumerate(_arm_defaults(ctx), start=1):
        arm_col, arm_stage, values, descriptions, own = _arm_values(
            ctx, reader, staged, columns, arm, default_variant, default_served, params)
        if arm_stage.derived_sql:
            return None  # arms read through JSON paths: one derived column per arm statement
        selection = select_canonical(
            "traces", values, params, keep_text=True, descriptions=descriptions, suffix=f"_{x}",
        ).checked(_arm_checks(arm, arm_col, own, columns, params, judgements=False, suffix=f"_{x}")
                  ).keeping(ctx.options.fields_of("traces"))
        inner += [selection.select_sql, f"({_arm_present(arm_col)}) AS present_{x}"]
        outer += [quote_identifier(p.column) for p in selection.parts if p.stored]
        outer += [f"present_{x}", f"present_{x} AND {selection.bad_flag_sql} AS bad_{x}"]
    judgements = _listed_judgements(ctx, reader, columns)
    if judgements is None:
        return None
    inner += judgements
    outer += ["judged_request", "judgements", "judgements_bad"]
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {staged.sql} AS _src) AS converted"
    return PairedRows(path=probe.file.path, sql=sql,
                      params=referenced_params(sql, {**reader.params, **params.values}))


def _listed_judgements(ctx: LoadContext, reader: Reader, columns: dict[str, str]) -> list[str] | None:
    """SELECT items for a paired row's listed judgements (see `paired_row_sources`), converted as
    `_insert_inline_judgements` converts them; None when they are neither absent nor a list of structs."""
    no_request = "CAST(NULL AS VARCHAR) AS judged_request"
    listed_type = columns.get("judgements")
    if listed_type is None or "request_id" not in columns:
        return [no_request, "CAST(NULL AS STRUCT(\"judge\" VARCHAR, \"order\" VARCHAR, \"winner\" VARCHAR, "
                "\"preference\" DOUBLE)[]) AS judgements", "false AS judgements_bad"]
    listed = column("judgements", listed_type)
    if listed_type == _JUDGEMENT_STRUCT:
        element_types = dict.fromkeys(("judge", "order", "winner", "preference"), "VARCHAR")
    elif listed_type.startswith("STRUCT(") and listed_type.endswith(")[]"):
        sql = f"DESCRIBE SELECT unnest({listed.sql}[1]) FROM {reader.sql} AS _src LIMIT 0"
        element_types = {str(r[0]): str(r[1]) for r in ctx.db.fetchall(sql, referenced_params(sql, reader.params))}
    else:
        return None
    request = RawValue(column("request_id", columns["request_id"]).sql, columns["request_id"])
    fields: list[str] = []
    bad: list[str] = []
    for f in JUDGEMENT_FIELDS:
        if f.name == "request_id":
            continue
        if f.name not in element_types:
            fields.append(f"{quote_identifier(f.name)} := CAST(NULL AS {f.sql_type})")
            continue
        raw = RawValue(f"_j.{quote_identifier(f.name)}", element_types[f.name])
        fields.append(f"{quote_identifier(f.name)} := CAST({convert(raw, f.kind)} AS {f.sql_type})")
        check = unconverted(raw, f)
        if check is not None:
            bad.append(check)
    converted = f"list_transform({listed.sql}, lambda _j: struct_pack({', '.join(fields)}))"
    bad_sql = (f"coalesce(list_bool_or(list_transform({listed.sql}, lambda _j: coalesce({' OR '.join(bad)}, false))), "
               "false)") if bad else "false"
    return [f"CAST({convert(request, 'string')} AS VARCHAR) AS judged_request", f"{converted} AS judgements",
            f"{bad_sql} AS judgements_bad"]


def store_paired_judgements(db: Database, rows_table: str, path: str, first_sid: int, end_sid: int) -> int:
    """Append to `judgements` the verdicts listed on paired rows that were streamed and kept in `rows_table`
    (its `judged_request`, `judgements` and `sid` columns: see `paired_row_sources`), those of rows
    `first_sid` <= sid < `end_sid`, read from `path`. The values were converted and checked in the stream."""
    table = quote_identifier(rows_table)
    row = db.execute(
        f"""
        INSERT INTO judgements (request_id, judge, "order", winner, preference, _file)
        SELECT judged_request, _j.judge, _j."order", _j.winner, _j.preference, $path
        FROM (SELECT judged_request, unnest(judgements) AS _j FROM {table}
              WHERE sid >= $first AND sid < $end AND judged_request IS NOT NULL) AS listed
        """,
        {"path": path, "first": first_sid, "end": end_sid},
    ).fetchone()
    return int(row[0]) if row else 0


PAIRED = Adapter("paired", "paired shadow rows {request_id, baseline: {...}, candidate: {...}}", _is_paired,
                 _load_paired, priority=900)

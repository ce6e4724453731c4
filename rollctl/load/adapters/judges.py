"""Judge files: MT-Bench pairwise judgements and AlpacaEval annotations, as canonical judgement rows.

MT-Bench (FastChat `model_judgment/*_pair.jsonl`) judges each pair twice with the answers swapped:
`g1_winner` comes from (model_1 first), `g2_winner` from (model_2 first), both already named by model
(`model_1` | `model_2` | `tie` | `error`). Each row therefore becomes two judgement rows, one per order,
which is what shadow-report's position-bias statistics need. In FastChat's pairwise-baseline mode
`model_2` is the baseline, so that is the default; --baseline/--candidate model names override it.

AlpacaEval annotations hold one de-randomised verdict per instruction, keyed by the `request_id` field that
alpaca_eval keeps from the outputs it annotated (a hash of the instruction otherwise, which pairs with no trace
and is said in the notes): `preference` 1 (output_1, the baseline
`generator_1`, wins), 2 (output_2 wins), 1.5 or 0 (tie), or a continuous value in [1, 2] from judge
log-probabilities. The canonical preference is `2·(p − 1.5)` in [−1, 1] (+1 = candidate better).
"""

from __future__ import annotations

from rollctl.load.adapters.support import drop, pick, stage
from rollctl.load.expressions import RawValue, SqlParams, as_text
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

_TABLE = "_judge_rows"


def _detect_mtbench(probe: Probe) -> bool:
    cols = probe.columns
    return {"g1_winner", "g2_winner", "model_1", "model_2"} <= set(cols)


def _detect_alpaca(probe: Probe) -> bool:
    cols = probe.columns
    return "preference" in cols and {"generator_1", "generator_2"} <= set(cols)


def _named_candidate(ctx: LoadContext, first: str, second: str, params: SqlParams) -> str:
    """SQL, per row: do --candidate / --baseline name `first` as the candidate (or `second` as the baseline)?"""
    base, cand = params.add(ctx.options.baseline_name), params.add(ctx.options.candidate_name)
    return f"({first} = {cand} OR {second} = {base})"


def _load_mtbench(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    try:
        params = SqlParams()
        m1 = as_text(pick(cols, ("model_1",), params)[0])  # type: ignore[index]
        m2 = as_text(pick(cols, ("model_2",), params)[0])  # type: ignore[index]
        qid = pick(cols, ("question_id",), params)
        turn = pick(cols, ("turn",), params)
        judge = pick(cols, ("judge",), params)
        # Default (names not given): model_2 is the baseline, as in FastChat's pairwise-baseline mode.
        m1_is_candidate = (f"(CASE WHEN {_named_candidate(ctx, m1, m2, params)} THEN true "
                           f"WHEN {_named_candidate(ctx, m2, m1, params)} THEN false ELSE true END)")
        request = as_text(qid[0]) if qid else "NULL"
        if turn is not None:
            t = as_text(turn[0])
            request = f"(CASE WHEN coalesce({t}, '1') IN ('1', '') THEN {request} ELSE {request} || ':turn' || {t} END)"
        judge_sql = "NULL"
        if judge is not None:
            # FastChat writes [judge model, prompt template]; the template differs by turn (pair-v2,
            # pair-v2-multi-turn) and by category (math questions get a reference-guided template), so it
            # names how the one judge was asked, not another judge.
            judge_sql = (f"(CASE WHEN json_type(to_json({judge[0].sql})) = 'ARRAY' THEN "
                         f"json_extract_string(to_json({judge[0].sql}), '$[0]') ELSE {as_text(judge[0])} END)")
        rows = 0
        selection = None
        for slot, first_is_m1 in (("g1_winner", True), ("g2_winner", False)):
            p = SqlParams(dict(params.values))
            w = as_text(pick(cols, (slot,), p)[0])  # type: ignore[index]
            winner_is_m1 = f"(lower({w}) = 'model_1')"
            winner = (
                f"(CASE WHEN lower({w}) LIKE 'tie%' THEN 'tie' WHEN lower({w}) = 'error' OR {w} IS NULL THEN 'error' "
                f"WHEN lower({w}) IN ('model_1', 'model_2') THEN (CASE WHEN {winner_is_m1} = {m1_is_candidate} "
                f"THEN 'candidate' ELSE 'baseline' END) ELSE 'error' END)"
            )
            shown_first_is_candidate = m1_is_candidate if first_is_m1 else f"(NOT {m1_is_candidate})"
            values = {
                "request_id": RawValue(request, "VARCHAR"),
                "judge": RawValue(judge_sql, "VARCHAR"),
                "order": RawValue(f"(CASE WHEN {shown_first_is_candidate} THEN 'candidate_first' "
                                  "ELSE 'baseline_first' END)", "VARCHAR"),
                "winner": RawValue(winner, "VARCHAR"),
                "preference": RawValue(f"(CASE {winner} WHEN 'candidate' THEN 1.0 WHEN 'baseline' THEN -1.0 "
                                       "WHEN 'tie' THEN 0.0 END)", "DOUBLE"),
            }
            desc = {
                "request_id": "question_id (+ :turnN after the first turn)",
                "judge": "judge[0], the judge model (judge[1] is FastChat's prompt template)",
                "order": "g1 = model_1 shown first, g2 = model_2 shown first",
                "winner": "g1_winner / g2_winner (model_2 = baseline unless --baseline/--candidate name models)",
                "preference": "winner as +1 candidate / −1 baseline / 0 tie",
            }
            selection = select_canonical("judgements", values, p, keep_text=True, descriptions=desc)
            rows += insert_rows(ctx, probe, "judgements", selection, Reader(sql=_TABLE, params={}), p)
        assert selection is not None
        return FileReport(path=probe.file.path, format="mtbench", kind="judgements", rows={"judgements": rows},
                          columns=tuple(probe.columns), sources=selection.sources,
                          skipped_lines=reader.skipped_lines,
                          notes=("each pair judged in both orders becomes two judgement rows",))
    finally:
        drop(ctx.db, _TABLE)


def _load_alpaca(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = reader_for_load(ctx, probe)
    cols = stage(ctx, _TABLE, f"SELECT * FROM {reader.sql}", reader.params, probe.file)
    try:
        params = SqlParams()
        g1 = as_text(pick(cols, ("generator_1",), params)[0])  # type: ignore[index]
        g2 = as_text(pick(cols, ("generator_2",), params)[0])  # type: ignore[index]
        pref = pick(cols, ("preference",), params)
        instruction = pick(cols, ("instruction",), params)
        request = pick(cols, ("request_id",), params)
        annotator = pick(cols, ("annotator",), params)
        flipped = _named_candidate(ctx, g1, g2, params)
        raw = f"TRY_CAST({as_text(pref[0])} AS DOUBLE)"  # type: ignore[index]
        p = f"(CASE WHEN {raw} = 0 THEN 1.5 WHEN {raw} BETWEEN 1 AND 2 THEN {raw} END)"
        signed = f"(CASE WHEN {flipped} THEN -1 ELSE 1 END) * 2 * ({p} - 1.5)"
        hashed = f"left(md5({as_text(instruction[0])}), 16)" if instruction else "NULL"
        values = {
            "request_id": RawValue(f"coalesce({as_text(request[0])}, {hashed})" if request else hashed, "VARCHAR"),
            "judge": RawValue(as_text(annotator[0]) if annotator else "NULL", "VARCHAR"),
            "winner": RawValue(f"(CASE WHEN {p} IS NULL THEN 'error' WHEN {signed} > 0 THEN 'candidate' "
                               f"WHEN {signed} < 0 THEN 'baseline' ELSE 'tie' END)", "VARCHAR"),
            "preference": RawValue(signed, "DOUBLE"),
        }
        desc = {
            "request_id": "request_id (kept by alpaca_eval from the outputs it annotates), else md5 of instruction",
            "judge": "annotator",
            "winner": "preference: 1 baseline (generator_1), 2 candidate (generator_2), 1.5/0 tie, NaN error",
            "preference": "2·(preference − 1.5), sign flipped if --candidate names generator_1",
        }
        selection = select_canonical("judgements", values, params, keep_text=True, descriptions=desc)
        rows = insert_rows(ctx, probe, "judgements", selection, Reader(sql=_TABLE, params={}), params)
        return FileReport(path=probe.file.path, format="alpacaeval", kind="judgements", rows={"judgements": rows},
                          columns=tuple(probe.columns), sources=selection.sources,
                          skipped_lines=reader.skipped_lines,
                          notes=_alpaca_notes(request is not None))
    finally:
        drop(ctx.db, _TABLE)


def _alpaca_notes(has_request_id: bool) -> tuple[str, ...]:
    notes = ["annotations are de-randomised verdicts: order unknown"]
    if not has_request_id:
        notes.append("no request_id field: verdicts are keyed by a hash of the instruction, which no trace carries; "
                     "add request_id to the outputs you annotate (alpaca_eval keeps extra fields) to pair them")
    return tuple(notes)


MTBENCH = Adapter("mtbench", "MT-Bench pairwise judgements (model_1, model_2, g1_winner, g2_winner)",
                 _detect_mtbench, _load_mtbench, priority=140)
ALPACAEVAL = Adapter("alpacaeval", "AlpacaEval annotations (generator_1, generator_2, preference)",
                 _detect_alpaca, _load_alpaca, priority=150)

"""Making the pairs: the entry point `shadow_report`, then either the stored tables (judgements and answers
loaded into DuckDB) or the stream of paired rows with the edit distances computed batch by batch within an
Arrow memory budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rollctl.core.shadow_report.analysis import Paired, analyse, edit_distances_of
from rollctl.core.shadow_report.results import ShadowReportResult
from rollctl.core.shadow_report.settings import ShadowOptions, ShadowSettings
from rollctl.db import Database, DuckDBError
from rollctl.errors import EmptyInputError, InputError, PlanError, UsageError
from rollctl.load import (
    LoadOptions,
    PairedRows,
    create_empty_tables,
    load_inputs,
    paired_row_sources,
    store_paired_judgements,
)
from rollctl.load.canonical import TRACE_FIELDS
from rollctl.load.files import gzip_trailers_checked
from rollctl.load.require import require_fields
from rollctl.sql import shadow as q
from rollctl.text_distance import StreamedEditDistances


def parse_segment(segment_by: str) -> q.Segment:
    """`metadata.intent` (a path inside metadata) or a canonical trace column such as `model`."""
    parts = segment_by.split(".")
    if parts[0] == "metadata" and len(parts) > 1 and all(parts):
        path = "$" + "".join('."' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts[1:])
        return q.Segment(label=segment_by, json_path=path)
    allowed = {f.name for f in TRACE_FIELDS if f.kind in ("string", "bool", "int")} - {"request_id"}
    if segment_by in allowed:
        return q.Segment(label=segment_by, column=segment_by)
    raise UsageError(
        f"--segment-by {segment_by}: not a metadata path or a segmentable field",
        fix="use metadata.<key> (e.g. metadata.intent) or one of: " + ", ".join(sorted(allowed)),
    )


_FIELDS_READ = frozenset({
    "request_id", "variant", "served", "user_id", "timestamp", "input", "output", "error",
    "latency_ms", "ttft_ms", "cost_usd", "output_tokens", "judge_score",
})
"""The canonical trace fields shadow-report reads: the rest of a big export is neither converted nor stored."""


def _fields_read(segment: q.Segment | None) -> frozenset[str]:
    if segment is None:
        return _FIELDS_READ
    return _FIELDS_READ | {"metadata" if segment.json_path is not None else str(segment.column)}


def _check_options(options: ShadowOptions) -> None:
    if options.baseline == options.candidate:
        raise UsageError("--baseline and --candidate name the same variant", fix="name two different arms")
    if options.examples < 0:
        raise UsageError("--examples must be 0 or more", fix="e.g. --examples 5")
    if options.eval_set is not None and options.segment_by is None:
        raise UsageError("--eval-set needs --segment-by to know which traffic segments to compare",
                         fix="add e.g. --segment-by metadata.intent")


def shadow_report(db: Database, options: ShadowOptions) -> ShadowReportResult:
    """Load, pair, diff, judge, segment and decide.

    Paired files (both answers of a request on one row) are read once, as a stream (`_pair_streamed`); trace
    rows, and paired files the stream cannot take as they are, are loaded first and paired in SQL
    (`_pair_stored`). Both give the same `_shadow_pairs` and edit distances, so the rest does not know which.
    """
    _check_options(options)
    _check_refusal_pattern(db, options.settings)
    segment = parse_segment(options.segment_by) if options.segment_by else None
    given = options.load.trace_fields
    load = replace(options.load, trace_fields=given if given is not None else _fields_read(segment))
    sources = paired_row_sources(db, list(options.paths), load)
    if sources and not options.arms_named:
        options = _infer_arms(options, q.paired_arm_variants(db, sources[0]))
    # The stream reads the files itself, not through `load_inputs`: the same gzip check, beside it.
    with gzip_trailers_checked(src.path for src in sources or []):
        paired = _pair_streamed(db, options, segment, load, sources) if sources is not None else None
    if paired is None:
        paired, options = _pair_stored(db, options, segment, load)
    return analyse(db, options, segment, paired)


def _infer_arms(options: ShadowOptions, candidates: tuple[list[str], list[str]]) -> ShadowOptions:
    """The arms' names when the user gave none: what the data says, when it says one thing.

    `candidates` = (variants that can only be the baseline, variants that can only be the candidate): in a
    paired file, the variants of the `baseline` and `candidate` objects; in trace rows, the variants only
    ever served and only ever shadow-computed (`served` false). Anything else keeps the default names, and
    the pairing error then lists the variants found.
    """
    baselines, candidates_ = candidates
    if len(baselines) == 1 and len(candidates_) == 1 and baselines[0] != candidates_[0]:
        return replace(options, baseline=baselines[0], candidate=candidates_[0])
    return options

def _pair_stored(db: Database, options: ShadowOptions, segment: q.Segment | None,
                 load: LoadOptions) -> tuple[Paired, ShadowOptions]:
    """Load every input (answers included), pair the arms in SQL, then stream the answers of the pairs that
    differ from `traces` for the edit distances."""
    st = options.settings
    paths = list(options.paths) + list(options.judgements) + ([options.eval_set] if options.eval_set else [])
    report = load_inputs(db, paths, load)
    if report.rows["traces"] == 0:
        raise InputError("no trace rows to pair", path=options.paths[0] if len(options.paths) == 1 else None,
                         fix="pass the shadow export (trace rows or paired rows) as PATH")
    require_fields(report, "traces", ["request_id", "output"], command="shadow-report")
    if "variant" not in report.found_fields("traces") and "served" not in report.found_fields("traces"):
        require_fields(report, "traces", ["variant"], command="shadow-report")
    _check_eval_rows(options, report.rows["evals"])
    if not options.arms_named:
        options = _infer_arms(options, q.served_only_variants(db))
    counts = q.pairing_counts(db, options.baseline, options.candidate)
    n = q.build_pairs(db, options.baseline, options.candidate, segment=segment,
                      expect_json=options.expect_json, refusal_pattern=_refusal_pattern(st))
    if n == 0:
        seen = ", ".join(f"{v if v is not None else '(none)'} ({c})" for v, c in q.variants_seen(db))
        if int(counts["no_request_id_rows"]):
            # The id that pairs the arms is under another name: the pairing itself is not the problem.
            raise InputError(
                "no row has a request_id, which pairs the two answers of a request",
                path=options.paths[0] if len(options.paths) == 1 else None, field="request_id",
                fix="map your field with --map request_id=FIELD; fields found: "
                    + ", ".join(report.columns_seen()),
            )
        raise InputError(
            f"no request was answered by both {options.baseline!r} and {options.candidate!r}",
            path=options.paths[0] if len(options.paths) == 1 else None,
            fix=f"variants found: {seen}; check --baseline/--candidate and that both arms share request_id",
        )
    # Edit distances, streamed: the texts never sit in Python memory beyond one batch.
    dist = np.full(n, np.nan, dtype=np.float32)
    distances = StreamedEditDistances()
    for batch in q.text_batches(db, st.batch_size):
        pid = batch.column(0).to_numpy()
        dist[pid] = edit_distances_of(distances, batch.column(1), batch.column(2))
    return Paired(counts=counts, pairs=n, distances=dist, judgements=report.rows["judgements"], sources=None,
                   capped=distances.capped, skipped_lines=report.skipped_lines), options


def _check_eval_rows(options: ShadowOptions, rows: int) -> None:
    if options.eval_set is not None and rows == 0:
        raise InputError("the eval set holds no eval rows", path=options.eval_set,
                         fix="pass eval results {case_id, variant, passed, tags}")


def _check_refusal_pattern(db: Database, st: ShadowSettings) -> None:
    """The refusal patterns run in DuckDB's regular expressions (RE2), which refuse some that Python accepts
    (lookbehind, backreferences): say so up front, naming the setting, instead of failing mid-report."""
    for pattern in st.refusal_patterns:
        try:
            db.execute("SELECT regexp_matches('', $p)", {"p": pattern})
        except DuckDBError as exc:
            reason = str(exc).splitlines()[0].split(":", 1)[-1].strip()
            raise PlanError(f"[shadow] refusal_patterns: {pattern!r} is not an RE2 regular expression ({reason})",
                            field="refusal_patterns",
                            fix="RE2 has no lookaround or backreferences; rewrite the pattern without them") from None


def _refusal_pattern(st: ShadowSettings) -> str:
    return "|".join(f"(?:{p})" for p in st.refusal_patterns)


# Columns of a streamed batch that are not kept with its rows: the answers and requests (read for the edit
# distances and the likeliest examples only), and the flags used on arrival.
_NOT_KEPT = ("output_1", "output_2", "input_1", "input_2", "bad", "example_hint")


class _LikelyExamples:
    """The answers of the streamed rows ranked first by `example_hint` (then edit distance, then position), so the
    examples shown need not be read from the files again: a few hundred rows' texts, whatever the input size.
    The hint is a guess from each row alone; `_examples` uses these texts only if every example's row is here."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys = np.zeros((0, 3))  # (-hint, -distance, sid) of the rows kept
        self.texts: dict[int, tuple[str | None, str | None, str | None]] = {}

    def offer(self, batch: pa.RecordBatch, first_sid: int, dist: NDArray[np.float32]) -> None:
        hint = np.asarray(batch.column("example_hint").to_numpy(zero_copy_only=False), dtype=np.float64)
        rows = np.flatnonzero(hint > 0)
        if self.size == 0 or rows.size == 0:
            return
        keys = np.column_stack([-hint[rows], -np.nan_to_num(dist[rows].astype(np.float64)), first_sid + rows])
        best = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))[: self.size]
        rows, keys = rows[best], keys[best]
        picked = pa.array(rows)
        columns = [batch.column(name).take(picked).to_pylist()
                   for name in ("arm_1", "input_1", "input_2", "output_1", "output_2")]
        for i, (arm_1, in_1, in_2, out_1, out_2) in enumerate(zip(*columns, strict=True)):
            swap = arm_1 == "c"
            b_in, c_in = (in_2, in_1) if swap else (in_1, in_2)
            self.texts[int(keys[i, 2])] = (b_in if b_in is not None else c_in,
                                           out_2 if swap else out_1, out_1 if swap else out_2)
        merged = np.concatenate([self.keys, keys])
        order = np.lexsort((merged[:, 2], merged[:, 1], merged[:, 0]))[: self.size]
        self.keys = merged[order]
        kept = {int(sid) for sid in self.keys[:, 2]}
        self.texts = {sid: t for sid, t in self.texts.items() if sid in kept}


_KEPT_IN_PYTHON = 280_000_000
"""Bytes of streamed rows kept as Arrow before they move to DuckDB (about 260 bytes a pair in the benchmark: 1 M
pairs stay in Python, where the pairing reads them in place; beyond, DuckDB holds them under its memory cap).
Peak memory on 5 M pairs rises with it: 1.42 GB at 256 MB, 1.51 GB at 400 MB."""


def _pair_streamed(db: Database, options: ShadowOptions, segment: q.Segment | None, load: LoadOptions,
                   sources: list[PairedRows]) -> Paired | None:
    """Read each paired file once: its rows arrive in Arrow batches with both arms side by side, converted as
    the load converts them; the edit distances are computed per batch and everything but the answers is kept
    (`_shadow_rows`, a few dozen bytes per row), then paired in SQL.

    None (nothing is reported, the caller loads the files) when the stream cannot stand in for the load: a
    value the load would refuse (it reports the field and line), a file DuckDB cannot read as the stream reads
    it, a pair whose arms sit on different rows, or no pair at all (the load's error names the variants found).
    Memory: one batch of answers at a time, plus the kept rows, bounded by `q.RowStore` (a batch DuckDB exported
    stays alive, answers included, while any column of it is referenced, so the kept columns are copied).
    """
    st = options.settings
    extra = list(options.judgements) + ([options.eval_set] if options.eval_set else [])
    if extra:
        try:
            report = load_inputs(db, extra, load)
        except EmptyInputError:
            return None
        if report.rows["traces"]:
            return None  # trace rows among the judgement files: they pair with the others in `traces`
        judged, evals = report.rows["judgements"], report.rows["evals"]
    else:
        create_empty_tables(db, load)
        judged, evals = 0, 0
    store = q.RowStore(db, _KEPT_IN_PYTHON)
    likely = _LikelyExamples(0 if options.examples == 0 else 256 + 16 * options.examples)
    distances: list[NDArray[np.float32]] = []
    spans: list[tuple[str, int, int]] = []
    sid = 0
    edit_distance = StreamedEditDistances()
    refused = False
    try:
        for source in sources:
            first = sid
            batches = q.stream_rows(db, source, options.baseline, options.candidate, segment=segment,
                                    expect_json=options.expect_json, refusal_pattern=_refusal_pattern(st),
                                    batch_size=st.batch_size, inputs=options.examples > 0)
            try:
                for batch in batches:
                    if pc.any(batch.column("bad")).as_py():
                        refused = True
                        break
                    dist = _batch_distances(edit_distance, batch)
                    distances.append(dist)
                    likely.offer(batch, sid, dist)
                    names = [name for name in batch.schema.names if name not in _NOT_KEPT]
                    arrays = [pa.concat_arrays([batch.column(name)]) for name in names]
                    arrays.append(pa.array(np.arange(sid, sid + batch.num_rows, dtype=np.int64)))
                    store.add(pa.RecordBatch.from_arrays(arrays, names=[*names, "sid"]))
                    sid += batch.num_rows
            finally:
                batches.close()  # DuckDB keeps the connection busy while a streamed result is open
            if refused:
                break
            spans.append((source.path, first, sid))
    except DuckDBError:
        refused = True  # a file the struct read cannot hold (the load reads it through JSON paths)
    if refused or sid == 0:
        store.forget()
        return None
    try:
        store.expose()
        for path, first, end in spans:
            judged += store_paired_judgements(db, q.ROWS, path, first, end)
        _check_eval_rows(options, evals)
        counts = q.counts_if_rows_are_pairs(db)
        all_rows = counts is not None
        if counts is None:
            counts = q.pairing_counts(db, options.baseline, options.candidate, streamed=True)
        n = q.build_pairs_from_rows(db, options.expect_json, all_rows=all_rows)
    finally:
        store.forget()
    if n == 0 or n != int(counts["pairs"]):
        return None
    by_sid = np.concatenate(distances)
    return Paired(counts=counts, pairs=n, distances=by_sid[q.stream_order(db)], judgements=judged,
                   sources=sources, kept_answers=likely.texts, capped=edit_distance.capped)


def _batch_distances(distances: StreamedEditDistances, batch: pa.RecordBatch) -> NDArray[np.float32]:
    """Edit distances of a streamed batch's pairs whose answers differ (NaN for the others)."""
    dist = np.full(batch.num_rows, np.nan, dtype=np.float32)
    differ = pc.and_(pc.and_(batch.column("has_out_1"), batch.column("has_out_2")), pc.invert(batch.column("exact")))
    if pc.all(differ).as_py():
        dist[:] = edit_distances_of(distances, batch.column("output_1"), batch.column("output_2"))
    elif pc.any(differ).as_py():
        dist[differ.to_numpy(zero_copy_only=False)] = edit_distances_of(
            distances, pc.filter(batch.column("output_1"), differ), pc.filter(batch.column("output_2"), differ))
    return dist

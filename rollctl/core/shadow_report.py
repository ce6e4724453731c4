"""`rollctl shadow-report`: what shadow traffic says about the candidate, paired and judged.

Shadow traffic is a paired design: the same request was answered by both arms. Every comparison here is
on pairs (paired differences, McNemar, sign test, a cluster bootstrap that keeps pairs together), which
gives far tighter answers than comparing two independent samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rollctl.config import Config
from rollctl.core.results import SCHEMA_VERSION, Reason, skipped_lines_reason
from rollctl.db import Database, DuckDBError
from rollctl.errors import EmptyInputError, InputError, PlanError, UsageError
from rollctl.exit_codes import exit_code_for
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
from rollctl.stats import judge as js
from rollctl.stats import shadow as ss
from rollctl.text_distance import MAX_COMPARED_CHARS, StreamedEditDistances

# Documented default refusal patterns (case-insensitive regular expressions, searched in the first
# 400 characters of an answer). Override with `[shadow] refusal_patterns = [...]` in rollctl.toml.
DEFAULT_REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid)\b.{0,40}\b(?:can(?:no|')t|unable|not able)",
    r"\bI can(?:no|')t (?:help|assist|provide|do|comply|share)",
    r"\bI(?:'m| am) (?:unable|not able) to (?:help|assist|provide|comply|share)",
    r"\bI (?:won't|will not) (?:help|assist|provide|comply)",
    r"\bas an AI\b",
    r"\bI must decline\b",
)

METRICS: tuple[tuple[str, str], ...] = (
    ("latency", "latency_ms"),
    ("ttft", "ttft_ms"),
    ("tokens", "output_tokens"),
    ("cost", "cost_usd"),
)


# `[shadow]` limits that are off by default, with an example value for error messages.
_OPTIONAL_LIMITS: dict[str, str] = {
    "max_latency_increase_ms": "100",
    "max_latency_p95_increase_ms": "250",
    "max_cost_increase_relative": "0.10",
}


@dataclass(frozen=True)
class ShadowSettings:
    """`[shadow]` thresholds from rollctl.toml; command-line options win."""

    alpha: float = 0.05
    power: float = 0.8
    min_hours: float = 24.0
    max_hours: float = 72.0
    require_weekday_weekend_mix: bool = True
    min_pairs: int = 200
    min_effect: float = 0.05
    """smallest shift of the win rate from 0.5 that matters (the MDE must be below it)"""
    min_tail_effect: float = 0.02
    """smallest rise of a tail rate (errors, timeouts, JSON breaks, refusals; absolute, 0.02 = 2 points) that
    matters: without judgements, a tail over at least `min_pairs` pairs whose MDE is above it is inconclusive"""
    max_judge_error_rate: float = 0.05
    segment_correction: str = "holm"
    min_segment_pairs: int = 30
    bootstrap_reps: int = 200
    batch_size: int = 25_000
    """pairs per Arrow batch of texts for the edit distances: both answers of a batch sit in Python as str objects
    (about 150 MB per 100 k pairs of 700-character answers), on top of DuckDB's capped memory; 25 k keeps 1 M
    pairs under 1.5 GB peak RSS at no measurable CPU cost (rapidfuzz's thread pool is reused)"""
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSAL_PATTERNS
    max_latency_increase_ms: float | None = None
    """no-go when the whole interval of the mean paired latency increase (candidate - baseline) is above it"""
    max_latency_p95_increase_ms: float | None = None
    """no-go when the whole bootstrap interval of the p95 latency difference is above it"""
    max_cost_increase_relative: float | None = None
    """no-go when the whole interval of the mean cost increase, relative to the baseline's mean cost, is above
    it (0.1 = +10 %)"""

    @staticmethod
    def from_config(config: Config) -> ShadowSettings:
        raw = dict(config.section("shadow"))
        known = set(ShadowSettings.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PlanError(f"[shadow] has unknown key(s): {', '.join(unknown)}", path=config.path,
                            field=unknown[0], fix="known keys: " + ", ".join(sorted(known)))
        base = ShadowSettings()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            default = getattr(base, key)
            if key in _OPTIONAL_LIMITS:
                # Off unless set; 0 is a real limit (no increase at all tolerated).
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise PlanError(f"[shadow] {key} must be a number of 0 or more", path=config.path,
                                    field=key, fix=f"e.g. {key} = {_OPTIONAL_LIMITS[key]}")
                values[key] = float(value)
                continue
            if key == "refusal_patterns":
                if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                    raise PlanError("[shadow] refusal_patterns must be a non-empty list of strings",
                                    path=config.path, field=key, fix='e.g. refusal_patterns = ["I can.t help"]')
                values[key] = tuple(value)
                continue
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            elif isinstance(default, float):
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            else:
                ok = isinstance(value, str)
            if not ok:
                raise PlanError(f"[shadow] {key} has the wrong type or range", path=config.path, field=key,
                                fix=f"use a value like the default {default!r}")
            values[key] = float(value) if isinstance(default, float) else value
        settings = ShadowSettings(**{**base.__dict__, **values})
        settings.validate(config.path)
        return settings

    def validate(self, path: str | None = None) -> None:
        if not 0 < self.alpha < 0.5:
            raise PlanError("[shadow] alpha must be in (0, 0.5)", path=path, field="alpha", fix="e.g. 0.05")
        if not 0 < self.power < 1:
            raise PlanError("[shadow] power must be in (0, 1)", path=path, field="power", fix="e.g. 0.8")
        if not 0 < self.min_effect < 0.5:
            raise PlanError("[shadow] min_effect must be in (0, 0.5)", path=path, field="min_effect", fix="e.g. 0.05")
        if not 0 < self.min_tail_effect < 1:
            raise PlanError("[shadow] min_tail_effect must be in (0, 1)", path=path, field="min_tail_effect",
                            fix="e.g. 0.02")
        if self.segment_correction not in ("holm", "bh"):
            raise PlanError("[shadow] segment_correction must be holm or bh", path=path,
                            field="segment_correction", fix='segment_correction = "holm"')
        if self.bootstrap_reps < 50:
            raise PlanError("[shadow] bootstrap_reps must be at least 50", path=path, field="bootstrap_reps",
                            fix="e.g. 200")
        for pattern in self.refusal_patterns:
            try:
                re.compile(pattern)
            except re.error:
                raise PlanError("[shadow] a refusal pattern is not a valid regular expression", path=path,
                                field="refusal_patterns", fix="check the pattern syntax") from None


@dataclass(frozen=True)
class ShadowOptions:
    """Everything `shadow_report` needs besides the database."""

    paths: tuple[str, ...]
    baseline: str
    candidate: str
    load: LoadOptions
    arms_named: bool = True
    """False when the user named neither arm: the names are then read from the data (`_infer_arms`)."""
    judgements: tuple[str, ...] = ()
    eval_set: str | None = None
    segment_by: str | None = None
    expect_json: bool | None = None
    examples: int = 5
    seed: int = 0
    settings: ShadowSettings = field(default_factory=ShadowSettings)


@dataclass(frozen=True)
class Pairing:
    rows: int
    pairs: int
    baseline_only_requests: int
    baseline_only_rows: int
    candidate_only_requests: int
    candidate_only_rows: int
    duplicate_requests: int
    duplicate_rows: int
    no_request_id_rows: int
    other_arm_rows: int
    users: int
    first: str | None
    last: str | None
    hours: float | None
    weekday_pairs: int
    weekend_pairs: int


@dataclass(frozen=True)
class TextDiffs:
    pairs: int
    exact_match_rate: float | None
    both_answered: int
    mean_edit_distance: float | None
    """normalized Levenshtein distance, 0 identical .. 1 nothing shared, over pairs where both answered"""
    p90_edit_distance: float | None
    relative_length_change: float | None
    mean_length_baseline: float | None
    mean_length_candidate: float | None
    json_expected_pairs: int
    json_mode: str


@dataclass(frozen=True)
class JudgeResult:
    judge: str
    units: int
    wins: int
    ties: int
    losses: int
    errors: int
    n: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    error_rate: float | None
    win_rate_errors_as_losses: float | None
    order_consistency: float | None
    both_orders: int
    first_position_rate: float | None
    first_position_p_value: float | None
    length_controlled_win_rate: float | None
    length_controlled_ci_low: float | None
    length_controlled_ci_high: float | None
    length_coef: float | None
    length_coef_p_value: float | None
    length_controlled_reason: str | None
    numeric_units: int
    preference_mean: float | None
    preference_ci_low: float | None
    preference_ci_high: float | None
    preference_p_value: float | None
    duplicate_judgements: int
    mde: float | None


@dataclass(frozen=True)
class Quantile:
    q: float
    baseline: float | None
    candidate: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Histogram:
    """Counts of each arm on shared bins (0.5th-99.5th pooled percentile; the rest in the end bins), for plots."""

    edges: tuple[float, ...]
    baseline: tuple[int, ...]
    candidate: tuple[int, ...]


def histogram(b: NDArray[np.float64], c: NDArray[np.float64], bins: int = 40) -> Histogram | None:
    if b.size == 0:
        return None
    lo, hi = np.quantile(np.concatenate([b, c]), [0.005, 0.995])
    if not hi > lo:
        return None
    edges = np.linspace(lo, hi, bins + 1)
    # Equal bins given as a count and a range: numpy then computes each value's bin instead of searching the edges
    # (the same counts; it refuses a range too narrow for distinct edges, which the search takes).
    spec: Any = (bins, (lo, hi)) if bool(np.all(edges[1:] > edges[:-1])) else (edges, None)
    hb = np.histogram(np.clip(b, lo, hi), *spec)[0]
    hc = np.histogram(np.clip(c, lo, hi), *spec)[0]
    return Histogram(tuple(float(e) for e in edges), tuple(int(x) for x in hb), tuple(int(x) for x in hc))


@dataclass(frozen=True)
class MetricDelta:
    """A paired numeric metric (candidate - baseline) per request."""

    metric: str
    field: str
    pairs: int
    clusters: int
    baseline_mean: float | None
    candidate_mean: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative: float | None
    quantiles: tuple[Quantile, ...]
    per_million_requests: float | None = None
    per_million_ci_low: float | None = None
    per_million_ci_high: float | None = None
    histogram: Histogram | None = None


@dataclass(frozen=True)
class Tail:
    name: str
    pairs: int
    baseline: int
    candidate: int
    baseline_rate: float | None
    candidate_rate: float | None
    new_only: int
    fixed_only: int
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    worse: bool
    mde: float | None = None
    """smallest rise of this rate (absolute) these pairs detect with McNemar at alpha and the set power"""


@dataclass(frozen=True)
class SegmentResult:
    segment: str | None
    pairs: int
    share: float
    wins: int
    ties: int
    losses: int
    judge_errors: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    tails: dict[str, dict[str, float | int | None]]
    mean_edit_distance: float | None
    cost_delta: float | None
    latency_delta: float | None
    loses: bool
    loss_reasons: tuple[str, ...]
    in_eval_set: bool | None


@dataclass(frozen=True)
class EvalGap:
    eval_cases: int
    uncovered_segments: tuple[str, ...]
    uncovered_pairs: int
    uncovered_share: float
    uncovered_win_rate: float | None
    uncovered_ci_low: float | None
    uncovered_ci_high: float | None
    uncovered_tails: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Example:
    request_id: str
    segment: str | None
    why: tuple[str, ...]
    edit_distance: float | None
    judge_verdicts: tuple[str, ...]
    baseline_error: str | None
    candidate_error: str | None
    input: str | None
    baseline_output: str | None
    candidate_output: str | None


@dataclass(frozen=True)
class ShadowReportResult:
    """Everything the terminal view, --json and the HTML report show."""

    schema_version: str
    command: str
    verdict: str
    exit_code: int
    reasons: tuple[Reason, ...]
    baseline: str
    candidate: str
    pairs: int
    pairing: Pairing
    diffs: TextDiffs
    judge: JudgeResult | None
    other_judges: tuple[JudgeResult, ...]
    unmatched_judgements: int
    latency: MetricDelta | None
    ttft: MetricDelta | None
    output_tokens: MetricDelta | None
    cost: MetricDelta | None
    judge_score: MetricDelta | None
    tails: tuple[Tail, ...]
    error_classes: tuple[dict[str, Any], ...]
    segment_by: str | None
    segment_correction: str
    segments: tuple[SegmentResult, ...]
    segment_losses: tuple[str | None, ...]
    eval_gap: EvalGap | None
    examples: tuple[Example, ...]
    mde: float | None
    settings: dict[str, Any]
    seed: int
    capped_distances: int = 0
    """pairs whose edit distance compares only the first `MAX_COMPARED_CHARS` characters of each answer"""
    skipped_lines: int = 0
    """malformed or wrong-typed lines `--on-bad-lines skip` left out"""


# ---------------------------------------------------------------------------------------------------


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
    return _analyse(db, options, segment, paired)


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


@dataclass(frozen=True)
class _Paired:
    """What pairing leaves for the analysis, besides `_shadow_pairs` and the canonical `judgements`/`evals`."""

    counts: dict[str, Any]
    pairs: int
    distances: NDArray[np.float32]
    """normalized edit distance by pid; NaN where a pair has no distance (an answer missing, or equal answers)"""
    judgements: int
    sources: list[PairedRows] | None
    """the paired files the answers were streamed from (None: the answers are in `traces`)"""
    kept_answers: dict[int, tuple[str | None, str | None, str | None]] = field(default_factory=dict)
    """sid -> (input, baseline answer, candidate answer) of the streamed rows likeliest to be examples"""
    capped: int = 0
    """pairs whose edit distance was computed on the first `MAX_COMPARED_CHARS` characters only"""
    skipped_lines: int = 0
    """lines `--on-bad-lines skip` left out (the stream is not used in that mode)"""


def _pair_stored(db: Database, options: ShadowOptions, segment: q.Segment | None,
                 load: LoadOptions) -> tuple[_Paired, ShadowOptions]:
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
        dist[pid] = _distances(distances, batch.column(1), batch.column(2))
    return _Paired(counts=counts, pairs=n, distances=dist, judgements=report.rows["judgements"], sources=None,
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
                   sources: list[PairedRows]) -> _Paired | None:
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
    return _Paired(counts=counts, pairs=n, distances=by_sid[q.stream_order(db)], judgements=judged,
                   sources=sources, kept_answers=likely.texts, capped=edit_distance.capped)


def _batch_distances(distances: StreamedEditDistances, batch: pa.RecordBatch) -> NDArray[np.float32]:
    """Edit distances of a streamed batch's pairs whose answers differ (NaN for the others)."""
    dist = np.full(batch.num_rows, np.nan, dtype=np.float32)
    differ = pc.and_(pc.and_(batch.column("has_out_1"), batch.column("has_out_2")), pc.invert(batch.column("exact")))
    if pc.all(differ).as_py():
        dist[:] = _distances(distances, batch.column("output_1"), batch.column("output_2"))
    elif pc.any(differ).as_py():
        dist[differ.to_numpy(zero_copy_only=False)] = _distances(
            distances, pc.filter(batch.column("output_1"), differ), pc.filter(batch.column("output_2"), differ))
    return dist


def _analyse(db: Database, options: ShadowOptions, segment: q.Segment | None, paired: _Paired) -> ShadowReportResult:
    st = options.settings
    n, dist = paired.pairs, paired.distances
    pairing = _pairing(paired.counts, q.span(db))
    total, seg_rows = q.summaries(db)
    if segment is not None and seg_rows and all(r["segment"] is None for r in seg_rows):
        raise _no_segment_values(db, segment, paired)
    exact_pids = _exact_mask(db, n)
    dist[exact_pids] = 0.0

    diffs = _diffs(total, dist, options.expect_json)
    tails = _tails(total, st)
    clusters = q.pair_clusters(db, n)
    metrics = {m: _metric(db, m, f, st, options.seed, clusters) for m, f in METRICS}
    score_delta = _metric(db, "score", "judge_score", st, options.seed, clusters, quantiles=False)

    judge: JudgeResult | None = None
    others: list[JudgeResult] = []
    unmatched = 0
    if paired.judgements > 0:
        problems = q.judgement_problems(db)
        _raise_judgement_problems(problems)
        q.build_judged_units(db)
        unmatched = int(problems["rows"]) - q.paired_verdicts(db)
        all_judges = [_judge(db, row, st) for row in q.judges(db)]
        if all_judges:
            judge, others = all_judges[0], all_judges[1:]

    segments: list[SegmentResult] = []
    gap: EvalGap | None = None
    if segment is not None:
        segments = _segments(db, seg_rows, dist, judge, st, n)
        if options.eval_set is not None:
            segments, gap = _eval_gap(db, segments, segment)

    examples = _examples(db, dist, judge, options.examples, paired, options)
    mde = judge.mde if judge is not None else None
    reasons, verdict = _verdict(pairing, judge, tails, segments, gap, st, mde, metrics)
    if unmatched > 0:
        reasons.append(Reason("JUDGEMENTS_UNMATCHED", f"{unmatched:,} judge verdict(s) match no shadow pair: their "
                              "request_id is not a request both arms answered (check that the judge file and the "
                              "traces name requests the same way)"))
    if paired.skipped_lines:
        reasons.append(skipped_lines_reason(paired.skipped_lines))
    if paired.capped:
        reasons.append(Reason("EDIT_DISTANCE_CAPPED", f"{paired.capped:,} pair(s) with an answer longer than "
                              f"{MAX_COMPARED_CHARS:,} characters: their edit distance compares the first "
                              f"{MAX_COMPARED_CHARS:,} characters of each (a bound on the work one record costs)"))
    return ShadowReportResult(
        schema_version=SCHEMA_VERSION, command="shadow-report", verdict=verdict,
        exit_code=int(exit_code_for(verdict)), reasons=tuple(reasons),
        baseline=options.baseline, candidate=options.candidate, pairs=n, pairing=pairing, diffs=diffs,
        judge=judge, other_judges=tuple(others), unmatched_judgements=unmatched,
        latency=metrics["latency"], ttft=metrics["ttft"], output_tokens=metrics["tokens"], cost=metrics["cost"],
        judge_score=score_delta, tails=tuple(tails), error_classes=tuple(q.error_classes(db)),
        segment_by=options.segment_by, segment_correction=st.segment_correction, segments=tuple(segments),
        segment_losses=tuple(s.segment for s in segments if s.loses), eval_gap=gap, examples=tuple(examples),
        mde=mde, settings=dict(st.__dict__.items()), seed=options.seed, capped_distances=paired.capped,
        skipped_lines=paired.skipped_lines,
    )


def _distances(distances: StreamedEditDistances, baseline: Any, candidate: Any) -> NDArray[np.float32]:
    """Normalized Levenshtein distance of each pair of answers (`rollctl.text_distance`)."""
    return distances(baseline, candidate).astype(np.float32)


def _exact_mask(db: Database, n: int) -> NDArray[np.int64]:
    table = db.fetch_arrow(f"SELECT pid FROM {q.PAIRS} WHERE exact AND out_b AND out_c")
    return np.asarray(table.column("pid").to_numpy(), dtype=np.int64)


def _pairing(counts: dict[str, Any], sp: dict[str, Any]) -> Pairing:
    seconds = sp["seconds"]
    return Pairing(
        rows=int(counts["rows"]), pairs=int(counts["pairs"]),
        baseline_only_requests=int(counts["baseline_only_requests"]),
        baseline_only_rows=int(counts["baseline_only_rows"]),
        candidate_only_requests=int(counts["candidate_only_requests"]),
        candidate_only_rows=int(counts["candidate_only_rows"]),
        duplicate_requests=int(counts["duplicate_requests"]), duplicate_rows=int(counts["duplicate_rows"]),
        no_request_id_rows=int(counts["no_request_id_rows"]), other_arm_rows=int(counts["other_arm_rows"]),
        users=int(sp["users"]),
        first=sp["first"].isoformat().replace("+00:00", "Z") if sp["first"] is not None else None,
        last=sp["last"].isoformat().replace("+00:00", "Z") if sp["last"] is not None else None,
        hours=float(seconds) / 3600 if seconds is not None else None,
        weekday_pairs=int(sp["weekday_pairs"]), weekend_pairs=int(sp["weekend_pairs"]),
    )


def _diffs(total: dict[str, Any], dist: NDArray[np.float32], expect_json: bool | None) -> TextDiffs:
    pairs = int(total["pairs"])
    finite = dist[np.isfinite(dist)]
    return TextDiffs(
        pairs=pairs,
        exact_match_rate=int(total["exact"]) / pairs if pairs else None,
        both_answered=int(total["both_answered"]),
        mean_edit_distance=float(finite.mean()) if finite.size else None,
        p90_edit_distance=float(np.quantile(finite, 0.9)) if finite.size else None,
        relative_length_change=_opt(total["rel_length_change"]),
        mean_length_baseline=_opt(total["mean_len_b"]),
        mean_length_candidate=_opt(total["mean_len_c"]),
        json_expected_pairs=int(total["json_breaks_n"]),
        json_mode="auto (either answer looks like JSON)" if expect_json is None
        else ("all answers" if expect_json else "off"),
    )


def _opt(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _tails(total: dict[str, Any], st: ShadowSettings) -> list[Tail]:
    raw = [ss.mcnemar(int(total[f"{name}_n"]), int(total[f"{name}_b"]), int(total[f"{name}_c"]),
                      int(total[f"{name}_new"]), int(total[f"{name}_fixed"]), alpha=st.alpha)
           for name, _, _ in q.TAILS]
    # Four tail metrics are one family: Holm keeps the chance of any false alarm at alpha.
    adjusted = ss.adjust([m.p_value if m.n else None for m in raw], "holm")
    out = []
    for (name, _, _), m, padj in zip(q.TAILS, raw, adjusted, strict=True):
        worse = padj is not None and padj < st.alpha and m.new_only > m.fixed_only
        mde = ss.mcnemar_mde(m.n, m.new_only + m.fixed_only, alpha=st.alpha, power=st.power)
        out.append(Tail(name=name, pairs=m.n, baseline=m.baseline_count, candidate=m.candidate_count,
                        baseline_rate=m.baseline_rate, candidate_rate=m.candidate_rate, new_only=m.new_only,
                        fixed_only=m.fixed_only, delta=m.delta, ci_low=m.ci_low, ci_high=m.ci_high,
                        p_value=m.p_value, p_adjusted=padj, worse=worse, mde=mde))
    return out


def _metric(db: Database, metric: str, field_name: str, st: ShadowSettings, seed: int, clusters: NDArray[np.int64],
            *, quantiles: bool = True) -> MetricDelta | None:
    """The paired delta of one metric over the pairs where both arms have it, clustered by user."""
    pid, b, c = q.metric_values(db, metric)
    if pid.size == 0:
        return None
    u = clusters[pid]
    if pid.size < clusters.size:
        u = np.unique(u, return_inverse=True)[1].astype(np.int64)  # dense again over these pairs
    n = int(b.size)
    pm = ss.paired_mean(n, float(b.sum()), float(c.sum()), np.asarray(np.bincount(u, weights=c - b), dtype=np.float64),
                        np.bincount(u).astype(np.float64), alpha=st.alpha)
    qs: tuple[Quantile, ...] = ()
    if quantiles:
        qs = tuple(Quantile(x.q, x.baseline, x.candidate, x.delta, x.ci_low, x.ci_high)
                   for x in ss.quantile_bootstrap(b, c, u, reps=st.bootstrap_reps, seed=seed, alpha=st.alpha))

    def per_m(v: float | None) -> float | None:
        return v * 1_000_000 if v is not None and metric == "cost" else None

    return MetricDelta(
        metric=metric, field=field_name, pairs=n, clusters=pm.clusters, baseline_mean=pm.baseline_mean,
        candidate_mean=pm.candidate_mean, delta=pm.delta, ci_low=pm.ci_low, ci_high=pm.ci_high,
        p_value=pm.p_value, relative=pm.relative, quantiles=qs,
        per_million_requests=per_m(pm.delta), per_million_ci_low=per_m(pm.ci_low),
        per_million_ci_high=per_m(pm.ci_high), histogram=histogram(b, c) if quantiles else None,
    )


def _raise_judgement_problems(problems: dict[str, Any]) -> None:
    if problems["bad_winner"]:
        raise InputError(f"{problems['bad_winner']} judgement(s) have a winner outside baseline|candidate|tie|error",
                         path=problems["bad_winner_file"], field="winner",
                         fix="map the judge's labels to baseline, candidate, tie or error")
    if problems["bad_order"]:
        raise InputError(f"{problems['bad_order']} judgement(s) have an order other than "
                         "baseline_first|candidate_first", path=problems["bad_order_file"], field="order",
                         fix="write which answer was shown first as baseline_first or candidate_first")
    if problems["bad_preference"]:
        raise InputError(f"{problems['bad_preference']} preference value(s) are outside [-1, 1]",
                         path=problems["bad_preference_file"], field="preference",
                         fix="rescale preferences to [-1, 1] (+1: candidate better)")


def _judge(db: Database, row: dict[str, Any], st: ShadowSettings) -> JudgeResult:
    name = str(row["judge"])
    wins, ties, losses, errors = (int(row[k]) for k in ("wins", "ties", "losses", "errors"))
    wr = js.win_rate(wins, ties, losses, errors, alpha=st.alpha)
    order = js.order_stats(int(row["both_orders"]), int(row["consistent"]), int(row["decisive"]),
                           int(row["first_position"]))
    y, dlen, units = q.judge_outcomes(db, name)
    lc = js.length_controlled(y, dlen, counts=units, alpha=st.alpha)
    prefs = q.judge_preferences(db, name)
    pref = js.numeric_preference(prefs, alpha=st.alpha)
    var = _weighted_variance(y, units) if units.sum() > 1 else 0.25
    mde = js.win_rate_mde(wr.n, alpha=st.alpha, power=st.power, unit_variance=var if var > 0 else 0.25)
    return JudgeResult(
        judge=name or "(unnamed)", units=int(row["units"]), wins=wins, ties=ties, losses=losses, errors=errors,
        n=wr.n, win_rate=wr.win_rate, ci_low=wr.ci_low, ci_high=wr.ci_high, p_value=wr.p_value,
        error_rate=wr.error_rate, win_rate_errors_as_losses=wr.win_rate_errors_as_losses,
        order_consistency=order.order_consistency, both_orders=order.both_orders,
        first_position_rate=order.first_position_rate, first_position_p_value=order.first_position_p_value,
        length_controlled_win_rate=lc.win_rate, length_controlled_ci_low=lc.ci_low,
        length_controlled_ci_high=lc.ci_high, length_coef=lc.length_coef,
        length_coef_p_value=lc.length_coef_p_value, length_controlled_reason=lc.reason,
        numeric_units=int(row["numeric_units"]), preference_mean=pref.mean, preference_ci_low=pref.ci_low,
        preference_ci_high=pref.ci_high, preference_p_value=pref.p_value,
        duplicate_judgements=int(row["duplicate_judgements"] or 0), mde=mde,
    )


def _weighted_variance(values: NDArray[np.float64], counts: NDArray[np.float64]) -> float:
    """Sample variance (ddof 1) of values that each occur `counts` times."""
    total = float(counts.sum())
    mean = float(np.dot(counts, values)) / total
    return float(np.dot(counts, (values - mean) ** 2)) / (total - 1)


def _no_segment_values(db: Database, segment: q.Segment, paired: _Paired) -> InputError:
    """`--segment-by` that no pair has (a misspelled key put every pair in one segment named None, which then
    "lost" with all of the traffic): an input error naming what the pairs do have."""
    if segment.json_path is None:
        return InputError(f"--segment-by {segment.label}: no pair has a {segment.label}", field="--segment-by",
                          fix="segment by a field the export fills, or by metadata.<key>")
    keys = q.metadata_keys(db, paired.sources)
    return InputError(f"--segment-by {segment.label}: no pair's metadata has this key", field="--segment-by",
                      fix=("metadata keys found: " + ", ".join(f"metadata.{k}" for k in keys)) if keys
                      else "the pairs carry no metadata object")


def _segments(db: Database, seg_rows: list[dict[str, Any]], dist: NDArray[np.float32],
              judge: JudgeResult | None, st: ShadowSettings, n: int) -> list[SegmentResult]:
    labels, codes = q.pair_segments(db)
    finite = np.isfinite(dist)
    dsum = np.bincount(codes[finite], weights=dist[finite], minlength=len(labels))
    dcnt = np.bincount(codes[finite], minlength=len(labels))
    dist_by = {lab: (float(dsum[i] / dcnt[i]) if dcnt[i] else None) for i, lab in enumerate(labels)}
    jrows = {r["segment"]: r for r in q.judge_by_segment(db, judge.judge if judge.judge != "(unnamed)" else "")} \
        if judge is not None else {}
    method = "holm" if st.segment_correction == "holm" else "fdr_bh"
    big = [r for r in seg_rows if int(r["pairs"]) >= st.min_segment_pairs]
    stats_by: dict[str | None, tuple[js.WinRate, dict[str, ss.McNemar]]] = {}
    for r in seg_rows:
        j = jrows.get(r["segment"], {})
        wr = js.win_rate(int(j.get("wins", 0)), int(j.get("ties", 0)), int(j.get("losses", 0)),
                         int(j.get("errors", 0)), alpha=st.alpha)
        tails = {name: ss.mcnemar(int(r[f"{name}_n"]), int(r[f"{name}_b"]), int(r[f"{name}_c"]),
                                  int(r[f"{name}_new"]), int(r[f"{name}_fixed"]), alpha=st.alpha)
                 for name, _, _ in q.TAILS}
        stats_by[r["segment"]] = (wr, tails)
    # Correction across segments, one family per test (judge, each tail); small segments are shown
    # but not tested, so they do not dilute the family.
    judge_adj = dict(zip([r["segment"] for r in big],
                         ss.adjust([stats_by[r["segment"]][0].p_value for r in big], method), strict=True))
    tail_adj: dict[str, dict[str | None, float | None]] = {}
    for name, _, _ in q.TAILS:
        ps = [stats_by[r["segment"]][1][name].p_value if stats_by[r["segment"]][1][name].n else None for r in big]
        tail_adj[name] = dict(zip([r["segment"] for r in big], ss.adjust(ps, method), strict=True))
    out = []
    for r in seg_rows:
        seg = r["segment"]
        wr, tails = stats_by[seg]
        padj = judge_adj.get(seg)
        why: list[str] = []
        if padj is not None and padj < st.alpha and wr.win_rate is not None and wr.win_rate < 0.5:
            why.append("judge")
        tail_view: dict[str, dict[str, float | int | None]] = {}
        for name, m in tails.items():
            ta = tail_adj[name].get(seg)
            if ta is not None and ta < st.alpha and m.new_only > m.fixed_only:
                why.append(name)
            tail_view[name] = {"pairs": m.n, "baseline": m.baseline_count, "candidate": m.candidate_count,
                               "baseline_rate": m.baseline_rate, "candidate_rate": m.candidate_rate,
                               "new_only": m.new_only, "fixed_only": m.fixed_only, "p_value": m.p_value,
                               "p_adjusted": ta}
        pairs = int(r["pairs"])
        out.append(SegmentResult(
            segment=seg, pairs=pairs, share=pairs / n if n else 0.0, wins=wr.wins, ties=wr.ties,
            losses=wr.losses, judge_errors=wr.errors, win_rate=wr.win_rate, ci_low=wr.ci_low,
            ci_high=wr.ci_high, p_value=wr.p_value, p_adjusted=padj, tails=tail_view,
            mean_edit_distance=dist_by.get(seg), cost_delta=_mean_delta(r, "cost"),
            latency_delta=_mean_delta(r, "latency"), loses=bool(why), loss_reasons=tuple(why), in_eval_set=None,
        ))
    return out


def _mean_delta(row: dict[str, Any], metric: str) -> float | None:
    cnt = int(row[f"{metric}_n"] or 0)
    if not cnt:
        return None
    return (float(row[f"{metric}_sum_c"]) - float(row[f"{metric}_sum_b"])) / cnt


def _eval_gap(db: Database, segments: list[SegmentResult],
              segment: q.Segment) -> tuple[list[SegmentResult], EvalGap]:
    cases, tags = q.eval_tags(db)
    key = segment.label.split(".")[-1].lower()

    def covered(value: str | None) -> bool:
        if value is None:
            return True  # pairs without a segment value are not a segment the eval set can miss
        v = value.lower()
        return v in tags or f"{key}:{v}" in tags or f"{key}={v}" in tags

    updated = [SegmentResult(**{**s.__dict__, "in_eval_set": covered(s.segment)}) for s in segments]
    missing = [s for s in updated if s.in_eval_set is False]
    total = sum(s.pairs for s in updated)
    wins = sum(s.wins for s in missing)
    ties = sum(s.ties for s in missing)
    losses = sum(s.losses for s in missing)
    wr = js.win_rate(wins, ties, losses)
    tails = {name: {"pairs": sum(int(s.tails[name]["pairs"] or 0) for s in missing),
                    "baseline": sum(int(s.tails[name]["baseline"] or 0) for s in missing),
                    "candidate": sum(int(s.tails[name]["candidate"] or 0) for s in missing)}
             for name, _, _ in q.TAILS}
    gap = EvalGap(
        eval_cases=cases, uncovered_segments=tuple(str(s.segment) for s in missing),
        uncovered_pairs=sum(s.pairs for s in missing),
        uncovered_share=sum(s.pairs for s in missing) / total if total else 0.0,
        uncovered_win_rate=wr.win_rate, uncovered_ci_low=wr.ci_low, uncovered_ci_high=wr.ci_high,
        uncovered_tails=tails,
    )
    return updated, gap


def _examples(db: Database, dist: NDArray[np.float32], judge: JudgeResult | None, count: int,
              paired: _Paired, options: ShadowOptions) -> list[Example]:
    if count == 0:
        return []
    judge_name = None if judge is None else ("" if judge.judge == "(unnamed)" else judge.judge)
    chosen = q.top_examples(db, judge_name, dist, count)
    if not chosen:
        return []
    sources = paired.sources
    rows = {int(r["pid"]): r for r in q.example_rows(db, chosen, judge_name, with_texts=sources is None)}
    if sources is not None:
        # The answers were streamed, not stored: the stream kept those of the likeliest examples; when it missed
        # one, read these few pairs' texts from the files again.
        kept = paired.kept_answers
        if all(int(r["sid"]) in kept for r in rows.values()):
            for r in rows.values():
                r["input"], r["baseline_output"], r["candidate_output"] = kept[int(r["sid"])]
        else:
            texts = q.example_texts_streamed(db, sources, [str(r["request_id"]) for r in rows.values()],
                                             options.baseline, options.candidate)
            for r in rows.values():
                r["input"], r["baseline_output"], r["candidate_output"] = texts.get(str(r["request_id"]),
                                                                                    (None, None, None))
    out = []
    for pid in chosen:
        r = rows[pid]
        why = []
        verdicts = tuple(r["verdicts"] or ())
        if any(v.startswith("baseline/baseline") for v in verdicts):
            why.append("judge preferred the baseline in both orders")
        elif any(v.endswith("=loss") for v in verdicts):
            why.append("judge preferred the baseline")
        if r["json_break"]:
            why.append("new JSON break")
        if r["new_refusal"]:
            why.append("new refusal")
        if r["error_c"] is not None and r["error_b"] is None:
            why.append(f"new error: {r['error_c']}")
        dv = float(dist[pid]) if np.isfinite(dist[pid]) else None
        out.append(Example(
            request_id=str(r["request_id"]), segment=r["segment"], why=tuple(why), edit_distance=dv,
            judge_verdicts=verdicts, baseline_error=r["error_b"], candidate_error=r["error_c"],
            input=r["input"], baseline_output=r["baseline_output"], candidate_output=r["candidate_output"],
        ))
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _limit_reasons(metrics: dict[str, MetricDelta | None], st: ShadowSettings) -> list[Reason]:
    """No-go reasons from the optional cost and latency limits: only when the whole interval is above the limit,
    so a noisy increase that might be under it does not block (and every limit is off unless configured)."""
    out: list[Reason] = []
    lat, cost = metrics.get("latency"), metrics.get("cost")
    limit = st.max_latency_increase_ms
    if limit is not None and lat is not None and lat.ci_low is not None and lat.ci_low > limit:
        out.append(Reason("LATENCY_UP", f"mean latency up {lat.delta:+.0f} ms per request [{lat.ci_low:+.0f}, "
                                        f"{lat.ci_high:+.0f}], above the {limit:g} ms allowed"))
    limit = st.max_latency_p95_increase_ms
    p95 = next((x for x in lat.quantiles if x.q == 0.95), None) if lat is not None else None
    if limit is not None and p95 is not None and p95.ci_low is not None and p95.ci_low > limit:
        out.append(Reason("LATENCY_P95_UP", f"p95 latency {p95.baseline:.0f} -> {p95.candidate:.0f} ms "
                                            f"({p95.delta:+.0f} ms [{p95.ci_low:+.0f}, {p95.ci_high:+.0f}], "
                                            f"bootstrap), above the {limit:g} ms allowed"))
    limit = st.max_cost_increase_relative
    base = cost.baseline_mean if cost is not None else None
    if limit is not None and cost is not None and cost.ci_low is not None and base is not None and base > 0:
        # Relative to the baseline's mean cost, taken as known (its own error is small beside the delta's).
        low, high = cost.ci_low / base, (cost.ci_high or cost.ci_low) / base
        if low > limit:
            out.append(Reason("COST_UP", f"cost per request up {_pct(cost.relative)} [{_pct(low)}, {_pct(high)}], "
                                         f"above the {_pct(limit)} allowed"))
    return out


def _verdict(pairing: Pairing, judge: JudgeResult | None, tails: Sequence[Tail],
             segments: Sequence[SegmentResult], gap: EvalGap | None, st: ShadowSettings,
             mde: float | None, metrics: dict[str, MetricDelta | None]) -> tuple[list[Reason], str]:
    nogo: list[Reason] = []
    hold: list[Reason] = []
    info: list[Reason] = []
    if judge is not None and judge.p_value is not None and judge.win_rate is not None:
        if judge.p_value < st.alpha and judge.win_rate < 0.5:
            nogo.append(Reason("JUDGE_PREFERS_BASELINE",
                               f"judge {judge.judge} prefers the baseline: win rate {_pct(judge.win_rate)} "
                               f"[{_pct(judge.ci_low)}, {_pct(judge.ci_high)}], sign test p = {judge.p_value:.2g}"))
        if judge.error_rate is not None and judge.error_rate > st.max_judge_error_rate:
            hold.append(Reason("JUDGE_ERRORS", f"{judge.errors} judged pairs ({_pct(judge.error_rate)}) are judge "
                                               "errors; counted as losses the win rate would be "
                                               f"{_pct(judge.win_rate_errors_as_losses)}"))
        if judge.length_coef_p_value is not None and judge.length_coef_p_value < st.alpha:
            info.append(Reason("JUDGE_LENGTH_BIAS",
                               f"the judge's verdicts depend on answer length (b1 = {judge.length_coef:.2f}); "
                               f"length-controlled win rate {_pct(judge.length_controlled_win_rate)}"))
        if judge.both_orders == 0 and judge.n > 0:
            info.append(Reason("JUDGE_POSITION_NOT_MEASURABLE",
                               "position bias is not measurable: every verdict was given with the answers in one "
                               "order; judge some pairs with the answers swapped to measure it"))
        if judge.first_position_p_value is not None and judge.first_position_p_value < st.alpha:
            info.append(Reason("JUDGE_POSITION_BIAS",
                               f"the judge prefers the answer shown first in {_pct(judge.first_position_rate)} of "
                               "decisive verdicts; verdicts that flip with order count as ties"))
    elif judge is None:
        info.append(Reason("NO_JUDGEMENTS", "no judge verdicts for these pairs: judged on tails only"))
    elif judge.n == 0:
        hold.append(Reason("NO_JUDGE_VERDICTS", f"judge {judge.judge} decided no pair ({judge.errors} errors)"))
    for t in tails:
        if t.worse:
            nogo.append(Reason(f"{t.name.upper()}_UP",
                               f"{t.name.replace('_', ' ')}: {_pct(t.baseline_rate)} -> {_pct(t.candidate_rate)} "
                               f"({t.new_only} pairs newly broken, {t.fixed_only} fixed; McNemar p = "
                               f"{t.p_value:.2g}, Holm-adjusted {t.p_adjusted:.2g})"))
    nogo += _limit_reasons(metrics, st)
    for s in segments:
        if s.loses:
            nogo.append(Reason("SEGMENT_LOSES",
                               f"segment {s.segment}: the candidate loses on {', '.join(s.loss_reasons)} "
                               f"({s.pairs} pairs, {_pct(s.share)} of traffic)"))
    if pairing.hours is None:
        hold.append(Reason("NO_TIMESTAMPS", "pairs have no timestamps: the shadow window cannot be checked"))
    elif pairing.hours < st.min_hours:
        hold.append(Reason("SPAN_TOO_SHORT", f"shadow ran {pairing.hours:.1f} h, under the {st.min_hours:g} h "
                                             "advised: daily cycles are not covered"))
    elif pairing.hours > st.max_hours:
        info.append(Reason("SPAN_LONG", f"shadow ran {pairing.hours:.1f} h (advice: 24-72 h)"))
    if pairing.hours is not None and st.require_weekday_weekend_mix:
        if pairing.weekend_pairs == 0:
            hold.append(Reason("NO_WEEKEND", "no pair falls on a weekend (Sat/Sun UTC): weekend traffic is untested"))
        elif pairing.weekday_pairs == 0:
            hold.append(Reason("NO_WEEKDAY", "no pair falls on a weekday (Mon-Fri UTC): weekday traffic is untested"))
    if pairing.pairs < st.min_pairs:
        hold.append(Reason("TOO_FEW_PAIRS", f"{pairing.pairs} pairs, under the minimum of {st.min_pairs}"))
    if mde is not None and mde > st.min_effect and not nogo:
        hold.append(Reason("UNDERPOWERED", f"with {judge.n if judge else 0} judged pairs the smallest detectable "
                                           f"win-rate shift is {_pct(mde)} (MDE at {st.power:.0%} power), more than "
                                           f"the {_pct(st.min_effect)} that matters"))
    if judge is None and pairing.pairs >= st.min_pairs and not nogo:
        # No judge: the tails are what the verdict rests on, so they must be able to see a rise that matters.
        weak = [t for t in tails if t.pairs >= st.min_pairs and t.mde is not None and t.mde > st.min_tail_effect]
        if weak:
            hold.append(Reason("UNDERPOWERED", "no judgements, and the smallest detectable rise of "
                               + ", ".join(f"the {t.name.replace('_', ' ')} rate over {t.pairs} pairs is {_pct(t.mde)}"
                                           for t in weak)
                               + f" (McNemar MDE at {st.power:.0%} power, alpha {st.alpha:g}), more than the "
                               f"{_pct(st.min_tail_effect)} that matters"))
    unpaired = pairing.baseline_only_rows + pairing.candidate_only_rows + pairing.duplicate_rows
    if unpaired:
        info.append(Reason("UNPAIRED_ROWS",
                           f"{pairing.baseline_only_rows} baseline-only and {pairing.candidate_only_rows} "
                           f"candidate-only rows, {pairing.duplicate_rows} rows of {pairing.duplicate_requests} "
                           "duplicated requests: excluded from the pairs"))
    if gap is not None and gap.uncovered_segments:
        info.append(Reason("EVAL_SET_GAP", f"{_pct(gap.uncovered_share)} of traffic is in segments the eval set "
                                           f"does not cover: {', '.join(gap.uncovered_segments)}"))
    if nogo:
        return nogo + hold + info, "no-go"
    if hold:
        return hold + info, "inconclusive"
    return [Reason("NO_REGRESSION_FOUND", "no significant judge loss, tail regression or losing segment")]\
        + info, "go"

"""What shadow-report returns: pairing, text diffs, the judge, metric deltas, tails, segments, the eval gap and
examples (numpy only: renderers import these at run time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rollctl.core.results import Reason


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

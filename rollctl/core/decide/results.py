"""What `decide` returns: the verdict, its reasons, checks, metric comparisons and traffic (no scipy, no
DuckDB: renderers import these at run time)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from rollctl.core.results import Reason

Verdict = Literal["go", "hold", "rollback"]
CheckStatus = Literal["pass", "warn", "fail", "skipped"]
MIXED_WARN_SHARE = 0.01


@dataclass(frozen=True)
class Check:
    """One validity check: `fail` forces HOLD (never GO); `warn` is reported and does not block."""

    code: str
    status: CheckStatus
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequencePoint:
    """The metric's comparison as it stood at the end of one UTC day (cumulative data)."""

    day: str
    baseline_units: int
    candidate_units: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class StratumResult:
    stratum: str
    baseline_value: float | None
    candidate_value: float | None
    estimate: float | None
    relative_estimate: float | None
    se: float | None


@dataclass(frozen=True)
class MetricResult:
    """One metric's comparison: candidate − baseline, its interval, and the rule it was held to."""

    name: str
    role: Literal["guardrail", "primary"]
    kind: str
    unit: str
    scale: Literal["absolute", "relative"]
    """Scale of ci_low/ci_high/tolerance: absolute (metric units) or relative (fraction of baseline)."""
    baseline_value: float | None
    candidate_value: float | None
    estimate: float | None
    """Absolute difference, candidate − baseline."""
    relative_estimate: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    tolerance: float | None
    bad_direction: str | None
    rule: str
    status: str
    harm_p_value: float | None
    harm_p_value_holm: float | None
    units_to_resolve: int | None
    baseline_units: int
    candidate_units: int
    problem: str | None
    sequence: tuple[SequencePoint, ...] = ()
    strata: tuple[StratumResult, ...] = ()


@dataclass(frozen=True)
class TrafficDay:
    day: str
    variant: str
    requests: int
    new_units: int
    cumulative_units: int


@dataclass(frozen=True)
class TimeNeeded:
    """How far the stage is from a decision at the current traffic."""

    planned_units: int | None
    units_now: int
    units_remaining: int | None
    new_units_per_day: float | None
    days_for_sample: int | None
    hours_for_minimum_time: float
    days_remaining: int | None
    """Whole days until both the sample and the minimum time are reached (None: unknown)."""


@dataclass(frozen=True)
class DecideResult:
    """Everything `decide` found, rendered as a table, as --json, or as an HTML report."""

    schema_version: str
    command: str
    verdict: Verdict
    exit_code: int
    reasons: tuple[Reason, ...]
    plan: dict[str, Any]
    stage: float
    next_stage: float | None
    next_step: str
    as_of: str | None
    window: dict[str, Any]
    checks: tuple[Check, ...]
    metrics: tuple[MetricResult, ...]
    traffic: tuple[TrafficDay, ...]
    srm: dict[str, Any]
    time_needed: TimeNeeded
    alpha: float
    tuning_n: float
    units: dict[str, int]
    fingerprint: dict[str, Any]
    rollctl_version: str
    skipped_lines: int = 0
    """Malformed or wrong-typed lines `--on-bad-lines skip` left out."""


def pct(stage: float) -> str:
    return f"{stage:g} %"


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None

"""What eval-gate is asked and returns: options, per-arm summaries, per-case outcomes and transitions, the
result (numpy only: renderers import these at run time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rollctl.core.results import SCHEMA_VERSION, Reason
from rollctl.exit_codes import InconclusivePolicy
from rollctl.stats.paired import (
    McNemarResult,
    PairedDifference,
    PowerPlan,
)

Status = Literal["pass", "fail", "flaky", "missing"]
STATUSES: tuple[Status, ...] = ("pass", "flaky", "fail", "missing")


@dataclass(frozen=True)
class EvalGateOptions:
    """Gate settings (command line over `[eval_gate]` in rollctl.toml over these defaults)."""

    baseline: str | None = None
    candidate: str | None = None
    strict: bool = False
    strict_tags: tuple[str, ...] = ()
    margin: float = 0.0
    alpha: float = 0.05
    protect: tuple[str, ...] = ()
    inconclusive: InconclusivePolicy = "exit3"
    score_range: tuple[float, float] | None = None
    pass_threshold: float = 0.5
    """for score-only inputs: a repeat passes when its scaled score is at least this"""
    seed: int = 0
    bootstrap: int = 1000
    power: float = 0.8
    planning_effect: float = 0.05
    """the drop to size the eval set for when --margin is 0"""


@dataclass(frozen=True)
class ArmSummary:
    """One arm over the paired (baseline) cases."""

    name: str
    files: tuple[str, ...]
    cases: int
    """cases with at least one row in this arm"""
    observations: int
    repeats_min: int | None
    repeats_max: int | None
    pass_rate: float | None
    """mean of per-case pass shares (or scaled mean scores) over the paired cases; missing counts as 0"""
    ci_low: float | None
    ci_high: float | None
    stable_pass: int
    stable_fail: int
    flaky: int
    missing: int
    """paired cases with no result in this arm (absent, or rows without passed/score/error)"""
    errors: int
    """rows with an error"""
    error_rate: float | None
    error_classes: dict[str, int]


@dataclass(frozen=True)
class CaseArm:
    status: Status
    repeats: int
    passes: int
    errors: int
    value: float | None
    """pass share or mean scaled score; None when absent"""


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    tags: tuple[str, ...]
    cluster: str | None
    baseline: CaseArm
    candidate: CaseArm
    transition: str
    """regression | fix | pass_to_flaky | flaky_to_fail | fail_to_flaky | flaky_to_pass | unchanged_* | new_case"""
    strict_scope: bool
    protected: bool


@dataclass(frozen=True)
class BootstrapInterval:
    ci_low: float | None
    ci_high: float | None
    resamples: int
    seed: int
    unit: str
    """case | cluster"""


@dataclass(frozen=True)
class GateSettings:
    alpha: float
    margin: float
    strict: bool
    strict_tags: tuple[str, ...]
    protected_cases: int
    inconclusive: str
    metric: str
    """pass_rate | mean_score"""
    score_range: tuple[float, float] | None
    pass_threshold: float | None
    seed: int
    mode: str
    """two_file | one_file"""


@dataclass(frozen=True)
class EvalGateResult:
    """Everything the gate decided and why: rendered to the terminal, JSON, JUnit, Markdown and HTML."""

    verdict: str
    exit_code: int
    reasons: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    settings: GateSettings
    n_cases: int
    """paired cases: every case the baseline has"""
    baseline: ArmSummary
    candidate: ArmSummary
    difference: PairedDifference
    bootstrap: BootstrapInterval
    mcnemar: McNemarResult
    p_value: float | None
    p_value_method: str
    correlation: float | None
    mde: float | None
    power: PowerPlan
    regressions: tuple[str, ...]
    fixes: tuple[str, ...]
    flaky: tuple[str, ...]
    """cases flaky in either arm"""
    newly_flaky: tuple[str, ...]
    new_cases: tuple[str, ...]
    """cases only the candidate has: not paired, not in the statistics"""
    missing_in_candidate: tuple[str, ...]
    protected_failed: tuple[str, ...]
    strict_violations: tuple[str, ...]
    transitions: dict[str, dict[str, int]]
    """baseline status -> candidate status -> cases"""
    cases: tuple[CaseOutcome, ...] = field(repr=False)
    schema_version: str = SCHEMA_VERSION
    skipped_lines: int = 0
    """malformed or wrong-typed lines `--on-bad-lines skip` left out"""

TRANSITIONS = {
    ("pass", "fail"): "regression", ("pass", "missing"): "regression",
    ("fail", "pass"): "fix", ("missing", "pass"): "fix",
    ("pass", "flaky"): "pass_to_flaky", ("flaky", "fail"): "flaky_to_fail", ("flaky", "missing"): "flaky_to_fail",
    ("fail", "flaky"): "fail_to_flaky", ("missing", "flaky"): "fail_to_flaky", ("flaky", "pass"): "flaky_to_pass",
    ("pass", "pass"): "unchanged_pass", ("fail", "fail"): "unchanged_fail", ("flaky", "flaky"): "unchanged_flaky",
    ("fail", "missing"): "unchanged_fail", ("missing", "fail"): "unchanged_fail",
    ("missing", "missing"): "unchanged_fail",
}

"""`rollctl decide`: GO / HOLD / ROLLBACK before a ramp step, by the rule written in the plan.

Order of work (`analysis`): load the traces, run the validity checks that make canary numbers lie
(`checks`: sample-ratio mismatch, mixed exposure, assignment audit, pinned models, one change at a time,
cache-hit skew, time window and weekly cycle, planned sample), then compare every guardrail and primary metric
with peek-safe confidence sequences (`comparisons`, over `rollctl.stats.guardrails`), then apply the verdict
rule (`verdict`):

- ROLLBACK when a guardrail is clearly breached (harm shown, Holm across guardrails, and the estimate
  beyond the tolerance) and the assignment itself is sound (no SRM, mixed exposure or assignment
  mismatch beyond the plan's limits: with those the comparison cannot be trusted either way, so HOLD).
- GO when every check passes, every guardrail is within tolerance with confidence, no primary metric is
  significantly worse, and the stage has run its minimum time and reached its planned sample.
- HOLD otherwise, with every reason and the time still needed.

`results` holds the result types (importable without scipy or DuckDB); `log` the decision log. This module
re-exports the public names lazily, so importing a result type does not import the analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollctl.core.decide.results import (
    Check,
    DecideResult,
    MetricResult,
    SequencePoint,
    StratumResult,
    TimeNeeded,
    TrafficDay,
    Verdict,
)

if TYPE_CHECKING:
    from rollctl.core.decide.analysis import analyse, decide
    from rollctl.core.decide.log import append_decision_log, decision_log_line

_LAZY = {"decide": "analysis", "analyse": "analysis", "append_decision_log": "log", "decision_log_line": "log"}

__all__ = ["Check", "DecideResult", "MetricResult", "SequencePoint", "StratumResult", "TimeNeeded", "TrafficDay",
           "Verdict", "analyse", "append_decision_log", "decide", "decision_log_line"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rollctl.core.decide.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rollctl.core.decide' has no attribute {name!r}")

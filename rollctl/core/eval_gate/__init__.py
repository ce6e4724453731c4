"""`rollctl eval-gate`: may this prompt or model change go on to shadow traffic?

Pairs baseline and candidate eval results by `case_id`, averages each case's repeats first (Miller 2024:
question-level means), classifies every case in each arm (pass in every repeat, fail in every repeat,
flaky, missing) and the transitions between arms, then decides:

- **fail** if strict mode sees a regression in its scope, a protected case does not pass, the candidate has a
  higher error rate or more cases without a result than the baseline, or the candidate is significantly worse
  than the margin allows (the one-sided (1 − α) upper bound of candidate − baseline is below −margin);
- **pass** if none of those fired and the candidate is non-inferior: the one-sided (1 − α) lower bound of
  candidate − baseline is above −margin;
- **inconclusive** otherwise, with the reason.

The difference is the mean over baseline cases of (candidate − baseline) per-case pass share (or scaled
mean score); a case missing from the candidate counts as failed there. Its interval is the paired t
interval on those per-case differences (cluster-robust when `cluster` is given), so flaky cases enter the
test with their partial pass shares; McNemar's exact test on the cases that are stable in both arms is
reported beside it, and is the headline p-value when every per-case value is 0 or 1.

Parts: `results` (options and result types), `gate` (the entry point and reading), `cases` (classification,
the paired difference, power), `verdict`. The entry point is re-exported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollctl.core.eval_gate.results import (
    STATUSES,
    TRANSITIONS,
    ArmSummary,
    BootstrapInterval,
    CaseArm,
    CaseOutcome,
    EvalGateOptions,
    EvalGateResult,
    GateSettings,
    Status,
)

if TYPE_CHECKING:
    from rollctl.core.eval_gate.gate import eval_gate, read_protect_file

__all__ = ["STATUSES", "TRANSITIONS", "ArmSummary", "BootstrapInterval", "CaseArm", "CaseOutcome", "EvalGateOptions",
           "EvalGateResult", "GateSettings", "Status", "eval_gate", "read_protect_file"]


def __getattr__(name: str) -> Any:
    if name in ("eval_gate", "read_protect_file"):
        from rollctl.core.eval_gate import gate

        return getattr(gate, name)
    raise AttributeError(f"module 'rollctl.core.eval_gate' has no attribute {name!r}")

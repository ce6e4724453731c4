"""`rollctl power`: how many users and days a canary needs, and why more than for a UI change.

Power is a planning command, not a gate: its result has no go/no-go `verdict`. `exit_code` is 0 when the
asked quantity was computed and 3 when it cannot be (no effect inside the metric's range is detectable with
the users given); impossible requests raise `UsageError` (exit 2). `reasons` carries warnings and
assumptions (SNAKE_CASE codes), never a verdict.

Units: `n_*` count users (the randomization unit). The inflation is measured in observations against a
calculator that treats every observation as an independent user of a deterministic change: with m̄
requests per user the users needed are (naive observations × inflation) / m̄.

Parts: `results` (requests and result types, importable without DuckDB), `trace_model` (the metric model, by
hand or from traces), `canary` (`plan_power`), `eval_set` (`plan_eval`). The planners are re-exported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollctl.core.power.results import (
    CurvePoint,
    EvalPowerResult,
    EvalRequest,
    Inflation,
    InflationPart,
    MdeValue,
    PowerRequest,
    PowerResult,
    SimulationCheck,
    TraceEstimates,
)

if TYPE_CHECKING:
    from rollctl.core.power.canary import parse_ratio, plan_power
    from rollctl.core.power.eval_set import plan_eval

_LAZY = {"plan_power": "canary", "parse_ratio": "canary", "plan_eval": "eval_set"}

__all__ = ["CurvePoint", "EvalPowerResult", "EvalRequest", "Inflation", "InflationPart", "MdeValue", "PowerRequest",
           "PowerResult", "SimulationCheck", "TraceEstimates", "parse_ratio", "plan_eval", "plan_power"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rollctl.core.power.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rollctl.core.power' has no attribute {name!r}")

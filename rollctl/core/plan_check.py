"""`rollctl plan check`: a plan parsed and summarised (errors are raised as `PlanError`, exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollctl.core.results import SCHEMA_VERSION, Reason
from rollctl.plan import load_plan


@dataclass(frozen=True)
class PlanCheckResult:
    schema_version: str
    verdict: str
    exit_code: int
    reasons: tuple[Reason, ...]
    plan: dict[str, Any]


def check_plan(path: str | Path) -> PlanCheckResult:
    """Parse and validate; a valid plan with warnings still passes (the warnings say what to reconsider)."""
    plan = load_plan(path)
    reasons = [Reason("PLAN_WARNING", w) for w in plan.warnings] or [Reason("PLAN_VALID", "the plan is valid")]
    summary = {
        "path": plan.path, "sha256": plan.sha256, "name": plan.name, "change": plan.change,
        "baseline": plan.baseline, "candidate": plan.candidate, "unit": plan.unit, "hash": plan.hash,
        "stages": list(plan.stages), "current_stage": plan.current_stage, "min_stage_hours": plan.min_stage_hours,
        "canary_min_days": plan.canary_min_days, "alpha": plan.alpha, "power": plan.power,
        "guardrails": [{"metric": g.metric, "rule": g.rule, "scale": g.scale, "tolerance": g.tolerance,
                        "bad_direction": g.bad_direction} for g in plan.guardrails],
        "primary": [{"metric": p.metric, "direction": p.direction, "min_detectable_effect": p.min_detectable_effect,
                     "min_detectable_relative_effect": p.min_detectable_relative_effect} for p in plan.primary],
        "custom_metrics": [c.name for c in plan.custom_metrics],
    }
    return PlanCheckResult(SCHEMA_VERSION, "pass", 0, tuple(reasons), summary)

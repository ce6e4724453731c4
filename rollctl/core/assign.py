"""`rollctl assign`: the arm of each unit at a stage, by the plan's hash (default sha256 of `salt.unit`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollctl.assignment import bucket_value, is_candidate
from rollctl.core.results import SCHEMA_VERSION
from rollctl.errors import UsageError
from rollctl.plan import Plan


@dataclass(frozen=True)
class UnitArm:
    unit: str
    arm: str
    bucket: float
    """Position in [0, 1) under the hash; the candidate holds the top (or bottom, for sha256) share."""


@dataclass(frozen=True)
class AssignResult:
    schema_version: str
    hash: str
    salt: str
    stage: float
    baseline: str
    candidate: str
    units: tuple[UnitArm, ...]


def assign_units(plan: Plan, units: Sequence[str], stage: float | None) -> AssignResult:
    stage = stage if stage is not None else plan.current_stage
    if stage is None:
        raise UsageError("which stage?", field="--stage", fix="pass --stage PCT or set current_stage in the plan")
    if not 0 <= stage <= 100:
        raise UsageError(f"--stage {stage:g} is outside [0, 100]", field="--stage", fix="a percentage, e.g. 5")
    if plan.salt is None:
        raise UsageError("the plan has no salt", path=plan.path, field="rollout.salt",
                         fix="set rollout.salt to the flag system's salt")
    scheme = plan.hash or "sha256"
    arms = tuple(
        UnitArm(u, plan.candidate if is_candidate(scheme, plan.salt, u, stage) else plan.baseline,
                bucket_value(scheme, plan.salt, u))
        for u in units
    )
    return AssignResult(SCHEMA_VERSION, scheme, plan.salt, stage, plan.baseline, plan.candidate, arms)

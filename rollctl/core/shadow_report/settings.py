"""shadow-report's settings: the `[shadow]` table of rollctl.toml (limits, refusal patterns, judge, examples)
and the options of one run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rollctl.config import Config
from rollctl.errors import PlanError
from rollctl.load import (
    LoadOptions,
)

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

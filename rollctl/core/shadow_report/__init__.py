"""`rollctl shadow-report`: what shadow traffic says about the candidate, paired and judged.

Shadow traffic is a paired design: the same request was answered by both arms. Every comparison here is
on pairs (paired differences, McNemar, sign test, a cluster bootstrap that keeps pairs together), which
gives far tighter answers than comparing two independent samples.

Along the order of work: `settings` (the `[shadow]` table and the run's options), `pairing` (the entry
point `shadow_report`; stored or streamed pairs), `analysis` (diffs, judge, deltas, tails, segments,
examples), `verdict`; `results` holds the result types. The entry point is re-exported lazily, so importing
a result type or the settings does not import DuckDB, pyarrow or the statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollctl.core.shadow_report.results import (
    EvalGap,
    Example,
    Histogram,
    JudgeResult,
    MetricDelta,
    Pairing,
    Quantile,
    SegmentResult,
    ShadowReportResult,
    Tail,
    TextDiffs,
    histogram,
)
from rollctl.core.shadow_report.settings import DEFAULT_REFUSAL_PATTERNS, ShadowOptions, ShadowSettings

if TYPE_CHECKING:
    from rollctl.core.shadow_report.pairing import parse_segment, shadow_report

__all__ = ["DEFAULT_REFUSAL_PATTERNS", "EvalGap", "Example", "Histogram", "JudgeResult", "MetricDelta", "Pairing",
           "Quantile", "SegmentResult", "ShadowOptions", "ShadowReportResult", "ShadowSettings", "Tail", "TextDiffs",
           "histogram", "parse_segment", "shadow_report"]


def __getattr__(name: str) -> Any:
    if name in ("shadow_report", "parse_segment"):
        from rollctl.core.shadow_report import pairing

        return getattr(pairing, name)
    raise AttributeError(f"module 'rollctl.core.shadow_report' has no attribute {name!r}")

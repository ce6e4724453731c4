"""Shapes from the tools rollctl reads that it cannot turn into rows: recognised, then refused in one line that
names the shape and what to export instead. A refusal beats the generic adapters, which would otherwise load
such a file as trace rows with almost every field empty.
"""

from __future__ import annotations

from collections.abc import Callable

from rollctl.errors import InputError
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe


def _refusal(what: str, fix: str) -> Callable[[LoadContext, Probe], FileReport]:
    def refuse(ctx: LoadContext, probe: Probe) -> FileReport:
        raise InputError(f"this is {what}, which rollctl does not read", path=probe.file.path, fix=fix)

    return refuse


def _mtbench_single(probe: Probe) -> bool:
    cols = probe.columns
    return {"question_id", "model", "judge", "score", "turn"} <= set(cols) and "g1_winner" not in cols


def _otlp_not_traces(probe: Probe) -> bool:
    return bool({"resourceMetrics", "resourceLogs"} & set(probe.columns)) and "resourceSpans" not in probe.columns


def _langfuse_scores_page(probe: Probe) -> bool:
    keys = probe.page_keys.get("data", frozenset())
    return "meta" in probe.columns and {"name", "value", "dataType"} <= keys and "startTime" not in keys


REFUSE_MTBENCH_SINGLE = Adapter(
    "refuse_mtbench_single", "MT-Bench single-answer grading (refused: not a pairwise verdict)", _mtbench_single,
    _refusal("MT-Bench single-answer grading (one score per answer, e.g. gpt-4_single.jsonl)",
             "shadow-report reads pairwise judgements: run FastChat's gen_judgment.py with --mode pairwise-baseline "
             "and pass model_judgment/*_pair.jsonl"), priority=135)
REFUSE_OTLP_SIGNAL = Adapter(
    "refuse_otlp_signal", "OTLP metrics or logs (refused: rollctl reads trace spans)", _otlp_not_traces,
    _refusal("an OTLP metrics or logs export", "export the traces signal (resourceSpans) of the same collector"),
    priority=95, envelope=True)
REFUSE_LANGFUSE_SCORES = Adapter(
    "refuse_langfuse_scores", "a Langfuse scores page alone (refused: scores need their observations)",
    _langfuse_scores_page,
    _refusal("a page of Langfuse scores without the observations they score",
             "pass a directory holding observations/ and scores/ (API pages or a blob export), so scores join their "
             "traces"), priority=111)

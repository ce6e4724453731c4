"""The canonical record: one flat row per LLM call, and the tables the loader produces.

Every adapter maps its source onto these names. The `kind` of a field decides how raw values are
converted (see `rollctl.load.expressions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["string", "text", "timestamp", "bool", "float", "int", "thumbs", "list", "json"]


@dataclass(frozen=True)
class CanonicalField:
    """A canonical field: its name, how values are converted, and the DuckDB type it is stored as."""

    name: str
    kind: FieldKind
    description: str
    minimum: float | None = None
    """The smallest value that means something (a latency, a cost, a token count is never negative)."""
    maximum: float | None = None

    def range_sql(self, value_sql: str) -> str | None:
        """SQL true where a converted value lies outside the field's range (None: the field has none)."""
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{value_sql} < {self.minimum!r}")
        if self.maximum is not None:
            bounds.append(f"{value_sql} > {self.maximum!r}")
        return f"({' OR '.join(bounds)})" if bounds else None

    def range_phrase(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" in [{self.minimum:g}, {self.maximum:g}]"
        if self.minimum is not None:
            return f" of {self.minimum:g} or more"
        return ""

    @property
    def sql_type(self) -> str:
        return {
            "string": "VARCHAR",
            "text": "VARCHAR",
            "timestamp": "TIMESTAMPTZ",
            "bool": "BOOLEAN",
            "float": "DOUBLE",
            "int": "BIGINT",
            "thumbs": "INTEGER",
            "list": "VARCHAR[]",
            "json": "JSON",
        }[self.kind]


TRACE_FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField("request_id", "string", "pairs shadow rows; both arms of one request share it"),
    CanonicalField("timestamp", "timestamp", "ISO-8601 or epoch seconds/ms, stored as UTC"),
    CanonicalField("user_id", "string", "the randomization unit"),
    CanonicalField("session_id", "string", "conversation, for clustering"),
    CanonicalField("variant", "string", "the arm that produced this output"),
    CanonicalField("served", "bool", "true if the user saw it, false for a shadow computation"),
    CanonicalField("model", "string", "model string, ideally pinned with a version or date"),
    CanonicalField("prompt_version", "string", "prompt version"),
    CanonicalField("input", "text", "request text (JSON kept as text)"),
    CanonicalField("output", "text", "response text (JSON kept as text)"),
    CanonicalField("latency_ms", "float", "end-to-end latency in milliseconds", minimum=0.0),
    CanonicalField("ttft_ms", "float", "time to first token in milliseconds", minimum=0.0),
    CanonicalField("cost_usd", "float", "cost of the call in US dollars", minimum=0.0),
    CanonicalField("input_tokens", "int", "prompt tokens, cached ones included", minimum=0.0),
    CanonicalField("output_tokens", "int", "completion tokens", minimum=0.0),
    CanonicalField("cached_tokens", "int", "prompt tokens served from cache", minimum=0.0),
    CanonicalField("cache_hit", "bool", "whether the provider cache was hit"),
    CanonicalField("error", "string", "error class (rate_limit, timeout, json_parse, tool_error, refusal, ...)"),
    CanonicalField("thumbs", "thumbs", "-1, 0/null or +1"),
    CanonicalField("retried", "bool", "the user retried"),
    CanonicalField("abandoned", "bool", "the user abandoned the conversation"),
    CanonicalField("follow_up", "bool", "the user sent a follow-up"),
    CanonicalField("task_completed", "bool", "the user's task was completed"),
    CanonicalField("final_text", "text", "what the user actually sent after editing the draft"),
    CanonicalField("judge_score", "float", "rubric score of this output: monitoring only"),
    CanonicalField("tags", "list", "list of labels (intent, language, tier)"),
    CanonicalField("metadata", "json", "free-form object; segments are read from it"),
)

JUDGEMENT_FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField("request_id", "string", "the shadow pair judged"),
    CanonicalField("judge", "string", "judge model or rubric name"),
    CanonicalField("order", "string", "baseline_first | candidate_first"),
    CanonicalField("winner", "string", "baseline | candidate | tie | error"),
    CanonicalField("preference", "float", "numeric preference in [-1, 1] (+1 = candidate better)",
                   minimum=-1.0, maximum=1.0),
)

EVAL_FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField("case_id", "string", "eval case identifier"),
    CanonicalField("variant", "string", "the arm that was evaluated"),
    CanonicalField("repeat", "int", "repeat (epoch) index"),
    CanonicalField("passed", "bool", "whether the case passed"),
    CanonicalField("score", "float", "numeric score"),
    CanonicalField("tags", "list", "labels (intent, high_stakes, ...)"),
    CanonicalField("error", "string", "error class, null when the case ran"),
    CanonicalField("cluster", "string", "cases sharing a source document or conversation"),
)


TABLE_FIELDS: dict[str, tuple[CanonicalField, ...]] = {
    "traces": TRACE_FIELDS,
    "judgements": JUDGEMENT_FIELDS,
    "evals": EVAL_FIELDS,
}

# Text fields are large; a command that does not read them loads '' for present values (so coverage
# is still known) instead of the text itself, which keeps memory bounded on big exports.
TEXT_FIELDS = frozenset(f.name for f in TRACE_FIELDS if f.kind == "text")


def field_names(table: str) -> list[str]:
    return [f.name for f in TABLE_FIELDS[table]]


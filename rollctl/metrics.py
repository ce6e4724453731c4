"""Built-in canary metrics over the canonical fields, each defined once.

Every metric is a ratio of two per-unit aggregates, Y_u / N_u summed over units: the thumbs-down rate
is (thumbs-down requests) / (requests) per user, summed over users, so requests of one user are never
treated as independent (delta method on per-user sums). Quantile metrics (p95 latency) name the column
and level instead. The text metric (edit distance) is a ratio too, Σd / #edited drafts per user, but its
numerator d needs rapidfuzz and is computed outside SQL (`rollctl.text_distance`); only its denominator,
the drafts with both `output` and `final_text`, is SQL.

The aggregate SQL here is rollctl's own fixed text over canonical column names; any value that varies
(an error class) is bound as a parameter through `SqlParams`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from rollctl.errors import PlanError
from rollctl.load.canonical import TEXT_FIELDS
from rollctl.load.expressions import SqlParams

MetricKind = Literal["ratio", "quantile", "text_distance"]

# Refusal detection when the export has no explicit `error = 'refusal'`: lower-cased output matched
# against these patterns (override with a plan's `refusal_patterns`). Kept short and specific: a false
# refusal count would make every careful answer look like a regression.
# The requests an edit distance is measured on: a draft (`output`) and what the user sent (`final_text`).
# Requests without `final_text` (not sent, or the export does not record it) do not count.
EDIT_PAIR_CONDITION = "output IS NOT NULL AND final_text IS NOT NULL"

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"^i'?m sorry,? but i can(no|')t",
    r"^i can(no|')t (help|assist) with",
    r"^i (am|'m) (not able|unable) to (help|assist)",
    r"^sorry, i can(no|')t",
    r"as an ai(,| language model)",
)


@dataclass(frozen=True)
class Metric:
    """A metric as per-unit aggregates (ratio), a per-request column and level (quantile), or text pair."""

    name: str
    kind: MetricKind
    description: str
    unit: str
    higher_is_better: bool | None
    """None: the plan must say which direction is bad."""
    required_fields: tuple[str, ...]
    numerator: Callable[[SqlParams], str] | None = None
    """Per-unit aggregate SQL (e.g. `sum(...)`) of the numerator, for ratio metrics."""
    denominator: Callable[[SqlParams], str] | None = None
    column: str | None = None
    """Per-request column, for quantile metrics."""
    quantile: float | None = None
    is_proportion: bool = False
    """True when the per-request value is 0/1, so absolute thresholds read as percentage points."""
    summable: bool = True
    """True when a unit's numerator and denominator are sums over its requests, so per-unit-per-day sums add
    up to the unit's totals (false for `count(DISTINCT ...)`: a session spanning two days counts once)."""


def _const(sql: str) -> Callable[[SqlParams], str]:
    return lambda _params: sql


def _flag_rate(name: str, condition: str, fields: tuple[str, ...], description: str, higher: bool | None) -> Metric:
    return Metric(
        name=name, kind="ratio", description=description, unit="share of requests", higher_is_better=higher,
        # count FILTER, not sum(CASE ...): the same count at under half the cost per row (10 M-row decide).
        required_fields=fields, numerator=_const(f"count(*) FILTER (WHERE {condition})"),
        denominator=_const("count(*)"), is_proportion=True,
    )


def _mean_of(name: str, column: str, unit: str, description: str, higher: bool | None) -> Metric:
    return Metric(
        name=name, kind="ratio", description=description, unit=unit, higher_is_better=higher,
        required_fields=(column,), numerator=_const(f'sum("{column}")'),
        denominator=_const(f'count("{column}")'),
    )


def refusal_condition(params: SqlParams, patterns: tuple[str, ...] = REFUSAL_PATTERNS) -> str:
    regex = params.add("|".join(f"({p})" for p in patterns))
    return f"(error = 'refusal' OR regexp_matches(lower(trim(output)), {regex}))"


BUILTIN_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _flag_rate("thumbs_down_rate", "thumbs = -1", ("thumbs",), "requests rated thumbs-down / requests", False),
        _flag_rate("thumbs_up_rate", "thumbs = 1", ("thumbs",), "requests rated thumbs-up / requests", True),
        _flag_rate("retry_rate", "retried", ("retried",), "requests the user retried / requests", False),
        _flag_rate("abandon_rate", "abandoned", ("abandoned",), "requests after which the user left / requests",
                   False),
        _flag_rate("follow_up_rate", "follow_up", ("follow_up",), "requests followed up / requests", None),
        _flag_rate("task_completion_rate", "task_completed", ("task_completed",),
                   "requests whose task was completed / requests", True),
        _flag_rate("error_rate", "error IS NOT NULL AND error <> 'refusal'", ("error",),
                   "requests that failed with any error class (refusals excluded) / requests", False),
        Metric(
            name="refusal_rate", kind="ratio", description="refusals (error 'refusal' or a refusal pattern in "
            "the output) / requests", unit="share of requests", higher_is_better=False,
            required_fields=("output",),
            numerator=lambda p: f"count(*) FILTER (WHERE {refusal_condition(p)})",
            denominator=_const("count(*)"), is_proportion=True,
        ),
        _mean_of("latency_mean_ms", "latency_ms", "ms", "mean end-to-end latency per request", False),
        _mean_of("cost_per_request", "cost_usd", "USD", "mean cost per request", False),
        _mean_of("output_tokens", "output_tokens", "tokens", "mean output tokens per request", None),
        _mean_of("judge_score", "judge_score", "score", "mean rubric score (monitoring only)", True),
        Metric(
            name="session_length", kind="ratio", description="requests per session", unit="requests",
            higher_is_better=None, required_fields=("session_id",), numerator=_const("count(*)"),
            denominator=_const("count(DISTINCT session_id)"), summable=False,
        ),
        Metric(name="latency_p95_ms", kind="quantile", description="95th percentile of latency", unit="ms",
               higher_is_better=False, required_fields=("latency_ms",), column="latency_ms", quantile=0.95),
        Metric(name="ttft_p95_ms", kind="quantile", description="95th percentile of time to first token",
               unit="ms", higher_is_better=False, required_fields=("ttft_ms",), column="ttft_ms", quantile=0.95),
        Metric(name="edit_distance", kind="text_distance",
               description="mean normalized Levenshtein distance between the draft (output) and what the user "
               "sent (final_text), over requests with both", unit="share of characters", higher_is_better=False,
               required_fields=("output", "final_text"),
               denominator=_const(f"count(*) FILTER (WHERE {EDIT_PAIR_CONDITION})")),
    )
}


def metric_named(name: str) -> Metric:
    """A built-in metric, including `error_rate:<class>` for one error class."""
    if name in BUILTIN_METRICS:
        return BUILTIN_METRICS[name]
    if name.startswith("error_rate:") and len(name) > len("error_rate:"):
        error_class = name.split(":", 1)[1]
        return Metric(
            name=name, kind="ratio", description=f"requests that failed with {error_class} / requests",
            unit="share of requests", higher_is_better=False, required_fields=("error",),
            numerator=lambda p: f"count(*) FILTER (WHERE error = {p.add(error_class)})",
            denominator=_const("count(*)"), is_proportion=True,
        )
    known = ", ".join(sorted(BUILTIN_METRICS)) + ", error_rate:<class>"
    raise PlanError(f"unknown metric {name!r}", field="metric", fix=f"built-in metrics: {known}")


def reads_text(metrics: Iterable[Metric]) -> bool:
    """Whether any of the metrics reads a text field (`load.canonical.TEXT_FIELDS`: the request, the answer, the
    text sent): only then does a command load the texts, most of a trace's bytes (`LoadOptions.keep_text`)."""
    return any(f in TEXT_FIELDS for m in metrics for f in m.required_fields)

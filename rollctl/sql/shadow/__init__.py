"""SQL for `rollctl shadow-report`: pair the two arms of each request and reduce them to small summaries.

Pairing builds one numeric row per pair (`_shadow_pairs`, no text: flags and numbers only) in one of two ways:
- paired files are read once as a stream (`stream_rows`): per row both arms' numbers, ids, text features and
  answers; the answers go to the edit distances, the rest is kept (`_shadow_rows`, see `RowStore`) and paired
  (`build_pairs_from_rows`);
- otherwise from `traces` in one pass (`build_pairs`), the answers streamed again from `traces` for the edit
  distances (`text_batches`).
Everything else is GROUP BY over `_shadow_pairs` and `judgements`.

Parts: `pairs` (from `traces`), `stream` (paired files), `summaries` (GROUP BYs over the pairs), `judgements`.
The core reads them through this package (`from rollctl.sql import shadow as q`).
"""

from __future__ import annotations

from rollctl.sql.shadow.judgements import (
    UNITS,
    build_judged_units,
    eval_tags,
    example_rows,
    judge_by_segment,
    judge_outcomes,
    judge_preferences,
    judgement_problems,
    judges,
    paired_verdicts,
    top_examples,
)
from rollctl.sql.shadow.pairs import (
    ARMS,
    PAIRS,
    REFUSAL_WINDOW,
    ROWS,
    Segment,
    arm_params,
    build_pairs,
    pairing_counts,
    text_features,
    text_params,
    variants_seen,
)
from rollctl.sql.shadow.stream import (
    TEXT_FEATURES,
    RowStore,
    build_pairs_from_rows,
    counts_if_rows_are_pairs,
    example_texts_streamed,
    span,
    stream_order,
    stream_rows,
    text_batches,
)
from rollctl.sql.shadow.summaries import (
    TAILS,
    error_classes,
    metadata_keys,
    metric_values,
    pair_clusters,
    pair_segments,
    paired_arm_variants,
    served_only_variants,
    summaries,
)

__all__ = [
    "ARMS", "PAIRS", "REFUSAL_WINDOW", "ROWS", "RowStore", "Segment", "TAILS", "TEXT_FEATURES", "UNITS",
    "arm_params", "build_judged_units", "build_pairs", "build_pairs_from_rows", "counts_if_rows_are_pairs",
    "error_classes", "eval_tags", "example_rows", "example_texts_streamed", "judge_by_segment", "judge_outcomes",
    "judge_preferences", "judgement_problems", "judges", "metadata_keys", "metric_values", "pair_clusters",
    "pair_segments", "paired_arm_variants", "paired_verdicts", "pairing_counts", "served_only_variants", "span",
    "stream_order", "stream_rows", "summaries", "text_batches", "text_features", "text_params", "top_examples",
    "variants_seen",
]

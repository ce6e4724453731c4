"""Pairs from `traces` in one pass (`build_pairs`): the two arms of each request side by side as one numeric
row of `_shadow_pairs` (flags and numbers, no text), with each answer's text features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rollctl.db import Database, quote_identifier

PAIRS = "_shadow_pairs"
ARMS = "_shadow_arms"



def arm_of(variant: str, served: str) -> str:
    """The arm of a trace row: the named variants, else `served` (true: the baseline the user saw)."""
    return (
        f"CASE WHEN {variant} = $baseline THEN 'b' WHEN {variant} = $candidate THEN 'c' "
        f"WHEN {variant} IS NULL AND {served} THEN 'b' WHEN {variant} IS NULL AND NOT {served} THEN 'c' END"
    )


_ARM = arm_of("variant", "served")

# A JSON-looking answer, optionally inside a ``` fence, and its text with the fence removed.
_FENCE_STRIP = r"^\s*```[a-zA-Z]*\s*|\s*```\s*$"
_JSON_LIKE = r"^\s*(```[a-zA-Z]*\s*)?[\{\[]"
REFUSAL_WINDOW = 400
"""Refusal patterns are searched in the first characters of an answer, where refusals are phrased."""


@dataclass(frozen=True)
class Segment:
    """How to read the segment of a pair: a canonical column or a path inside `metadata`."""

    label: str
    column: str | None = None
    json_path: str | None = None


def floats(table: Any, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def ints(table: Any, name: str) -> NDArray[np.int64]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.int64)


def arm_params(baseline: str, candidate: str) -> dict[str, Any]:
    return {"baseline": baseline, "candidate": candidate}


def pairing_counts(db: Database, baseline: str, candidate: str, *, streamed: bool = False) -> dict[str, Any]:
    """Pairs, unpaired rows by arm, duplicated request ids, rows without a request id or of other arms: over
    `traces`, or (`streamed`) over the arms of the streamed paired rows (`_shadow_rows`)."""
    arms = ROW_ARMS if streamed else f"SELECT request_id, {_ARM} AS arm FROM traces"
    return db.fetch_dicts(
        f"""
        WITH t AS ({arms}),
        k AS (
            SELECT request_id, count(*) FILTER (WHERE arm = 'b') AS nb, count(*) FILTER (WHERE arm = 'c') AS nc
            FROM t WHERE arm IS NOT NULL AND request_id IS NOT NULL GROUP BY request_id
        )
        SELECT
            (SELECT count(*) FROM t) AS rows,
            (SELECT count(*) FROM t WHERE arm IS NULL) AS other_arm_rows,
            (SELECT count(*) FROM t WHERE arm IS NOT NULL AND request_id IS NULL) AS no_request_id_rows,
            count(*) FILTER (WHERE nb = 1 AND nc = 1) AS pairs,
            count(*) FILTER (WHERE nb >= 1 AND nc = 0) AS baseline_only_requests,
            coalesce(sum(nb) FILTER (WHERE nb >= 1 AND nc = 0), 0) AS baseline_only_rows,
            count(*) FILTER (WHERE nc >= 1 AND nb = 0) AS candidate_only_requests,
            coalesce(sum(nc) FILTER (WHERE nc >= 1 AND nb = 0), 0) AS candidate_only_rows,
            count(*) FILTER (WHERE (nb > 1 OR nc > 1) AND nb >= 1 AND nc >= 1) AS duplicate_requests,
            coalesce(sum(nb + nc) FILTER (WHERE (nb > 1 OR nc > 1) AND nb >= 1 AND nc >= 1), 0)
                AS duplicate_rows
        FROM k
        """,
        {} if streamed else arm_params(baseline, candidate),
    )[0]


def variants_seen(db: Database) -> list[tuple[str | None, int]]:
    return [(v, int(n)) for v, n in db.fetchall(
        "SELECT variant, count(*) FROM traces GROUP BY variant ORDER BY count(*) DESC LIMIT 10")]


def text_params(expect_json: bool | None, refusal_pattern: str) -> dict[str, Any]:
    return {"json_like": _JSON_LIKE, "fence": _FENCE_STRIP, "refusal": refusal_pattern, "window": REFUSAL_WINDOW}


def text_features(text: str, suffix: str, *, with_hash: bool = True) -> str:
    """Per answer: a 64-bit hash (`with_hash`) and the length (stand-ins for the text when comparing arms on
    different rows), whether there is an answer, whether it looks like JSON and parses, and whether it reads as a
    refusal.

    Text checks avoid touching whole answers where the first character decides (trim() copies every answer
    and costs more than the rest of the pairing together), and where it does not, look at the first 64
    characters before the whole answer. `ord` is `ascii` (the first code point) at a quarter of the cost; the
    empty answer, where they differ, is decided before. Only a printable ASCII first character proves an answer:
    trim() also removes Unicode spaces. Whether an answer looks like JSON is decided in its first 64 characters.
    """
    first = f"ord({text})"
    like = (f"CASE WHEN {text} IS NULL OR {text} = '' THEN FALSE WHEN {first} IN (123, 91) THEN TRUE "
            f"WHEN {first} IN (9, 10, 12, 13, 32, 96) THEN regexp_matches(left({text}, 64), $json_like) ELSE FALSE END")
    return (
        (f"hash({text}) AS out_hash{suffix}, " if with_hash else "")
        + f"length({text}) AS len{suffix}, "
        f"CASE WHEN {text} IS NULL OR {text} = '' THEN FALSE WHEN {first} BETWEEN 33 AND 126 THEN TRUE "
        f"WHEN trim(left({text}, 64)) <> '' THEN TRUE ELSE trim({text}) <> '' END AS has_out{suffix}, "
        f"{like} AS json_like{suffix}, "
        f"CASE WHEN NOT ({like}) THEN FALSE WHEN {first} IN (123, 91) THEN coalesce(json_valid({text}), FALSE) "
        f"ELSE coalesce(json_valid(regexp_replace({text}, $fence, '', 'g')), FALSE) END AS json_ok{suffix}, "
        f"coalesce(regexp_matches(left({text}, $window), $refusal, 'i'), FALSE) AS refusal{suffix}"
    )


def pair_text_columns(b: str, c: str, expect_json: bool | None, exact: str | None = None) -> str:
    """The pair's text columns from each arm's `text_features` (`b`/`c` format a feature's name); `exact`
    when the caller compared the answers already."""
    expects = (f"({b.format('json_like')} OR {c.format('json_like')})" if expect_json is None
               else "TRUE" if expect_json else "FALSE")
    if exact is None:
        same = f"{b.format('out_hash')} = {c.format('out_hash')} AND {b.format('len')} = {c.format('len')}"
        exact = f"coalesce({same}, FALSE)"
    return (
        f"{b.format('has_out')} AS out_b, {c.format('has_out')} AS out_c, "
        f"{b.format('len')} AS len_b, {c.format('len')} AS len_c, {exact} AS exact, "
        f"{expects} AND {b.format('has_out')} AND {c.format('has_out')} AS json_expected, "
        f"{b.format('json_ok')} AS json_ok_b, {c.format('json_ok')} AS json_ok_c, "
        f"{b.format('refusal')} AS refusal_b, {c.format('refusal')} AS refusal_c"
    )


def build_pairs(
    db: Database,
    baseline: str,
    candidate: str,
    *,
    segment: Segment | None,
    expect_json: bool | None,
    refusal_pattern: str,
) -> int:
    """Create `_shadow_pairs` from `traces`: one numeric row per request answered exactly once by each arm."""
    params: dict[str, Any] = {**arm_params(baseline, candidate), **text_params(expect_json, refusal_pattern)}
    if segment is None:
        seg_expr = "CAST(NULL AS VARCHAR)"
    elif segment.json_path is not None:
        params["seg_path"] = segment.json_path
        seg_expr = "json_extract_string(metadata, $seg_path)"
    else:
        seg_expr = f"CAST({quote_identifier(segment.column or '')} AS VARCHAR)"
    features = text_features("output", "")
    text_columns = pair_text_columns("b.{}", "c.{}", expect_json)

    # Two steps: one scan of `traces` reduces every row to small features (the texts end here: a 64-bit hash
    # and the length stand in for them), then the arms are paired from that small table. Pairing straight
    # from `traces` ran its joins beside the spilled texts: 14 s CPU on 1 M pairs under the 700 MB cap, 7 s
    # without the cap.
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {ARMS} AS
        SELECT {_ARM} AS arm, t.rowid AS rid, request_id, user_id, "timestamp", {seg_expr} AS segment,
            latency_ms, ttft_ms, cost_usd, output_tokens, judge_score, error, {features}
        FROM traces t WHERE {_ARM} IS NOT NULL AND request_id IS NOT NULL
        """,
        params,
    )
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {PAIRS} AS
        WITH k AS (
            SELECT request_id FROM {ARMS}
            GROUP BY request_id
            HAVING count(*) FILTER (WHERE arm = 'b') = 1 AND count(*) FILTER (WHERE arm = 'c') = 1
        ),
        b AS (SELECT * FROM {ARMS} WHERE arm = 'b'), c AS (SELECT * FROM {ARMS} WHERE arm = 'c')
        SELECT
            -- Numbered in the order of the baseline rows in `traces` (the order of the input), so a pair's pid
            -- (and the examples' order among equals) is the same from run to run whatever order the join emits
            -- rows in, and the same as a stream of the file gives (`build_pairs_from_rows`).
            CAST(row_number() OVER (ORDER BY b.rid) - 1 AS BIGINT) AS pid, CAST(NULL AS BIGINT) AS sid,
            b.request_id,
            b.rid AS rid_b, c.rid AS rid_c,
            coalesce(b.user_id, c.user_id) AS user_id,
            coalesce(b."timestamp", c."timestamp") AS ts,
            coalesce(b.segment, c.segment) AS segment,
            b.latency_ms AS latency_b, c.latency_ms AS latency_c,
            b.ttft_ms AS ttft_b, c.ttft_ms AS ttft_c,
            b.cost_usd AS cost_b, c.cost_usd AS cost_c,
            CAST(b.output_tokens AS DOUBLE) AS tokens_b, CAST(c.output_tokens AS DOUBLE) AS tokens_c,
            b.judge_score AS score_b, c.judge_score AS score_c,
            b.error AS error_b, c.error AS error_c, {text_columns}
        FROM k JOIN b USING (request_id) JOIN c USING (request_id)
        """
    )
    db.execute(f"DROP TABLE {ARMS}")
    return int(db.fetchone(f"SELECT count(*) FROM {PAIRS}")[0])

ROWS = "_shadow_rows"
"""Paired rows read as a stream (`stream_rows`), without their answers: both arms side by side (`_1`: the row's
`baseline` object, `_2`: its `candidate` object), their text features, the listed judgements, and `sid`, the
row's position in the stream."""

# The arms of the stored paired rows, one row per arm present (as `traces` would hold them).
ROW_ARMS = (f"SELECT request_id_1 AS request_id, arm_1 AS arm FROM {ROWS} WHERE present_1 "
             f"UNION ALL SELECT CASE WHEN same_request THEN request_id_1 ELSE request_id_2 END, arm_2 FROM {ROWS} "
             "WHERE present_2")

"""SQL for `rollctl shadow-report`: pair the two arms of each request and reduce them to small summaries.

Pairing builds one numeric row per pair (`_shadow_pairs`, no text: flags and numbers only) in one of two ways:
- paired files are read once as a stream (`stream_rows`): per row both arms' numbers, ids, text features and
  answers; the answers go to the edit distances, the rest is kept (`_shadow_rows`, see `RowStore`) and paired
  (`build_pairs_from_rows`);
- otherwise from `traces` in one pass (`build_pairs`), the answers streamed again from `traces` for the edit
  distances (`text_batches`).
Everything else is GROUP BY over `_shadow_pairs` and `judgements`."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rollctl.db import Database, DuckDBError, quote_identifier
from rollctl.load import PairedRows

PAIRS = "_shadow_pairs"
ARMS = "_shadow_arms"



def _arm_of(variant: str, served: str) -> str:
    """The arm of a trace row: the named variants, else `served` (true: the baseline the user saw)."""
    return (
        f"CASE WHEN {variant} = $baseline THEN 'b' WHEN {variant} = $candidate THEN 'c' "
        f"WHEN {variant} IS NULL AND {served} THEN 'b' WHEN {variant} IS NULL AND NOT {served} THEN 'c' END"
    )


_ARM = _arm_of("variant", "served")

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


def _floats(table: Any, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _ints(table: Any, name: str) -> NDArray[np.int64]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.int64)


def arm_params(baseline: str, candidate: str) -> dict[str, Any]:
    return {"baseline": baseline, "candidate": candidate}


def pairing_counts(db: Database, baseline: str, candidate: str, *, streamed: bool = False) -> dict[str, Any]:
    """Pairs, unpaired rows by arm, duplicated request ids, rows without a request id or of other arms: over
    `traces`, or (`streamed`) over the arms of the streamed paired rows (`_shadow_rows`)."""
    arms = _ROW_ARMS if streamed else f"SELECT request_id, {_ARM} AS arm FROM traces"
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


def _text_params(expect_json: bool | None, refusal_pattern: str) -> dict[str, Any]:
    return {"json_like": _JSON_LIKE, "fence": _FENCE_STRIP, "refusal": refusal_pattern, "window": REFUSAL_WINDOW}


def _text_features(text: str, suffix: str, *, with_hash: bool = True) -> str:
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


def _pair_text_columns(b: str, c: str, expect_json: bool | None, exact: str | None = None) -> str:
    """The pair's text columns from each arm's `_text_features` (`b`/`c` format a feature's name); `exact`
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
    params: dict[str, Any] = {**arm_params(baseline, candidate), **_text_params(expect_json, refusal_pattern)}
    if segment is None:
        seg_expr = "CAST(NULL AS VARCHAR)"
    elif segment.json_path is not None:
        params["seg_path"] = segment.json_path
        seg_expr = "json_extract_string(metadata, $seg_path)"
    else:
        seg_expr = f"CAST({quote_identifier(segment.column or '')} AS VARCHAR)"
    features = _text_features("output", "")
    text_columns = _pair_text_columns("b.{}", "c.{}", expect_json)

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
_ROW_ARMS = (f"SELECT request_id_1 AS request_id, arm_1 AS arm FROM {ROWS} WHERE present_1 "
             f"UNION ALL SELECT CASE WHEN same_request THEN request_id_1 ELSE request_id_2 END, arm_2 FROM {ROWS} "
             "WHERE present_2")

# Per arm of a streamed row: the columns kept, as (name in the row, name in the stream's source).
_ROW_FIELDS = (("request_id", "request_id"), ("user_id", "user_id"), ("ts", "timestamp"), ("latency", "latency_ms"),
               ("ttft", "ttft_ms"), ("cost", "cost_usd"), ("tokens", "output_tokens"), ("score", "judge_score"),
               ("error", "error"))
_SHARED = ("user_id", "ts", "segment")
"""Values a pair takes from its baseline arm, else its candidate arm: kept once per streamed row."""
TEXT_FEATURES = ("has_out", "len", "json_like", "json_ok", "refusal")
"""Each answer's text features, computed in the stream (`_text_features`) and kept per arm."""


# A guess of how high a row ranks among the examples (`top_examples`' score, from the row alone and either
# way round): the stream keeps the answers of the rows it ranks first, so the examples need not be read again.
# Only a guess: the examples use the kept answers only when every example's row was kept.
_EXAMPLE_HINT = (
    "8 * (coalesce(len(list_filter(judgements, lambda j: j.winner = 'baseline')), 0) >= 2)::INT"
    " + (coalesce(len(list_filter(judgements, lambda j: j.winner = 'baseline')), 0) >= 1)::INT"
    " + 4 * (json_ok_1 <> json_ok_2)::INT + 4 * (refusal_1 <> refusal_2)::INT"
    " + 2 * ((error_1 IS NULL) <> (error_2 IS NULL))::INT"
)


def stream_rows(db: Database, source: PairedRows, baseline: str, candidate: str, *, segment: Segment | None,
                expect_json: bool | None, refusal_pattern: str, batch_size: int,
                inputs: bool) -> Generator[Any, None, None]:
    """Arrow batches of one paired file's rows, read once: per arm (`_1`, `_2`) whether it is there, its arm
    ('b', 'c' or NULL), the numbers, ids and error the report uses, its segment and its answer's text features;
    `exact` (the answers are the same), both answers (`output_1`, `output_2`: for the edit distance and the
    examples, not to keep) and with `inputs` the requests (`input_1`, `input_2`), `example_hint` (see
    `_EXAMPLE_HINT`), the listed judgements, and `bad` (a value the load would refuse)."""
    params: dict[str, Any] = {**source.params, **arm_params(baseline, candidate),
                              **_text_params(expect_json, refusal_pattern)}
    columns: list[str] = []
    for x in ("1", "2"):
        columns.append(f"present_{x}, {_arm_of(f'variant_{x}', f'served_{x}')} AS arm_{x}")
        columns += [f"{quote_identifier(src + '_' + x)} AS {name}_{x}" for name, src in _ROW_FIELDS]
        if segment is None:
            columns.append(f"CAST(NULL AS VARCHAR) AS segment_{x}")
        elif segment.json_path is not None:
            params["seg_path"] = segment.json_path
            columns.append(f"json_extract_string(metadata_{x}, $seg_path) AS segment_{x}")
        else:
            columns.append(f"CAST({quote_identifier((segment.column or '') + '_' + x)} AS VARCHAR) AS segment_{x}")
        columns.append(_text_features(f"output_{x}", f"_{x}", with_hash=False))
        columns.append(f"output_{x}")
        if inputs:
            columns.append(f"input_{x}")
    # The pair's shared values, the baseline's first (as `build_pairs` takes them): one column each, not two.
    shared = ", ".join(f"CASE WHEN arm_1 = 'c' THEN coalesce({name}_2, {name}_1) ELSE coalesce({name}_1, {name}_2) END "
                       f"AS {name}" for name in _SHARED)
    dropped = ", ".join([f"{name}_{x}" for name in _SHARED for x in ("1", "2")]
                        + ["request_id_2", "len_1", "len_2"])
    # A request's text leaves DuckDB only on the rows an example may come from (`_LikelyExamples` reads no other):
    # most rows' inputs would be copied to Arrow for nothing.
    kept_inputs = (" REPLACE (" + ", ".join(f"CASE WHEN example_hint > 0 THEN input_{x} END AS input_{x}"
                                            for x in ("1", "2")) + ")") if inputs else ""
    # Fewer bytes per kept row (1 M rows then stay in Python, see `RowStore`): the candidate arm's request id only
    # where it differs, lengths as 32-bit integers.
    reader = db.record_batches(
        f"""
        SELECT *{kept_inputs} FROM (
        SELECT * EXCLUDE ({dropped}), {shared},
               request_id_2 IS NOT DISTINCT FROM request_id_1 AS same_request,
               CASE WHEN request_id_2 IS DISTINCT FROM request_id_1 THEN request_id_2 END AS request_id_2,
               CAST(len_1 AS INTEGER) AS len_1, CAST(len_2 AS INTEGER) AS len_2,
               coalesce(output_1 = output_2, FALSE) AS exact, {_EXAMPLE_HINT} AS example_hint
        FROM (
            SELECT {', '.join(columns)}, judged_request, judgements, bad_1 OR bad_2 OR judgements_bad AS bad
            FROM ({source.sql}) AS src
        ) AS features
        ) AS hinted
        """,
        params, batch_size=batch_size,
    )
    yield from reader


_SPILL_DB = "rollctl_stream"
_SPILLED = f"{quote_identifier(_SPILL_DB)}.{quote_identifier(ROWS)}"


class RowStore:
    """Where the streamed rows are kept while the stream is open: as Arrow in Python while they are few (the
    pairing statements then scan them in place, at no copy), and past `budget` bytes in a DuckDB table, under
    its memory cap (it spills to disk), so memory stays bounded whatever the input's size. They move in pieces
    of a quarter of the budget: each piece is in memory twice while DuckDB copies it.

    The table is in an attached in-memory database and filled through a second connection: DuckDB refuses a
    statement on the connection that is streaming, and temp tables are per connection.
    """

    def __init__(self, db: Database, budget: int) -> None:
        if not db.fetchone("SELECT count(*) FROM duckdb_databases() WHERE database_name = $name",
                           {"name": _SPILL_DB})[0]:
            db.execute(f"ATTACH ':memory:' AS {quote_identifier(_SPILL_DB)}")
        db.execute(f"DROP TABLE IF EXISTS {_SPILLED}")
        self.db, self.budget = db, budget
        self.side = db.side_connection()
        self.pending: list[Any] = []
        self.pending_bytes = 0
        self.spilled = False
        self.exposed = False

    def add(self, rows: Any) -> None:
        """Keep a batch of rows (an Arrow record batch that references no other batch's memory)."""
        self.pending.append(rows)
        self.pending_bytes += rows.nbytes
        if self.pending_bytes > (self.budget // 4 if self.spilled else self.budget):
            self._spill()

    def _spill(self) -> None:
        while self.pending:
            piece: list[Any] = []
            size = 0
            while self.pending and (not piece or size < self.budget // 4):
                piece.append(self.pending.pop(0))
                size += piece[-1].nbytes
            self.side.append_arrow(_SPILLED, pa.Table.from_batches(piece), create=not self.spilled)
            self.spilled = True
            self.pending_bytes -= size

    def expose(self) -> None:
        """Make the rows readable as `_shadow_rows` on the main connection (once the stream is closed)."""
        if self.spilled and self.pending:
            self._spill()
        self.side.close()
        if self.spilled:
            self.db.execute(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(ROWS)} AS SELECT * FROM {_SPILLED}")
        else:
            self.db.register_arrow(ROWS, pa.Table.from_batches(self.pending))
        self.exposed = True

    def forget(self) -> None:
        """Drop the rows (the stream must be closed)."""
        self.side.close()
        self.pending = []
        if self.exposed and self.spilled:
            self.db.execute(f"DROP VIEW IF EXISTS {quote_identifier(ROWS)}")
        elif self.exposed:
            self.db.unregister(ROWS)
        self.db.execute(f"DROP TABLE IF EXISTS {_SPILLED}")


_REGULAR = ("present_1 AND present_2 AND same_request AND request_id_1 IS NOT NULL "
            "AND ((arm_1 = 'b' AND arm_2 = 'c') OR (arm_1 = 'c' AND arm_2 = 'b'))")
"""A stored paired row that holds one request's baseline and candidate answers."""


def counts_if_rows_are_pairs(db: Database) -> dict[str, Any] | None:
    """`pairing_counts` of the stored paired rows when every row holds one request's two arms and no request is
    on two rows (the usual export: its rows are its pairs, and the general count groups every arm for nothing);
    None otherwise."""
    rows, regular, requests = db.fetchone(
        f"SELECT count(*), count(*) FILTER (WHERE {_REGULAR}), count(DISTINCT request_id_1) FILTER (WHERE {_REGULAR}) "
        f"FROM {ROWS}"
    )
    if not rows == regular == requests:
        return None
    none = ("other_arm_rows", "no_request_id_rows", "baseline_only_requests", "baseline_only_rows",
            "candidate_only_requests", "candidate_only_rows", "duplicate_requests", "duplicate_rows")
    return {**dict.fromkeys(none, 0), "rows": 2 * int(rows), "pairs": int(rows)}


def build_pairs_from_rows(db: Database, expect_json: bool | None, *, all_rows: bool) -> int:
    """Create `_shadow_pairs` (as `build_pairs` does from `traces`) from the stored paired rows whose two arms
    are one request's only baseline and candidate answers (`all_rows`: every row, as `counts_if_rows_are_pairs`
    found). The pairs keep each row's `sid` and are numbered in its order (with every row a pair, pid is sid).

    A pair whose arms sit on different rows is not found here: the caller compares the count with
    `pairing_counts` and, when they differ, reads the answers the other way.
    """
    def side(name: str) -> str:
        return (f"CASE WHEN swap THEN {name}_2 ELSE {name}_1 END AS {name}_b, "
                f"CASE WHEN swap THEN {name}_1 ELSE {name}_2 END AS {name}_c")

    sides = ", ".join(side(name) for name in
                      ("latency", "ttft", "cost", "tokens", "score", "error", *TEXT_FEATURES))
    only_pairs = "" if all_rows else f"""WHERE {_REGULAR} AND request_id_1 IN (
            SELECT request_id FROM ({_ROW_ARMS}) AS t
            WHERE arm IS NOT NULL AND request_id IS NOT NULL
            GROUP BY request_id
            HAVING count(*) FILTER (WHERE arm = 'b') = 1 AND count(*) FILTER (WHERE arm = 'c') = 1
        )"""
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {PAIRS} AS
        WITH r AS (
            SELECT sid, request_id_1 AS request_id, user_id, ts, segment, exact, {sides}
            FROM (SELECT *, arm_1 = 'c' AS swap FROM {ROWS} {only_pairs}) AS same_row
        )
        SELECT
            {"sid" if all_rows else "CAST(row_number() OVER (ORDER BY sid) - 1 AS BIGINT)"} AS pid, sid, request_id,
            CAST(NULL AS BIGINT) AS rid_b, CAST(NULL AS BIGINT) AS rid_c,
            user_id, ts, segment,
            latency_b, latency_c, ttft_b, ttft_c, cost_b, cost_c,
            CAST(tokens_b AS DOUBLE) AS tokens_b, CAST(tokens_c AS DOUBLE) AS tokens_c,
            score_b, score_c, error_b, error_c,
            {_pair_text_columns('{}_b', '{}_c', expect_json, exact='exact')}
        FROM r
        """
    )
    return int(db.fetchone(f"SELECT count(*) FROM {PAIRS}")[0])


def stream_order(db: Database) -> NDArray[np.int64]:
    """Each pair's `sid` (its row in the stream), in pid order."""
    return _ints(db.fetch_arrow(f"SELECT sid FROM {PAIRS} ORDER BY pid"), "sid")


def example_texts_streamed(db: Database, sources: list[PairedRows], request_ids: list[str], baseline: str,
                           candidate: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """request_id -> (input, baseline answer, candidate answer) for a few pairs, read again from the files."""
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    for source in sources:
        rows = db.fetchall(
            f"""
            SELECT request_id_1, {_arm_of('variant_1', 'served_1')}, {_arm_of('variant_2', 'served_2')},
                   output_1, output_2, input_1, input_2
            FROM ({source.sql}) AS src
            WHERE present_1 AND present_2 AND request_id_1 = request_id_2
              AND request_id_1 IN (SELECT unnest($ids))
            """,
            {**source.params, **arm_params(baseline, candidate), "ids": request_ids},
        )
        for rid, a1, a2, out_1, out_2, in_1, in_2 in rows:
            if {a1, a2} != {"b", "c"}:
                continue
            b_side = (in_1, out_1) if a1 == "b" else (in_2, out_2)
            c_side = (in_2, out_2) if a1 == "b" else (in_1, out_1)
            out[str(rid)] = (b_side[0] if b_side[0] is not None else c_side[0], b_side[1], c_side[1])
    return out


def span(db: Database) -> dict[str, Any]:
    return db.fetch_dicts(
        f"""
        SELECT min(ts) AS first, max(ts) AS last,
               epoch(max(ts)) - epoch(min(ts)) AS seconds,
               count(*) FILTER (WHERE isodow(ts) <= 5) AS weekday_pairs,
               count(*) FILTER (WHERE isodow(ts) >= 6) AS weekend_pairs,
               count(DISTINCT user_id) AS users,
               count(user_id) AS pairs_with_user,
               count(ts) AS pairs_with_time
        FROM {PAIRS}
        """
    )[0]


def text_batches(db: Database, batch_size: int) -> Iterator[Any]:
    """(pid, baseline output, candidate output) for pairs that differ and both answered, in Arrow batches."""
    reader = db.record_batches(
        f"""
        SELECT p.pid, b.output AS out_b, c.output AS out_c
        FROM {PAIRS} p
        JOIN traces b ON b.rowid = p.rid_b
        JOIN traces c ON c.rowid = p.rid_c
        WHERE p.out_b AND p.out_c AND NOT p.exact
        """,
        batch_size=batch_size,
    )
    yield from reader


# Tail metrics: (name, population condition, per-arm condition with {a} for the arm suffix).
TAILS: tuple[tuple[str, str, str], ...] = (
    ("errors", "TRUE", "error_{a} IS NOT NULL"),
    ("timeouts", "TRUE", "coalesce(lower(error_{a}) LIKE '%timeout%' OR lower(error_{a}) LIKE '%timed_out%', FALSE)"),
    ("json_breaks", "json_expected", "NOT json_ok_{a}"),
    ("refusals", "out_b AND out_c", "refusal_{a}"),
)


def _tail_aggregates() -> str:
    parts = []
    for name, pop, cond in TAILS:
        cb, cc = cond.format(a="b"), cond.format(a="c")
        parts.append(
            f"count(*) FILTER (WHERE {pop}) AS {name}_n, "
            f"count(*) FILTER (WHERE {pop} AND {cb}) AS {name}_b, "
            f"count(*) FILTER (WHERE {pop} AND {cc}) AS {name}_c, "
            f"count(*) FILTER (WHERE {pop} AND NOT ({cb}) AND ({cc})) AS {name}_new, "
            f"count(*) FILTER (WHERE {pop} AND ({cb}) AND NOT ({cc})) AS {name}_fixed"
        )
    return ", ".join(parts)


_MEAN_METRICS = ("latency", "ttft", "cost", "tokens", "score")


def _mean_aggregates() -> str:
    parts = []
    for m in _MEAN_METRICS:
        both = f"{m}_b IS NOT NULL AND {m}_c IS NOT NULL"
        parts.append(
            f"count(*) FILTER (WHERE {both}) AS {m}_n, "
            f"sum({m}_b) FILTER (WHERE {both}) AS {m}_sum_b, sum({m}_c) FILTER (WHERE {both}) AS {m}_sum_c"
        )
    return ", ".join(parts)


def paired_arm_variants(db: Database, source: PairedRows, sample: int = 10_000) -> tuple[list[str], list[str]]:
    """The variants of the `baseline` and of the `candidate` objects among a paired file's first `sample` rows
    (a cheap look: the stream then counts any other variant as another arm's rows)."""
    rows = db.fetchall(f"SELECT DISTINCT variant_1, variant_2 FROM (SELECT variant_1, variant_2 FROM ({source.sql}) "
                       f"AS paired LIMIT {int(sample)}) AS head", dict(source.params))
    return (sorted({str(b) for b, _ in rows if b is not None}), sorted({str(c) for _, c in rows if c is not None}))


def served_only_variants(db: Database) -> tuple[list[str], list[str]]:
    """(variants whose rows were all served, variants whose rows were all shadow computations), from `traces`."""
    rows = db.fetchall(
        "SELECT variant, bool_and(coalesce(served, true)), bool_and(NOT coalesce(served, true)) FROM traces "
        "WHERE variant IS NOT NULL GROUP BY variant ORDER BY variant")
    return [str(v) for v, served, _ in rows if served], [str(v) for v, _, shadow in rows if shadow]


def metadata_keys(db: Database, sources: Sequence[PairedRows] | None, limit: int = 40) -> list[str]:
    """The top-level keys of the pairs' metadata objects (sorted, at most `limit`), for an error message: from
    the streamed files when the answers were streamed, else from the loaded trace rows."""
    if sources:  # the first file's are enough for a hint (each file binds its own parameters)
        union = (f"SELECT unnest(json_keys(metadata_1)) AS k FROM ({sources[0].sql}) AS first_arm "
                 f"UNION ALL SELECT unnest(json_keys(metadata_2)) FROM ({sources[0].sql}) AS second_arm")
        params: dict[str, Any] = dict(sources[0].params)
    else:
        union = "SELECT unnest(json_keys(metadata)) AS k FROM traces"
        params = {}
    try:
        rows = db.fetchall(f"SELECT DISTINCT k FROM ({union}) AS keys ORDER BY k LIMIT {int(limit)}", params)
    except DuckDBError:
        return []
    return [str(r[0]) for r in rows]


def summaries(db: Database) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Overall and per-segment sufficient statistics: tails, text flags, sums for mean deltas."""
    rows = db.fetch_dicts(
        f"""
        SELECT GROUPING(segment) AS is_total, segment, count(*) AS pairs,
               count(*) FILTER (WHERE exact) AS exact,
               count(*) FILTER (WHERE out_b AND out_c) AS both_answered,
               avg((len_c - len_b) / len_b) FILTER (WHERE len_b > 0 AND len_c IS NOT NULL) AS rel_length_change,
               avg(len_b) AS mean_len_b, avg(len_c) AS mean_len_c,
               {_tail_aggregates()}, {_mean_aggregates()}
        FROM {PAIRS}
        GROUP BY GROUPING SETS ((), (segment))
        ORDER BY is_total DESC, pairs DESC, segment
        """
    )
    total = next(r for r in rows if r["is_total"])
    return total, [r for r in rows if not r["is_total"]]


def error_classes(db: Database) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        f"""
        SELECT cls, count(*) FILTER (WHERE arm = 'b') AS baseline, count(*) FILTER (WHERE arm = 'c') AS candidate
        FROM (SELECT error_b AS cls, 'b' AS arm FROM {PAIRS} WHERE error_b IS NOT NULL
              UNION ALL SELECT error_c, 'c' FROM {PAIRS} WHERE error_c IS NOT NULL)
        GROUP BY cls ORDER BY count(*) DESC, cls LIMIT 20
        """
    )


def pair_clusters(db: Database, pairs: int) -> NDArray[np.int64]:
    """A dense cluster code by pid: the user, in the order of user ids (each pair its own cluster when it has
    no user), for the paired means and the cluster bootstrap of every metric (one sort, not one per metric)."""
    # A window over every pair, not the distinct users ranked and joined back: that join was 0.06 s faster on 1 M
    # pairs but held 100 MB more at the peak of 5 M.
    table = db.fetch_arrow(
        f"""
        SELECT pid, CAST(dense_rank() OVER (ORDER BY coalesce(user_id, 'pair:' || CAST(pid AS VARCHAR))) - 1 AS BIGINT)
            AS u
        FROM {PAIRS}
        """
    )
    codes = np.zeros(pairs, dtype=np.int64)
    codes[_ints(table, "pid")] = _ints(table, "u")
    return codes


def metric_values(db: Database, metric: str) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """(pid, baseline value, candidate value) of the pairs where both arms have the metric."""
    b, c = quote_identifier(metric + "_b"), quote_identifier(metric + "_c")
    table = db.fetch_arrow(f"SELECT pid, {b} AS b, {c} AS c FROM {PAIRS} WHERE {b} IS NOT NULL AND {c} IS NOT NULL")
    return _ints(table, "pid"), _floats(table, "b"), _floats(table, "c")


def pair_segments(db: Database) -> tuple[list[str | None], NDArray[np.int64]]:
    """Segment labels and, per pid, the index of its segment (for per-segment sums of edit distance)."""
    labels_rows = db.fetchall(f"SELECT DISTINCT segment FROM {PAIRS} ORDER BY segment NULLS LAST")
    labels = [r[0] for r in labels_rows]
    # Each pair's segment looked up among the few ranked ones, not a window sort of every pair.
    table = db.fetch_arrow(
        f"""
        WITH ranked AS (SELECT segment, CAST(row_number() OVER (ORDER BY segment NULLS LAST) - 1 AS BIGINT) AS code
                        FROM (SELECT DISTINCT segment FROM {PAIRS}))
        SELECT p.pid, ranked.code FROM {PAIRS} p JOIN ranked ON p.segment IS NOT DISTINCT FROM ranked.segment
        """
    )
    codes = np.zeros(len(table), dtype=np.int64)
    codes[_ints(table, "pid")] = _ints(table, "code")
    return labels, codes


# ---------------------------------------------------------------------------------------------------
# Judgements


def judgement_problems(db: Database) -> dict[str, Any]:
    """Values outside the documented vocabulary: they are input errors, reported with the file."""
    return db.fetch_dicts(
        """
        SELECT
            count(*) FILTER (WHERE winner IS NOT NULL AND winner NOT IN ('baseline', 'candidate', 'tie', 'error'))
                AS bad_winner,
            any_value(_file) FILTER (WHERE winner IS NOT NULL
                AND winner NOT IN ('baseline', 'candidate', 'tie', 'error')) AS bad_winner_file,
            count(*) FILTER (WHERE "order" IS NOT NULL AND "order" NOT IN ('baseline_first', 'candidate_first'))
                AS bad_order,
            any_value(_file) FILTER (WHERE "order" IS NOT NULL
                AND "order" NOT IN ('baseline_first', 'candidate_first')) AS bad_order_file,
            count(*) FILTER (WHERE preference < -1 OR preference > 1) AS bad_preference,
            any_value(_file) FILTER (WHERE preference < -1 OR preference > 1) AS bad_preference_file,
            count(*) AS rows
        FROM judgements
        """
    )[0]


UNITS = "_shadow_judged"


def build_judged_units(db: Database) -> None:
    """One row per (pair, judge): the verdict in each order, combined with the MT-Bench rule.

    Conflicting duplicate verdicts for the same (request, judge, order) become `error`; a winner
    missing with no numeric preference is an `error` too, so it stays in the denominator.
    """
    # Winners and orders as small integers, and per unit one bitmask of the (order, winner) codes seen, bit
    # 5 * order + winner: an order was judged when its 5 bits are not all 0, its duplicates disagree when more than
    # one of them is set, and its verdict is the one set. Two aggregates instead of a count, a min and a max per
    # order (1 M pairs, 2 M verdicts: 0.30 CPU-s against 0.61 for the grouping). Values outside the vocabulary were
    # refused before (`judgement_problems`); a missing winner is 0. The same grouping over text (min/max/any_value
    # of strings) cost three times as much again.
    codes = {"baseline": 1, "candidate": 2, "tie": 3, "error": 4}
    encode = " ".join(f"WHEN '{name}' THEN {code}" for name, code in codes.items())
    decode = " ".join(f"WHEN {1 << code} THEN '{name}'" for name, code in codes.items())
    orders = {"baseline_first": 1, "candidate_first": 2, "unordered": 0}
    # Numeric preferences need each order's count and mean; without any (judges that pick a winner) they are left out.
    preferences = bool(db.fetchone("SELECT count(preference) > 0 FROM judgements")[0])

    def seen(o: int) -> str:
        return f"((seen >> {5 * o}) & 31)"

    def verdict(order: str) -> str:
        # One order's verdict: `error` when its duplicates disagree or it has neither a winner nor a preference;
        # NULL when that order was not judged.
        o = orders[order]
        no_preference = f"cp{o} = 0" if preferences else "TRUE"
        return (f"CASE WHEN {seen(o)} = 0 THEN NULL WHEN ({seen(o)} & ({seen(o)} - 1)) <> 0 THEN 'error' "
                f"WHEN {seen(o)} = 1 AND {no_preference} THEN 'error' ELSE CASE {seen(o)} {decode} END END")

    per_order = ", ".join(f"count(p) FILTER (WHERE o = {o}) AS cp{o}, avg(p) FILTER (WHERE o = {o}) AS ap{o}"
                          for o in orders.values()) if preferences else "NULL AS no_preferences"
    mean_of = " + ".join(f"coalesce(ap{o}, 0)" for o in orders.values())
    judged_orders = " + ".join(f"(cp{o} > 0)::INT" for o in orders.values())
    pref = f"({mean_of}) / nullif({judged_orders}, 0)" if preferences else "CAST(NULL AS DOUBLE)"
    present_orders = " + ".join(f"({seen(o)} <> 0)::INT" for o in orders.values())
    # One grouping by (request, judge), not one by order and another by unit. Not joined to the pairs until the
    # end: that join drops judgements of unpaired requests.
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {UNITS} AS
        WITH per_order AS (
            SELECT request_id, judge, count(*) AS verdicts, bit_or(1 << (5 * o + w)) AS seen, {per_order}
            FROM (SELECT request_id, coalesce(judge, '') AS judge,
                         CASE "order" WHEN 'baseline_first' THEN 1 WHEN 'candidate_first' THEN 2 ELSE 0 END AS o,
                         CASE winner {encode} ELSE 0 END AS w, preference AS p
                  FROM judgements WHERE request_id IS NOT NULL) AS j
            GROUP BY request_id, judge
        ),
        unit AS (
            SELECT request_id, judge,
                   {verdict('baseline_first')} AS g1,
                   {verdict('candidate_first')} AS g2,
                   {verdict('unordered')} AS g0,
                   -- the mean of each order's mean preference
                   {pref} AS pref,
                   verdicts, verdicts - ({present_orders}) AS duplicate_judgements
            FROM per_order
        )
        SELECT u.*, p.pid, p.segment, p.len_b, p.len_c, p.user_id,
            CASE
                WHEN g1 = 'error' OR g2 = 'error' OR g0 = 'error' THEN 'error'
                WHEN g1 IS NULL AND g2 IS NULL AND g0 IS NULL THEN
                    CASE WHEN pref IS NULL THEN 'error' ELSE 'numeric' END
                WHEN g1 IS NOT NULL AND g2 IS NOT NULL AND g1 <> g2 THEN 'tie'
                ELSE CASE coalesce(g1, g2, g0) WHEN 'candidate' THEN 'win' WHEN 'baseline' THEN 'loss' ELSE 'tie' END
            END AS outcome
        FROM unit u JOIN {PAIRS} p USING (request_id)
        """
    )


def paired_verdicts(db: Database) -> int:
    """Verdict rows of paired requests: those of the units, which hold only paired requests. The others (all
    `judgement_problems` rows but these) are the unmatched ones: an anti-join of every verdict against the pairs
    cost twice as much."""
    return int(db.fetchone(f"SELECT coalesce(sum(verdicts), 0) FROM {UNITS}")[0])


def judges(db: Database) -> list[dict[str, Any]]:
    """Per judge: win / tie / loss / error counts, order diagnostics, duplicates (most units first)."""
    return db.fetch_dicts(
        f"""
        SELECT judge, count(*) AS units,
               count(*) FILTER (WHERE outcome = 'win') AS wins,
               count(*) FILTER (WHERE outcome = 'tie') AS ties,
               count(*) FILTER (WHERE outcome = 'loss') AS losses,
               count(*) FILTER (WHERE outcome = 'error') AS errors,
               count(*) FILTER (WHERE outcome = 'numeric') AS numeric_units,
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate', 'tie') AND g2 IN ('baseline', 'candidate', 'tie'))
                   AS both_orders,
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate', 'tie') AND g2 IN ('baseline', 'candidate', 'tie')
                                AND g1 = g2) AS consistent,
               -- Position bias only where the answers were swapped: with one order, "shown first" is just one
               -- arm, and its share of wins is the verdict itself, not a bias.
               count(*) FILTER (WHERE g1 IN ('baseline', 'candidate') AND g2 IN ('baseline', 'candidate', 'tie'))
                   + count(*) FILTER (WHERE g2 IN ('baseline', 'candidate') AND g1 IN ('baseline', 'candidate', 'tie'))
                   AS decisive,
               count(*) FILTER (WHERE g1 = 'baseline' AND g2 IN ('baseline', 'candidate', 'tie'))
                   + count(*) FILTER (WHERE g2 = 'candidate' AND g1 IN ('baseline', 'candidate', 'tie'))
                   AS first_position,
               sum(duplicate_judgements) AS duplicate_judgements
        FROM {UNITS} GROUP BY judge ORDER BY units DESC, judge
        """
    )


def judge_outcomes(db: Database, judge: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """One judge's decided units grouped by the candidate's score (1 / 0.5 / 0) and the length difference
    (candidate - baseline), with how many units each row stands for: a few thousand rows, not one per unit
    (one per unit held hundreds of MB on 5 M pairs). Ordered as `np.unique` would order them."""
    table = db.fetch_arrow(
        f"""
        SELECT y, dlen, count(*) AS n FROM (
            SELECT CASE outcome WHEN 'win' THEN 1.0 WHEN 'tie' THEN 0.5 ELSE 0.0 END AS y,
                   CAST(len_c AS DOUBLE) - CAST(len_b AS DOUBLE) AS dlen
            FROM {UNITS}
            WHERE judge = $judge AND outcome IN ('win', 'tie', 'loss') AND len_b IS NOT NULL AND len_c IS NOT NULL
        ) GROUP BY ALL ORDER BY dlen, y
        """,
        {"judge": judge},
    )
    return _floats(table, "y"), _floats(table, "dlen"), _floats(table, "n")


def judge_preferences(db: Database, judge: str) -> NDArray[np.float64]:
    table = db.fetch_arrow(
        f"SELECT pref FROM {UNITS} WHERE judge = $judge AND outcome = 'numeric'", {"judge": judge}
    )
    return _floats(table, "pref")


def judge_by_segment(db: Database, judge: str) -> list[dict[str, Any]]:
    return db.fetch_dicts(
        f"""
        SELECT segment,
               count(*) FILTER (WHERE outcome = 'win') AS wins,
               count(*) FILTER (WHERE outcome = 'tie') AS ties,
               count(*) FILTER (WHERE outcome = 'loss') AS losses,
               count(*) FILTER (WHERE outcome = 'error') AS errors
        FROM {UNITS} WHERE judge = $judge GROUP BY segment
        """,
        {"judge": judge},
    )


def top_examples(db: Database, judge: str | None, distances: NDArray[np.float32], count: int) -> list[int]:
    """The pids of the `count` pairs where the candidate most clearly lost something: by a severity score (a loss
    in both orders 8, a new JSON break or refusal 4, a new error 2, a loss 1), then edit distance (none counts
    0), then pid. Ranked in DuckDB with the distances (by pid) read in place: hundreds of thousands of candidates
    on a million pairs, of which a handful are kept (sorting them in Python was a tenth of a second)."""
    name = "_shadow_distances"
    # 32-bit: 8 bytes a pair beside the distances themselves (read in place), 40 MB on 5 M pairs.
    db.register_arrow(name, pa.table({"pid": np.arange(distances.size, dtype=np.int32), "d": distances}))
    try:
        judged = db.table_exists(UNITS)
        lost = ("(SELECT pid, g1 = 'baseline' AND g2 = 'baseline' AS lost_both, outcome = 'loss' AS lost "
                f"FROM {UNITS} WHERE judge = $judge)" if judged
                else "(SELECT CAST(NULL AS BIGINT) AS pid, FALSE AS lost_both, FALSE AS lost LIMIT 0)")
        rows = db.fetchall(
            f"""
            WITH j AS {lost},  -- a judge has one unit per pair (units are per request and judge, pairs one per request)
            candidates AS (
                SELECT p.pid,
                       8.0 * coalesce(j.lost_both, FALSE)::INT
                       + 4.0 * (p.json_expected AND p.json_ok_b AND NOT p.json_ok_c)::INT
                       + 4.0 * (p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c)::INT
                       + 2.0 * (p.error_b IS NULL AND p.error_c IS NOT NULL)::INT
                       + 1.0 * coalesce(j.lost, FALSE)::INT AS score
                FROM {PAIRS} p LEFT JOIN j USING (pid)
                WHERE coalesce(j.lost, FALSE) OR (p.json_expected AND p.json_ok_b AND NOT p.json_ok_c)
                   OR (p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c)
                   OR (p.error_b IS NULL AND p.error_c IS NOT NULL)
            )
            SELECT c.pid FROM candidates c JOIN {name} d USING (pid)
            ORDER BY c.score DESC, CASE WHEN isnan(d.d) THEN 0.0 ELSE coalesce(d.d, 0.0) END DESC, c.pid
            LIMIT $count
            """,
            {"count": count, **({"judge": judge if judge is not None else ""} if judged else {})},
        )
    finally:
        db.unregister(name)
    return [int(r[0]) for r in rows]


def example_rows(db: Database, pids: list[int], judge: str | None, *, with_texts: bool = True) -> list[dict[str, Any]]:
    """Flags of the few pairs shown as examples and, with `with_texts`, their texts from `traces` (fetched by
    row id, not by a join; without, the caller reads them from the files it streamed)."""
    if not pids:
        return []
    judged = db.table_exists(UNITS)
    verdicts = (
        f"(SELECT list(coalesce(g1, '-') || '/' || coalesce(g2, '-') || '=' || outcome) FROM {UNITS} u "
        "WHERE u.pid = p.pid AND u.judge = $judge)"
        if judged else "CAST(NULL AS VARCHAR[])"
    )
    rows = db.fetch_dicts(
        f"""
        SELECT p.pid, p.sid, p.rid_b, p.rid_c, p.request_id, p.segment, p.error_b, p.error_c,
               p.json_expected AND p.json_ok_b AND NOT p.json_ok_c AS json_break,
               p.out_b AND p.out_c AND NOT p.refusal_b AND p.refusal_c AS new_refusal,
               {verdicts} AS verdicts
        FROM {PAIRS} p WHERE p.pid IN (SELECT unnest($pids))
        """,
        {"pids": pids, "judge": judge or ""} if judged else {"pids": pids},
    )
    if not with_texts:
        return rows
    rids = [int(r["rid_b"]) for r in rows] + [int(r["rid_c"]) for r in rows]
    texts = {int(r[0]): (r[1], r[2]) for r in db.fetchall(
        "SELECT rowid, input, output FROM traces WHERE rowid IN (SELECT unnest($rids))", {"rids": rids})}
    for r in rows:
        b_input, b_out = texts.get(int(r["rid_b"]), (None, None))
        c_input, c_out = texts.get(int(r["rid_c"]), (None, None))
        r["input"] = b_input if b_input is not None else c_input
        r["baseline_output"], r["candidate_output"] = b_out, c_out
    return rows


def eval_tags(db: Database) -> tuple[int, set[str]]:
    """Number of eval cases and every tag they carry (lower case), for the coverage gap."""
    row = db.fetchone("SELECT count(DISTINCT case_id) FROM evals")
    tags = {str(t[0]).lower() for t in db.fetchall(
        "SELECT DISTINCT unnest(tags) FROM evals WHERE tags IS NOT NULL")}
    return int(row[0]), tags

"""Paired files read once as a stream (`stream_rows`): both arms' numbers, ids and text features kept in
`_shadow_rows` (`RowStore`, spilled to DuckDB past a memory budget) and paired (`build_pairs_from_rows`);
the answers go to the edit distances and are not kept."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rollctl.db import Database, quote_identifier
from rollctl.load import PairedRows
from rollctl.sql.shadow.pairs import (
    PAIRS,
    ROW_ARMS,
    ROWS,
    Segment,
    arm_of,
    arm_params,
    ints,
    pair_text_columns,
    text_features,
    text_params,
)

# Per arm of a streamed row: the columns kept, as (name in the row, name in the stream's source).
_ROW_FIELDS = (("request_id", "request_id"), ("user_id", "user_id"), ("ts", "timestamp"), ("latency", "latency_ms"),
               ("ttft", "ttft_ms"), ("cost", "cost_usd"), ("tokens", "output_tokens"), ("score", "judge_score"),
               ("error", "error"))
_SHARED = ("user_id", "ts", "segment")
"""Values a pair takes from its baseline arm, else its candidate arm: kept once per streamed row."""
TEXT_FEATURES = ("has_out", "len", "json_like", "json_ok", "refusal")
"""Each answer's text features, computed in the stream (`text_features`) and kept per arm."""


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
                              **text_params(expect_json, refusal_pattern)}
    columns: list[str] = []
    for x in ("1", "2"):
        columns.append(f"present_{x}, {arm_of(f'variant_{x}', f'served_{x}')} AS arm_{x}")
        columns += [f"{quote_identifier(src + '_' + x)} AS {name}_{x}" for name, src in _ROW_FIELDS]
        if segment is None:
            columns.append(f"CAST(NULL AS VARCHAR) AS segment_{x}")
        elif segment.json_path is not None:
            params["seg_path"] = segment.json_path
            columns.append(f"json_extract_string(metadata_{x}, $seg_path) AS segment_{x}")
        else:
            columns.append(f"CAST({quote_identifier((segment.column or '') + '_' + x)} AS VARCHAR) AS segment_{x}")
        columns.append(text_features(f"output_{x}", f"_{x}", with_hash=False))
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
            SELECT request_id FROM ({ROW_ARMS}) AS t
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
            {pair_text_columns('{}_b', '{}_c', expect_json, exact='exact')}
        FROM r
        """
    )
    return int(db.fetchone(f"SELECT count(*) FROM {PAIRS}")[0])


def stream_order(db: Database) -> NDArray[np.int64]:
    """Each pair's `sid` (its row in the stream), in pid order."""
    return ints(db.fetch_arrow(f"SELECT sid FROM {PAIRS} ORDER BY pid"), "sid")


def example_texts_streamed(db: Database, sources: list[PairedRows], request_ids: list[str], baseline: str,
                           candidate: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """request_id -> (input, baseline answer, candidate answer) for a few pairs, read again from the files."""
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    for source in sources:
        rows = db.fetchall(
            f"""
            SELECT request_id_1, {arm_of('variant_1', 'served_1')}, {arm_of('variant_2', 'served_2')},
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

"""The edit-distance metric: how much users edit the AI's draft before sending it, per unit.

Per request with both a draft (`output`) and what the user sent (`final_text`), d is the normalized
Levenshtein distance (rapidfuzz `Levenshtein.normalized_distance`: edits / length of the longer text, 0 =
sent as drafted, 1 = nothing kept). Requests without `final_text` do not count: the metric is over the
drafts that were edited or sent as they were, which is all an export can tell. Per unit u, Y_u = Σd and
N_u = #such requests, so the arm's value ΣY/ΣN is the mean distance per edited-or-sent draft and the
comparison is the delta method over units (`rollctl.stats.ratio`), exactly like a per-request rate.

The distances cannot be SQL (DuckDB's `levenshtein` is not normalized the same way and is slow on long
texts), so the rows stream out of DuckDB as Arrow batches and rapidfuzz `cpdist` computes a whole batch
in C across all cores; the per-unit sums of each batch are grouped by pyarrow, and the partial sums of
all batches grouped again at the end (a unit's requests may span batches). Memory: one batch of texts
plus one row per (arm, unit). Shared by `decide` and `power --from-traces`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from rollctl.db import Database
from rollctl.engines.spark import SparkEngine
from rollctl.sql.units import edit_pair_batches, edit_pair_query
from rollctl.stats.ratio import RatioMoments


@dataclass(frozen=True)
class EditDistanceArm:
    """One arm's edit distances: per-unit moments (for the delta method) and per-request Σd, Σd²."""

    variant: str
    moments: RatioMoments
    """Over units with at least one edited-or-sent draft: Y_u = Σd, N_u = drafts."""
    requests: int
    sum_d: float
    sum_d2: float

    @property
    def request_variance(self) -> float:
        """Sample variance of d across requests (the per-request variance `power` plans with)."""
        if self.requests < 2:
            return float("nan")
        return max((self.sum_d2 - self.sum_d * self.sum_d / self.requests) / (self.requests - 1), 0.0)


# Levenshtein is quadratic in the length of the texts: one pair of 1 MB answers cost 56 CPU-seconds, and 10 MB
# ones never finished, while records up to 32 MB are read. Past this many characters a pair is compared on its
# first MAX_COMPARED_CHARS characters of each text (at most ~10 ms a pair), and the number of such pairs is
# reported wherever distances are used. Far above LLM answers as written (a 20k-character answer is ~5k tokens).
MAX_COMPARED_CHARS = 20_000


def bounded_texts(outputs: pa.Array | pa.ChunkedArray, finals: pa.Array | pa.ChunkedArray
                  ) -> tuple[list[str | None], list[str | None], int]:
    """Both columns as Python lists for `edit_distances`, every text cut to `MAX_COMPARED_CHARS` characters,
    and how many pairs were cut (worked out in Arrow: no Python loop over the batch)."""
    lengths = pc.max_element_wise(pc.utf8_length(outputs), pc.utf8_length(finals), skip_nulls=True)
    capped = int(pc.sum(pc.greater(lengths, MAX_COMPARED_CHARS)).as_py() or 0)
    if capped:
        outputs = pc.utf8_slice_codeunits(outputs, 0, MAX_COMPARED_CHARS)
        finals = pc.utf8_slice_codeunits(finals, 0, MAX_COMPARED_CHARS)
    return outputs.to_pylist(), finals.to_pylist(), capped


def edit_distances(outputs: Sequence[str], finals: Sequence[str], *, score_hint: float | None = None) -> np.ndarray:
    """d per pair, computed in C over all cores (rapidfuzz `process.cpdist`, element-wise pairs). `score_hint`
    changes only how fast the same distances come (see `next_score_hint`)."""
    return np.asarray(process.cpdist(outputs, finals, scorer=Levenshtein.normalized_distance, workers=-1,
                                     dtype=np.float64, score_hint=score_hint), dtype=np.float64)


# rapidfuzz's `score_hint` (an expected normalized distance) makes Levenshtein search a band of the edit matrix
# that wide first and double it while the distance is larger (Ukkonen's banded search with Hyyrö's bit-parallel
# rows): the same exact distances, for less work when they are small. Measured with cpdist on 100 k pairs of the
# shadow benchmark (median 0.10): 0.47 s against 0.77 s without. On unrelated texts (median 0.70) a hint costs
# 13-50 % more, and with a quarter to a half of the pairs unrelated it is about even. So a batch takes a hint
# only when three quarters of the batch before it differed by at most `HINT_UP_TO`, and the hint is that batch's
# median.
HINT_UP_TO = 0.3


def next_score_hint(previous: np.ndarray) -> float | None:
    """The `score_hint` for the next batch of a stream, from the distances of this one (NaN: not computed)."""
    done = previous[np.isfinite(previous)]
    if done.size < 50:
        return None
    median, upper = (float(x) for x in np.quantile(done, [0.5, 0.75]))
    return max(median, 0.01) if upper <= HINT_UP_TO else None


class StreamedEditDistances:
    """Edit distances of a stream's batches, one call per batch: each batch takes the `score_hint` the one before
    it gives (`next_score_hint`), so callers need not carry it."""

    def __init__(self) -> None:
        self.score_hint: float | None = None
        self.capped = 0
        """Pairs compared on their first `MAX_COMPARED_CHARS` characters only (see `bounded_texts`)."""

    def __call__(self, outputs: pa.Array | pa.ChunkedArray, finals: pa.Array | pa.ChunkedArray) -> np.ndarray:
        left, right, capped = bounded_texts(outputs, finals)
        self.capped += capped
        d = edit_distances(left, right, score_hint=self.score_hint)  # type: ignore[arg-type]
        self.score_hint = next_score_hint(d)
        return d


def distances_of_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`edit_pair_query` batches -> (variant, unit, d, d2, capped) batches, where `capped` holds a batch's count
    of cut pairs on its first row: the distances computed where the batches are (Spark's executors, through
    `SparkEngine.map_batches_to_view`), so only per-unit sums travel."""
    distances = StreamedEditDistances()
    for batch in batches:
        if batch.num_rows == 0:
            continue
        before = distances.capped
        d = distances(batch.column(2), batch.column(3))
        capped = np.zeros(len(d), dtype=np.int64)
        capped[0] = distances.capped - before
        yield pa.RecordBatch.from_arrays(
            [batch.column(0), batch.column(1), pa.array(d), pa.array(d * d), pa.array(capped)],
            names=["variant", "unit", "d", "d2", "capped"])


_DISTANCES_VIEW = "rollctl_edit_distances"


def _edit_distance_moments_on_spark(engine: SparkEngine, sql: str, params: dict[str, object],
                                    distances: StreamedEditDistances) -> dict[str, EditDistanceArm]:
    engine.map_batches_to_view(_DISTANCES_VIEW, sql, params, distances_of_batches,
                               "variant string, unit string, d double, d2 double, capped bigint")
    rows = engine.fetchall(f"""
        WITH per_unit AS (
            SELECT variant, unit, sum(d) AS y, CAST(count(d) AS DOUBLE) AS n, sum(d2) AS d2, sum(capped) AS capped
            FROM {_DISTANCES_VIEW} GROUP BY variant, unit
        )
        SELECT variant, count(*), sum(y), sum(y * y), sum(n), sum(n * n), sum(y * n), sum(d2), sum(capped)
        FROM per_unit GROUP BY variant ORDER BY variant""")
    out: dict[str, EditDistanceArm] = {}
    for variant, units, sy, syy, sn, snn, syn, d2, capped in rows:
        distances.capped += int(capped or 0)
        moments = RatioMoments(n=int(units), sum_y=float(sy), sum_y2=float(syy), sum_n=float(sn),
                               sum_n2=float(snn), sum_yn=float(syn))
        out[str(variant)] = EditDistanceArm(variant=str(variant), moments=moments, requests=int(sn),
                                            sum_d=float(sy), sum_d2=float(d2))
    return out


def edit_distance_moments(
    db: Database | SparkEngine,
    *,
    unit: str = "user_id",
    variants: Sequence[str] | None = None,
    where_sql: str = "TRUE",
    where_params: dict[str, object] | None = None,
    batch_size: int = 50_000,
    distances: StreamedEditDistances | None = None,
) -> dict[str, EditDistanceArm]:
    """Per arm, the per-unit moments of the edit distance over the rows `where_sql` selects. Pass `distances`
    to read how many pairs were cut (`StreamedEditDistances.capped`) after the call."""
    partials: list[pa.Table] = []
    distances = distances or StreamedEditDistances()
    if isinstance(db, SparkEngine):
        sql, params = edit_pair_query(unit=unit, variants=variants, where_sql=where_sql, where_params=where_params)
        return _edit_distance_moments_on_spark(db, sql, params, distances)
    for batch in edit_pair_batches(db, unit=unit, variants=variants, where_sql=where_sql,
                                   where_params=where_params, batch_size=batch_size):
        if batch.num_rows == 0:
            continue
        d = distances(batch.column(2), batch.column(3))
        table = pa.table({"variant": batch.column(0), "unit": batch.column(1), "d": d, "d2": d * d})
        partials.append(table.group_by(["variant", "unit"]).aggregate(
            [("d", "sum"), ("d2", "sum"), ("d", "count")]))
    if not partials:
        return {}
    per_unit = pa.concat_tables(partials).group_by(["variant", "unit"]).aggregate(
        [("d_sum", "sum"), ("d2_sum", "sum"), ("d_count", "sum")])
    out: dict[str, EditDistanceArm] = {}
    for variant in sorted(str(v) for v in pc.unique(per_unit.column("variant")).to_pylist()):
        arm = per_unit.filter(pc.equal(per_unit.column("variant"), variant))
        y = arm.column("d_sum_sum").to_numpy().astype(np.float64)
        n = arm.column("d_count_sum").to_numpy().astype(np.float64)
        d2 = float(pc.sum(arm.column("d2_sum_sum")).as_py() or 0.0)
        moments = RatioMoments(n=len(y), sum_y=float(y.sum()), sum_y2=float((y * y).sum()), sum_n=float(n.sum()),
                               sum_n2=float((n * n).sum()), sum_yn=float((y * n).sum()))
        out[variant] = EditDistanceArm(variant=variant, moments=moments, requests=int(n.sum()),
                                       sum_d=float(y.sum()), sum_d2=d2)
    return out

"""promptfoo eval results: `results.json` (output format v3, `promptfoo eval -o results.json` /
`promptfoo export eval`) and `results.jsonl` (`promptfoo eval -o results.jsonl`, one result per line).

Schema (see research notes §1.2): `{evalId, results: {version: 3, results: [EvaluateResult], prompts, stats},
config, shareableUrl, ...}`; the JSONL output holds the same `EvaluateResult` objects, one per line. Each
`EvaluateResult` becomes one `evals` row:

- case_id: `testCase.metadata.id`, else `testCase.description`, else `description`, else a hash of `vars`
  (results of one test share it across runs and repeats);
- variant: `provider.label`, else `provider.id` (promptfoo writes `"label": ""` for a provider the config did
  not label, so an empty label counts as none); when the file holds several prompts, the prompt's label
  (else `promptId`) is appended, since each prompt × provider cell is its own arm;
- passed: `success`; score: `score`; error: `error` (class "provider_error") when `failureReason` is 2;
- tags / cluster: `testCase.metadata.tags` / `testCase.metadata.cluster` when the user set them.
- repeat: not recorded by promptfoo; a test's results in one arm are numbered 0, 1, ... in file order.
"""

from __future__ import annotations

from rollctl.load.expressions import RawValue, SqlParams
from rollctl.load.probe import reader_for_load
from rollctl.load.select import insert_rows, select_canonical
from rollctl.load.types import Adapter, FileReport, LoadContext, Probe, Reader

# Keys every promptfoo EvaluateResult carries; together they tell a results.jsonl line from a trace row.
_RESULT_KEYS = ("promptId", "provider", "testCase", "success", "failureReason")


def _detect(probe: Probe) -> bool:
    cols = probe.columns
    return (probe.file.format == "json" and "results" in cols and "samples" not in cols
            and ("evalId" in cols or "shareableUrl" in cols or "config" in cols))


def _detect_jsonl(probe: Probe) -> bool:
    return probe.file.format != "json" and all(key in probe.columns for key in _RESULT_KEYS)


def _load(ctx: LoadContext, probe: Probe) -> FileReport:
    document = Reader(
        sql=(f"(SELECT unnest(CAST(json_extract(CAST(results AS JSON), '$.results[*]') AS JSON[])) AS _r "
             f"FROM {probe.reader_sql})"),
        params=dict(probe.reader_params))
    return _load_results(ctx, probe, document, "promptfoo", "promptfoo results.json (v3)")


def _load_jsonl(ctx: LoadContext, probe: Probe) -> FileReport:
    lines = reader_for_load(ctx, probe)
    results = Reader(sql=f"(SELECT to_json(_line) AS _r FROM {lines.sql} AS _line)", params=lines.params,
                     skipped_lines=lines.skipped_lines)
    return _load_results(ctx, probe, results, "promptfoo_jsonl", "promptfoo results.jsonl (one result per line)")


def _load_results(ctx: LoadContext, probe: Probe, results: Reader, format_name: str, note: str) -> FileReport:
    """Loads promptfoo results from `results`, a FROM clause giving one EvaluateResult per row as `_r`."""
    r = "_r"
    case_sql = (
        f"coalesce({r} ->> '$.testCase.metadata.id', {r} ->> '$.testCase.description', "
        f"{r} ->> '$.description', 'vars:' || md5(CAST(coalesce({r} -> '$.vars', {r} -> '$.testCase.vars') "
        "AS VARCHAR)))"
    )
    variant_sql = (
        f"coalesce(nullif({r} ->> '$.provider.label', ''), nullif({r} ->> '$.provider.id', ''), "
        f"nullif({r} ->> '$.provider', '')) || "
        f"CASE WHEN _np > 1 THEN ' / ' || coalesce(nullif({r} ->> '$.prompt.label', ''), {r} ->> '$.promptId', '') "
        "ELSE '' END"
    )
    # promptfoo does not record the repeat: number a test's results per arm in file order instead.
    reader = Reader(
        sql=(
            f"(WITH rs AS (SELECT row_number() OVER () AS _ord, _r FROM {results.sql}), "
            "np AS (SELECT count(DISTINCT _r ->> '$.promptId') AS _np FROM rs), "
            f"keyed AS (SELECT _ord, _r, {case_sql} AS _case, {variant_sql} AS _variant FROM rs CROSS JOIN np) "
            "SELECT _r, _case, _variant, row_number() OVER (PARTITION BY _case, _variant ORDER BY _ord) - 1 AS _rep "
            "FROM keyed)"
        ),
        params=dict(results.params),
    )
    params = SqlParams()
    text = {
        "case_id": "_case",
        "variant": "_variant",
        "error": (
            f"CASE WHEN TRY_CAST({r} ->> '$.failureReason' AS INTEGER) = 2 THEN 'provider_error' END"
        ),
    }
    values = {name: RawValue(f"({sql})", "VARCHAR") for name, sql in text.items()}
    values.update({
        "repeat": RawValue("_rep", "BIGINT"),
        "passed": RawValue(f"({r} -> '$.success')", "JSON"),
        "score": RawValue(f"({r} -> '$.score')", "JSON"),
        "tags": RawValue(f"({r} -> '$.testCase.metadata.tags')", "JSON"),
        "cluster": RawValue(f"({r} -> '$.testCase.metadata.cluster')", "JSON"),
    })
    descriptions = {
        "case_id": "testCase.metadata.id | testCase.description | hash(vars)",
        "variant": "provider.label (if not '') | provider.id (+ prompt label)", "passed": "success", "score": "score",
        "error": "failureReason = 2", "repeat": "order of a test's results",
        "tags": "testCase.metadata.tags", "cluster": "testCase.metadata.cluster",
    }
    selection = select_canonical("evals", values, params, keep_text=True, descriptions=descriptions)
    rows = {"evals": insert_rows(ctx, probe, "evals", selection, reader, params)}
    return FileReport(
        path=probe.file.path, format=format_name, kind="evals", rows=rows, columns=tuple(probe.columns),
        sources=selection.sources, notes=(note,), skipped_lines=results.skipped_lines,
    )


PROMPTFOO = Adapter("promptfoo", "promptfoo results.json (v3): results.results[] per test × prompt × provider",
                 _detect, _load, priority=300)
PROMPTFOO_JSONL = Adapter("promptfoo_jsonl", "promptfoo results.jsonl: one EvaluateResult per line", _detect_jsonl,
                 _load_jsonl, priority=300)

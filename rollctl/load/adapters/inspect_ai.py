"""inspect_ai eval logs: the plain `.json` log and the `.eval` zip (research notes §2.3).

An `EvalLog` is `{version, status, eval: EvalSpec, plan, results, stats, samples: [EvalSample], ...}`; the
`.eval` zip holds `header.json` (the log without samples) and one `samples/{id}_epoch_{epoch}.json` per
sample and epoch. Each `EvalSample` becomes one `evals` row:

- case_id: `id`; repeat: `epoch`; variant: `eval.model` of the log (one model per log);
- the first scorer in `scores` gives the outcome. A letter grade maps as inspect's `value_to_float` does
  (C → 1, P → 0.5, I/N → 0) with passed = (grade is C); a boolean is passed; a number is a score;
- error: "sample_error" when the sample has an `error`; cluster: `metadata.cluster` when present.

DuckDB cannot open a zip, so the `.eval` members are extracted to a temporary directory (zstd members, used
by newer inspect versions, are decompressed with `zstandard`) and DuckDB reads those JSON files.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zipfile

from rollctl.db import DuckDBError, quote_identifier
from rollctl.errors import InputError
from rollctl.load.expressions import RawValue, SqlParams
from rollctl.load.select import insert_rows, select_canonical
from rollctl.load.types import MAX_OBJECT_BYTES, Adapter, FileReport, LoadContext, Probe, Reader

_ZIP_ZSTD = 93
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _detect_json(probe: Probe) -> bool:
    cols = probe.columns
    return probe.file.format == "json" and "eval" in cols and ("samples" in cols or "status" in cols)


def _detect_eval(probe: Probe) -> bool:
    return probe.file.format == "inspect_eval"


def _sample_values(s: str, model_sql: str) -> tuple[dict[str, RawValue], dict[str, str]]:
    value = f"(CAST(json_extract({s}, '$.scores.*.value') AS JSON[]))[1]"
    grade = f"upper(trim({value} ->> '$'))"
    kind = f"json_type({value})"
    passed = (
        f"(CASE WHEN {kind} = 'BOOLEAN' THEN CAST({value} AS VARCHAR) = 'true' "
        f"WHEN {kind} = 'VARCHAR' AND {grade} IN ('C', 'CORRECT', 'TRUE', 'YES') THEN true "
        f"WHEN {kind} = 'VARCHAR' AND {grade} IN ('I', 'INCORRECT', 'P', 'PARTIAL', 'N', 'NOANSWER', 'FALSE', 'NO') "
        "THEN false END)"
    )
    score = (
        f"(CASE WHEN {kind} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST({value} AS DOUBLE) "
        f"WHEN {kind} = 'BOOLEAN' THEN CASE WHEN CAST({value} AS VARCHAR) = 'true' THEN 1.0 ELSE 0.0 END "
        f"WHEN {kind} = 'VARCHAR' THEN CASE WHEN {grade} IN ('C', 'CORRECT') THEN 1.0 "
        f"WHEN {grade} IN ('P', 'PARTIAL') THEN 0.5 WHEN {grade} IN ('I', 'INCORRECT', 'N', 'NOANSWER') THEN 0.0 "
        f"ELSE TRY_CAST({grade} AS DOUBLE) END END)"
    )
    error = (f"(CASE WHEN ({s} -> '$.error') IS NOT NULL AND json_type({s} -> '$.error') <> 'NULL' "
             "THEN 'sample_error' END)")
    values = {
        "case_id": RawValue(f"({s} ->> '$.id')", "VARCHAR"),
        "variant": RawValue(f"({model_sql})", "VARCHAR"),
        "repeat": RawValue(f"({s} -> '$.epoch')", "JSON"),
        "passed": RawValue(passed, "BOOLEAN"),
        "score": RawValue(score, "DOUBLE"),
        "error": RawValue(error, "VARCHAR"),
        "cluster": RawValue(f"({s} -> '$.metadata.cluster')", "JSON"),
    }
    descriptions = {
        "case_id": "samples[].id", "variant": "eval.model", "repeat": "samples[].epoch",
        "passed": "first scorer's value (C = pass)", "score": "first scorer's value (C/P/I/N → 1/0.5/0/0)",
        "error": "samples[].error", "cluster": "samples[].metadata.cluster",
    }
    return values, descriptions


def _insert(ctx: LoadContext, probe: Probe, reader: Reader, fmt: str) -> FileReport:
    params = SqlParams()
    values, descriptions = _sample_values("_s", "_model")
    selection = select_canonical("evals", values, params, keep_text=True, descriptions=descriptions)
    rows = {"evals": insert_rows(ctx, probe, "evals", selection, reader, params)}
    if rows["evals"] == 0:
        raise InputError("inspect log holds no samples", path=probe.file.path,
                         fix="re-run the eval with sample logging on (not --no-log-samples)")
    return FileReport(
        path=probe.file.path, format=fmt, kind="evals", rows=rows, columns=tuple(probe.columns),
        sources=selection.sources, notes=(f"inspect_ai log ({fmt})",),
    )


def _load_json(ctx: LoadContext, probe: Probe) -> FileReport:
    reader = Reader(
        sql=(
            "(SELECT CAST(eval AS JSON) ->> '$.model' AS _model, "
            "unnest(CAST(json_extract(CAST(samples AS JSON), '$[*]') AS JSON[])) AS _s "
            f"FROM {probe.reader_sql})"
        ),
        params=dict(probe.reader_params),
    )
    if "samples" not in probe.columns:
        raise InputError("inspect log holds no samples", path=probe.file.path,
                         fix="re-run the eval with sample logging on (not --no-log-samples)")
    return _insert(ctx, probe, reader, "inspect_json")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: str) -> bytes:
    """A member's bytes; zstd members (method 93) are decompressed here, the rest by zipfile."""
    if info.compress_type != _ZIP_ZSTD:
        return zf.read(info)
    import zstandard

    with open(archive, "rb") as fh:
        fh.seek(info.header_offset)
        header = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
        name_len, extra_len = header[-2], header[-1]
        fh.seek(name_len + extra_len, os.SEEK_CUR)
        raw = fh.read(info.compress_size)
    data: bytes = zstandard.ZstdDecompressor().decompress(raw, max_output_size=max(info.file_size, 1))
    return data


def _load_eval(ctx: LoadContext, probe: Probe) -> FileReport:
    path = probe.file.path
    tmp = tempfile.mkdtemp(prefix="rollctl-inspect-")
    stage = quote_identifier("_stage_inspect_eval")
    try:
        try:
            with zipfile.ZipFile(path) as zf:
                members = {i.filename: i for i in zf.infolist()}
                if "header.json" not in members:
                    raise InputError("not an inspect_ai .eval log (no header.json in the zip)", path=path,
                                     fix="pass a log written by inspect_ai, or convert it: inspect log convert")
                samples = [i for n, i in members.items() if n.startswith("samples/") and n.endswith(".json")]
                if not samples:
                    raise InputError("inspect log holds no samples", path=path,
                                     fix="re-run the eval with sample logging on (not --no-log-samples)")
                os.makedirs(os.path.join(tmp, "samples"))
                with open(os.path.join(tmp, "header.json"), "wb") as out:
                    out.write(_read_member(zf, members["header.json"], path))
                for k, info in enumerate(samples):
                    with open(os.path.join(tmp, "samples", f"{k:08d}.json"), "wb") as out:
                        out.write(_read_member(zf, info, path))
        except (zipfile.BadZipFile, OSError, KeyError, ValueError, struct.error) as exc:
            raise InputError(f"cannot read the .eval zip ({type(exc).__name__})", path=path,
                             fix="check the file is a complete inspect_ai .eval log") from None
        try:
            ctx.db.execute(
                f"CREATE OR REPLACE TEMP TABLE {stage} AS "
                "SELECT h._model, s.json AS _s FROM "
                f"(SELECT json ->> '$.eval.model' AS _model FROM read_json_objects($hdr, format = 'auto', "
                f"maximum_object_size = {MAX_OBJECT_BYTES})) AS h CROSS JOIN "
                f"read_json_objects($samples, format = 'auto', maximum_object_size = {MAX_OBJECT_BYTES}) AS s",
                {"hdr": os.path.join(tmp, "header.json"), "samples": os.path.join(tmp, "samples", "*.json")},
            )
        except DuckDBError:
            raise InputError("the .eval log holds JSON DuckDB cannot read", path=path,
                             fix="check the file is a complete inspect_ai .eval log") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        return _insert(ctx, probe, Reader(sql=stage, params={"path": path}), "inspect_eval")
    finally:
        ctx.db.execute(f"DROP TABLE IF EXISTS {stage}")


INSPECT_JSON = Adapter("inspect_ai", "inspect_ai eval log (.json): samples[] with id, epoch, scores", _detect_json,
                 _load_json, priority=310)
INSPECT_EVAL = Adapter("inspect_ai_eval", "inspect_ai eval log (.eval zip): header.json + samples/*.json", _detect_eval,
                 _load_eval, priority=311)

"""Platform adapters: each fixture (written to the format's documented schema) loads into canonical rows,
checked field by field, through detection and through `--format`; bad input exits 2 with one line."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from rollctl.db import connect
from rollctl.load import LoadOptions, load_inputs
from tests.conftest import invoke

DATA = Path(__file__).parent / "data"


def load(paths: list[Path], **options: Any) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    db = connect()
    try:
        report = load_inputs(db, [str(p) for p in paths], LoadOptions(**options))
        tables = {
            t: db.fetch_dicts(f"SELECT * FROM {t} ORDER BY ALL") for t in ("traces", "judgements", "evals")
        }
        return tables, report
    finally:
        db.close()


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- OpenTelemetry -----------------------------------------------------------------------------------


def test_otel_spans_field_by_field() -> None:
    tables, report = load([DATA / "otel" / "export.jsonl"])
    assert report.files[0].format == "otel"
    rows = by(tables["traces"], "request_id")
    assert set(rows) == {"eee19b7ec3c1b174", "b7ad6b7169203331", "c7ad6b7169203332"}  # hex ids, lower-cased
    chat = rows["eee19b7ec3c1b174"]
    assert chat["timestamp"] == ts("2025-11-16T09:14:03.000001")  # startTimeUnixNano string, ns precision kept
    assert chat["latency_ms"] == pytest.approx(1184.0)
    assert chat["ttft_ms"] == pytest.approx(402.0)
    assert chat["variant"] == "control"  # feature_flag.result.variant beats service.version
    assert chat["model"] == "claude-sonnet-4-5-20250929"  # response model (pinned) over request model
    assert chat["user_id"] == "u_1" and chat["session_id"] == "s_1"
    assert chat["input_tokens"] == 812  # OTel input_tokens already include cached tokens: not added again
    assert chat["cached_tokens"] == 512 and chat["cache_hit"] is True
    assert chat["output_tokens"] == 64
    assert chat["error"] is None and chat["served"] is True
    assert chat["judge_score"] == pytest.approx((0.9 + 0.5) / 2)
    assert "Where is my order?" in chat["input"]
    meta = json.loads(chat["metadata"])
    assert meta["app.intent"] == "order_status"
    assert meta["otel.trace_id"] == "5b8efff798038103d269b633813fc60c"
    rate_limited = rows["b7ad6b7169203331"]
    assert rate_limited["error"] == "rate_limit"  # error.type wins over the bare status
    assert rate_limited["variant"] == "v42"  # no feature flag: resource service.version
    assert rate_limited["input_tokens"] == 300  # deprecated gen_ai.usage.prompt_tokens, intValue as a number
    assert rate_limited["output_tokens"] is None and rate_limited["cached_tokens"] is None
    assert rate_limited["latency_ms"] == pytest.approx(950.0)
    bare_error = rows["c7ad6b7169203332"]
    assert bare_error["error"] == "error"  # status.code 2 without error.type
    # user.id set on another span of its trace (the agent span): the call takes the trace's one value
    assert bare_error["user_id"] == "u_2" and bare_error["session_id"] == "s_2"
    notes = " | ".join(report.files[0].notes)
    assert "3 span(s) that are not LLM calls skipped" in notes
    assert "execute_tool: 1" in notes and "invoke_agent: 1" in notes
    assert "relevance, tone" in notes


def test_otel_one_export_object_per_file_and_options() -> None:
    tables, _ = load([DATA / "otel" / "single_export.json"], variant_from="service.name",
                     mapping={"judge_score": "score:relevance", "prompt_version": "app.intent"})
    (row,) = tables["traces"]
    assert row["variant"] == "support-bot"  # --variant-from reads span, then resource attributes
    assert row["judge_score"] == pytest.approx(0.9)  # score:NAME picks one evaluation
    assert row["prompt_version"] == "order_status"  # --map names an attribute key


def test_inspect_otel_shows_where_fields_came_from() -> None:
    result = invoke(["inspect", "--format", "otel", str(DATA / "otel" / "export.jsonl")], expect=0)
    assert "gen_ai.usage.input_tokens" in result.stdout
    assert "feature_flag.result.variant" in result.stdout
    assert "not LLM calls skipped" in result.stdout
    data = invoke(["inspect", str(DATA / "otel" / "export.jsonl"), "--json"], expect=0).json()
    assert data["files"][0]["mapped"]["latency_ms"].startswith("span endTimeUnixNano")
    assert data["traces"]["rows"] == 3


def test_truncated_otlp_object_is_one_line_exit_2(tmp_path: Path) -> None:
    text = (DATA / "otel" / "single_export.json").read_text()
    bad = tmp_path / "spans.json"
    bad.write_text(text[: len(text) // 2])
    result = invoke(["inspect", "--format", "otel", str(bad)], expect=2)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and str(bad) in result.stderr
    lines = (DATA / "otel" / "export.jsonl").read_text().splitlines()
    bad_lines = tmp_path / "spans.jsonl"
    bad_lines.write_text(lines[0] + "\n" + lines[1][:200] + "\n")
    result = invoke(["inspect", str(bad_lines)], expect=2)
    assert f"{bad_lines}:2: not valid JSON" in result.stderr


# --- Langfuse ----------------------------------------------------------------------------------------


def test_langfuse_blob_export_seconds_scores_and_cached_tokens() -> None:
    tables, report = load([DATA / "langfuse" / "export_v2"], mapping={"judge_score": "score:helpfulness"})
    rows = by(tables["traces"], "request_id")
    assert set(rows) == {"gen-1", "gen-2", "gen-3"}  # the SPAN observation is skipped
    g1 = rows["gen-1"]
    assert g1["latency_ms"] == pytest.approx(1184.0)  # seconds × 1000
    assert g1["ttft_ms"] == pytest.approx(402.0)
    assert g1["input_tokens"] == 812  # input 300 excludes cached 512: canonical includes them
    assert g1["cached_tokens"] == 512 and g1["cache_hit"] is True
    assert g1["output_tokens"] == 64 and g1["cost_usd"] == pytest.approx(0.00186)
    assert g1["variant"] == "v41" and g1["prompt_version"] == "12"
    assert g1["model"] == "claude-sonnet-4-5-20250929"
    assert g1["user_id"] == "u_1" and g1["session_id"] == "s_1"
    assert g1["timestamp"] == ts("2026-11-16T09:14:02.500")
    assert json.loads(g1["metadata"]) == {"intent": "order_status"}
    # Scores attach once per trace, to its last generation.
    assert g1["thumbs"] is None and g1["judge_score"] is None
    g2 = rows["gen-2"]
    assert g2["thumbs"] == -1  # BOOLEAN score 0 = thumbs down
    assert g2["judge_score"] == pytest.approx(0.25)
    assert g2["error"] == "rate_limit"  # level ERROR, class from the status message
    assert g2["cached_tokens"] is None
    g3 = rows["gen-3"]
    assert g3["thumbs"] == 1 and g3["judge_score"] == pytest.approx(0.9)
    assert g3["session_id"] is None  # missing optional field
    notes = " | ".join(report.files[0].notes)
    assert "latency read as seconds" in notes
    assert "1 observation(s) that are not GENERATIONs skipped" in notes


def test_langfuse_legacy_csv_export_in_milliseconds() -> None:
    tables, report = load([DATA / "langfuse" / "export_legacy_ms"], format="langfuse")
    rows = by(tables["traces"], "request_id")
    g10 = rows["gen-10"]
    assert g10["latency_ms"] == pytest.approx(1200.0)  # already milliseconds: not multiplied
    assert g10["ttft_ms"] == pytest.approx(350.0)
    assert g10["input_tokens"] == 800 and g10["cached_tokens"] == 100  # input_cache_read bucket
    assert g10["user_id"] == "u_10" and g10["session_id"] == "s_10"  # from the legacy traces/ rows
    assert g10["variant"] == "v41" and g10["tags"] == ["support"]
    assert g10["thumbs"] == 1
    assert rows["gen-11"]["thumbs"] == -1 and rows["gen-11"]["variant"] == "v42"
    assert "latency read as milliseconds" in " ".join(report.files[0].notes)


def test_langfuse_parquet_and_variant_from_tag(tmp_path: Path) -> None:
    export = tmp_path / "export"
    for folder in ("observations_v2", "scores"):
        (export / folder).mkdir(parents=True)
        src = DATA / "langfuse" / "export_v2" / folder / "2026-11-16.jsonl"
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_json('{src}')) TO '{export / folder / 'part.parquet'}' "
                    "(FORMAT parquet)")
        con.close()
    tables, _ = load([export], variant_from="tag:variant:")
    rows = by(tables["traces"], "request_id")
    assert rows["gen-3"]["variant"] == "treatment"
    assert rows["gen-1"]["variant"] is None
    assert rows["gen-1"]["input_tokens"] == 812


def test_langfuse_api_json_pages() -> None:
    tables, report = load([DATA / "langfuse" / "api_observations.json"], format="langfuse")
    (row,) = tables["traces"]
    assert row["request_id"] == "gen-api-1"
    assert row["model"] == "claude-sonnet-4-6-20260301"
    assert row["input_tokens"] == 150 and row["cached_tokens"] == 50
    assert row["latency_ms"] == pytest.approx(1500.0)
    assert row["cost_usd"] == pytest.approx(0.0012)
    assert row["variant"] == "v42"


def test_langfuse_export_without_scores_when_scores_are_mapped(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(DATA / "langfuse" / "export_v2" / "observations_v2", export / "observations_v2")
    config = tmp_path / "rollctl.toml"
    config.write_text('[mapping]\nthumbs = "score:user_feedback"\n')
    result = invoke(["inspect", str(export), "--config", str(config)], expect=2)
    assert "no scores" in result.stderr and "scores/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # Without a score mapping the same export loads, and says scores were not loaded.
    data = invoke(["inspect", str(export), "--json"], expect=0).json()
    assert any("no scores/ folder" in n for n in data["files"][0]["notes"])


# --- LangSmith, Braintrust ---------------------------------------------------------------------------


def test_langsmith_root_runs() -> None:
    tables, report = load([DATA / "langsmith" / "runs.jsonl"])
    assert report.files[0].format == "langsmith"
    rows = by(tables["traces"], "request_id")
    assert len(rows) == 2  # the child tool run is skipped
    ok = rows["8d6c2b1e-0001-4000-8000-000000000001"]
    assert ok["latency_ms"] == pytest.approx(1184.0) and ok["ttft_ms"] == pytest.approx(402.0)
    assert ok["input_tokens"] == 812 and ok["output_tokens"] == 64 and ok["cached_tokens"] == 512
    assert ok["cost_usd"] == pytest.approx(0.00186)
    assert ok["user_id"] == "u_1" and ok["session_id"] == "s_1" and ok["variant"] == "control"
    assert ok["model"] == "claude-sonnet-4-5-20250929"
    assert ok["thumbs"] == -1  # feedback user_feedback avg 0.0
    failed = rows["8d6c2b1e-0001-4000-8000-000000000003"]
    assert failed["error"] == "rate_limit" and failed["latency_ms"] == pytest.approx(30000.0)
    assert failed["ttft_ms"] is None and failed["cost_usd"] is None
    assert "1 other run(s) skipped (only root runs" in " ".join(report.files[0].notes)


def test_braintrust_events_become_eval_and_trace_rows() -> None:
    tables, _ = load([DATA / "braintrust" / "experiment.jsonl"])
    evals = tables["evals"]
    assert len(evals) == 3  # root events only
    first, second = (r for r in evals if r["case_id"] == "case-1")
    assert (first["repeat"], second["repeat"]) == (0, 1)
    assert first["score"] == pytest.approx(0.8) and first["passed"] is True
    assert second["score"] == pytest.approx(0.1) and second["passed"] is False
    assert {r["variant"] for r in evals} == {"main"}
    (errored,) = (r for r in evals if r["case_id"] not in ("case-1",))
    assert errored["error"] == "timeout" and errored["score"] is None and len(errored["case_id"]) == 16
    traces = by(tables["traces"], "request_id")
    assert traces["ev-1"]["latency_ms"] == pytest.approx(1250.0)
    assert traces["ev-1"]["input_tokens"] == 120 and traces["ev-1"]["served"] is False
    chosen, _ = load([DATA / "braintrust" / "experiment.jsonl"], mapping={"score": "score:ExactMatch"})
    assert sorted(r["score"] for r in chosen["evals"] if r["score"] is not None) == [0.0, 1.0]


# --- Judge files -------------------------------------------------------------------------------------


def test_mtbench_both_orders() -> None:
    tables, report = load([DATA / "mtbench" / "gpt-4_pair.jsonl"])
    assert report.files[0].format == "mtbench"
    rows = {(r["request_id"], r["order"]): r for r in tables["judgements"]}
    assert len(rows) == 6
    # model_2 (gpt-3.5-turbo) is the baseline by default; g1 shows model_1 (the candidate) first.
    assert rows[("81", "candidate_first")]["winner"] == "candidate"
    assert rows[("81", "baseline_first")]["winner"] == "candidate"
    assert rows[("81:turn2", "baseline_first")]["winner"] == "baseline"
    assert rows[("82", "candidate_first")]["winner"] == "tie"
    assert rows[("82", "baseline_first")]["winner"] == "error"
    assert rows[("82", "baseline_first")]["preference"] is None
    assert rows[("81", "candidate_first")]["judge"] == "gpt-4"  # the judge model; pair-v2 is its prompt
    named, _ = load([DATA / "mtbench" / "gpt-4_pair.jsonl"], baseline_name="vicuna-13b",
                    candidate_name="gpt-3.5-turbo")
    flipped = {(r["request_id"], r["order"]): r for r in named["judgements"]}
    assert flipped[("81", "baseline_first")]["winner"] == "baseline"


def test_alpacaeval_preferences() -> None:
    tables, report = load([DATA / "alpacaeval" / "annotations.json"])
    assert report.files[0].format == "alpacaeval"
    prefs = sorted((r["preference"], r["winner"]) for r in tables["judgements"] if r["preference"] is not None)
    assert [p for p, _ in prefs] == pytest.approx([-1.0, 0.0, 0.6, 1.0])
    assert [w for _, w in prefs] == ["baseline", "tie", "candidate", "candidate"]
    assert sum(1 for r in tables["judgements"] if r["winner"] == "error") == 1


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("otel/export.jsonl", "otel"),
        ("langsmith/runs.jsonl", "langsmith"),
        ("braintrust/experiment.jsonl", "braintrust"),
        ("mtbench/gpt-4_pair.jsonl", "mtbench"),
        ("alpacaeval/annotations.json", "alpacaeval"),
        ("langfuse/export_v2", "langfuse"),
    ],
)
def test_every_format_loads_by_name_and_by_detection(path: str, fmt: str) -> None:
    detected = invoke(["inspect", str(DATA / path), "--json"], expect=0).json()
    forced = invoke(["inspect", "--format", fmt, str(DATA / path), "--json"], expect=0).json()
    assert detected["files"][0]["format"] == forced["files"][0]["format"] == fmt
    assert detected == forced


def test_ingest_reads_platform_exports(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    invoke(["ingest", str(DATA / "otel" / "export.jsonl"), "--db", str(db), "--variant-from", "service.version"],
           expect=0)
    data = invoke(["inspect", str(db), "--json"], expect=0).json()
    assert {v["variant"] for v in data["traces"]["variants"]} == {"v41", "v42"}


def test_otel_skip_bad_lines_counts_them(tmp_path: Path) -> None:
    lines = (DATA / "otel" / "export.jsonl").read_text().splitlines()
    path = tmp_path / "spans.jsonl"
    path.write_text(lines[0] + "\n" + lines[1][:100] + "\n" + lines[1] + "\n")
    data = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert data["skipped_lines"] == 1
    assert data["traces"]["rows"] == 3


def test_plain_traces_folder_is_not_taken_for_langfuse(tmp_path: Path) -> None:
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "a.jsonl").write_text(json.dumps({"request_id": "r1", "variant": "control"}) + "\n")
    data = invoke(["inspect", str(tmp_path), "--json"], expect=0).json()
    assert data["files"][0]["format"] == "jsonl"


def test_langfuse_api_dump_in_folders_joins_traces_and_scores() -> None:
    tables, report = load([DATA / "langfuse" / "api_dump"])
    (row,) = tables["traces"]
    assert row["request_id"] == "gen-api-1"
    assert row["user_id"] == "u_9" and row["session_id"] == "s_9"
    assert row["variant"] == "v42"  # the observation's release; the trace's (v43) is the fallback
    assert row["thumbs"] == 1  # camelCase score joined on traceId
    assert json.loads(row["metadata"]) == {"intent": "refund"}  # trace metadata merged in
    assert report.files[0].format == "langfuse"
    tagged, _ = load([DATA / "langfuse" / "api_dump"], variant_from="tag:variant:")
    assert tagged["traces"][0]["variant"] == "treatment"  # observations have no tags: the trace's

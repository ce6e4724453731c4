"""Exports written by the tools' own releases (tests/data/genuine/, each directory's PROVENANCE.json names the
version and the script under scripts/fixtures/ that wrote it), read as a new user would: no --format, no --map.

Every expectation is counted here from the file itself with plain json, never copied from rollctl's output.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, invoke

GENUINE = REPO_ROOT / "tests" / "data" / "genuine"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _eval_variants(path: Path) -> dict[str, dict[str, Any]]:
    out = invoke(["inspect", str(path), "--json"], expect=0).json()
    return {v["variant"]: v for v in out["evals"]["variants"]}


# promptfoo --------------------------------------------------------------------------------------------------


def _promptfoo_results(name: str) -> list[dict[str, Any]]:
    path = GENUINE / "promptfoo" / name
    if name.endswith(".jsonl"):
        return _jsonl(path)
    return list(json.loads(path.read_text(encoding="utf-8"))["results"]["results"])


def _promptfoo_expected(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm (provider × prompt): rows, distinct tests, passes and provider errors, counted from the file."""
    arms: dict[str, dict[str, Any]] = defaultdict(lambda: {"rows": 0, "tests": set(), "passed": 0, "errors": 0})
    for r in results:
        provider = r["provider"]["label"] or r["provider"]["id"]
        arm = arms[f"{provider} / {r['prompt']['label']}"]
        arm["rows"] += 1
        arm["tests"].add(json.dumps(r["testCase"]["vars"], sort_keys=True))
        arm["passed"] += bool(r["success"])
        arm["errors"] += r["failureReason"] == 2
    return arms


@pytest.mark.parametrize("name", ["results.json", "results.jsonl"])
def test_promptfoo_unlabelled_providers_are_arms_of_their_own(name: str) -> None:
    results = _promptfoo_results(name)
    assert {r["provider"]["label"] for r in results} == {""}, "the fixture must keep promptfoo's default label"
    expected = _promptfoo_expected(results)
    got = _eval_variants(GENUINE / "promptfoo" / name)
    assert set(got) == set(expected)
    repeats = Counter(json.dumps(r["testCase"]["vars"], sort_keys=True) for r in results)
    for arm, want in expected.items():
        assert got[arm]["rows"] == want["rows"]
        assert got[arm]["cases"] == len(want["tests"])
        assert got[arm]["repeats"] == max(repeats.values()) // len(expected)
        assert got[arm]["passed_rows"] == want["passed"]
        assert got[arm]["error_rows"] == want["errors"]


def test_promptfoo_jsonl_is_read_as_eval_results_and_gated() -> None:
    path = GENUINE / "promptfoo" / "results.jsonl"
    out = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert out["traces"] is None and out["files"][0]["format"] == "promptfoo_jsonl"
    gate = invoke(["eval-gate", str(path), "--baseline", "echo / short", "--candidate",
                   "file://provider.js / short", "--json"]).json()
    expected = _promptfoo_expected(_promptfoo_results("results.jsonl"))
    assert gate["baseline"]["cases"] == len(expected["echo / short"]["tests"])
    assert gate["candidate"]["cases"] == len(expected["file://provider.js / short"]["tests"])


# inspect-ai -------------------------------------------------------------------------------------------------


def _inspect_samples(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The log's model and its samples: a .json log read with json; an .eval log (zstd members) as inspect-ai's
    own reader read it when the fixture was written (PROVENANCE.json)."""
    if path.suffix == ".eval":
        provenance = json.loads((path.parent / "PROVENANCE.json").read_text(encoding="utf-8"))
        back = provenance["read_back_by_inspect_ai"][path.name]
        return back["model"], [{"id": s["id"], "epoch": s["epoch"], "error": s["error"] or None,
                                "scores": {"first": {"value": s["score"]}} if s["score"] else {}}
                               for s in back["samples"]]
    log = json.loads(path.read_text(encoding="utf-8"))
    return log["eval"]["model"], log["samples"]


def test_inspect_logs_in_both_formats_count_cases_epochs_outcomes_and_errors() -> None:
    paths = [GENUINE / "inspect_ai" / "baseline.eval", GENUINE / "inspect_ai" / "candidate.json"]
    got = invoke(["inspect", *map(str, paths), "--json"], expect=0).json()["evals"]
    variants = {v["variant"]: v for v in got["variants"]}
    for path in paths:
        model, samples = _inspect_samples(path)
        arm = variants[model]
        assert arm["rows"] == len(samples)
        assert arm["cases"] == len({s["id"] for s in samples})
        assert arm["repeats"] == max(s["epoch"] for s in samples)
        scored = [next(iter(s["scores"].values()))["value"] for s in samples if s["scores"]]
        assert arm["passed_rows"] == scored.count("C")
        assert arm["error_rows"] == sum(1 for s in samples if s.get("error"))
    gate = invoke(["eval-gate", *map(str, paths), "--json"]).json()
    assert gate["candidate"]["errors"] == 1


# OpenTelemetry GenAI instrumentations ---------------------------------------------------------------------------


def _otel_spans(path: Path) -> list[dict[str, Any]]:
    return [span for request in _jsonl(path) for rs in request["resourceSpans"] for ss in rs["scopeSpans"]
            for span in ss["spans"]]


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def _otel_calls(path: Path) -> list[dict[str, Any]]:
    """The spans that are model calls: every span naming a requested model (each instrumentation sets it)."""
    return [s for s in _otel_spans(path) if "gen_ai.request.model" in _attrs(s)]


def _ingest(tmp_path: Path, *paths: Path) -> Any:
    db = tmp_path / "traces.duckdb"
    invoke(["ingest", *map(str, paths), "--db", str(db)], expect=0)
    import duckdb

    return duckdb.connect(str(db), read_only=True)


OTEL_QUESTIONS = ["What is the capital of France?", "And of Italy?", "Say it again.", "Stream the answer."]
"""What scripts/fixtures/make_otel_exports.py asks in every run; the answered calls' inputs hold one each."""
OTEL_FILES = ["openai_v2.jsonl", "openllmetry_0_33.jsonl", "openllmetry.jsonl", "openlit.jsonl", "openlit_1_33.jsonl"]


@pytest.mark.parametrize("name", OTEL_FILES)
def test_otel_every_instrumentation_gives_one_row_per_model_call_with_its_text_and_errors(
        name: str, tmp_path: Path) -> None:
    path = GENUINE / "otel" / name
    calls = _otel_calls(path)
    failed = [s for s in calls if s.get("status", {}).get("code") == 2]
    con = _ingest(tmp_path, path)
    rows = con.sql("SELECT input, output, error, user_id, session_id, model FROM traces").fetchall()
    assert len(rows) == len(calls)
    answered = [r for r in rows if r[2] is None]
    assert len(answered) == len(calls) - len(failed)
    # The answer's text, not a JSON message list, and the question's text somewhere in the input.
    assert {r[1] for r in answered} == {"Paris is the capital of France."}
    assert sorted(next(q for q in OTEL_QUESTIONS if q in r[0]) for r in answered) == sorted(OTEL_QUESTIONS)
    # A failed call is a call with its error class, never "not an LLM call", never a model it did not get.
    assert sorted(r[2] for r in rows if r[2] is not None) == sorted(
        "rate_limit" if "RATE" in json.dumps(_attrs(s)) or "429" in json.dumps(s) else "timeout" for s in failed)
    assert all(r[5] is None or "2024-07-18" in r[5] for r in rows)
    # user.id and session.id sit on the application's request span, the calls' parent.
    assert {(r[3], r[4]) for r in rows} == {("user-17", "session-4")}


@pytest.mark.parametrize("name", OTEL_FILES)
def test_otel_inspect_raises_no_false_warnings(name: str) -> None:
    out = invoke(["inspect", str(GENUINE / "otel" / name), "--json"], expect=0).json()
    codes = {w["code"] for w in out["warnings"]}
    assert "MULTIPLE_MODELS_IN_VARIANT" not in codes and "FIELD_ABSENT" not in codes


# Langfuse --------------------------------------------------------------------------------------------------------


def _langfuse_page(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["data"])


def test_langfuse_observation_page_is_recognised_and_empty_strings_are_no_value(tmp_path: Path) -> None:
    path = GENUINE / "langfuse" / "observations_v2_page.json"
    generations = [o for o in _langfuse_page(path) if o["type"] == "GENERATION"]
    out = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert out["files"][0]["format"] == "langfuse"
    assert out["traces"]["rows"] == len(generations)
    con = _ingest(tmp_path, path)
    rows = {r[0]: r[1:] for r in con.sql("SELECT request_id, user_id, session_id, variant, error FROM traces")
            .fetchall()}
    for o in generations:
        user, session, variant, error = rows[o["id"]]
        assert user == (o["userId"] or None) and session == (o["sessionId"] or None)
        assert variant == (o["release"] or None)
        assert (error is not None) == (o["level"] == "ERROR")
    assert "" not in {r[0] for r in con.sql("SELECT user_id FROM traces").fetchall()}


def test_langfuse_v3_scores_attach_through_their_subject(tmp_path: Path) -> None:
    pages = GENUINE / "langfuse" / "api_pages"
    scores = _langfuse_page(pages / "scores" / "page-1.json")
    assert all("traceId" not in s for s in scores), "v3 scores name their trace only through subject"
    observations = _langfuse_page(pages / "observations" / "page-1.json")
    con = _ingest(tmp_path, pages)
    got = dict(con.sql("SELECT request_id, thumbs FROM traces WHERE thumbs IS NOT NULL").fetchall())
    # Thumbs (user_feedback) attach to the last generation of the trace they score.
    expected = {}
    for score in scores:
        if score["name"] != "user_feedback":
            continue
        trace = score["subject"]["id"]
        last = max((o for o in observations if o["traceId"] == trace and o["type"] == "GENERATION"),
                   key=lambda o: o["startTime"])
        expected[last["id"]] = 1 if score["value"] >= 0.5 else -1
    assert got == expected


# LangSmith ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["runs_page.json", "runs.jsonl", "llm_runs.jsonl"])
def test_langsmith_runs_one_row_per_call_with_model_and_tokens_of_the_llm_run(name: str, tmp_path: Path) -> None:
    every = _jsonl(GENUINE / "langsmith" / "runs.jsonl")
    llm_runs = [r for r in every if r["run_type"] == "llm"]
    con = _ingest(tmp_path, GENUINE / "langsmith" / name)
    rows = con.sql("SELECT variant, model, input_tokens, output_tokens, cached_tokens, error FROM traces").fetchall()
    assert len(rows) == len(llm_runs)  # one call per trace: its root, or its llm run when the file has no root
    for llm in llm_runs:
        variant = llm["extra"]["metadata"]["variant"]
        usage = (llm["outputs"] or {}).get("usage_metadata")
        model = (llm["outputs"] or {}).get("model")
        want = (variant, model, usage and usage["input_tokens"], usage and usage["output_tokens"],
                usage and usage["input_token_details"]["cache_read"], "rate_limit" if llm["error"] else None)
        assert want in rows


# Braintrust -----------------------------------------------------------------------------------------------------


def _braintrust_roots(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per root span: its row, the scores of its child score spans, and its llm spans' token metrics."""
    roots = {r["root_span_id"]: {"row": r, "scores": [], "prompt_tokens": 0, "llm": 0}
             for r in rows if not r.get("span_parents")}
    for r in rows:
        if not r.get("span_parents"):
            continue
        root = roots[r["root_span_id"]]
        root["scores"] += [v for v in (r.get("scores") or {}).values() if v is not None]
        if r["span_attributes"]["type"] == "llm" and "prompt_tokens" in r.get("metrics", {}):
            root["prompt_tokens"] += r["metrics"]["prompt_tokens"]
            root["llm"] += 1
    return roots


@pytest.mark.parametrize("name", ["baseline.jsonl", "candidate_fetch_page.json"])
def test_braintrust_sdk_experiment_takes_scores_and_tokens_from_child_spans(name: str, tmp_path: Path) -> None:
    path = GENUINE / "braintrust" / name
    rows = (json.loads(path.read_text(encoding="utf-8"))["events"] if path.suffix == ".json" else _jsonl(path))
    roots = _braintrust_roots(rows)
    assert all("scores" not in r["row"] for r in roots.values()), "the SDK's root spans carry no scores"
    evals = invoke(["inspect", str(path), "--json"], expect=0).json()["evals"]["variants"]
    assert len(evals) == 1
    arm = evals[0]
    assert arm["rows"] == len(roots)
    assert arm["passed_rows"] == sum(1 for r in roots.values() if r["scores"] and
                                     sum(r["scores"]) / len(r["scores"]) >= 0.5)
    assert arm["error_rows"] == sum(1 for r in roots.values() if r["row"].get("error"))
    con = _ingest(tmp_path, path)
    tokens = sorted(int(t) for (t,) in con.sql("SELECT input_tokens FROM traces WHERE input_tokens IS NOT NULL")
                    .fetchall())
    assert tokens == sorted(r["prompt_tokens"] for r in roots.values() if r["llm"])


def test_braintrust_sdk_experiments_gate_without_map() -> None:
    out = invoke(["eval-gate", str(GENUINE / "braintrust" / "baseline.jsonl"),
                  str(GENUINE / "braintrust" / "candidate.jsonl"), "--json"]).json()
    assert out["exit_code"] in (0, 1, 3) and out["baseline"]["cases"] == 3 and out["candidate"]["cases"] == 3


# Judge files into shadow-report -------------------------------------------------------------------------------


def _shadow_traces(path: Path, request_ids: list[str]) -> Path:
    """Both arms of each request (traces the test writes; the judge files are the genuine part)."""
    rows = []
    for n, rid in enumerate(request_ids):
        rows.append({"request_id": rid, "variant": "control", "served": True, "timestamp": "2026-11-30T09:00:00Z",
                     "user_id": f"u{n}", "output": "short answer", "latency_ms": 900 + n})
        rows.append({"request_id": rid, "variant": "treatment", "served": False, "timestamp": "2026-11-30T09:00:00Z",
                     "user_id": f"u{n}", "output": "a longer answer here", "latency_ms": 950 + n})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_mtbench_one_judge_model_with_every_prompt_template_and_turn(tmp_path: Path) -> None:
    judgments = _jsonl(GENUINE / "judges" / "gpt-4_pair.jsonl")
    templates = {j["judge"][1] for j in judgments}
    assert len(templates) > 1 and {j["judge"][0] for j in judgments} == {"gpt-4"}
    requests = sorted({str(j["question_id"]) if j["turn"] == 1 else f"{j['question_id']}:turn{j['turn']}"
                       for j in judgments})
    traces = _shadow_traces(tmp_path / "pairs.jsonl", requests)
    out = invoke(["shadow-report", str(traces), "--baseline", "control", "--candidate", "treatment",
                  "--judgements", str(GENUINE / "judges" / "gpt-4_pair.jsonl"), "--json"]).json()
    assert out["judge"]["judge"] == "gpt-4" and out["other_judges"] == []
    assert out["judge"]["units"] == len(requests) and out["unmatched_judgements"] == 0
    assert out["judge"]["both_orders"] == len(requests)


def test_alpacaeval_annotations_pair_through_the_request_id_alpaca_eval_keeps(tmp_path: Path) -> None:
    annotations = json.loads((GENUINE / "judges" / "annotations.json").read_text(encoding="utf-8"))
    requests = [a["request_id"] for a in annotations]
    traces = _shadow_traces(tmp_path / "pairs.jsonl", requests)
    out = invoke(["shadow-report", str(traces), "--baseline", "control", "--candidate", "treatment",
                  "--judgements", str(GENUINE / "judges" / "annotations.json"), "--json"]).json()
    assert out["judge"]["units"] == len(annotations) and out["unmatched_judgements"] == 0
    prefs = [2 * (a["preference"] - 1.5) for a in annotations]
    assert out["judge"]["wins"] == sum(p > 0 for p in prefs) and out["judge"]["losses"] == sum(p < 0 for p in prefs)


def test_unmatched_judge_verdicts_are_counted_in_the_report(tmp_path: Path) -> None:
    traces = _shadow_traces(tmp_path / "pairs.jsonl", ["other-1", "other-2"])
    args = ["shadow-report", str(traces), "--baseline", "control", "--candidate", "treatment",
            "--judgements", str(GENUINE / "judges" / "annotations.json")]
    annotations = json.loads((GENUINE / "judges" / "annotations.json").read_text(encoding="utf-8"))
    out = invoke([*args, "--json"]).json()
    assert out["unmatched_judgements"] == len(annotations)
    assert "JUDGEMENTS_UNMATCHED" in {r["code"] for r in out["reasons"]}
    text = invoke(args).stdout
    assert f"{len(annotations)} judge verdict(s) match no shadow pair" in text


# Shapes refused by name ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "named"), [
    (GENUINE / "judges" / "gpt-4_single.jsonl", "MT-Bench single-answer grading"),
    (GENUINE / "langfuse" / "api_pages" / "scores" / "page-1.json", "a page of Langfuse scores without the"),
    (GENUINE / "langsmith" / "tool_runs.jsonl", "LangSmith runs are all child runs"),
])
def test_a_shape_rollctl_cannot_read_gets_a_one_line_refusal_naming_it(path: Path, named: str) -> None:
    out = invoke(["inspect", str(path)], expect=2)
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1
    assert named in out.stderr

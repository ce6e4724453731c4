"""Write the small promptfoo and inspect_ai fixtures under tests/data/ (run once; the files are committed).

They follow the documented schemas (research notes §1.2 and §2.3): promptfoo `results.json` v3 with
`results.results[]`, and inspect_ai `EvalLog` as `.json` and as an `.eval` zip (`header.json` +
`samples/{id}_epoch_{epoch}.json`). The planted situation is the same in both: 8 cases × 2 repeats;
the candidate loses case 1 (fails both repeats), fixes case 5, and errors once on case 7.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
BASE_FAILS = {5, 6}
CAND_FAILS = {1, 6}


def _promptfoo_result(case: int, rep: int, provider: dict[str, str], prompt: str, passed: bool,
                      error: bool = False) -> dict[str, Any]:
    test: dict[str, Any] = {"vars": {"question": f"question {case}"}, "assert": [{"type": "contains"}]}
    if case % 2 == 0:
        test["metadata"] = {"id": f"case-{case}", "tags": ["high_stakes"] if case == 0 else ["faq"]}
    else:
        test["description"] = f"case-{case}"
    return {
        "id": f"r-{case}-{rep}-{provider['label']}", "promptIdx": 0, "testIdx": case, "testCase": test,
        "promptId": prompt, "provider": provider, "prompt": {"raw": "Answer: {{question}}", "label": prompt},
        "vars": test["vars"], "response": {"output": "…"},
        "error": "Request timed out" if error else None,
        "failureReason": 2 if error else (0 if passed else 1),
        "success": passed and not error, "score": 1.0 if passed and not error else 0.0, "latencyMs": 812,
        "gradingResult": None if error else {"pass": passed, "score": 1.0 if passed else 0.0, "reason": "ok"},
        "namedScores": {}, "cost": 0.0012,
    }


def _promptfoo_file(results: list[dict[str, Any]]) -> dict[str, Any]:
    succ = sum(r["success"] for r in results)
    errs = sum(r["failureReason"] == 2 for r in results)
    return {
        "evalId": "eval-2026-11-20T10:00:00", "config": {"description": "support bot regression set"},
        "shareableUrl": None, "metadata": {"promptfooVersion": "0.120.0"},
        "results": {
            "version": 3, "timestamp": "2026-11-20T10:00:00.000Z", "results": results, "prompts": [],
            "stats": {"successes": succ, "failures": len(results) - succ - errs, "errors": errs,
                      "tokenUsage": {"prompt": 0, "completion": 0, "cached": 0, "total": 0, "numRequests": 0}},
        },
    }


def make_promptfoo() -> None:
    base_p = {"id": "anthropic:messages:claude-sonnet-4-5-20250929", "label": "sonnet-4-5"}
    cand_p = {"id": "anthropic:messages:claude-sonnet-4-6-20260301", "label": "sonnet-4-6"}
    base = [_promptfoo_result(c, r, base_p, "p1", c not in BASE_FAILS) for c in range(8) for r in range(2)]
    cand = [_promptfoo_result(c, r, cand_p, "p1", c not in CAND_FAILS, error=(c == 7 and r == 1))
            for c in range(8) for r in range(2)]
    for name, rows in (("promptfoo_baseline.json", base), ("promptfoo_candidate.json", cand),
                       ("promptfoo_both.json", base + cand)):
        (DATA / name).write_text(json.dumps(_promptfoo_file(rows), indent=1) + "\n", encoding="utf-8")


def _inspect_sample(case: int, epoch: int, grade: str, error: bool = False) -> dict[str, Any]:
    return {
        "id": case, "epoch": epoch, "input": f"question {case}", "target": "A", "messages": [],
        "output": {"model": "m", "choices": [], "usage": {"input_tokens": 10, "output_tokens": 5}},
        "scores": {"match": {"value": grade, "answer": "A", "explanation": "exact match"}},
        "metadata": {"cluster": f"doc-{case // 2}"}, "store": {}, "events": [],
        "error": {"message": "timeout", "traceback": ""} if error else None,
    }


def _inspect_header(model: str) -> dict[str, Any]:
    return {
        "version": 2, "status": "success",
        "eval": {"eval_id": "e1", "run_id": "r1", "created": "2026-11-20T10:00:00+00:00", "task": "support_qa",
                 "task_id": "t1", "task_version": 0, "dataset": {"name": "support", "samples": 8},
                 "model": model, "config": {"epochs": 2}},
        "plan": {"name": "plan", "steps": []},
        "results": {"total_samples": 8, "completed_samples": 8, "scores": []},
        "stats": {"started_at": "2026-11-20T10:00:00+00:00", "completed_at": "2026-11-20T10:05:00+00:00"},
    }


def make_inspect() -> None:
    base = [_inspect_sample(c, e, "I" if c in BASE_FAILS else "C") for c in range(8) for e in (1, 2)]
    log = {**_inspect_header("anthropic/claude-sonnet-4-5-20250929"), "samples": base}
    (DATA / "inspect_baseline.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    cand = [_inspect_sample(c, e, "I" if c in CAND_FAILS else "C", error=(c == 7 and e == 2))
            for c in range(8) for e in (1, 2)]
    with zipfile.ZipFile(DATA / "inspect_candidate.eval", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_journal/start.json", json.dumps({"version": 2}))
        zf.writestr("header.json", json.dumps(_inspect_header("anthropic/claude-sonnet-4-6-20260301")))
        for s in cand:
            zf.writestr(f"samples/{s['id']}_epoch_{s['epoch']}.json", json.dumps(s))
        zf.writestr("summaries.json", json.dumps([]))
        zf.writestr("reductions.json", json.dumps([]))


if __name__ == "__main__":
    DATA.mkdir(parents=True, exist_ok=True)
    make_promptfoo()
    make_inspect()

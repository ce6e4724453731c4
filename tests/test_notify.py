"""`--emit slack|github`: what a pipeline pipes to a channel or a CI log, from the same verdict as --json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollctl.render.notify import notification
from tests.conftest import SAMPLE_TRACES, invoke

COMMANDS = {
    "decide": (["decide", str(SAMPLE_TRACES / "canary" / "traces.jsonl.gz"), "--plan",
                str(SAMPLE_TRACES / "rollout.toml")], 1),
    "eval-gate": (["eval-gate", str(SAMPLE_TRACES / "evals" / "baseline.jsonl"),
                   str(SAMPLE_TRACES / "evals" / "candidate_improved.jsonl")], 0),
    "shadow-report": (["shadow-report", str(SAMPLE_TRACES / "shadow" / "pairs.jsonl.gz")], 1),
}
HOSTILE = "<script>alert(1)</script> [/] [bold]x\x1b[31mred\x1b[0m\n::stop-commands::pwned\r\n%0A, : *bold* <!channel>"


def plain_texts(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found += [block["text"]] if "text" in block else []
        found += block.get("elements", [])
    return found


@pytest.mark.parametrize("command", list(COMMANDS))
def test_slack_message_says_what_json_says_and_keeps_the_exit_code(command: str) -> None:
    args, code = COMMANDS[command]
    body = invoke([*args, "--json"], expect=code).json()
    out = invoke([*args, "--emit", "slack"], expect=code)
    message = json.loads(out.stdout)
    header = message["blocks"][0]["text"]["text"]
    assert f"rollctl {command}: {body['verdict'].upper()}" in header and len(header) <= 150
    assert header.startswith({0: "🟢", 1: "🔴", 3: "🟡"}[code])
    texts = [t["text"] for t in plain_texts(message["blocks"])]
    for reason in body["reasons"]:
        assert f"{reason['code']}: {reason['message']}" in texts
    assert f"Exit code: {code}" in texts[1]
    assert len(message["blocks"]) <= 50 and all(len(t) <= 3000 for t in texts)
    # Nothing Slack would read as markup or a link: every text object is plain_text.
    assert {t["type"] for t in plain_texts(message["blocks"])} == {"plain_text"}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_github_annotations_one_per_reason_at_the_verdicts_level(command: str) -> None:
    args, code = COMMANDS[command]
    body = invoke([*args, "--json"], expect=code).json()
    lines = invoke([*args, "--emit", "github"], expect=code).stdout.splitlines()
    level = {0: "notice", 1: "error", 3: "warning"}[code]
    assert len(lines) == len(body["reasons"]) + 1
    assert all(line.startswith(f"::{level} title=rollctl {command}%3A ") for line in lines[:-1])
    assert lines[-1].startswith("::notice ") and lines[-1].endswith(f"Exit code: {code}")


def test_hostile_text_cannot_start_a_workflow_command_or_reach_slack_as_markup() -> None:
    body = {"verdict": "rollback", "exit_code": 1, "next_step": HOSTILE, "plan": {"name": HOSTILE},
            "reasons": [{"code": "GUARDRAIL_BREACHED", "message": HOSTILE}] * 60}
    github = notification("github", "decide", body)
    lines = github.splitlines()
    assert len(lines) == 21  # 20 reasons at most, then the notice: no injected line
    assert all(line.startswith(("::error title=", "::notice title=")) for line in lines)
    assert "\x1b" not in github and "\r" not in github and "%250A" in github
    slack = json.loads(notification("slack", "decide", body))
    text = json.dumps(slack, ensure_ascii=False)
    assert "\x1b" not in text and "\\u001b" not in text
    assert len(slack["blocks"]) <= 50 and len(slack["blocks"][0]["text"]["text"]) <= 150
    assert slack["blocks"][-1]["elements"][0]["text"] == "and 40 more reasons: see --json"
    assert {t["type"] for t in plain_texts(slack["blocks"])} == {"plain_text"}


def test_json_and_emit_together_is_a_usage_error() -> None:
    args, _ = COMMANDS["decide"]
    result = invoke([*args, "--json", "--emit", "slack"], expect=2)
    assert result.json()["error"]["field"] == "--emit"

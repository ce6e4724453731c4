"""`--emit slack|github`: the verdict as a chat message or as CI annotations, printed, never sent.

rollctl never reaches the network; a pipeline pipes what this prints to the place that wants it (a Slack
incoming webhook with `curl --data @-`, or a GitHub Actions log, where `::error::` lines become annotations).
Both are built from the command's `--json` object, the stable contract, so they say what `--json` says.

Every string that came from the traces (reason messages quote metric names, error classes, segment values) is
untrusted: Slack gets it only in `plain_text` objects, which Slack never interprets as markup or links, with
control characters removed; GitHub gets it with the workflow-command escapes, so no line break can start a
second command. Slack's size limits are kept (a header of 150 characters, a text of 3,000, 50 blocks).
"""

from __future__ import annotations

import json
import re
from typing import Any

VERDICT_MARK = {"go": "🟢", "pass": "🟢", "hold": "🟡", "inconclusive": "🟡", "rollback": "🔴", "fail": "🔴",
                "no-go": "🔴"}
"""Emoji per verdict: the colour reads at a glance in a channel."""

GITHUB_LEVEL = {"go": "notice", "pass": "notice", "hold": "warning", "inconclusive": "warning",
                "rollback": "error", "fail": "error", "no-go": "error"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_REASONS = 20
SLACK_TEXT_LIMIT = 3000
SLACK_HEADER_LIMIT = 150


def _clean(text: Any, limit: int) -> str:
    """Untrusted text without control characters (terminal escapes included), cut to `limit` characters."""
    value = _CONTROL.sub("", str(text))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def headline(command: str, body: dict[str, Any]) -> str:
    """`rollctl decide: ROLLBACK (plan "...", stage 5 %)`: what the message is about, in one line."""
    verdict = str(body.get("verdict") or "error").upper()
    context = []
    plan = body.get("plan")
    if isinstance(plan, dict) and plan.get("name"):
        context.append(f"plan {plan['name']}")
    if isinstance(body.get("stage"), int | float):
        context.append(f"stage {body['stage']:g} %")
    if isinstance(body.get("baseline"), str) and isinstance(body.get("candidate"), str):
        context.append(f"{body['baseline']} → {body['candidate']}")
    return f"rollctl {command}: {verdict}" + (f" ({', '.join(context)})" if context else "")


def _facts(body: dict[str, Any]) -> list[str]:
    """The figures a reader acts on, when the command has them."""
    facts = []
    if body.get("next_step"):
        facts.append(f"Next step: {body['next_step']}")
    if isinstance(body.get("mde"), int | float):
        facts.append(f"Smallest detectable difference (MDE): {100 * body['mde']:.1f} points")
    if isinstance(body.get("pairs"), int):
        facts.append(f"Pairs: {body['pairs']:,}")
    if isinstance(body.get("n_cases"), int):
        facts.append(f"Cases: {body['n_cases']:,}")
    facts.append(f"Exit code: {body.get('exit_code')}")
    return facts


def slack_message(command: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Slack message (Block Kit) for an incoming webhook or chat.postMessage."""
    verdict = str(body.get("verdict") or "error")
    title = _clean(f"{VERDICT_MARK.get(verdict, '⚪')} {headline(command, body)}", SLACK_HEADER_LIMIT)
    reasons = [r for r in body.get("reasons", []) if isinstance(r, dict)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        {"type": "section", "text": {"type": "plain_text", "text": _clean("\n".join(_facts(body)), SLACK_TEXT_LIMIT),
                                     "emoji": False}},
    ]
    for reason in reasons[:MAX_REASONS]:
        text = f"{reason.get('code', '')}: {reason.get('message', '')}"
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": _clean(text, SLACK_TEXT_LIMIT),
                                                   "emoji": False}})
    if len(reasons) > MAX_REASONS:
        blocks.append({"type": "context", "elements": [
            {"type": "plain_text", "text": f"and {len(reasons) - MAX_REASONS} more reasons: see --json"}]})
    return {"text": _clean(headline(command, body), SLACK_TEXT_LIMIT), "blocks": blocks}


def _escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped, so the text stays one command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(command: str, body: dict[str, Any]) -> str:
    """GitHub Actions workflow commands: one annotation per reason at the verdict's level (error for a
    rollback or a failed gate, warning for hold or inconclusive, notice for go or pass), then a notice with
    the next step and figures."""
    verdict = str(body.get("verdict") or "error")
    level = GITHUB_LEVEL.get(verdict, "error")
    title = _escape_property(_clean(headline(command, body), 200))
    lines = []
    for reason in [r for r in body.get("reasons", []) if isinstance(r, dict)][:MAX_REASONS]:
        message = _clean(f"{reason.get('code', '')}: {reason.get('message', '')}", SLACK_TEXT_LIMIT)
        lines.append(f"::{level} title={title}::{_escape_data(message)}")
    lines.append(f"::notice title={title}::{_escape_data(_clean('; '.join(_facts(body)), SLACK_TEXT_LIMIT))}")
    return "\n".join(lines) + "\n"


def notification(kind: str, command: str, body: dict[str, Any]) -> str:
    """What `--emit KIND` prints for a command's `--json` object."""
    if kind == "slack":
        return json.dumps(slack_message(command, body), ensure_ascii=False, indent=2) + "\n"
    return github_annotations(command, body)

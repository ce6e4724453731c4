"""The driver behind this repository's GitHub Action (`action.yml`): gate, summarise, comment once.

Run by the action as `python -m rollctl.integrations.github_action`, with the action's inputs in `INPUT_*` and
GitHub's own variables (`GITHUB_API_URL`, `GITHUB_REPOSITORY`, `GITHUB_EVENT_PATH`, `GITHUB_STEP_SUMMARY`,
`GITHUB_OUTPUT`, `GITHUB_TOKEN`). It:

1. runs `rollctl eval-gate` on the result files with `--json`, `--junit` and `--markdown`, in a subprocess,
   exactly as a user would on the command line;
2. appends the Markdown summary to the job summary;
3. on a pull request, creates or updates one comment, found by a hidden marker, with the summary, and a
   note when the baseline results are older than the pull request's base commit (the gate would then compare
   against a main that has moved on);
4. exits with eval-gate's exit code (after `--inconclusive`), so the step fails exactly when the gate does.

This is glue that talks to GitHub's REST API; the rollctl commands themselves never reach the network. Only
the standard library is used, so the action installs nothing beyond rollctl.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollctl.render.markdown import markdown_text

MARKER = "<!-- rollctl:{id} -->"
COMMENT_LIMIT = 65_000
"""GitHub refuses comment bodies over 65,536 characters; the summary is cut below that with a pointer."""


class ActionError(Exception):
    """What the action cannot do (a missing input, GitHub refusing a call): one line in the log, exit 2."""


@dataclass(frozen=True)
class Inputs:
    baseline: str
    candidate: str
    results: str
    args: list[str]
    inconclusive: str
    comment: bool
    comment_id: str
    junit: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Inputs:
        def get(name: str, default: str = "") -> str:
            return env.get(f"INPUT_{name}", default).strip()

        comment = get("COMMENT", "true").lower()
        if comment not in ("true", "false"):
            raise ActionError(f"input comment must be true or false, not {comment!r}")
        inconclusive = get("INCONCLUSIVE", "exit3")
        if inconclusive not in ("exit3", "pass", "fail"):
            raise ActionError(f"input inconclusive must be exit3, pass or fail, not {inconclusive!r}")
        return cls(baseline=get("BASELINE"), candidate=get("CANDIDATE"), results=get("RESULTS"),
                   args=shlex.split(get("ARGS")), inconclusive=inconclusive, comment=comment == "true",
                   comment_id=get("COMMENT_ID", "eval-gate") or "eval-gate", junit=get("JUNIT", "rollctl-junit.xml"))

    def paths(self) -> list[str]:
        if self.results:
            return [self.results]
        if self.baseline and self.candidate:
            return [self.baseline, self.candidate]
        raise ActionError("give the inputs baseline and candidate, or results")


@dataclass(frozen=True)
class Gate:
    exit_code: int
    body: dict[str, Any]
    markdown: str


def run_gate(inputs: Inputs, workdir: Path) -> Gate:
    """`rollctl eval-gate` as a subprocess: its exit code is the step's, its Markdown the comment's."""
    markdown = workdir / "rollctl-summary.md"
    command = [sys.executable, "-m", "rollctl", "eval-gate", *inputs.paths(), "--json", "--junit", inputs.junit,
               "--markdown", str(markdown), "--inconclusive", inputs.inconclusive, *inputs.args]
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}  # the driver appends it once
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    sys.stderr.write(done.stderr)
    try:
        body = json.loads(done.stdout)
    except json.JSONDecodeError:
        body = {"verdict": None, "exit_code": done.returncode,
                "reasons": [{"code": "INTERNAL_ERROR", "message": "eval-gate printed no JSON"}]}
    text = markdown.read_text(encoding="utf-8") if markdown.exists() else ""
    if not text:  # eval-gate could not evaluate: say why instead of a summary
        reasons = "; ".join(str(r.get("message", "")) for r in body.get("reasons", []) if isinstance(r, dict))
        text = f"### ⚠️ rollctl eval-gate could not evaluate (exit {done.returncode})\n\n{markdown_text(reasons)}\n"
    return Gate(done.returncode, body, text)


class GitHub:
    """The few REST calls the action makes, with the token in a header (never in a URL or a log line)."""

    def __init__(self, api: str, repository: str, token: str) -> None:
        self.api, self.repository, self.token = api.rstrip("/"), repository, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "rollctl-action",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ActionError(f"GitHub answered {exc.code} to {method} {path.split('?')[0]}: give the token "
                              "`pull-requests: write`, or set the input comment to false") from None
        except OSError as exc:
            raise ActionError(f"cannot reach GitHub's API ({type(exc).__name__})") from None
        return json.loads(raw) if raw else None

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Update the comment holding `marker` on pull request `number`, or create it; its URL."""
        page = 1
        while True:
            comments = self.call("GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100&page={page}")
            for comment in comments or []:
                if marker in str(comment.get("body", "")):
                    updated = self.call("PATCH", f"/repos/{self.repository}/issues/comments/{comment['id']}",
                                        {"body": body})
                    return str(updated.get("html_url", ""))
            if not comments or len(comments) < 100:
                break
            page += 1
        created = self.call("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return str(created.get("html_url", ""))

    def commit_time(self, sha: str) -> datetime | None:
        data = self.call("GET", f"/repos/{self.repository}/commits/{sha}")
        text = (((data or {}).get("commit") or {}).get("committer") or {}).get("date")
        return _parse_time(text) if isinstance(text, str) else None


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def baseline_time(paths: list[str]) -> datetime | None:
    """When the baseline results were produced: the last commit that touched them when they are in git (a
    checkout resets file times), else the newest file time."""
    import glob

    files = sorted({f for p in paths for f in (glob.glob(p, recursive=True) or [p]) if os.path.isfile(f)})
    if not files:
        return None
    done = subprocess.run(["git", "log", "-1", "--format=%cI", "--", *files], capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        return _parse_time(done.stdout.strip())
    return datetime.fromtimestamp(max(os.path.getmtime(f) for f in files), tz=UTC)


def stale_baseline_note(inputs: Inputs, github: GitHub, base_sha: str | None) -> str:
    """A note when the baseline results predate the pull request's base commit ("" otherwise)."""
    if not base_sha or inputs.results or not inputs.baseline:
        return ""
    produced = baseline_time([inputs.baseline])
    base = github.commit_time(base_sha)
    if produced is None or base is None or produced >= base:
        return ""
    return (f"> [!NOTE]\n> The baseline results ({produced:%Y-%m-%d %H:%M} UTC) are older than this pull request's "
            f"base commit `{base_sha[:7]}` ({base:%Y-%m-%d %H:%M} UTC): the candidate is compared with a main that "
            "has moved on since. Re-run the baseline eval on the base commit for a like-for-like gate.\n")


def comment_body(marker: str, gate: Gate, note: str) -> str:
    text = gate.markdown
    limit = COMMENT_LIMIT - len(marker) - len(note) - 200
    if len(text) > limit:
        text = text[:limit].rsplit("\n", 1)[0] + "\n\n… (cut: the full summary is in the job summary)\n"
    return f"{marker}\n{text.rstrip()}\n\n{note}".rstrip() + "\n"


def write_outputs(path: str | None, values: dict[str, str]) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            fh.write(f"{key}={value.replace(chr(10), ' ')}\n")


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        inputs = Inputs.from_env(env)
        with tempfile.TemporaryDirectory() as workdir:
            gate = run_gate(inputs, Path(workdir))
        verdict = str(gate.body.get("verdict") or "error")
        print(f"rollctl eval-gate: {verdict} (exit {gate.exit_code})")
        event: dict[str, Any] = {}
        if env.get("GITHUB_EVENT_PATH") and os.path.exists(env["GITHUB_EVENT_PATH"]):
            event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
        note, url = "", ""
        if inputs.comment and pull is not None:
            token = env.get("GITHUB_TOKEN", "")
            if not token:
                raise ActionError("no token for the comment: set github-token, or the input comment to false")
            repository = env.get("GITHUB_REPOSITORY", "")
            if "/" not in repository:
                raise ActionError("GITHUB_REPOSITORY is not set (owner/name): run the action in a GitHub workflow")
            github = GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), repository, token)
            note = stale_baseline_note(inputs, github, (pull.get("base") or {}).get("sha"))
            marker = MARKER.format(id=inputs.comment_id)
            url = github.upsert_comment(int(pull["number"]), marker, comment_body(marker, gate, note))
            print(f"comment: {url}")
        if env.get("GITHUB_STEP_SUMMARY"):
            with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
                fh.write(gate.markdown.rstrip() + "\n\n" + note)
        write_outputs(env.get("GITHUB_OUTPUT"), {"verdict": verdict, "exit-code": str(gate.exit_code),
                                                 "comment-url": url})
        return gate.exit_code
    except ActionError as exc:
        print(f"::error title=rollctl eval-gate::{exc}", file=sys.stdout)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""The GitHub Action (`action.yml`) end to end, without network: its steps run as a runner would run them
(inputs substituted into the step's env, `bash -e`), against a fake of GitHub's REST API on loopback that
records every call. Checked: create-then-update of one comment, the body, the step's outcome, JUnit, the job
summary, the outputs, and the note on a baseline older than the pull request's base commit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, SAMPLE_TRACES

EVALS = SAMPLE_TRACES / "evals"
TOKEN = "ghs_faketoken123"


class FakeGitHub:
    """Issues comments and commits of one repository, as GitHub's REST API v3 answers them."""

    def __init__(self, base_commit_date: str) -> None:
        self.calls: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = [
            {"id": 1, "body": "LGTM, but what about the refund cases?", "html_url": "https://github.test/c/1"}]
        self.base_commit_date = base_commit_date
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append({"method": self.command, "path": self.path, "body": body,
                                   "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self.reply(401, {"message": "Bad credentials"})
                path = self.path.split("?")[0]
                if self.command == "GET" and path == "/repos/acme/bot/issues/7/comments":
                    page = int(re.search(r"[?&]page=(\d+)", self.path).group(1)) if "page=" in self.path else 1
                    return self.reply(200, fake.comments[(page - 1) * 100: page * 100])
                if self.command == "POST" and path == "/repos/acme/bot/issues/7/comments":
                    comment = {"id": 100 + len(fake.comments), "body": body["body"],
                               "html_url": f"https://github.test/c/{100 + len(fake.comments)}"}
                    fake.comments.append(comment)
                    return self.reply(201, comment)
                match = re.fullmatch(r"/repos/acme/bot/issues/comments/(\d+)", path)
                if self.command == "PATCH" and match:
                    comment = next(c for c in fake.comments if c["id"] == int(match.group(1)))
                    comment["body"] = body["body"]
                    return self.reply(200, comment)
                if self.command == "GET" and path == "/repos/acme/bot/commits/abc1234def":
                    return self.reply(200, {"sha": "abc1234def", "commit": {"committer": {
                        "date": fake.base_commit_date}}})
                return self.reply(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub("2099-01-01T00:00:00Z")
    yield fake
    fake.server.shutdown()


def substitute(text: str, inputs: dict[str, str], context: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        return context[expr]
    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def condition_holds(condition: str | None, inputs: dict[str, str]) -> bool:
    if condition is None:
        return True
    match = re.fullmatch(r"inputs\.([\w-]+) (==|!=) '(.*)'", condition.strip())
    assert match, f"the test's runner does not know this condition: {condition}"
    equal = inputs[match.group(1)] == match.group(3)
    return equal if match.group(2) == "==" else not equal


def run_action(given: dict[str, str], tmp: Path, github: FakeGitHub, event: dict[str, Any]) -> dict[str, Any]:
    """Run action.yml's steps in order, as a runner would; returns the gate step's exit code and files."""
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(given) - set(inputs)
    assert not unknown, f"not inputs of the action: {unknown}"
    inputs.update(given)
    context = {"github.token": TOKEN, "github.action_path": str(REPO_ROOT), "runner.temp": str(tmp)}
    inputs = {k: substitute(v, inputs, context) for k, v in inputs.items()}
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    files = {name: tmp / name for name in ("summary.md", "output.txt", "path.txt")}
    for f in files.values():
        f.touch()
    base_env = {**os.environ, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/bot",
                "GITHUB_EVENT_PATH": str(event_path), "GITHUB_STEP_SUMMARY": str(files["summary.md"]),
                "GITHUB_OUTPUT": str(files["output.txt"]), "GITHUB_PATH": str(files["path.txt"]),
                # the runner's python is the one rollctl is installed in (the install step is its own test)
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    codes: dict[str, int] = {}
    stdout = ""
    for step in action["runs"]["steps"]:
        if not condition_holds(step.get("if"), inputs):
            continue
        added = files["path.txt"].read_text(encoding="utf-8").split()  # GITHUB_PATH: for the later steps
        base_env["PATH"] = os.pathsep.join([*reversed(added), os.environ["PATH"]]) if added else base_env["PATH"]
        env = {**base_env, **{k: substitute(str(v), inputs, context) for k, v in (step.get("env") or {}).items()}}
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, cwd=tmp, capture_output=True, text=True)
        codes[step["name"]] = done.returncode
        stdout += done.stdout
        if done.returncode != 0:
            break
    outputs = dict(line.split("=", 1) for line in files["output.txt"].read_text(encoding="utf-8").splitlines())
    return {"codes": codes, "stdout": stdout, "summary": files["summary.md"].read_text(encoding="utf-8"),
            "outputs": outputs}


PR_EVENT = {"pull_request": {"number": 7, "base": {"sha": "abc1234def"}}}


def test_one_comment_created_then_updated_and_the_step_follows_the_gate(github: FakeGitHub, tmp_path: Path) -> None:
    first = run_action({"install": "false", "baseline": str(EVALS / "baseline.jsonl"),
                        "candidate": str(EVALS / "candidate_improved.jsonl")}, tmp_path, github, PR_EVENT)
    assert first["codes"]["Gate"] == 0 and first["outputs"]["verdict"] == "pass"
    posted = [c for c in github.calls if c["method"] == "POST"]
    assert len(posted) == 1
    comment = github.comments[-1]
    assert comment["body"].startswith("<!-- rollctl:eval-gate -->\n### ✅ rollctl eval-gate: **PASS**")
    assert "detects only drops of **7.0 points**" in comment["body"] and "Fixes (12)" in comment["body"]
    assert first["outputs"]["comment-url"] == comment["html_url"]
    assert (tmp_path / "rollctl-junit.xml").read_text(encoding="utf-8").startswith("<?xml")

    second = run_action({"install": "false", "baseline": str(EVALS / "baseline.jsonl"),
                         "candidate": str(EVALS / "candidate_regression.jsonl")}, tmp_path, github, PR_EVENT)
    assert second["codes"]["Gate"] == 1 and second["outputs"]["verdict"] == "fail"
    assert [c["method"] for c in github.calls if c["method"] in ("POST", "PATCH")] == ["POST", "PATCH"]
    assert len(github.comments) == 2 and github.comments[0]["body"].startswith("LGTM")  # others' comments untouched
    body = github.comments[-1]["body"]
    assert "**FAIL**" in body and "PASS" not in body and "Regressions" in body
    # The baseline file was committed long before the (fake) base commit of 2099: the comment says so.
    assert "older than this pull request's base commit `abc1234`" in body
    assert "older than" in second["summary"] and second["summary"].count("rollctl eval-gate") == 2
    assert all(c["auth"] == f"Bearer {TOKEN}" for c in github.calls)
    assert TOKEN not in first["stdout"] + second["stdout"]


def test_inconclusive_policy_and_no_note_for_a_fresh_baseline(tmp_path: Path) -> None:
    fake = FakeGitHub("2000-01-01T00:00:00Z")  # a base commit older than the baseline: nothing to say
    swap = {"install": "false", "baseline": str(EVALS / "baseline.jsonl"),
            "candidate": str(EVALS / "candidate_swap.jsonl")}
    try:
        held = run_action(swap, tmp_path, fake, PR_EVENT)
        assert held["codes"]["Gate"] == 3 and held["outputs"]["verdict"] == "inconclusive"
        assert "older than" not in fake.comments[-1]["body"]
        passed = run_action({**swap, "inconclusive": "pass"}, tmp_path, fake, PR_EVENT)
        assert passed["codes"]["Gate"] == 0 and passed["outputs"]["exit-code"] == "0"
        assert len(fake.comments) == 2  # the one comment, updated
    finally:
        fake.server.shutdown()


def test_an_input_error_fails_the_step_and_the_comment_says_why(github: FakeGitHub, tmp_path: Path) -> None:
    done = run_action({"install": "false", "baseline": str(tmp_path / "missing.jsonl"),
                       "candidate": str(EVALS / "candidate_improved.jsonl")}, tmp_path, github, PR_EVENT)
    assert done["codes"]["Gate"] == 2 and done["outputs"]["verdict"] == "error"
    assert "could not evaluate (exit 2)" in github.comments[-1]["body"]


def test_outside_a_pull_request_no_comment_is_made(github: FakeGitHub, tmp_path: Path) -> None:
    done = run_action({"install": "false", "baseline": str(EVALS / "baseline.jsonl"),
                       "candidate": str(EVALS / "candidate_improved.jsonl")}, tmp_path, github, {"push": {}})
    assert done["codes"]["Gate"] == 0 and github.calls == [] and "PASS" in done["summary"]


@pytest.mark.slow
def test_the_install_step_installs_rollctl_from_the_actions_own_revision(github: FakeGitHub, tmp_path: Path) -> None:
    done = run_action({"baseline": str(EVALS / "baseline.jsonl"), "candidate": str(EVALS / "candidate_improved.jsonl"),
                       "python": sys.executable}, tmp_path, github, PR_EVENT)
    assert done["codes"] == {"Install rollctl": 0, "Gate": 0}
    assert (tmp_path / "rollctl-venv" / "bin" / "rollctl").exists() and done["outputs"]["verdict"] == "pass"


def test_action_metadata_is_complete() -> None:
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    text = (REPO_ROOT / "action.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used <= set(action["inputs"]), used - set(action["inputs"])
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash" and "uses" not in step  # no third-party action to pin or trust
        # Inputs reach scripts only through env, never spliced into the script text (no shell injection).
        assert "${{" not in step["run"]

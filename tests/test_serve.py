"""`rollctl serve` end to end: a real server on loopback, asked over real HTTP as Argo Rollouts and Flagger ask.

The server runs as its own process (`rollctl serve ...`), as a controller's sidecar would; the tests wait for
/healthz, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.decide_sim import trace_table, write_parquet
from tests.test_cli_decide import PLAN

ROLLCTL = str(Path(sys.executable).parent / "rollctl")
HOSTILE = "<script>alert(1)</script>[/]\x1b[31m'; DROP TABLE traces;--"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        request = urllib.request.Request(self.url + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        return _send(request)

    def post(self, path: str, body: bytes, token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        request = urllib.request.Request(self.url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        return _send(request)

    def log(self) -> list[dict[str, Any]]:
        lines = self.stderr.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _send(request: urllib.request.Request) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def start(args: list[str], stderr: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    process = subprocess.Popen([ROLLCTL, "serve", *args, "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=stderr.open("wb"), env={**os.environ, **(env or {})})
    server = Server(f"http://127.0.0.1:{port}", process, stderr)
    give_up_at = time.monotonic() + 120
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            raise AssertionError("rollctl serve exited: " + stderr.read_text(encoding="utf-8"))
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("rollctl serve did not answer /healthz")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serve")
    plan = d / "plan.toml"
    plan.write_text(PLAN.format(stage=50), encoding="utf-8")
    aa = trace_table(1, users=4000, percent=50)
    aa.loc[aa.index[0], "error"] = HOSTILE  # trace content the access log must never show
    return {
        "plan": plan,
        "aa": write_parquet(aa, d / "aa.parquet"),
        "bad": write_parquet(trace_table(2, users=4000, percent=50, lift_thumbs=1.5, lift_error=4.0),
                             d / "bad.parquet"),
    }


@pytest.fixture(scope="module")
def server(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("served")
    running = start([str(files["aa"]), "--plan", f"sim={files['plan']}", "--plan", f"prod/checkout={files['plan']}"],
                    d / "stderr.log")
    yield running
    stop(running)


def test_decide_answers_the_same_object_as_decide_json(server: Server, files: dict[str, Path]) -> None:
    status, body, headers = server.get("/v1/decide?plan=sim&stage=50")
    direct = invoke(["decide", str(files["aa"]), "--plan", str(files["plan"]), "--stage", "50", "--json"],
                    expect=0).json()
    assert status == 200 and body == direct and body["verdict"] == "go"
    status, again, headers = server.get("/v1/decide?plan=sim&stage=50")
    assert status == 200 and again == body and headers["x-rollctl-cache"] == "hit"
    # No stage: the plan's current stage, the same cache entry.
    assert server.get("/v1/decide?plan=sim")[2]["x-rollctl-cache"] == "hit"


def test_unknown_plan_stage_and_route_are_clear_4xx(server: Server) -> None:
    status, body, _ = server.get("/v1/decide?plan=nope")
    assert status == 404 and body["exit_code"] == 2 and "known plans: prod/checkout, sim" in body["error"]["fix"]
    status, body, _ = server.get("/v1/decide?plan=sim&stage=7")
    assert status == 400 and body["error"]["field"] == "stage" and "50, 100" in body["error"]["fix"]
    status, body, _ = server.get("/v1/decide")
    assert status == 400 and body["error"]["field"] == "plan"
    status, body, _ = server.post("/v1/flagger/rollback", b"not json")
    assert status == 400 and body["error"]["field"] == "body"
    status, body, _ = server.post("/v1/flagger/rollback", json.dumps({"name": "unknown", "namespace": "x"}).encode())
    assert status == 404 and "no plan for canary 'unknown'" in body["reasons"][0]["message"]


def test_flagger_webhooks_act_on_the_verdict_only(server: Server) -> None:
    # The canary prod/checkout maps to the plan of that name; GO approves the promotion and refuses a rollback.
    payload = {"name": "checkout", "namespace": "prod", "phase": "Progressing", "checksum": "abc", "metadata": {}}
    status, body, _ = server.post("/v1/flagger/confirm-promotion", json.dumps(payload).encode())
    assert status == 200 and body["verdict"] == "go"
    status, body, _ = server.post("/v1/flagger/rollback", json.dumps(payload).encode())
    assert status == 412 and body["verdict"] == "go"
    # metadata.plan wins over the canary's name.
    named = {"name": "whatever", "namespace": "prod", "metadata": {"plan": "sim", "stage": "50"}}
    assert server.post("/v1/flagger/confirm-promotion", json.dumps(named).encode())[0] == 200


def test_concurrent_requests_compute_once_and_agree(files: dict[str, Path], tmp_path: Path) -> None:
    running = start([str(files["bad"]), "--plan", f"sim={files['plan']}"], tmp_path / "stderr.log")
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda _: running.get("/v1/decide?plan=sim&stage=50"), range(48)))
        assert {a[0] for a in answers} == {200}
        assert all(a[1] == answers[0][1] for a in answers) and answers[0][1]["verdict"] == "rollback"
        caches = [e["cache"] for e in running.log() if e["route"] == "/v1/decide"]
        assert caches.count("miss") == 1 and caches.count("hit") == 47
        # Flagger's rollback hook fires on ROLLBACK; promotion is refused.
        payload = json.dumps({"name": "sim", "namespace": "prod", "metadata": {"stage": 50}}).encode()
        assert running.post("/v1/flagger/rollback", payload)[0] == 200
        assert running.post("/v1/flagger/confirm-promotion", payload)[0] == 412
    finally:
        stop(running)


def test_a_database_appended_to_by_ingest_while_the_server_answers(files: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "traces.duckdb"
    invoke(["ingest", str(files["aa"]), "--db", str(db)], expect=0)
    running = start([str(db), "--plan", f"sim={files['plan']}", "--cache-seconds", "0"], tmp_path / "stderr.log")
    try:
        before = running.get("/v1/decide?plan=sim&stage=50")
        assert before[0] == 200 and before[1]["verdict"] == "go"
        ingest = subprocess.Popen([ROLLCTL, "ingest", str(files["bad"]), "--db", str(db)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        answers = []
        while ingest.poll() is None:
            answers.append(running.get("/v1/decide?plan=sim&stage=50"))
        assert ingest.wait() == 0, ingest.stderr.read() if ingest.stderr else ""
        answers.append(running.get("/v1/decide?plan=sim&stage=50"))
        assert {a[0] for a in answers} == {200}
        after = answers[-1][1]
        # The appended rows are read: the verdict is on both files' rows.
        import pyarrow.parquet as pq

        added = pq.read_metadata(files["bad"]).num_rows
        assert after["fingerprint"]["rows"] == before[1]["fingerprint"]["rows"] + added
        assert after != before[1]
    finally:
        stop(running)


def test_token_guards_everything_but_health_and_logs_hold_no_trace_content(files: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n", encoding="utf-8")
    running = start([str(files["aa"]), "--plan", f"sim={files['plan']}", "--token-file", str(token_file)],
                    tmp_path / "stderr.log")
    try:
        assert running.get("/healthz")[0] == 200
        status, body, headers = running.get("/v1/decide?plan=sim")
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert running.get("/v1/decide?plan=sim", token="wrong")[0] == 401
        assert running.post("/v1/flagger/rollback", b"{}")[0] == 401
        status, body, _ = running.get("/v1/decide?plan=sim", token="s3cret-token")
        assert status == 200 and body["verdict"] == "go"
        running.get("/v1/decide?plan=sim&stage=%3Cscript%3E&junk=%1b%5b31m", token="s3cret-token")
    finally:
        stop(running)
    text = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert "s3cret-token" not in text and "<script>" not in text and "\x1b" not in text and "junk" not in text
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [e["status"] for e in entries] == [200, 200, 401, 401, 401, 200, 400]  # the first: start()'s probe
    assert set(entries[0]) == {"time", "method", "route", "status", "plan", "stage", "verdict", "cache", "ms"}


def test_without_the_extra_serve_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = invoke(["serve", str(files["aa"]), "--plan", f"sim={files['plan']}"], expect=2)
    assert "pip install 'rollctl[serve]'" in result.stderr

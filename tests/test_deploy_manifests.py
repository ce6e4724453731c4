"""The manifests in deploy/ and the Dockerfile: valid against the controllers' published schemas, and doing what
they say against a real `rollctl serve`.

Schemas: Argo Rollouts' CRDs and Kubernetes' own objects through kubernetes-models' validators (generated from
the published CRDs and OpenAPI spec; installed by scripts/ensure_manifest_validators.sh). Flagger publishes no
such package: its Canary is checked against the fields of Flagger's v1beta1 CRD that these manifests use.
Behaviour: Argo's web metric and Flagger's webhooks are replayed as the controllers make them (URL with the
args substituted, the jsonPath, the success and failure conditions; Flagger's payload) against a server on
loopback, for a GO, a HOLD and a ROLLBACK.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.decide_sim import trace_table, write_parquet
from tests.test_cli_decide import PLAN
from tests.test_serve import Server, start, stop

VALIDATORS = REPO_ROOT / ".venv" / "manifest-validators"
DEPLOY = REPO_ROOT / "deploy"
VALIDATE_JS = """
const [path] = process.argv.slice(1);
const docs = JSON.parse(require("fs").readFileSync(path, "utf8"));
(async () => {
  const out = [];
  for (const doc of docs) {
    const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
    const module = group === "argoproj.io" ? `@kubernetes-models/argo-rollouts/${group}/${version}/${doc.kind}`
      : `kubernetes-models/${group ? group + "/" : ""}${version}/${doc.kind}`;
    const Model = (await import(module))[doc.kind];
    try { new Model(doc).validate(); out.push({kind: doc.kind, ok: true}); }
    catch (e) { out.push({kind: doc.kind, ok: false, error: String(e.message)}); }
  }
  console.log(JSON.stringify(out));
})();
"""
FLAGGER_WEBHOOK_TYPES = {"pre-rollout", "rollout", "confirm-rollout", "confirm-traffic-increase", "confirm-promotion",
                         "post-rollout", "rollback", "event"}


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def test_argo_and_kubernetes_objects_are_valid_against_their_published_schemas(tmp_path: Path) -> None:
    assert (VALIDATORS / "node_modules" / "kubernetes-models").exists(), \
        "run scripts/ensure_manifest_validators.sh (make test does) to install the schema validators"
    docs = [d for d in documents() if d["apiVersion"] != "flagger.app/v1beta1"]
    assert {d["kind"] for d in docs} == {"AnalysisTemplate", "Rollout", "Deployment", "Service", "NetworkPolicy"}
    data = tmp_path / "docs.json"
    data.write_text(json.dumps(docs), encoding="utf-8")
    done = subprocess.run(["node", "-e", VALIDATE_JS, str(data)], cwd=VALIDATORS, capture_output=True, text=True,
                          check=True)
    results = json.loads(done.stdout)
    assert [r for r in results if not r["ok"]] == []
    # The validators do catch a mistake (a web metric without its URL):
    broken = json.loads(json.dumps(docs))
    del broken[0]["spec"]["metrics"][0]["provider"]["web"]["url"]
    data.write_text(json.dumps(broken[:1]), encoding="utf-8")
    done = subprocess.run(["node", "-e", VALIDATE_JS, str(data)], cwd=VALIDATORS, capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout)[0]["ok"] is False


def test_flagger_canary_uses_the_fields_of_flaggers_crd() -> None:
    canary = next(d for d in documents() if d["apiVersion"] == "flagger.app/v1beta1")
    assert canary["kind"] == "Canary" and {"targetRef", "service", "analysis"} <= set(canary["spec"])
    for hook in canary["spec"]["analysis"]["webhooks"]:
        assert set(hook) <= {"name", "type", "url", "timeout", "metadata", "muteAlert"}
        assert hook["type"] in FLAGGER_WEBHOOK_TYPES and re.fullmatch(r"\d+[smh]", hook["timeout"])
        # Flagger's metadata is a map of strings.
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in hook["metadata"].items())


def test_the_dockerfile_runs_rollctl_as_a_non_root_user_with_the_serve_extra() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.1[1-9]-slim", text, re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert 'ENTRYPOINT ["rollctl"]' in text and "'rollctl[serve]'" in text
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"^serve = \[", pyproject, re.M)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One server per verdict, each serving the plan under the name the manifests use."""
    d = tmp_path_factory.mktemp("manifests")
    plan = d / "plan.toml"
    # The traces are of the 50 % step (the plan's current stage, which Flagger's hooks get).
    plan.write_text(PLAN.format(stage=50).replace("stages = [50, 100]", "stages = [5, 25, 50, 100]"),
                    encoding="utf-8")
    tables = {
        "go": trace_table(1, users=4000, percent=50),
        "rollback": trace_table(2, users=4000, percent=50, lift_thumbs=1.5, lift_error=4.0),
        "hold": trace_table(4, users=4000, percent=50, candidate_share_override=0.45),
    }
    running: dict[str, Server] = {}
    try:
        for verdict, table in tables.items():
            data = write_parquet(table, d / f"{verdict}.parquet")
            running[verdict] = start([str(data), "--plan", f"support-bot={plan}"], d / f"{verdict}.log")
        yield running
    finally:
        for server in running.values():
            stop(server)


def argo_measurement(server: Server, stage: str) -> str:
    """What Argo Rollouts makes of one measurement of the manifest's web metric."""
    template = next(d for d in documents() if d["kind"] == "AnalysisTemplate")
    metric = template["spec"]["metrics"][0]
    url = metric["provider"]["web"]["url"].replace("{{args.plan}}", "support-bot").replace("{{args.stage}}", stage)
    path = url.split(":8008", 1)[1]
    status, body, _ = server.get(path)
    assert status == 200
    assert metric["provider"]["web"]["jsonPath"] == "{$.verdict}"
    result = body["verdict"]
    conditions = {name: re.fullmatch(r'result == "(\w+)"', metric[name]) for name in ("successCondition",
                                                                                       "failureCondition")}
    assert all(conditions.values())
    if result == conditions["successCondition"].group(1):  # type: ignore[union-attr]
        return "Successful"
    if result == conditions["failureCondition"].group(1):  # type: ignore[union-attr]
        return "Failed"
    return "Inconclusive"


def test_argo_analysis_succeeds_on_go_fails_on_rollback_and_pauses_on_hold(servers: dict[str, Server]) -> None:
    rollout = next(d for d in documents() if d["kind"] == "Rollout")
    stages = [a["value"] for s in rollout["spec"]["strategy"]["canary"]["steps"] if "analysis" in s
              for a in s["analysis"]["args"] if a["name"] == "stage"]
    assert stages == ["5", "25", "50"]
    assert {v: argo_measurement(s, "50") for v, s in servers.items()} == {
        "go": "Successful", "rollback": "Failed", "hold": "Inconclusive"}


def test_flagger_hooks_promote_only_on_go_and_roll_back_only_on_rollback(servers: dict[str, Server]) -> None:
    canary = next(d for d in documents() if d["kind"] == "Canary")
    statuses = {}
    for verdict, server in servers.items():
        for hook in canary["spec"]["analysis"]["webhooks"]:
            payload = {"name": canary["metadata"]["name"], "namespace": canary["metadata"]["namespace"],
                       "phase": "Progressing", "checksum": "85d557f47b", "metadata": hook["metadata"]}
            status, _, _ = server.post(hook["url"].split(":8008", 1)[1], json.dumps(payload).encode())
            statuses[(verdict, hook["type"])] = status
    assert statuses == {("go", "rollback"): 412, ("go", "confirm-promotion"): 200,
                        ("rollback", "rollback"): 200, ("rollback", "confirm-promotion"): 412,
                        ("hold", "rollback"): 412, ("hold", "confirm-promotion"): 412}

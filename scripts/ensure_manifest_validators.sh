#!/usr/bin/env bash
# Install the schema validators the deploy/ manifests are checked with (tests/test_deploy_manifests.py, part of
# `make test`): kubernetes-models' packages, whose validators are generated from the Kubernetes OpenAPI spec and
# from Argo Rollouts' published CRDs. Pinned; installed once into .venv/manifest-validators from the npm registry.
# Idempotent. Without node/npm it says so and the manifest tests fail with the reason (never skip silently).
set -u
DIR="${1:-.venv/manifest-validators}"
if [ -f "$DIR/node_modules/@kubernetes-models/argo-rollouts/package.json" ] \
   && [ -f "$DIR/node_modules/kubernetes-models/package.json" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "ensure_manifest_validators: npm not found; the manifest schema tests will fail" >&2
    exit 0
fi
mkdir -p "$DIR"
echo "ensure_manifest_validators: installing kubernetes-models validators into $DIR…" >&2
(cd "$DIR" && printf '{"private": true}\n' > package.json \
  && npm install --silent --no-audit --no-fund --save-exact \
       @kubernetes-models/argo-rollouts@2.0.0 kubernetes-models@5.1.0 >/dev/null) \
  || echo "ensure_manifest_validators: npm install failed; the manifest schema tests will fail" >&2
exit 0

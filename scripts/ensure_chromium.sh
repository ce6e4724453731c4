#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (`pytest -m browser`, part of `make test`).
# Idempotent: does nothing when `chromium` or `chromium-browser` is already on PATH. Installs Debian's
# `chromium` package only when running as root with apt-get; otherwise prints why and leaves the tests to skip.
set -u
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium not found and cannot install it here (need root and apt-get);" \
         "browser tests will be skipped" >&2
    exit 0
fi
echo "ensure_chromium: installing Debian's chromium for the browser tests…" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "ensure_chromium: apt-get could not install chromium; browser tests will be skipped" >&2
fi
exit 0

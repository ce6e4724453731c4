"""Open reports in a real headless Chromium: no script error, no request leaving the page, plotly drew SVG.

Screenshots land in artifacts/ (git-ignored) for a person to look at. Chromium comes from Debian's package:
`make test` runs scripts/ensure_chromium.sh first; this module tries the same script when it is missing and
skips with the reason only where it cannot be installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, invoke, trace_row, write_jsonl
from tests.test_html_inspect import _hostile_inputs

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "artifacts"

# Runs first in <head>: records script errors, failed loads, CSP violations and alert() calls; after load it
# writes what happened into the DOM, which --dump-dom hands back.
PROBE_HEAD = """
window.__probe = [];
window.addEventListener("error", function (e) {
  var t = e.target && e.target.tagName ? " on <" + e.target.tagName + ">" : "";
  window.__probe.push("error: " + (e.message || "load failed") + t);
}, true);
window.addEventListener("unhandledrejection", function (e) { window.__probe.push("rejection: " + e.reason); });
document.addEventListener("securitypolicyviolation", function (e) {
  window.__probe.push("csp: " + e.violatedDirective + " " + e.blockedURI);
});
window.alert = function (m) { window.__probe.push("alert: " + m); };
window.addEventListener("load", function () {
  setTimeout(function () {
    var out = document.createElement("pre");
    out.id = "rollctl-probe";
    out.textContent = JSON.stringify({
      problems: window.__probe,
      resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
      plots: Array.prototype.filter.call(document.querySelectorAll("div.chart"), function (p) {
        return p.querySelector("svg.main-svg g.trace, svg.main-svg g.hm") !== null;
      }).length,
      charts: document.querySelectorAll("script[data-chart]").length,
      images: document.images.length
    });
    document.body.appendChild(out);
  }, 300);
});
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    browser = _chromium()
    if browser is None:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "ensure_chromium.sh")], check=False, timeout=900)
        browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed and scripts/ensure_chromium.sh could not install it "
                    "(needs root and apt-get with Debian's `chromium` package)")
    return browser


def _flags(user_data: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
            f"--user-data-dir={user_data}", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr",
            "--v=0", "--virtual-time-budget=15000", "--hide-scrollbars"]


def _with_probe(page: str) -> str:
    """Insert the probe as the first script and allow it, by hash, in the report's own CSP."""
    digest = base64.b64encode(hashlib.sha256(PROBE_HEAD.encode()).digest()).decode()
    page = page.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    return page.replace("<head>", f"<head>\n<script>{PROBE_HEAD}</script>", 1)


def _open(browser: str, report: Path, tmp_path: Path) -> tuple[dict[str, Any], str]:
    probed = tmp_path / f"probed-{report.name}"
    probed.write_text(_with_probe(report.read_text(encoding="utf-8")), encoding="utf-8")
    proc = subprocess.run([browser, *_flags(tmp_path / "profile"), "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="rollctl-probe">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found, "the page never finished loading (no probe output)\n" + proc.stderr[-2000:]
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text), proc.stderr


def _screenshot(browser: str, report: Path, tmp_path: Path, name: str, size: str = "1280,2000",
                extra: tuple[str, ...] = ()) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    proc = subprocess.run([browser, *_flags(tmp_path / f"profile-{name}"), *extra, f"--screenshot={shot}",
                           f"--window-size={size}", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    return shot


def _check(browser: str, report: Path, tmp_path: Path) -> dict[str, Any]:
    probe, stderr = _open(browser, report, tmp_path)
    assert probe["problems"] == []
    assert probe["resources"] == []  # nothing fetched: no CDN, no font, no image
    assert probe["images"] == 0
    assert probe["charts"] > 0 and probe["plots"] == probe["charts"]  # every chart drew an SVG
    for marker in ("Failed to load resource", "Refused to", "Uncaught"):
        assert marker not in stderr
    return probe


def test_inspect_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "traces.jsonl",
                         [trace_row(i, "control" if i % 3 else "treatment", served=i % 7 != 0) for i in range(60)])
    report = tmp_path / "inspect.html"
    invoke(["inspect", str(traces), "--html", str(report)], expect=0)
    _check(chromium, report, tmp_path)
    _screenshot(chromium, report, tmp_path, "inspect")
    # Headless Chromium lays out at least 500 CSS px wide whatever the window size, so the phone layout
    # (the max-width: 700px rules) is checked at 500 px.
    _screenshot(chromium, report, tmp_path, "inspect-phone", size="500,1800")
    _screenshot(chromium, report, tmp_path, "inspect-dark", extra=("--force-dark-mode",
                                                                   "--blink-settings=preferredColorScheme=0"))


def test_hostile_report_runs_no_injected_script_in_chromium(chromium: str, tmp_path: Path) -> None:
    report = tmp_path / "hostile.html"
    invoke(["inspect", *map(str, _hostile_inputs(tmp_path)), "--html", str(report)], expect=0)
    _check(chromium, report, tmp_path)
    _screenshot(chromium, report, tmp_path, "inspect-hostile")


def test_every_chart_shape_draws_in_chromium(chromium: str, tmp_path: Path) -> None:
    from tests.test_html_charts import render_gallery

    report = render_gallery(tmp_path / "gallery.html")
    probe = _check(chromium, report, tmp_path)
    assert probe["plots"] == 5
    _screenshot(chromium, report, tmp_path, "charts", size="1280,2600")

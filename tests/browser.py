"""Opening reports in a real headless Chromium: no script error, no request leaving the page, plotly drew SVG.

Screenshots land in artifacts/ (git-ignored) for a person to look at. Chromium comes from Debian's package:
`make test` runs scripts/ensure_chromium.sh first; the `chromium` fixture (conftest.py) tries the same script
when it is missing and skips with the reason only where it cannot be installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    out.hidden = true;
    out.textContent = JSON.stringify({
      problems: window.__probe,
      resources: performance.getEntriesByType("resource").map(function (r) { return r.name; }),
      plots: Array.prototype.filter.call(document.querySelectorAll("div.chart"), function (p) {
        return p.querySelector("svg.main-svg g.trace, svg.main-svg g.hm") !== null;
      }).length,
      charts: document.querySelectorAll("script[data-chart]").length,
      images: document.images.length,
      clipped: Array.prototype.filter.call(document.querySelectorAll(".table-wrap"), function (w) {
        return w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1;  /* shown, and scrolls sideways */
      }).map(function (w) {
        var t = w.querySelector("table");
        return (t ? t.id : "?") + ":" + w.scrollWidth + "/" + w.clientWidth;
      }),
      /* A wide table may scroll inside its .table-wrap on a phone; the boxes themselves must not run off. */
      overflowing: Array.prototype.filter.call(
        document.querySelectorAll("div.chart, .table-wrap, details.section, #verdict"), function (e) {
          return e.getBoundingClientRect().right > document.documentElement.clientWidth + 1;
        }).map(function (e) {
          return (e.id || e.className || e.tagName) + ":" + Math.round(e.getBoundingClientRect().right);
        })
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


def find_or_install_chromium() -> str:
    """The Chromium binary; installs Debian's package via scripts/ensure_chromium.sh if needed, else skips."""
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


@dataclass(frozen=True)
class View:
    """One way to open a report: screenshot name, window size, extra Chromium flags."""

    shot: str
    size: str = "1280,2000"
    extra: tuple[str, ...] = ()


def check_in_browser(browser: str, report: Path, tmp_path: Path, *views: View) -> list[dict[str, Any]]:
    """Open the report once per view (in parallel): read the probe back from the DOM, save a screenshot under
    artifacts/, and check that nothing failed, loaded or ran that should not have."""
    probed = tmp_path / f"probed-{report.name}"
    probed.write_text(_with_probe(report.read_text(encoding="utf-8")), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    running = []
    for view in views:
        png = ARTIFACTS / f"{view.shot}.png"
        png.unlink(missing_ok=True)
        proc = subprocess.Popen([browser, *_flags(tmp_path / f"profile-{view.shot}"), *view.extra,
                                 f"--window-size={view.size}", f"--screenshot={png}", "--dump-dom",
                                 probed.as_uri()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((png, proc))
    probes = []
    for png, proc in running:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-2000:]
        found = re.search(r'<pre id="rollctl-probe" hidden="">(.*?)</pre>', stdout, re.DOTALL)
        assert found, "the page never finished loading (no probe output)\n" + stderr[-2000:]
        text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        probe: dict[str, Any] = json.loads(text)
        assert probe["problems"] == [], f"script problems: {probe['problems']}"
        assert probe["resources"] == [], f"requests: {probe['resources']}"  # no CDN, no font, no image
        assert probe["images"] == 0, f"{probe['images']} <img> element(s) in the page"
        assert probe["charts"] > 0 and probe["plots"] == probe["charts"], f"charts drawn: {probe}"
        for marker in ("Failed to load resource", "Refused to", "Uncaught"):
            assert marker not in stderr, f"browser log says {marker!r}"
        assert png.exists() and png.stat().st_size > 10_000
        probes.append(probe)
    return probes



"""Reports in a real headless Chromium (see tests/browser.py): inspect, hostile text, every chart shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, View, check_in_browser
from tests.conftest import invoke
from tests.test_html_inspect import _hostile_inputs

pytestmark = pytest.mark.browser


def test_inspect_report_with_hostile_text_in_chromium(chromium: str, tmp_path: Path) -> None:
    """Hostile variant, model, file and judge names everywhere: nothing runs, nothing loads, charts draw; the
    same page at desktop width, phone width and in dark mode."""
    report = tmp_path / "inspect.html"
    invoke(["inspect", *map(str, _hostile_inputs(tmp_path)), "--html", str(report)], expect=0)
    # Headless Chromium lays out at least 500 CSS px wide whatever the window size, so the phone layout
    # (the max-width: 700px rules) is checked at 500 px.
    check_in_browser(chromium, report, tmp_path, View("inspect"), View("inspect-phone", size="500,1800"),
                     View("inspect-dark", extra=("--force-dark-mode", "--blink-settings=preferredColorScheme=0")))


def test_every_chart_shape_draws_in_chromium(chromium: str, tmp_path: Path) -> None:
    from tests.test_html_charts import render_gallery

    report = render_gallery(tmp_path / "gallery.html")
    [probe] = check_in_browser(chromium, report, tmp_path, View("charts", size="1280,2600"))
    assert probe["plots"] == 4


def test_the_browser_check_catches_markup_that_escaped_escaping(chromium: str, tmp_path: Path) -> None:
    """The check above can fail: a page with an injected image and handler is caught (CSP refuses both)."""
    from tests.test_html_charts import render_gallery

    report = render_gallery(tmp_path / "gallery.html")
    page = report.read_text(encoding="utf-8")
    report.write_text(page.replace("<main>", '<main><img src="x" onerror="alert(1)">', 1), encoding="utf-8")
    with pytest.raises(AssertionError) as caught:
        check_in_browser(chromium, report, tmp_path, View("injected"))
    assert "script problems" in str(caught.value) and "csp" in str(caught.value)
    (ARTIFACTS / "injected.png").unlink(missing_ok=True)


@pytest.mark.parametrize("kind", ["decide", "shadow_report", "eval_gate", "power", "inspect"])
def test_every_report_fits_a_desktop_and_a_phone(chromium: str, tmp_path: Path, kind: str,
                                                 report_contexts: dict[str, object]) -> None:
    """At 1400 px no table needs sideways scrolling (decide's metrics table lost its p column); at phone width
    (headless Chromium lays out at least 500 px) nothing runs off the right edge."""
    from rollctl.render.html import render_report

    report = tmp_path / f"{kind}.html"
    report.write_text(render_report(kind, report_contexts[kind]), encoding="utf-8")
    desktop, phone = check_in_browser(chromium, report, tmp_path, View(f"{kind}-1400", size="1400,2400"),
                                      View(f"{kind}-phone", size="500,2400"))
    assert desktop["clipped"] == [], desktop["clipped"]
    assert phone["overflowing"] == [], phone["overflowing"]

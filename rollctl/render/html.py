"""Self-contained HTML reports: one jinja2 Environment, number filters, safe chart payloads, one file out.

Every string that reaches a report may come from a trace (model outputs, user ids, tags, file names), so the
page treats all of it as hostile: templates autoescape, charts carry their data as JSON escaped so that no
`</script>` can close its element, chart labels are escaped for plotly's own pseudo-HTML, and a
Content-Security-Policy built from the hashes of our own scripts stops anything else from running or loading.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html as html_lib
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import plotly.io as pio
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup
from rapidfuzz.distance import Indel

from rollctl import __version__
from rollctl.core.results import Reason
from rollctl.errors import UsageError
from rollctl.render.jsonout import round_significant, to_jsonable

_MISSING = "—"

# --------------------------------------------------------------------------------------------------------------
# Number formatting filters. Each takes None (a statistic that could not be computed) and shows a dash, so a
# template never prints "None" or "nan".
# --------------------------------------------------------------------------------------------------------------


def _finite(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_num(value: object, digits: int | None = None) -> str:
    """Integers with thousands separators; floats with `digits` decimals (default: 3 significant figures)."""
    number = _finite(value)
    if number is None:
        return _MISSING
    if digits is None and (isinstance(value, int) or number.is_integer() and abs(number) >= 1000):
        return f"{int(number):,}"
    if digits is None:
        return f"{number:,.3g}" if abs(number) < 1000 else f"{number:,.0f}"
    return f"{number:,.{digits}f}"


def fmt_pct(value: object, digits: int = 1, signed: bool = False) -> str:
    """A share (0.123) as a percentage ("12.3%"); `signed` for differences ("+1.2%")."""
    number = _finite(value)
    if number is None:
        return _MISSING
    return f"{number * 100:{'+' if signed else ''}.{digits}f}%"


def fmt_ci(bounds: object, kind: str = "num", digits: int | None = None) -> str:
    """An interval `(low, high)` as "[low, high]", formatted as numbers or (kind="pct") percentages."""
    if not isinstance(bounds, Sequence) or isinstance(bounds, str) or len(bounds) != 2:
        return _MISSING
    low, high = bounds
    if _finite(low) is None and _finite(high) is None:
        return _MISSING
    if kind == "pct":
        return f"[{fmt_pct(low, 1 if digits is None else digits, signed=True)}, " \
               f"{fmt_pct(high, 1 if digits is None else digits, signed=True)}]"
    return f"[{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_pvalue(value: object) -> str:
    """APA style: "p < 0.001" below a thousandth, otherwise three decimals; never "p = 0"."""
    number = _finite(value)
    if number is None:
        return _MISSING
    if number < 0.001:
        return "p < 0.001"
    return f"p = {number:.3f}"


def fmt_duration(value: object, unit: str = "s") -> str:
    """A duration given in `unit` ("ms", "s" or "h") in the largest readable unit: 350 ms, 1.2 s, 3 h 12 min."""
    number = _finite(value)
    if number is None:
        return _MISSING
    seconds = number * {"ms": 0.001, "s": 1.0, "h": 3600.0}[unit]
    if abs(seconds) < 1:
        return f"{seconds * 1000:,.0f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    if abs(seconds) < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    if abs(seconds) < 48 * 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{seconds / 86400:.1f} days"


def fmt_value(value: object, kind: str) -> str:
    """Dispatch to the filter named by a table column's `format` (text, num, int, pct, ci, pvalue, ...)."""
    if kind == "text":
        return _MISSING if value is None else str(value)
    if kind == "pct":
        return fmt_pct(value)
    if kind == "pct_signed":
        return fmt_pct(value, signed=True)
    if kind == "ci":
        return fmt_ci(value)
    if kind == "ci_pct":
        return fmt_ci(value, kind="pct")
    if kind == "pvalue":
        return fmt_pvalue(value)
    if kind in ("duration_ms", "duration_s"):
        return fmt_duration(value, unit=kind.rsplit("_", 1)[1])
    if kind == "num":
        return fmt_num(value)
    raise ValueError(f"unknown column format {kind!r}")


def raw_value(value: object) -> str:
    """The number behind a formatted cell, for `data-value`: the same digits `--json` prints."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return ""
    if isinstance(value, Sequence):
        return " ".join(raw_value(v) for v in value)
    number = _finite(value)
    if number is None:
        return ""
    return repr(value) if isinstance(value, int) else repr(round_significant(number))


# --------------------------------------------------------------------------------------------------------------
# Building blocks every report context uses. Each is a documented dataclass: the template contract.
# --------------------------------------------------------------------------------------------------------------


def documented(text: str) -> Any:
    return field(metadata={"help": text})


@dataclass(frozen=True)
class InputFile:
    """One input file as the report's "Inputs" section lists it."""

    path: str = documented("The path as given on the command line (untrusted text).")
    format: str = documented("Detected input format (jsonl, parquet, csv, ...).")
    kind: str = documented("What the file held: traces, judgements, evals or a mix.")
    rows: int | None = documented("Rows read from the file, all tables together; None when the result does not "
                                  "count rows per file.")


@dataclass(frozen=True)
class ReportInputs:
    """What the verdict was computed from: enough to reproduce it."""

    files: tuple[InputFile, ...] = documented("Every input file, in the order read.")
    row_counts: tuple[tuple[str, int], ...] = documented("Rows per canonical table (traces, judgements, evals).")
    first: str | None = documented("Earliest timestamp in the inputs (ISO 8601, UTC), None without timestamps.")
    last: str | None = documented("Latest timestamp in the inputs (ISO 8601, UTC), None without timestamps.")
    plan: str | None = documented("Path of the rollout plan, when the command used one.")
    plan_hash: str | None = documented("sha256 of the plan file as read, so a report names the exact plan.")


@dataclass(frozen=True)
class ReportMeta:
    """The top of every report: title, verdict with every reason, inputs, version and time of generation."""

    title: str = documented("Page title and heading.")
    command: str = documented("The rollctl command that produced the result (e.g. `eval-gate`).")
    verdict: str | None = documented("The verdict in lower case as in --json, None for commands without one.")
    exit_code: int | None = documented("The exit code the command returned with this verdict.")
    reasons: tuple[Reason, ...] = documented("Every reason behind the verdict (code + sentence), in order.")
    inputs: ReportInputs = documented("Files, row counts, time range and plan the result was computed from.")
    version: str = documented("rollctl version that wrote the report.")
    generated_at: str = documented("When the report was written (UTC; SOURCE_DATE_EPOCH when set).")


@dataclass(frozen=True)
class Column:
    """A table column: its heading and how its values are formatted."""

    label: str = documented("Column heading.")
    format: str = documented("Formatter applied to the cells: text, num, pct, pct_signed, ci, ci_pct, pvalue, "
                        "duration_ms, duration_s.")


@dataclass(frozen=True)
class Table:
    """A table of the numbers behind a chart or a section; cells carry their raw value in `data-value`."""

    id: str = documented("Stable identifier, used as the table's HTML id (tests find tables by it).")
    caption: str = documented("Caption above the table.")
    columns: tuple[Column, ...] = documented("Column headings and formats.")
    rows: tuple[tuple[Any, ...], ...] = documented("Raw values, one tuple per row, formatted by the column's format.")


@dataclass(frozen=True)
class Chart:
    """A plotly figure, embedded as escaped JSON and drawn by the plotly.js bundle inlined once per file."""

    id: str = documented("Stable identifier, used for the chart's HTML id.")
    title: str = documented("Heading above the chart.")
    caption: str = documented("One sentence on how to read the chart.")
    payload: Markup = documented("The figure as JSON, escaped for a <script type=application/json> element.")


@dataclass(frozen=True)
class DiffSegment:
    """A run of text in one side of a diff and what happened to it."""

    text: str = documented("The text (untrusted; escaped by the template).")
    op: str = documented("equal, delete (only on the left), insert (only on the right) or replace.")


@dataclass(frozen=True)
class TextDiff:
    """Two outputs side by side with their differences marked, computed in Python from edit opcodes."""

    title: str = documented("What the pair is (e.g. the request id and why it is shown).")
    left_label: str = documented("Heading of the left column (e.g. the baseline variant).")
    right_label: str = documented("Heading of the right column (e.g. the candidate variant).")
    left: tuple[DiffSegment, ...] = documented("The left text as segments.")
    right: tuple[DiffSegment, ...] = documented("The right text as segments.")
    truncated: bool = documented("True when either text was cut to the display limit before diffing.")


# --------------------------------------------------------------------------------------------------------------
# Charts: plotly figures to escaped JSON. Strings inside a figure are also escaped for plotly's pseudo-HTML
# (it renders <b>, <br>, <a href> in labels), so a label shows its text instead of becoming markup.
# --------------------------------------------------------------------------------------------------------------

_JSON_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_SCRIPT_RE = re.compile("[<>&\u2028\u2029]")


def json_for_script(value: Any) -> Markup:
    """JSON that is safe inside a <script> element: no `<`, `>` or `&` can appear, so `</script>` and `<!--`
    cannot end or confuse the element, and U+2028/9 are escaped for older JavaScript parsers. Inside JSON these
    characters only occur in strings, where the \\u escapes mean the same characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, allow_nan=False)
    return Markup(_JSON_SCRIPT_RE.sub(lambda m: _JSON_SCRIPT_ESCAPES[m.group(0)], text))


def plot_text(value: object) -> str:
    """Escape an untrusted string for a plotly label, tick, legend or hover text. Plotly turns a subset of HTML
    (<b>, <br>, <a href>) in text into SVG markup and decodes &lt; &gt; &amp; (but not &quot;), so escaping
    those three shows the string as it is."""
    return html_lib.escape("" if value is None else str(value), quote=False)


def make_chart(chart_id: str, title: str, caption: str, figure: Any) -> Chart:
    """Serialise a plotly figure (plotly's encoder handles numpy) and escape it for embedding.

    Numbers go through the same rounding as --json, so a chart shows exactly the figures the JSON holds.
    """
    text = pio.to_json(figure, validate=False, pretty=False)
    if text is None:  # pragma: no cover - to_json returns str when no file is given
        raise ValueError("plotly returned no JSON")
    payload = to_jsonable(json.loads(text))
    return Chart(id=chart_id, title=title, caption=caption, payload=json_for_script(payload))


# --------------------------------------------------------------------------------------------------------------
# Text diffs.
# --------------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
DIFF_TEXT_LIMIT = 4000


def text_diff(title: str, left_label: str, right_label: str, left: str | None, right: str | None,
              limit: int = DIFF_TEXT_LIMIT) -> TextDiff:
    """Word-level diff from longest-common-subsequence opcodes (rapidfuzz Indel) over word and space tokens,
    which keeps unchanged words aligned instead of pairing unrelated words as substitutions. Texts are cut to
    `limit` characters so a pathological output cannot make the report huge or the diff slow."""
    a, b = left or "", right or ""
    truncated = len(a) > limit or len(b) > limit
    a, b = a[:limit], b[:limit]
    ta, tb = _TOKEN_RE.findall(a), _TOKEN_RE.findall(b)
    left_segs: list[DiffSegment] = []
    right_segs: list[DiffSegment] = []
    for op in Indel.opcodes(ta, tb):
        tag = op.tag
        if op.src_end > op.src_start:
            left_segs.append(DiffSegment("".join(ta[op.src_start:op.src_end]), "equal" if tag == "equal" else
                                         "delete" if tag == "delete" else "replace"))
        if op.dest_end > op.dest_start:
            right_segs.append(DiffSegment("".join(tb[op.dest_start:op.dest_end]), "equal" if tag == "equal" else
                                          "insert" if tag == "insert" else "replace"))
    return TextDiff(title=title, left_label=left_label, right_label=right_label, left=_merge(left_segs),
                    right=_merge(right_segs), truncated=truncated)


def _merge(segments: list[DiffSegment]) -> tuple[DiffSegment, ...]:
    merged: list[DiffSegment] = []
    for seg in segments:
        if merged and merged[-1].op == seg.op:
            merged[-1] = DiffSegment(merged[-1].text + seg.text, seg.op)
        else:
            merged.append(seg)
    return tuple(merged)


# --------------------------------------------------------------------------------------------------------------
# Common helpers for context builders.
# --------------------------------------------------------------------------------------------------------------


def generated_at() -> str:
    """Now in UTC, or SOURCE_DATE_EPOCH when set (reproducible builds convention) so reports can be diffed."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def report_meta(*, title: str, command: str, verdict: str | None, exit_code: int | None,
                reasons: Sequence[Reason], inputs: ReportInputs) -> ReportMeta:
    return ReportMeta(title=title, command=command, verdict=verdict, exit_code=exit_code, reasons=tuple(reasons),
                      inputs=inputs, version=__version__, generated_at=generated_at())


# --------------------------------------------------------------------------------------------------------------
# The Environment and writing a report.
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Environment: autoescape on for every template, StrictUndefined so a missing field fails loudly
    instead of rendering as an empty string in a report someone will act on."""
    env = Environment(
        loader=PackageLoader("rollctl", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num, pct=fmt_pct, ci=fmt_ci, pvalue=fmt_pvalue, duration=fmt_duration, fmt=fmt_value,
        raw=raw_value,
    )
    return env


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)


def charts_in(context: Any) -> list[Chart]:
    return [v for v in _walk(context) if isinstance(v, Chart)]


PLOTLY_BUNDLE = "vendor/plotly-basic.min.js"
"""plotly.js's basic partial bundle (scatter, bar, pie), vendored at the version of the `plotly` package's own
bundle (see templates/vendor/README.md): 1.2 MB where the full bundle is 4.8 MB, so a report stays small."""


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    bundle = resources.files("rollctl").joinpath("templates", PLOTLY_BUNDLE).read_text(encoding="utf-8")
    # Defensive: the bundle is trusted, but an end tag inside it would end the element early. `<\/` means the
    # same inside JavaScript strings, regular expressions and comments.
    return bundle.replace("</", "<\\/")


_SCRIPT_RE = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_CSP_PLACEHOLDER = "__ROLLCTL_CSP__"


def _csp(page: str) -> str:
    """Only our own inline scripts (by hash) may run; nothing may be fetched. Event-handler attributes and
    injected scripts are refused by the browser even if escaping ever failed."""
    hashes = sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode("ascii") + "'"
        for m in _SCRIPT_RE.finditer(page)
    })
    return ("default-src 'none'; script-src " + (" ".join(hashes) or "'none'") +
            "; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; form-action 'none'")


def render_report(kind: str, context: Any) -> str:
    """Render template `<kind>.html` with `report` = the context dataclass."""
    return render_template(environment().get_template(f"{kind}.html"), context)


def render_template(template: Template, context: Any) -> str:
    """Render a report template: inline plotly.js once when the context holds a chart, then fill in the CSP."""
    charts = charts_in(context)
    page = template.render(
        report=context,
        plotly_js=Markup(_plotly_js()) if charts else None,
        csp=_CSP_PLACEHOLDER,
    )
    return page.replace(_CSP_PLACEHOLDER, _csp(page), 1)


def write_report(kind: str, context: Any, path: str | Path) -> Path:
    """Write one self-contained HTML file (no external request when opened) and return its path."""
    target = Path(path)
    if target.exists() and target.is_dir():
        raise UsageError(f"--html {target}: is a directory", fix="give a file path such as report.html")
    page = render_report(kind, context)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--html {target}: cannot write ({exc.strerror})", fix="choose a writable path") from exc
    return target

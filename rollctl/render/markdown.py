"""A compact Markdown summary of an eval gate, for a PR comment or `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

from pathlib import Path

from rollctl.core.eval_gate import CaseOutcome, EvalGateResult
from rollctl.errors import UsageError
from rollctl.render.eval_gate_view import case_result, pct, points, sizing_sentence

_ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}
MAX_ROWS = 20


# What makes text live in GitHub's Markdown: emphasis, code, links and images, HTML and entities, headings,
# strikethrough, table columns, and the `:` of a bare URL (which GitHub would turn into a link).
_PUNCTUATION = frozenset("\\`*_{}[]()#!|<>~:&")


def markdown_text(text: str) -> str:
    """Text from a user's file (a message quoting a case id or a tag) as plain Markdown text: the punctuation
    that makes Markdown live backslash-escaped (CommonMark allows it for any ASCII mark), so `![x](https://…)` stays
    text instead of becoming an image fetched when the PR is viewed, `[x](…)` a link, `<b>` HTML, `|` a
    column; control characters and line breaks become spaces."""
    flat = "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)
    return "".join(f"\\{c}" if c in _PUNCTUATION else c for c in flat)


def _code(text: str) -> str:
    """A value from a user's file inside a code span (where Markdown reads nothing but `|` and backticks)."""
    flat = "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)
    return "`" + flat.replace("`", "'").replace("|", "\\|") + "`"


def eval_gate_markdown(result: EvalGateResult) -> str:
    s = result.settings
    lines = [f"### {_ICONS.get(result.verdict, '')} rollctl eval-gate: **{result.verdict.upper()}**", ""]
    lines += [f"- {markdown_text(r.message)}" for r in result.reasons]
    lines += ["", "| arm | variant | pass rate | CI | pass | flaky | fail | missing | errors |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for label, arm in (("baseline", result.baseline), ("candidate", result.candidate)):
        lines.append(f"| {label} | {_code(arm.name)} | {pct(arm.pass_rate)} | {pct(arm.ci_low)} – "
                     f"{pct(arm.ci_high)} | {arm.stable_pass} | {arm.flaky} | {arm.stable_fail} | {arm.missing} | "
                     f"{arm.errors} |")
    d = result.difference
    p = "n/a" if result.p_value is None else f"{result.p_value:.3g}"
    lines += ["", f"**Difference** (candidate − baseline, {result.n_cases} paired cases): {points(d.estimate)} "
                  f"points, {1 - s.alpha:.0%} CI {points(d.ci_low)} to {points(d.ci_high)}; margin "
                  f"{s.margin * 100:g} points; p = {p} ({result.p_value_method}). Lost {result.mcnemar.b}, "
                  f"gained {result.mcnemar.c}."]
    if result.mde is not None:
        lines.append(f"This {result.n_cases}-case set detects only drops of **{result.mde * 100:.1f} points** or "
                     f"more ({result.power.power:.0%} power); {markdown_text(sizing_sentence(result))}.")
    for title, cases in (
        ("Regressions", [c for c in result.cases if c.transition == "regression"]),
        ("Fixes", [c for c in result.cases if c.transition == "fix"]),
        ("Flaky", [c for c in result.cases if "flaky" in (c.baseline.status, c.candidate.status)]),
    ):
        lines += _cases(title, cases)
    other = [n for n in result.notes if n.code not in ("MINIMUM_DETECTABLE_EFFECT", "CASE_CHANGES", "FLAKY_CASES")]
    if other:
        lines += ["", *[f"> {markdown_text(n.message)}" for n in other]]
    return "\n".join(lines) + "\n"


def _cases(title: str, cases: list[CaseOutcome]) -> list[str]:
    if not cases:
        return []
    out = ["", f"<details><summary>{title} ({len(cases)})</summary>", "",
           "| case | tags | baseline | candidate |", "|---|---|---|---|"]
    for c in cases[:MAX_ROWS]:
        out.append(f"| {_code(c.case_id)} | {', '.join(_code(t) for t in c.tags)} | {case_result(c.baseline)} | "
                   f"{case_result(c.candidate)} |")
    if len(cases) > MAX_ROWS:
        out.append(f"| … {len(cases) - MAX_ROWS} more | | | |")
    out += ["", "</details>"]
    return out


def write_markdown(result: EvalGateResult, path: Path, *, append: bool) -> None:
    try:
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(eval_gate_markdown(result))
    except OSError as exc:
        raise UsageError(f"cannot write the Markdown summary ({exc.strerror})", path=str(path),
                         fix="check the directory exists and is writable") from None

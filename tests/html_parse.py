"""Parse a rendered report back with the standard library's html.parser, for assertions on what a reader sees."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


@dataclass
class Cell:
    text: str
    value: str | None


@dataclass
class ParsedReport:
    tags: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    tables: dict[str, list[list[Cell]]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)
    """chart id -> raw JSON text of its payload script"""
    scripts: list[str] = field(default_factory=list)
    """contents of executable (bare) script elements"""
    reasons: list[str] = field(default_factory=list)
    verdict: str | None = None

    def chart(self, chart_id: str) -> Any:
        return json.loads(self.charts[chart_id])

    def table_values(self, table_id: str) -> list[list[str | None]]:
        """Body rows; numeric cells as their exact data-value, text cells as their text."""
        return [[c.value if c.value else c.text for c in row] for row in self.tables[table_id]]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = ParsedReport()
        self._table: str | None = None
        self._row: list[Cell] | None = None
        self._cell: Cell | None = None
        self._script: tuple[str | None, list[str]] | None = None
        self._in_verdict = False
        self._row_has_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.tags.append((tag, attrs))
        a = dict(attrs)
        if a.get("id"):
            self.out.ids.add(str(a["id"]))
        if tag == "table":
            self._table = a.get("id") or f"table-{len(self.out.tables)}"
            self.out.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._row_has_td = False
        elif tag in ("td", "th") and self._row is not None:
            self._cell = Cell("", a.get("data-value") if tag == "td" else None)
            self._row_has_td = self._row_has_td or tag == "td"
        elif tag == "script":
            self._script = (a.get("data-chart") if a.get("type") == "application/json" else None, [])
        elif tag == "p" and a.get("class") == "verdict":
            self._in_verdict = True
        elif tag == "li" and "data-code" in a:
            self.out.reasons.append(str(a["data-code"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row_has_td:  # header rows (th only) are left out
                self.out.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            chart_id, parts = self._script
            if chart_id is not None:
                self.out.charts[chart_id] = "".join(parts)
            else:
                self.out.scripts.append("".join(parts))
            self._script = None
        elif tag == "p":
            self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script[1].append(data)
            return
        self.out.text.append(data)
        if self._cell is not None:
            self._cell.text += data
        if self._in_verdict:
            self.out.verdict = (self.out.verdict or "") + data.strip()


def parse_report(source: str | Path) -> ParsedReport:
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return parser.out

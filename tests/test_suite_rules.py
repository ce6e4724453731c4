"""Rules the suite itself keeps, so it passes the same on a loaded 2-core machine as on a quiet one."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings


def test_hypothesis_has_no_deadline() -> None:
    assert settings.default.deadline is None


def test_no_test_sets_a_hypothesis_deadline() -> None:
    found = [p.name for p in Path(__file__).parent.rglob("test_*.py")
             if re.search(r"deadline\s*=\s*(?!None)", p.read_text(encoding="utf-8"))
             and p.name != Path(__file__).name]
    assert found == []

"""Validity checks shared by `inspect` and `decide`: things that make comparisons lie."""

from __future__ import annotations

import re

# A model string is pinned when it names a snapshot: a date (20260301, 2024-08-06), a numbered revision
# (-001, -002, as Google and Azure publish), or an explicit version after '@'. A bare family name
# ("claude-sonnet-4-6", "gpt-4o") or an alias ("latest") can change under you.
_DATE = re.compile(r"(?<!\d)(19|20)\d{2}-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")
_REVISION = re.compile(r"-\d{3}$")
_AT_VERSION = re.compile(r"@[\w.\-]*\d")
_ALIAS = re.compile(r"(^|[-_:@/])(latest|preview|beta|stable|current)$", re.IGNORECASE)


def is_pinned_model(model: str) -> bool:
    """Whether a model string names a fixed snapshot rather than a moving alias."""
    if _ALIAS.search(model):
        return False
    return bool(_DATE.search(model) or _REVISION.search(model) or _AT_VERSION.search(model))

"""The --json contract: one object on stdout, JSON numbers (never strings), null for non-finite values."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from enum import Enum
from typing import Any

from rollctl.core.results import SCHEMA_VERSION
from rollctl.errors import PlanError, RollctlError, UsageError
from rollctl.exit_codes import ExitCode

SIGNIFICANT_DIGITS = 12


def round_significant(value: float) -> float:
    """Round to 12 significant digits so the same inputs print the same numbers.

    DuckDB sums floats in parallel, so the last bits of a mean can differ between runs (1e-16 relative);
    12 digits keep every figure far beyond any statistical precision while making --json reproducible.
    """
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def to_jsonable(value: Any) -> Any:
    """Convert result dataclasses (recursively) into plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return round_significant(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, allow_nan=False, indent=2)


def error_code(error: RollctlError) -> str:
    """The reason code of an error in `--json`: INPUT_ERROR, USAGE_ERROR or PLAN_ERROR."""
    if isinstance(error, UsageError):
        return "USAGE_ERROR"
    if isinstance(error, PlanError):
        return "PLAN_ERROR"
    return "INPUT_ERROR"


def error_object(code: str, message: str, error: RollctlError | None = None) -> dict[str, Any]:
    """The one JSON object printed with `--json` when a command could not evaluate (exit 2)."""
    where: dict[str, str | int | None] = {"path": None, "line": None, "field": None, "fix": None}
    if error is not None:
        where = {"path": error.path, "line": error.line, "field": error.field, "fix": error.fix}
    return {"schema_version": SCHEMA_VERSION, "verdict": None, "exit_code": int(ExitCode.ERROR),
            "reasons": [{"code": code, "message": message}], "error": where}

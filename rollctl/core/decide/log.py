"""The decision log: one JSON line per decision, with the plan's hash and a fingerprint of the data, so any
decision can be replayed and audited."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rollctl.core.decide.results import DecideResult
from rollctl.core.results import iso_utc
from rollctl.errors import UsageError


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return iso_utc(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def fingerprint(details: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Rows, time range and a SHA-256 of per-arm sums (thumbs, latency, cost, errors, models): cheap, and
    any change in the analysed rows changes it."""
    arms = [{k: details[v][k] for k in ("variant", "requests", "first", "last", "thumbs_sum", "latency_sum",
                                        "cost_sum", "errors", "models", "prompt_versions")} for v in sorted(details)]
    # DuckDB sums floats in parallel, so a sum's last bits differ from run to run: hashed at 12 significant
    # digits (as --json prints numbers), the same data gives the same fingerprint.
    stable = [{k: float(f"{x:.12g}") if isinstance(x, float) else x for k, x in arm.items()} for arm in arms]
    text = json.dumps(stable, sort_keys=True, default=_default)
    return {"rows": sum(int(a["requests"]) for a in arms),
            "first": min((iso_utc(a["first"]) or "" for a in arms), default=None),
            "last": max((iso_utc(a["last"]) or "" for a in arms), default=None),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def decision_log_line(result: DecideResult) -> str:
    """One JSON line that lets a decision be replayed: verdict, plan hash, data fingerprint, version."""
    entry = {
        "schema_version": result.schema_version, "command": "decide", "verdict": result.verdict,
        "exit_code": result.exit_code, "reasons": [r.code for r in result.reasons], "stage": result.stage,
        "next_stage": result.next_stage, "as_of": result.as_of, "plan_path": result.plan["path"],
        "plan_sha256": result.plan["sha256"], "data": result.fingerprint, "rollctl_version": result.rollctl_version,
        "decided_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return json.dumps(entry, sort_keys=True)


def append_decision_log(path: str | Path, result: DecideResult) -> None:
    p = Path(path)
    try:
        with p.open("a", encoding="utf-8") as fh:
            fh.write(decision_log_line(result) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot append to the decision log ({exc.strerror})", path=str(p),
                         fix="pass a writable --log path") from None

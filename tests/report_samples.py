"""One sample context per HTML report kind, from the small fixtures each command's tests use.

The contract test renders every kind in `rollctl.render.reports.CONTEXTS` from these: a new report kind
needs an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollctl.db import connect
from tests.conftest import trace_row, write_jsonl


def inspect_sample(tmp: Path) -> Any:
    from rollctl.core.inspect import inspect_inputs
    from rollctl.render.reports.inspect import build_inspect_context

    traces = write_jsonl(tmp / "traces.jsonl", [trace_row(i, "control" if i % 2 else "treatment") for i in range(40)])
    db = connect()
    try:
        return build_inspect_context(inspect_inputs(db, [str(traces)]))
    finally:
        db.close()


def decide_sample(tmp: Path) -> Any:
    from rollctl.core.decide import decide
    from rollctl.load import LoadOptions
    from rollctl.plan import load_plan
    from rollctl.render.reports.decide import build_decide_context
    from tests.decide_sim import trace_table, write_parquet
    from tests.test_cli_decide import PLAN

    plan = tmp / "plan.toml"
    plan.write_text(PLAN.format(stage=50), encoding="utf-8")
    data = write_parquet(trace_table(2, users=1500, percent=50, lift_thumbs=1.5), tmp / "canary.parquet")
    db = connect()
    try:
        result = decide(db, [str(data)], load_plan(plan), stage=None, as_of=None,
                        options=LoadOptions(keep_text=False))
        return build_decide_context(result, paths=[str(data)])
    finally:
        db.close()


def eval_gate_sample(tmp: Path) -> Any:
    from rollctl.core.eval_gate import EvalGateOptions, eval_gate
    from rollctl.render.reports.eval_gate import build_eval_gate_context
    from tests.test_cli_eval_gate import REGRESSED, base_outcomes, flip, write

    base = base_outcomes()
    a = write(tmp, "base.jsonl", "main", base)
    b = write(tmp, "cand.jsonl", "pr-1", flip(base, REGRESSED))
    db = connect()
    try:
        return build_eval_gate_context(eval_gate(db, [a], [b], EvalGateOptions()))
    finally:
        db.close()


def power_sample(tmp: Path) -> Any:
    from rollctl.core.power import PowerRequest, plan_power
    from rollctl.load import LoadOptions
    from rollctl.render.reports.power import build_power_context

    request = PowerRequest(metric="proportion", baseline_rate=0.08, mde=0.2, relative=True, sides=1,
                           sequential=True, daily_users=20000, canary_percent=5)
    db = connect()
    try:
        return build_power_context(plan_power(db, request, LoadOptions()))
    finally:
        db.close()


def shadow_report_sample(tmp: Path) -> Any:
    from rollctl.core.shadow_report import ShadowOptions, shadow_report
    from rollctl.load import LoadOptions
    from rollctl.render.reports.shadow_report import build_shadow_report_context
    from tests.shadow_fixtures import make_pairs

    pairs = write_jsonl(tmp / "pairs.jsonl", make_pairs(300))
    options = ShadowOptions(paths=(str(pairs),), baseline="control", candidate="treatment",
                            load=LoadOptions(baseline_name="control", candidate_name="treatment"),
                            segment_by="metadata.intent")
    db = connect()
    try:
        return build_shadow_report_context(shadow_report(db, options), paths=[str(pairs)])
    finally:
        db.close()


SAMPLES: dict[str, Callable[[Path], Any]] = {
    "inspect": inspect_sample,
    "decide": decide_sample,
    "eval_gate": eval_gate_sample,
    "power": power_sample,
    "shadow_report": shadow_report_sample,
}

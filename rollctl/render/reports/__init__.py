"""One module per HTML report: a documented context dataclass and the builder that makes it from a command's
result object (the same object --json serialises, so the page shows nothing the JSON lacks).

`CONTEXTS` indexes them (report kind -> context class, template `templates/<kind>.html`); the contract test
walks it to check that every field is documented and every template renders under StrictUndefined.
"""

from __future__ import annotations

from rollctl.render.reports.decide import DecideReportContext
from rollctl.render.reports.eval_gate import EvalGateReportContext
from rollctl.render.reports.inspect import InspectReportContext
from rollctl.render.reports.power import PowerReportContext
from rollctl.render.reports.shadow_report import ShadowReportContext

CONTEXTS: dict[str, type] = {
    "inspect": InspectReportContext,
    "decide": DecideReportContext,
    "eval_gate": EvalGateReportContext,
    "power": PowerReportContext,
    "shadow_report": ShadowReportContext,
}

"""The HTML report of `rollctl power`: the plan, the power curve against users and days, and where the extra
variance of LLM traffic comes from."""

from __future__ import annotations

from dataclasses import dataclass

from rollctl.core.power import PowerResult
from rollctl.render.charts import bar_chart, line_chart
from rollctl.render.html import (
    Chart,
    Column,
    InputFile,
    ReportInputs,
    ReportMeta,
    Table,
    documented,
    fmt_num,
    report_meta,
)


@dataclass(frozen=True)
class PowerReportContext:
    """Everything `templates/power.html` shows, built from a `PowerResult`."""

    meta: ReportMeta = documented("What was solved for, every reason / caveat, inputs, version (power has no "
                                  "verdict).")
    headline: str = documented("The answer in one sentence.")
    plan: Table = documented("Users per arm, total, requests, MDE (absolute / relative), power, days.")
    curve_users_chart: Chart | None = documented("Power against total users, with the target power; None when "
                                                 "the result has no curve.")
    curve_days_chart: Chart | None = documented("Power against days of traffic; None without a traffic model.")
    curve: Table = documented("The curve's points: users (total, treatment, control), days, power.")
    inflation_chart: Chart = documented("Sample-size multipliers: repeat requests, response variance, peek-safe "
                                        "testing, guardrails, and their product.")
    inflation: Table = documented("Each multiplier with its explanation; naive vs planned users per arm.")
    test: Table = documented("The test: alpha, sides, guardrails, sequential, critical values, method.")
    estimates: Table | None = documented("What was measured from --from-traces; None otherwise.")
    simulation: Table | None = documented("The Monte Carlo check of the answer, with --simulate.")


def _kv(table_id: str, caption: str, items: dict[str, object]) -> Table:
    def fmt(v: object) -> object:
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None

    rows = tuple((k.replace("_", " "), fmt(v), "" if fmt(v) is not None or v is None else str(v))
                 for k, v in items.items())
    return Table(id=table_id, caption=caption,
                 columns=(Column("measure", "text"), Column("value", "num"), Column("", "text")), rows=rows)


def build_power_context(result: PowerResult) -> PowerReportContext:
    r = result
    metric_name = str(r.metric.get("name", r.metric.get("kind", "metric")))
    files = tuple(InputFile(path=p, format="", kind="traces", rows=None)
                  for p in (r.estimates.paths if r.estimates is not None else ()))
    inputs = ReportInputs(files=files, row_counts=(("requests", r.estimates.requests),
                                                   ("users", r.estimates.users)) if r.estimates else (),
                          first=r.estimates.first if r.estimates else None,
                          last=r.estimates.last if r.estimates else None, plan=None, plan_hash=None)
    meta = report_meta(title=f"power: {metric_name}", command="power", verdict=None, exit_code=r.exit_code,
                       reasons=r.reasons, inputs=inputs)
    n = r.n_per_arm or {}
    parts = [f"solving for {r.solved_for}"]
    if n:
        parts.append(f"{fmt_num(n.get('treatment'))} treatment and {fmt_num(n.get('control'))} control users")
    if r.days is not None:
        parts.append(f"{r.days:.1f} days of traffic (plan {r.days_rounded} whole days)")
    if r.mde is not None:
        rel = f" ({r.mde.relative:+.1%} relative)" if r.mde.relative is not None else ""
        parts.append(f"detects a change of {fmt_num(r.mde.absolute)}{rel}")
    if r.power is not None:
        parts.append(f"with {r.power:.0%} power")
    headline = "; ".join(parts) + "."
    plan = Table(
        id="plan", caption="The plan",
        columns=(Column("measure", "text"), Column("value", "num")),
        rows=(("treatment users", n.get("treatment")), ("control users", n.get("control")),
              ("total users", r.n_total), ("requests", r.requests_total),
              ("MDE (absolute)", r.mde.absolute if r.mde else None),
              ("MDE (relative)", r.mde.relative if r.mde else None),
              ("treatment value at the MDE", r.mde.treatment_value if r.mde else None), ("power", r.power),
              ("days", r.days), ("days (rounded)", r.days_rounded), ("daily users", r.daily_users),
              ("naive treatment users", (r.naive_n_per_arm or {}).get("treatment")),
              ("naive control users", (r.naive_n_per_arm or {}).get("control"))),
    )
    target = r.power if r.power is not None else r.test.get("power")
    hlines = {"target power": float(target)} if isinstance(target, int | float) else {}
    users_chart = days_chart = None
    if r.curve:
        users_chart = line_chart(
            "power-users-chart", "Power against users",
            "Probability of detecting the MDE as the canary grows (total users in both arms).",
            x=[p.n_total for p in r.curve], series={"power": [p.power for p in r.curve]},
            axis_title="power", x_title="users (both arms)", pct=True, hlines=hlines,
        )
        if all(p.days is not None for p in r.curve):
            days_chart = line_chart(
                "power-days-chart", "Power against days",
                "The same curve in days of traffic at the given daily users and allocation.",
                x=[p.days for p in r.curve], series={"power": [p.power for p in r.curve]},
                axis_title="power", x_title="days", pct=True, hlines=hlines,
            )
    curve = Table(
        id="curve", caption="Power curve",
        columns=(Column("total users", "num"), Column("treatment", "num"), Column("control", "num"),
                 Column("days", "num"), Column("power", "pct")),
        rows=tuple((p.n_total, p.n_treatment, p.n_control, p.days, p.power) for p in r.curve),
    )
    inf = r.inflation
    inflation_chart = bar_chart(
        "inflation-chart", "Why LLM traffic needs more users",
        f"Each factor multiplies the users a deterministic change would need; together ×{inf.total:.2f}.",
        categories=[p.name for p in inf.parts] + ["total"],
        series={"multiplier": [p.factor for p in inf.parts] + [inf.total]}, axis_title="× users",
    )
    inflation = Table(
        id="inflation", caption="Sample-size multipliers",
        columns=(Column("factor", "text"), Column("multiplier", "num"), Column("why", "text")),
        rows=tuple((p.name, p.factor, p.explanation) for p in inf.parts) + (("total", inf.total, ""),),
    )
    test = _kv("test", "The test", dict(r.test))
    estimates = None
    if r.estimates is not None:
        e = r.estimates
        estimates = _kv("estimates", f"Measured from the traces ({e.baseline_variant})", {
            "metric": e.metric, "users": e.users, "requests": e.requests, "requests per user": e.requests_per_user,
            "effective requests per user": e.effective_requests_per_user, "baseline": e.baseline,
            "sd per request": e.sd_per_request, "design effect": e.design_effect, "icc": e.icc,
            "response variance share": e.response_variance_share, "daily users": e.daily_users,
            "days observed": e.days_observed})
    simulation = None
    if r.simulation is not None:
        s = r.simulation
        simulation = _kv("simulation", "Monte Carlo check", {
            "runs": s.runs, "seed": s.seed, "looks": s.looks, "target power": s.target_power,
            "simulated power": s.simulated_power, "Monte Carlo SE": s.monte_carlo_se,
            "simulated power (any look)": s.simulated_power_any_look})
    return PowerReportContext(
        meta=meta, headline=headline, plan=plan, curve_users_chart=users_chart, curve_days_chart=days_chart,
        curve=curve, inflation_chart=inflation_chart, inflation=inflation, test=test, estimates=estimates,
        simulation=simulation,
    )

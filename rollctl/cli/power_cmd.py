"""`rollctl power` (plan a canary) and `rollctl power eval` (plan an eval set).

The core and the view import scipy; they are imported inside the commands so `rollctl --help` stays fast.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated

import typer

from rollctl.cli import app
from rollctl.cli.common import (
    BadLines,
    BadLinesOpt,
    ConfigOpt,
    EngineName,
    FormatOpt,
    JsonOpt,
    MapOpt,
    SparkRemoteOpt,
    TableOpt,
    VariantFromOpt,
    check_engine_inputs,
    check_outputs,
    emit_json,
    human,
    load_options,
    open_config,
    run,
    run_on_engine,
)
from rollctl.cli.html_option import HtmlOpt, write_html

POWER_EXIT_HELP = (
    "Exit codes: 0 the plan was computed, 2 impossible or contradictory request (bad input, usage), "
    "3 the asked quantity cannot be reached (e.g. no detectable effect with these users). "
    "--json has schema_version, exit_code and reasons but no verdict: power plans, it does not gate."
)


class MetricKindOpt(StrEnum):
    proportion = "proportion"
    mean = "mean"
    ratio = "ratio"


class ScoreOpt(StrEnum):
    passed = "passed"
    score = "score"


power_app = typer.Typer(name="power", epilog=POWER_EXIT_HELP, rich_markup_mode="rich")
app.add_typer(power_app)

PLAN = "What to detect"
LLM = "LLM variance (each shown as its own multiplier)"
TIME = "Traffic and time"
DATA = "Estimate from traces"
CHECK = "Check by simulation"


@power_app.callback(invoke_without_command=True, epilog=POWER_EXIT_HELP)
def power(
    ctx: typer.Context,
    metric: Annotated[MetricKindOpt | None, typer.Option(help="proportion (thumbs-down, error rate), mean (latency, "
                      "cost) or ratio (per-request metric, users as the unit).", rich_help_panel=PLAN)] = None,
    baseline_rate: Annotated[float | None, typer.Option(help="Baseline rate of a proportion, e.g. 0.08.",
                             rich_help_panel=PLAN)] = None,
    baseline_mean: Annotated[float | None, typer.Option(help="Baseline mean (needed for a relative MDE).",
                             rich_help_panel=PLAN)] = None,
    sd: Annotated[float | None, typer.Option(help="SD of one request's value (mean / ratio metrics).",
                  rich_help_panel=PLAN)] = None,
    mde: Annotated[float | None, typer.Option(help="Smallest change to detect (absolute, or relative with "
                   "--relative). Leave out to solve for it.", rich_help_panel=PLAN)] = None,
    relative: Annotated[bool, typer.Option("--relative", help="--mde is relative to the baseline (0.2 = +20 %).",
                        rich_help_panel=PLAN)] = False,
    n_per_arm: Annotated[int | None, typer.Option(help="Users in the treatment arm (control gets its --ratio "
                         "share). Leave out to solve for it.", rich_help_panel=PLAN)] = None,
    days: Annotated[float | None, typer.Option(help="Days the canary runs, instead of --n-per-arm (needs daily "
                    "users).", rich_help_panel=PLAN)] = None,
    power_: Annotated[float | None, typer.Option("--power", help="Target power (default 0.8). Leave out with "
                      "both --mde and a size to solve for it.", rich_help_panel=PLAN)] = None,
    alpha: Annotated[float, typer.Option(help="False-alarm rate of the whole family of guardrails.",
                     rich_help_panel=PLAN)] = 0.05,
    sides: Annotated[int, typer.Option(help="1 for a guardrail (only harm matters), 2 to detect either way.",
                     rich_help_panel=PLAN)] = 2,
    ratio: Annotated[str | None, typer.Option(help="Allocation treatment:control, e.g. 5:95 (default: the "
                     "canary against the rest, or 1:1).", rich_help_panel=PLAN)] = None,
    requests_per_user: Annotated[float | None, typer.Option(help="Mean requests per user (with unequal users: "
                                 "Σm²/Σm).", rich_help_panel=LLM)] = None,
    icc: Annotated[float | None, typer.Option(help="Intra-user correlation of one user's requests, e.g. 0.05.",
                   rich_help_panel=LLM)] = None,
    response_variance_share: Annotated[float | None, typer.Option(help="Share of a request's variance that "
                                       "random answers to the same input add (mean/ratio metrics; 0 if --sd was "
                                       "measured on this LLM feature).", rich_help_panel=LLM)] = None,
    sequential: Annotated[bool, typer.Option("--sequential", help="Peek-safe: the confidence sequence `decide` "
                          "uses, so the canary can be checked every day.", rich_help_panel=LLM)] = False,
    guardrails: Annotated[int, typer.Option(help="Number of guardrail metrics tested together (α/K each).",
                          rich_help_panel=LLM)] = 1,
    daily_users: Annotated[float | None, typer.Option(help="New users per day across all traffic.",
                           rich_help_panel=TIME)] = None,
    canary_percent: Annotated[float | None, typer.Option(help="Share of traffic the treatment gets, e.g. 5.",
                              rich_help_panel=TIME)] = None,
    from_traces: Annotated[list[str] | None, typer.Option(help="Historical traces to estimate the baseline, SD, "
                           "requests per user, ICC and daily users from (repeatable).", rich_help_panel=DATA,
                           show_default=False)] = None,
    metric_name: Annotated[str | None, typer.Option(help="Built-in metric to plan for, e.g. thumbs_down_rate.",
                           rich_help_panel=DATA)] = None,
    baseline: Annotated[str | None, typer.Option(help="Variant of the traces to measure (default: the only one, "
                        "or control/baseline/main).", rich_help_panel=DATA)] = None,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    simulate: Annotated[bool, typer.Option("--simulate", help="Check the answer by Monte Carlo on data drawn to "
                        "the same parameters.", rich_help_panel=CHECK)] = False,
    simulations: Annotated[int, typer.Option(help="Simulated canaries for --simulate.", rich_help_panel=CHECK)] = 500,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulation.", rich_help_panel=CHECK)] = 0,
    engine: Annotated[EngineName, typer.Option(
        "--engine", help="Where --from-traces is reduced: the embedded DuckDB, or Spark (pip install "
        "'rollctl\\[spark]').", rich_help_panel=DATA)] = EngineName.duckdb,
    spark_remote: SparkRemoteOpt = None,
    table: TableOpt = None,
    json_output: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """How many users and days a canary needs, or what it can detect, with the variance of LLM traffic.

    Leave out the one of --mde, --n-per-arm / --days and --power to solve for.

    The answer shows how many times more than a deterministic UI change it needs, and why.

    Example:

        rollctl power --metric proportion --baseline-rate 0.08 --mde 0.2 --relative --sides 1 --sequential

        rollctl power --from-traces traces.jsonl.gz --metric-name thumbs_down_rate --canary-percent 5 --mde 0.2

        rollctl power eval --from-evals sample_traces/evals/baseline.jsonl --mde 0.05
    """
    if ctx.invoked_subcommand is not None:
        return
    check_outputs([*(from_traces or []), config], html=html)
    check_engine_inputs(engine, from_traces, table, spark_remote, paths_are="--from-traces PATHS")
    from rollctl.core.power import PowerRequest, parse_ratio, plan_power
    from rollctl.render.power_view import render_power

    request = PowerRequest(
        metric=metric.value if metric is not None else None,
        baseline_rate=baseline_rate, baseline_mean=baseline_mean, sd=sd, mde=mde, relative=relative,
        n_per_arm=n_per_arm, days=days, power=power_, alpha=alpha, sides=sides,
        ratio=parse_ratio(ratio) if ratio is not None else None, requests_per_user=requests_per_user,
        icc=icc, response_variance_share=response_variance_share, sequential=sequential,
        guardrails=guardrails, daily_users=daily_users, canary_percent=canary_percent,
        from_traces=tuple(from_traces or ()) or ((table,) if table is not None else ()),
        metric_name=metric_name, baseline_variant=baseline,
        simulate=simulate, simulations=simulations, seed=seed,
    )
    cfg = open_config(config)
    options = replace(load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from, keep_text=True),
                      spark_table=table)
    result = run_on_engine(lambda db: plan_power(db, request, options), engine=engine, spark_remote=spark_remote,
                           json_mode=json_output, message="Simulating…" if simulate else "Planning…")
    if html is not None:
        from rollctl.render.reports.power import build_power_context  # plotly loads only for --html

        write_html("power", lambda: build_power_context(result), html)
    if json_output:
        emit_json(result)
    else:
        render_power(result, human())
    raise typer.Exit(code=result.exit_code)


@power_app.command("eval", epilog=POWER_EXIT_HELP)
def power_eval(
    sd_diff: Annotated[float | None, typer.Option(help="SD across cases of the difference in mean score "
                       "between the two variants (ω).")] = None,
    response_sd: Annotated[float | None, typer.Option(help="SD of one repeat's score around its case mean "
                           "(response randomness, σ; default 0).")] = None,
    from_evals: Annotated[list[str] | None, typer.Option(help="Eval results to estimate ω and σ from "
                          "(repeatable).", show_default=False)] = None,
    baseline: Annotated[str | None, typer.Option(help="Baseline variant in the eval results.")] = None,
    candidate: Annotated[str | None, typer.Option(help="Candidate variant, to measure the paired difference.")] = None,
    score: Annotated[ScoreOpt, typer.Option(help="passed (0/1, errors count as failed) or score.")] = ScoreOpt.passed,
    correlation: Annotated[float, typer.Option(help="Assumed per-case correlation of the two variants' scores "
                           "when the file holds one variant.")] = 0.5,
    mde: Annotated[float | None, typer.Option(help="Difference to detect in score units (0.05 = 5 points of pass "
                   "rate). Leave out to solve for it.")] = None,
    cases: Annotated[int | None, typer.Option(help="Cases in the eval set (default: those in --from-evals).")] = None,
    repeats: Annotated[int | None, typer.Option(help="Repeats per case and variant (default: as in the file, or 1).")]
    = None,
    power_: Annotated[float | None, typer.Option("--power", help="Target power (default 0.8).")] = None,
    alpha: Annotated[float, typer.Option(help="False-alarm rate.")] = 0.05,
    sides: Annotated[int, typer.Option(help="1 or 2 sided.")] = 2,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Cases or repeats per case an eval set needs to detect a difference (paired analysis, Miller 2024).

    n = (z_α/2 + z_β)² · (ω² + σ²_A/K_A + σ²_B/K_B) / δ². It says when no number of repeats suffices.

    Example:

        rollctl power eval --from-evals sample_traces/evals/baseline.jsonl --mde 0.05

        rollctl power eval --sd-diff 0.3 --response-sd 0.3 --cases 120 --mde 0.05
    """
    from rollctl.core.power import EvalRequest, plan_eval
    from rollctl.render.power_view import render_eval_power

    request = EvalRequest(
        sd_diff=sd_diff, response_sd=response_sd, from_evals=tuple(from_evals or ()), baseline_variant=baseline,
        candidate_variant=candidate, score=score.value, correlation=correlation,
        mde=mde, cases=cases, repeats=repeats, power=power_, alpha=alpha, sides=sides,
    )
    cfg = open_config(config)
    options = load_options(cfg, maps, on_bad_lines, fmt, variant_from=variant_from, keep_text=False)
    result = run(lambda db: plan_eval(db, request, options), json_mode=json_output, message="Planning…")
    if json_output:
        emit_json(result)
    else:
        render_eval_power(result, human())
    raise typer.Exit(code=result.exit_code)

"""The metric model a canary is planned on: given by hand (rate, SD, requests per user, ICC), or estimated
from historical traces (baseline, per-user variance, requests per user, the response-variance share of
repeated inputs, daily users)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollctl.core.power.results import BASELINE_NAMES, MIN_REPEATED_INPUTS, MetricKind, PowerRequest, TraceEstimates
from rollctl.core.results import Reason, iso_utc, skipped_lines_reason
from rollctl.db import Database, QueryEngine
from rollctl.engines.spark import SparkEngine
from rollctl.errors import UsageError
from rollctl.load import LoadOptions, load_inputs, require_fields
from rollctl.metrics import metric_named
from rollctl.sql import power as q
from rollctl.sql.units import ratio_moments
from rollctl.stats import power as pw
from rollctl.stats.power_sim import sizes_for_mean
from rollctl.text_distance import edit_distance_moments


@dataclass(frozen=True)
class MetricModel:
    """Everything the formulas need about the metric, manual or measured."""

    kind: MetricKind
    name: str
    baseline: float | None
    var_request: float
    """Per-observation variance as given (manual) or measured (total)."""
    requests_per_user: float
    m_eff: float
    design_effect: float
    icc: float
    response_share: float
    response_applied: bool
    """True: the share inflates the given variance; False: the measured variance already contains it."""
    direction: int
    cluster_sizes: tuple[tuple[int, int], ...]
    estimates: TraceEstimates | None


def model_from_options(req: PowerRequest, reasons: list[Reason]) -> MetricModel:
    kind = req.metric or "proportion"
    if kind == "proportion":
        if req.baseline_rate is None:
            raise UsageError("--metric proportion needs --baseline-rate", field="baseline_rate",
                             fix="e.g. --baseline-rate 0.08, or --from-traces PATH --metric-name thumbs_down_rate")
        if not 0 < req.baseline_rate < 1:
            raise UsageError(f"the baseline rate must be strictly between 0 and 1 (got {req.baseline_rate:g}); "
                             "a rate of 0 or 1 has no variance to plan with", field="baseline_rate")
        if req.response_variance_share:
            raise UsageError(
                "--response-variance-share does not apply to a 0/1 rate: its per-request variance is p(1 − p) "
                "whatever makes it random, so response randomness is already in --baseline-rate",
                field="response_variance_share",
                fix="leave it out; the clustering of one user's requests is --icc (or measure it with --from-traces)")
        baseline: float | None = req.baseline_rate
        var = req.baseline_rate * (1 - req.baseline_rate)
    else:
        if req.sd is None or not req.sd > 0:
            raise UsageError(f"--metric {kind} needs --sd > 0 (the SD of one request's value)", field="sd",
                             fix="e.g. --sd 180, or --from-traces PATH --metric-name latency_mean_ms")
        baseline = req.baseline_mean
        var = req.sd * req.sd
        if kind == "ratio" and (req.requests_per_user is None or req.icc is None):
            raise UsageError("--metric ratio needs the per-user moments: --requests-per-user and --icc "
                             "(or --from-traces)", field="requests_per_user")
    m = req.requests_per_user if req.requests_per_user is not None else 1.0
    if req.icc is not None and req.requests_per_user is None:
        raise UsageError("--icc needs --requests-per-user", field="requests_per_user", fix="e.g. --requests-per-user 4")
    icc = req.icc if req.icc is not None else 0.0
    if req.requests_per_user is not None and req.icc is None and m > 1:
        reasons.append(Reason("ICC_ASSUMED_ZERO", "no --icc given: repeat requests of one user are treated as "
                                                  "independent, which understates the users needed"))
    deff = pw.design_effect(m, icc)
    share = req.response_variance_share or 0.0
    pw.response_variance_factor(share)
    sizes, weights = sizes_for_mean(m)
    return MetricModel(
        kind=kind, name=kind, baseline=baseline, var_request=var, requests_per_user=m, m_eff=m,
        design_effect=deff, icc=icc, response_share=share, response_applied=True,
        direction=_direction(req.mde, harmful=1),
        cluster_sizes=tuple((s, max(1, round(w * 1_000_000))) for s, w in zip(sizes, weights, strict=True)),
        estimates=None,
    )


def _pick_baseline(db: QueryEngine, wanted: str | None) -> str:
    variants = q.variant_users(db)
    names = [v for v, _ in variants]
    if not names:
        raise UsageError("the traces have no variant with users", field="variant", fix="map one with --map variant=...")
    if wanted is not None:
        if wanted not in names:
            raise UsageError(f"--baseline {wanted!r} is not a variant in the traces", field="baseline",
                             fix="variants: " + ", ".join(names))
        return wanted
    if len(names) == 1:
        return names[0]
    for name in BASELINE_NAMES:
        if name in names:
            return name
    raise UsageError("the traces hold several variants and none is called control/baseline/main",
                     field="baseline", fix="name it with --baseline NAME (variants: " + ", ".join(names) + ")")


def model_from_traces(db: Database | SparkEngine, req: PowerRequest, options: LoadOptions,
                      reasons: list[Reason]) -> MetricModel:
    if req.metric is not None:
        raise UsageError("--metric and --from-traces both describe the metric", field="metric",
                         fix="with --from-traces, name the metric with --metric-name")
    for name, value in (("--baseline-rate", req.baseline_rate), ("--baseline-mean", req.baseline_mean),
                        ("--sd", req.sd), ("--requests-per-user", req.requests_per_user), ("--icc", req.icc)):
        if value is not None:
            raise UsageError(f"{name} and --from-traces both describe the metric", field=name.strip("-"),
                             fix="use one: the traces, or the numbers")
    if req.metric_name is None:
        raise UsageError("--from-traces needs --metric-name", field="metric_name",
                         fix="e.g. --metric-name thumbs_down_rate")
    metric = metric_named(req.metric_name)
    is_text = metric.kind == "text_distance"
    if not is_text and (metric.kind != "ratio" or metric.numerator is None or metric.denominator is None):
        raise UsageError(f"power from traces supports per-user ratio metrics; {metric.name} is a {metric.kind} "
                         "metric", field="metric_name", fix="e.g. thumbs_down_rate, error_rate, latency_mean_ms")
    # A catalog table (`--table`, Spark) stands in the request's sources under its name, and is read by name.
    report = load_inputs(db, [] if options.spark_table is not None else list(req.from_traces), options)
    require_fields(report, "traces", ["user_id", "variant", *metric.required_fields], command="power")
    if report.skipped_lines:
        reasons.append(skipped_lines_reason(report.skipped_lines))
    base = _pick_baseline(db, req.baseline_variant)
    served = "coalesce(served, TRUE)"  # shadow computations were never seen by a user
    found = report.found_fields("traces")
    if is_text:
        # Edit distance: the same per-user moments as decide (rapidfuzz over streamed text); the per-request
        # variance is that of d itself, so request_id is not needed.
        arms = edit_distance_moments(db, variants=[base], where_sql=served)
        if base not in arms:
            raise UsageError(f"no request of variant {base} has both output and final_text: there is no edit "
                             "distance to plan with", field="metric_name",
                             fix="map final_text (what the user sent) with --map final_text=<your field>")
        user_m = arms[base].moments
        var_request = arms[base].request_variance
        observations = arms[base].requests
    else:
        user_m = ratio_moments(db, [metric], variants=[base], where_sql=served)[base].metrics[metric.name]
        if "request_id" in found:
            req_m = ratio_moments(db, [metric], unit="request_id", variants=[base], where_sql=served)[base] \
                .metrics[metric.name]
            var_request = req_m.unit_variance()
            observations = req_m.n
        elif metric.is_proportion:
            r = user_m.ratio
            var_request = r * (1 - r)
            observations = int(user_m.sum_n)
        else:
            raise UsageError("power from traces needs request_id to measure the per-request variance",
                             field="request_id", fix="use --map request_id=<your field>")
    unit_var = user_m.unit_variance()
    baseline = user_m.ratio
    if user_m.n < 2 or not math.isfinite(unit_var) or not math.isfinite(var_request) or var_request <= 0:
        raise UsageError(f"the {metric.name} of variant {base} does not vary in these traces (or has fewer than 2 "
                         "users): there is no variance to plan with", field="metric_name",
                         fix="use more traces or another metric")
    if metric.is_proportion and not 0 < baseline < 1:
        raise UsageError(f"the measured baseline rate of {metric.name} is {baseline:g}: a rate of 0 or 1 has no "
                         "variance to plan with", field="metric_name")
    m_bar = observations / user_m.n
    m_eff = pw.effective_cluster_size(user_m.sum_n, user_m.sum_n2)
    deff = unit_var * m_bar / var_request
    icc = pw.icc_from_design_effect(deff, m_eff)
    if deff < 1:
        reasons.append(Reason("DESIGN_EFFECT_BELOW_ONE", f"the measured design effect is {deff:.2f} (< 1): one "
                              "user's requests vary less together than independent ones; planning uses it as measured"))
    # Response randomness: pooled within-input variance among inputs answered more than once.
    share: float | None = None
    rep = q.repeated_inputs(db, metric, base) if "input" in found and not is_text else q.RepeatedInputs(0, 0, 0.0, 0)
    if rep.inputs >= MIN_REPEATED_INPUTS and rep.within_df > 0:
        share = min(max(rep.within_ss / rep.within_df / var_request, 0.0), 0.95)
    elif is_text and req.response_variance_share is None:
        reasons.append(Reason("RESPONSE_VARIANCE_NOT_ESTIMATED", f"the response randomness of {metric.name} is not "
                              "estimated from repeated inputs; it stays inside the measured variance"))
    elif req.response_variance_share is None:
        reasons.append(Reason("RESPONSE_VARIANCE_NOT_ESTIMATED",
                              f"only {rep.inputs} input(s) were answered more than once (need "
                              f"{MIN_REPEATED_INPUTS}); the response randomness stays inside the measured variance"))
    if req.response_variance_share is not None:
        pw.response_variance_factor(req.response_variance_share)
        share = req.response_variance_share
    traffic = q.traffic(db)
    daily = traffic.users / traffic.days if traffic.days > 0 else None
    base_traffic = q.traffic(db, base)
    base_daily = base_traffic.users / traffic.days if traffic.days > 0 else None
    if daily is None and req.daily_users is None:
        reasons.append(Reason("NO_TIMESTAMPS", "the traces have no timestamps: give --daily-users to get days"))
    estimates = TraceEstimates(
        paths=tuple(req.from_traces), metric=metric.name, baseline_variant=base, users=user_m.n,
        requests=observations, requests_per_user=m_bar, effective_requests_per_user=m_eff, baseline=baseline,
        sd_per_request=math.sqrt(var_request), unit_variance=unit_var, design_effect=deff, icc=icc,
        response_variance_share=share, repeated_inputs=rep.inputs, daily_users=daily,
        days_observed=traffic.days, users_all_arms=traffic.users, baseline_daily_users=base_daily,
        first=iso_utc(traffic.first), last=iso_utc(traffic.last),
    )
    used_share = share or 0.0
    if metric.is_proportion and used_share > 0:
        reasons.append(Reason("RESPONSE_SHARE_NOT_A_MULTIPLIER_FOR_RATES",
                              f"{used_share:.0%} of the variance of {metric.name} is among requests with the same "
                              "input, but a 0/1 rate's variance is p(1 − p) whatever makes it random: no multiplier"))
        used_share = 0.0
    return MetricModel(
        kind="proportion" if metric.is_proportion else "ratio", name=metric.name, baseline=baseline,
        var_request=var_request, requests_per_user=m_bar, m_eff=m_eff, design_effect=deff, icc=icc,
        response_share=used_share, response_applied=False,
        direction=_direction(req.mde, harmful=-1 if metric.higher_is_better else 1),
        cluster_sizes=tuple(q.cluster_sizes(db, metric, base)), estimates=estimates,
    )


def _direction(mde: float | None, *, harmful: int) -> int:
    """The sign of --mde is the direction of the change; solving for the MDE looks in the harmful one."""
    if mde is None:
        return harmful
    return -1 if mde < 0 else 1


def model_variances(model: MetricModel, *, deterministic: bool) -> pw.Variances:
    """Per-user variances the test will face (or, `deterministic`, those a naive calculator assumes)."""
    if deterministic:
        scale = 1 - model.response_share if not model.response_applied else 1.0
        per_unit = scale
    else:
        response = pw.response_variance_factor(model.response_share) if model.response_applied else 1.0
        per_unit = model.design_effect * response / model.requests_per_user
    if model.kind == "proportion":
        assert model.baseline is not None
        return pw.proportion_variances(model.baseline, inflation=per_unit)
    return pw.constant_variances(model.var_request * per_unit)

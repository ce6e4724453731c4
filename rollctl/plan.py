"""The rollout plan: a TOML file written before the rollout, versioned with the code.

The plan fixes the decision rule before the data comes in (arms, unit, ramp, minimum duration,
guardrails with their tolerances, the primary metric, alpha and power), so `rollctl decide` can be
re-run every day without anyone moving the goalposts. Parsed into frozen dataclasses; every problem is
a `PlanError` naming the file, the key and the fix.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from rollctl import custom_metrics
from rollctl.errors import PlanError
from rollctl.metrics import BUILTIN_METRICS, Metric, metric_named

ChangeKind = Literal["model", "prompt", "tool", "system_prompt", "retrieval"]
CHANGE_KINDS: tuple[str, ...] = ("model", "prompt", "tool", "system_prompt", "retrieval")
HashName = Literal["sha256", "growthbook-v2", "launchdarkly"]
HASHES: tuple[str, ...] = ("sha256", "growthbook-v2", "launchdarkly")
TOLERANCE_KEYS = ("max_relative_increase", "max_absolute_increase", "max_relative_decrease", "max_absolute_decrease")


@dataclass(frozen=True)
class Guardrail:
    """ROLLBACK when clearly breached: harm shown by the sequence and an estimate beyond the tolerance."""

    metric: str
    bad_direction: Literal["increase", "decrease"]
    scale: Literal["absolute", "relative"]
    tolerance: float
    """Largest acceptable change in the bad direction, on `scale` (a positive number)."""

    @property
    def rule(self) -> str:
        word = "relative" if self.scale == "relative" else "absolute"
        amount = f"{self.tolerance:.0%}" if self.scale == "relative" else f"{self.tolerance:g}"
        return f"max_{word}_{self.bad_direction} = {self.tolerance:g} ({self.metric} may not {self.bad_direction} " \
               f"by more than {amount}{'' if self.scale == 'relative' else ' absolute'})"


@dataclass(frozen=True)
class Primary:
    """What GO must not lose (and may win); also sets the planned sample size through its MDE."""

    metric: str
    direction: Literal["increase", "decrease"]
    """The good direction."""
    min_detectable_effect: float | None
    min_detectable_relative_effect: float | None


@dataclass(frozen=True)
class CustomMetric:
    name: str
    numerator: str
    denominator: str | None
    higher_is_better: bool | None


@dataclass(frozen=True)
class Plan:
    """A parsed, validated rollout plan."""

    path: str
    sha256: str
    name: str
    change: ChangeKind
    baseline: str
    candidate: str
    unit: str
    salt: str | None
    hash: HashName | None
    stages: tuple[float, ...]
    current_stage: float | None
    min_stage_hours: float
    canary_min_days: int
    alpha: float
    power: float
    planned_units: int | None
    max_mixed_exposure: float
    max_assignment_mismatch: float
    srm_p_value: float
    srm_min_relative_deviation: float
    max_cache_hit_difference: float
    require_pinned_models: bool
    guardrails: tuple[Guardrail, ...]
    primary: tuple[Primary, ...]
    custom_metrics: tuple[CustomMetric, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    def metric(self, name: str) -> Metric:
        """The metric definition: a custom one from the plan, else the built-in catalog."""
        for c in self.custom_metrics:
            if c.name == name:
                return compile_custom(c)
        return metric_named(name)

    def next_stage(self, stage: float) -> float | None:
        later = [s for s in self.stages if s > stage]
        return later[0] if later else None


def compile_custom(c: CustomMetric) -> Metric:
    num = custom_metrics.validate_expression(c.numerator, f"metrics.{c.name}.numerator")
    den = custom_metrics.validate_expression(c.denominator, f"metrics.{c.name}.denominator") if c.denominator else None
    fields = set(custom_metrics.fields_of(num)) | (set(custom_metrics.fields_of(den)) if den is not None else set())

    def denominator(params: Any) -> str:
        return custom_metrics.per_unit_sum(den)(params) if den is not None else "count(*)"

    return Metric(
        name=c.name, kind="ratio", description=f"custom: sum({c.numerator}) / "
        f"{'sum(' + c.denominator + ')' if c.denominator else 'requests'}", unit="custom",
        higher_is_better=c.higher_is_better, required_fields=tuple(sorted(fields)),
        numerator=custom_metrics.per_unit_sum(num), denominator=denominator,
    )


_ROLLOUT_KEYS = {
    "name", "change", "baseline", "candidate", "unit", "salt", "hash", "stages", "current_stage",
    "min_stage_hours", "canary_min_days", "alpha", "power", "planned_units", "max_mixed_exposure",
    "max_assignment_mismatch", "srm_p_value", "srm_min_relative_deviation", "max_cache_hit_difference",
    "require_pinned_models",
}
_TOP_KEYS = {"rollout", "guardrails", "primary", "metrics"}


class _Reader:
    """Typed access to one TOML table with errors that name the file and the dotted key."""

    def __init__(self, path: str, table: dict[str, Any], prefix: str) -> None:
        self.path, self.table, self.prefix = path, table, prefix

    def err(self, key: str, message: str, fix: str) -> PlanError:
        full = f"{self.prefix}.{key}" if self.prefix else key
        return PlanError(f"{full}: {message}", path=self.path, field=full, fix=fix)

    def str_(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        if key not in self.table:
            if required:
                raise self.err(key, "is missing", f'add {key} = "..."')
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.err(key, "must be a non-empty string", f'write {key} = "..."')
        return value

    def num(self, key: str, default: float | None, low: float, high: float, *, open_low: bool = False,
            open_high: bool = False) -> float | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.err(key, "must be a number", f"write {key} = <number>")
        bad_low = value <= low if open_low else value < low
        bad_high = value >= high if open_high else value > high
        if bad_low or bad_high:
            lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
            raise self.err(key, f"is {value}, outside {lo}{low:g}, {high:g}{hi}", "pick a value inside the range")
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            raise self.err(key, "must be true or false", f"write {key} = true")
        return value

    def unknown(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.err(key, "is not a known key", "known keys: " + ", ".join(sorted(allowed)))


def plan_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError:
        raise PlanError("plan file not found or unreadable", path=str(p), fix="check the --plan path, or write one "
                        "with `rollctl plan init > rollout.toml`") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"not valid TOML ({exc})", path=str(p), fix="fix the syntax") from None
    except RecursionError:
        raise PlanError("arrays or tables nest too deeply to read", path=str(p),
                        fix="a rollctl TOML file nests a few levels at most; fix the file") from None
    return parse_plan(doc, path=str(p), sha256=plan_sha256(data))


# The placeholders `rollctl plan init` writes (templates/plan_rollout.toml), refused until edited.
TEMPLATE_NAME = "describe the change"
TEMPLATE_SALT_PREFIX = "change_me"


def parse_plan(doc: dict[str, Any], *, path: str = "rollout.toml", sha256: str = "") -> Plan:
    top = _Reader(path, doc, "")
    top.unknown(_TOP_KEYS)
    if not isinstance(doc.get("rollout"), dict):
        raise PlanError("[rollout] table is missing", path=path, field="rollout",
                        fix="start the plan with [rollout] (see `rollctl plan init`)")
    r = _Reader(path, doc["rollout"], "rollout")
    r.unknown(_ROLLOUT_KEYS)
    warnings: list[str] = []
    change = r.str_("change", required=True)
    if change not in CHANGE_KINDS:
        raise r.err("change", f"is {change!r}", "use one of " + ", ".join(CHANGE_KINDS))
    baseline = r.str_("baseline", required=True)
    candidate = r.str_("candidate", required=True)
    assert baseline is not None and candidate is not None
    if baseline == candidate:
        raise r.err("candidate", "names the same variant as baseline", "name the two arms as in the traces")
    unit = r.str_("unit", "user_id")
    assert unit is not None
    if unit not in ("user_id", "session_id"):
        raise r.err("unit", f"is {unit!r}", "randomize by user_id (or session_id); request-level "
                    "randomization makes arms share users")
    hash_name = r.str_("hash")
    if hash_name is not None and hash_name not in HASHES:
        raise r.err("hash", f"is {hash_name!r}", "use one of " + ", ".join(HASHES))
    salt = r.str_("salt")
    if hash_name is not None and salt is None:
        raise r.err("salt", "is missing but hash is set", "add the salt (seed) the flag system hashes with")
    if salt is not None and salt.startswith(TEMPLATE_SALT_PREFIX):
        # `rollctl plan init`'s placeholder: the audit would compare the traces with an assignment nobody ran,
        # and blame the sample ratio and the assignment for it.
        raise r.err("salt", "is still the template's placeholder", "set it to the salt (seed) your flag system "
                    "hashes this rollout with")
    if r.str_("name") == TEMPLATE_NAME:
        raise r.err("name", "is still the template's placeholder", "name the change (it is shown in every report)")
    stages = _stages(r)
    current = r.num("current_stage", None, 0, 100, open_low=True)
    if current is not None and current not in stages:
        raise r.err("current_stage", f"{current:g} is not one of the stages", "pick a value from stages")
    customs = _customs(path, doc.get("metrics", {}))
    custom_names = {c.name for c in customs}
    guardrails = _guardrails(path, doc.get("guardrails", []), custom_names)
    primary = _primaries(path, doc.get("primary", []), custom_names)
    plan = Plan(
        path=path, sha256=sha256, name=r.str_("name", "rollout") or "rollout", change=change,  # type: ignore[arg-type]
        baseline=baseline, candidate=candidate, unit=unit, salt=salt, hash=hash_name,  # type: ignore[arg-type]
        stages=stages, current_stage=current,
        min_stage_hours=r.num("min_stage_hours", 24.0, 0, 24 * 90) or 0.0,
        canary_min_days=int(r.num("canary_min_days", 7.0, 0, 90) or 0),
        alpha=r.num("alpha", 0.05, 0, 0.5, open_low=True, open_high=True) or 0.05,
        power=r.num("power", 0.8, 0.5, 1, open_high=True) or 0.8,
        planned_units=_opt_int(r.num("planned_units", None, 1, 1e12)),
        max_mixed_exposure=r.num("max_mixed_exposure", 0.05, 0, 1) or 0.0,
        max_assignment_mismatch=r.num("max_assignment_mismatch", 0.01, 0, 1) or 0.0,
        srm_p_value=r.num("srm_p_value", 0.001, 0, 0.5, open_low=True) or 0.001,
        srm_min_relative_deviation=r.num("srm_min_relative_deviation", 0.02, 0, 1) or 0.0,
        max_cache_hit_difference=r.num("max_cache_hit_difference", 0.05, 0, 1) or 0.0,
        require_pinned_models=r.bool_("require_pinned_models", change == "model"),
        guardrails=guardrails, primary=primary, custom_metrics=customs, warnings=tuple(warnings),
    )
    if not guardrails:
        warnings.append("no [[guardrails]]: decide can never roll back; add thumbs_down_rate and error_rate")
    if change == "tool" and plan.stages[0] > 5:
        warnings.append("a tool-definition change is a major change: start the ramp at 1-5 %")
    if not primary:
        warnings.append("no [[primary]] metric: the planned sample size comes from planned_units or the first "
                        "guardrail's tolerance")
    for g in guardrails:
        if g.metric == "judge_score":
            warnings.append("guardrail judge_score: a judge score is a monitor, not a user outcome")
    return Plan(**{**plan.__dict__, "warnings": tuple(warnings)})


def _opt_int(value: float | None) -> int | None:
    return int(value) if value is not None else None


def _stages(r: _Reader) -> tuple[float, ...]:
    raw = r.table.get("stages")
    if raw is None:
        raise r.err("stages", "is missing", "add stages = [1, 5, 25, 50, 100]")
    if not isinstance(raw, list) or not raw or not all(
            isinstance(s, int | float) and not isinstance(s, bool) for s in raw):
        raise r.err("stages", "must be a list of percentages", "write stages = [1, 5, 25, 50, 100]")
    stages = tuple(float(s) for s in raw)
    if any(not 0 < s <= 100 for s in stages):
        raise r.err("stages", "holds a value outside (0, 100]", "percent of units on the candidate, e.g. 5")
    if any(b <= a for a, b in zip(stages, stages[1:], strict=False)):
        raise r.err("stages", "must increase strictly", "a ramp only goes up (a user keeps the candidate)")
    return stages


def _tables(path: str, raw: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise PlanError(f"{name} must be an array of tables", path=path, field=name,
                        fix=f"write each one as [[{name}]]")
    return raw


def _check_metric(path: str, key: str, name: Any, customs: set[str]) -> str:
    if not isinstance(name, str) or not name:
        raise PlanError(f"{key}: metric is missing", path=path, field=key, fix='add metric = "thumbs_down_rate"')
    if name in customs:
        return name
    try:
        metric_named(name)  # every built-in kind (ratio, quantile, text distance) can be decided on
    except PlanError as exc:
        raise PlanError(f"{key}: {exc.message}", path=path, field=key, fix=exc.fix) from None
    return name


def _guardrails(path: str, raw: Any, customs: set[str]) -> tuple[Guardrail, ...]:
    out: list[Guardrail] = []
    for i, t in enumerate(_tables(path, raw, "guardrails")):
        r = _Reader(path, t, f"guardrails[{i}]")
        r.unknown({"metric", *TOLERANCE_KEYS})
        metric = _check_metric(path, f"guardrails[{i}]", t.get("metric"), customs)
        given = [k for k in TOLERANCE_KEYS if k in t]
        if len(given) != 1:
            raise r.err("max_relative_increase", f"{metric} needs exactly one tolerance (found {len(given)})",
                        "set one of " + ", ".join(TOLERANCE_KEYS))
        key = given[0]
        value = r.num(key, None, 0, 1e9)
        assert value is not None
        if "relative" in key and value > 10:
            raise r.err(key, f"is {value:g}", "relative tolerances are fractions: 0.20 means 20 %")
        out.append(Guardrail(metric=metric, bad_direction="increase" if key.endswith("increase") else "decrease",
                             scale="relative" if "relative" in key else "absolute", tolerance=value))
    names = [g.metric for g in out]
    if len(set(names)) != len(names):
        raise PlanError("a guardrail metric is listed twice", path=path, field="guardrails",
                        fix="keep one [[guardrails]] per metric")
    return tuple(out)


def _primaries(path: str, raw: Any, customs: set[str]) -> tuple[Primary, ...]:
    out: list[Primary] = []
    for i, t in enumerate(_tables(path, raw, "primary")):
        r = _Reader(path, t, f"primary[{i}]")
        r.unknown({"metric", "direction", "min_detectable_effect", "min_detectable_relative_effect"})
        metric = _check_metric(path, f"primary[{i}]", t.get("metric"), customs)
        if metric == "judge_score":
            raise r.err("metric", "judge_score cannot be a primary metric: a judge's rubric score is a noisy "
                        "proxy that can drift between arms and is not what users experience",
                        "monitor judge_score; decide on user-observable metrics (task_completion_rate, "
                        "thumbs_down_rate, retry_rate)")
        direction = r.str_("direction", required=True)
        if direction not in ("increase", "decrease"):
            raise r.err("direction", f"is {direction!r}", 'use "increase" or "decrease" (the good direction)')
        abs_mde = r.num("min_detectable_effect", None, 0, 1e9, open_low=True)
        rel_mde = r.num("min_detectable_relative_effect", None, 0, 10, open_low=True)
        if (abs_mde is None) == (rel_mde is None):
            raise r.err("min_detectable_effect", "set exactly one of min_detectable_effect (absolute) or "
                        "min_detectable_relative_effect", "e.g. min_detectable_effect = 0.02")
        out.append(Primary(metric=metric, direction=direction, min_detectable_effect=abs_mde,  # type: ignore[arg-type]
                           min_detectable_relative_effect=rel_mde))
    return tuple(out)


def _customs(path: str, raw: Any) -> tuple[CustomMetric, ...]:
    if not isinstance(raw, dict):
        raise PlanError("[metrics] must be a table of tables", path=path, field="metrics",
                        fix='write [metrics.my_metric] numerator = "..."')
    out: list[CustomMetric] = []
    for name, t in raw.items():
        key = f"metrics.{name}"
        if not isinstance(t, dict):
            raise PlanError(f"{key} must be a table", path=path, field=key, fix=f'write [{key}] numerator = "..."')
        if not name.replace("_", "").isalnum():
            raise PlanError(f"{key}: metric names are letters, digits and _", path=path, field=key,
                            fix="rename the metric")
        if name in BUILTIN_METRICS or name.startswith("error_rate"):
            raise PlanError(f"{key} shadows a built-in metric", path=path, field=key, fix="pick another name")
        r = _Reader(path, t, key)
        r.unknown({"numerator", "denominator", "higher_is_better"})
        num = r.str_("numerator", required=True)
        den = r.str_("denominator")
        higher = t.get("higher_is_better")
        if higher is not None and not isinstance(higher, bool):
            raise r.err("higher_is_better", "must be true or false", "write higher_is_better = false")
        c = CustomMetric(name=name, numerator=num or "", denominator=den, higher_is_better=higher)
        try:
            compile_custom(c)
        except PlanError as exc:
            raise PlanError(exc.message, path=path, field=exc.field, fix=exc.fix) from None
        out.append(c)
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# Templates for `rollctl plan init`
# ---------------------------------------------------------------------------------------------------

_CHANGE_DEFAULTS: dict[str, dict[str, str]] = {
    "model": {"stages": "[1, 5, 25, 50, 100]", "min_stage_hours": "24", "canary_min_days": "7",
              "pinned": "true", "note": "a model bump: both arms must name pinned snapshots (a date or version)"},
    "prompt": {"stages": "[5, 25, 50, 100]", "min_stage_hours": "24", "canary_min_days": "7",
               "pinned": "false", "note": "a prompt change: the model must stay the same in both arms"},
    "tool": {"stages": "[1, 5, 10, 25, 50, 100]", "min_stage_hours": "48", "canary_min_days": "7",
             "pinned": "false", "note": "a tool-definition change is a MAJOR change: small first stage, longer "
             "stages, error_rate:tool_error as a guardrail"},
    "system_prompt": {"stages": "[1, 5, 25, 50, 100]", "min_stage_hours": "24", "canary_min_days": "7",
                      "pinned": "false", "note": "a system-prompt change touches every request: start small"},
    "retrieval": {"stages": "[5, 25, 50, 100]", "min_stage_hours": "24", "canary_min_days": "7",
                  "pinned": "false", "note": "a retrieval change: watch latency and refusals as well"},
}


def template(change: str) -> str:
    """A commented plan template with defaults that fit the kind of change."""
    if change not in _CHANGE_DEFAULTS:
        raise PlanError(f"unknown change kind {change!r}", field="change", fix="use one of " + ", ".join(CHANGE_KINDS))
    text = resources.files("rollctl").joinpath("templates/plan_rollout.toml").read_text(encoding="utf-8")
    d = _CHANGE_DEFAULTS[change]
    extra = ""
    if change == "tool":
        extra = '\n[[guardrails]]\nmetric = "error_rate:tool_error"\nmax_absolute_increase = 0.002\n'
    first = d["stages"].strip("[]").split(",")[0].strip()
    values = {"{change}": change, "{stages}": d["stages"], "{min_stage_hours}": d["min_stage_hours"],
              "{canary_min_days}": d["canary_min_days"], "{pinned}": d["pinned"], "{first_stage}": first,
              "{note}": d["note"], "{extra_guardrails}": extra}
    for key, value in values.items():
        text = text.replace(key, value)
    return text

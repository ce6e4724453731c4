"""Rollout plans: init templates, check, precise errors, the custom-metric grammar."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from rollctl.custom_metrics import validate_expression
from rollctl.db import connect
from rollctl.errors import PlanError
from rollctl.load.expressions import SqlParams
from rollctl.plan import load_plan, parse_plan, template
from rollctl.sql.units import ratio_moments
from tests.conftest import invoke

SAMPLE_PLAN = Path(__file__).resolve().parent.parent / "sample_traces" / "rollout.toml"

BASE = """
[rollout]
change = "model"
baseline = "control"
candidate = "treatment"
salt = "s"
stages = [5, 25, 100]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollout.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("change", ["model", "prompt", "tool", "system_prompt", "retrieval"])
def test_init_templates_are_valid_plans_once_their_placeholders_are_edited(change: str, tmp_path: Path) -> None:
    template = invoke(["plan", "init", "--change", change], expect=0).stdout
    unedited = invoke(["plan", "check", str(write(tmp_path, template))], expect=2)
    assert "rollout.salt: is still the template's placeholder" in unedited.stderr
    text = template.replace('salt = "change_me_2026_01_01"', 'salt = "checkout_prompt_v7"')
    assert "rollout.name: is still the template's placeholder" in invoke(
        ["plan", "check", str(write(tmp_path, text))], expect=2).stderr
    text = text.replace('name = "describe the change"', 'name = "checkout prompt v7"')
    plan = parse_plan(tomllib.loads(text))
    assert plan.change == change
    assert plan.require_pinned_models is (change == "model")
    if change == "tool":
        assert plan.stages[0] <= 1 and any(g.metric == "error_rate:tool_error" for g in plan.guardrails)
        assert plan.min_stage_hours >= 48
    path = write(tmp_path, text)
    invoke(["plan", "check", str(path)], expect=0)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, "x")
    result = invoke(["plan", "init", "--output", str(path)], expect=2)
    assert "exists" in result.stderr


def test_sample_plan_checks(tmp_path: Path) -> None:
    data = invoke(["plan", "check", str(SAMPLE_PLAN), "--json"], expect=0).json()
    assert data["verdict"] == "pass" and data["plan"]["stages"] == [5, 25, 50, 100]
    assert {g["metric"] for g in data["plan"]["guardrails"]} >= {"thumbs_down_rate", "error_rate"}


def test_judge_score_primary_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '[[primary]]\nmetric = "judge_score"\ndirection = "increase"\n'
                 "min_detectable_effect = 0.1\n")
    result = invoke(["plan", "check", str(path)], expect=2)
    assert "primary[0].metric" in result.stderr and "judge_score cannot be a primary metric" in result.stderr
    assert "user-observable" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("extra", "message"), [
    ("[[guardrails]]\nmetric = \"thumbs_down_rate\"\n", "exactly one tolerance"),
    ("[[guardrails]]\nmetric = \"thumbsdown\"\nmax_absolute_increase = 0.1\n", "unknown metric"),
    ("[[guardrails]]\nmetric = \"error_rate\"\nmax_relative_increase = 20\n", "relative tolerances are fractions"),
    ("[[primary]]\nmetric = \"task_completion_rate\"\ndirection = \"up\"\nmin_detectable_effect = 0.1\n",
     "primary[0].direction"),
    ("[metrics.bad]\nnumerator = \"__import__('os').system('x')\"\n", "only coalesce() and abs()"),
    ("[metrics.bad]\nnumerator = \"thumbs; DROP TABLE traces\"\n", "not a valid expression"),
    ("[metrics.bad]\nnumerator = \"secret_field == 1\"\n", "unknown field"),
])
def test_bad_plans_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    result = invoke(["plan", "check", str(write(tmp_path, BASE + extra))], expect=2)
    assert message in result.stderr
    assert str(tmp_path / "rollout.toml") in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    (BASE.replace('stages = [5, 25, 100]', 'stages = [25, 5]'), "must increase"),
    (BASE.replace('change = "model"', 'change = "vibes"'), "rollout.change"),
    (BASE + 'unit = "request_id"\n', "rollout.unit"),
    (BASE + 'alpha = 0.7\n', "rollout.alpha"),
    (BASE + 'colour = "blue"\n', "not a known key"),
    (BASE + 'hash = "md5"\n', "rollout.hash"),
    ("[rollout\n", "not valid TOML"),
])
def test_rollout_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, text))
    assert message in info.value.one_line()


def test_missing_plan_file(tmp_path: Path) -> None:
    result = invoke(["plan", "check", str(tmp_path / "nope.toml")], expect=2)
    assert "plan init" in result.stderr


def test_custom_metric_compiles_to_parameterised_sql_and_counts_right(tmp_path: Path) -> None:
    plan = parse_plan(tomllib.loads(BASE + '[metrics.broken_or_retried]\nnumerator = "error == \'json_parse\' or '
                                    'retried"\nhigher_is_better = false\n[[guardrails]]\nmetric = '
                                    '"broken_or_retried"\nmax_absolute_increase = 0.01\n'))
    metric = plan.metric("broken_or_retried")
    params = SqlParams()
    sql = metric.numerator(params) if metric.numerator else ""
    assert "json_parse" not in sql and list(params.values.values()) == ["json_parse"]
    db = connect()
    db.execute("CREATE TEMP TABLE traces (user_id VARCHAR, variant VARCHAR, error VARCHAR, retried BOOLEAN)")
    db.execute("INSERT INTO traces VALUES ('a','c','json_parse',false), ('a','c',NULL,true), ('a','c',NULL,false),"
               "('b','c',NULL,NULL)")
    moments = ratio_moments(db, [metric])["c"].metrics["broken_or_retried"]
    assert moments.sum_y == 2 and moments.sum_n == 4 and moments.n == 2


def test_grammar_accepts_the_documented_forms() -> None:
    for expr in ("thumbs == -1", "error in ('timeout', 'rate_limit')", "error is not None and not retried",
                 "coalesce(cost_usd, 0) * 1000", "abs(latency_ms - ttft_ms) / 1000", "cache_hit"):
        validate_expression(expr, "metrics.x.numerator")
    for expr in ("thumbs < 1 < 2", "error is 'x'", "error in (thumbs,)", "[1, 2]", "thumbs ** 2", "x.y"):
        with pytest.raises(PlanError):
            validate_expression(expr, "metrics.x.numerator")


def test_template_has_every_contract_key() -> None:
    text = template("model")
    for key in ("name", "change", "baseline", "candidate", "unit", "salt", "stages", "min_stage_hours",
                "canary_min_days", "alpha", "power", "[[guardrails]]", "max_relative_increase",
                "max_absolute_increase", "[[primary]]", "direction", "min_detectable_effect"):
        assert key in text


def test_no_user_text_reaches_sql() -> None:
    """Whatever a plan's expression says, the SQL holds only quoted identifiers, operators and $params."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rollctl.custom_metrics import ALLOWED_FIELDS, FIELD_TYPES, to_sql

    text = st.text(max_size=12)
    number = st.one_of(st.integers(-5, 5), st.floats(-2, 2, allow_nan=False))
    field_and_literal = st.sampled_from(sorted(ALLOWED_FIELDS)).flatmap(
        lambda name: st.tuples(st.just(name), text if FIELD_TYPES[name] == "text" else number))

    @settings(max_examples=200, deadline=None)
    @given(field_and_literal, st.sampled_from(["==", "!=", "<", ">="]))
    def check(name_value: tuple[str, object], op: str) -> None:
        name, value = name_value
        expr = f"{name} {op} {value!r} or {name} is None"
        node = validate_expression(expr, "metrics.x.numerator")
        params = SqlParams()
        sql = to_sql(node, params)
        assert "'" not in sql  # no literal is ever spelled into the SQL text
        (bound,) = params.values.values()
        assert bound == (abs(value) if isinstance(value, int | float) else value)

    check()

"""`edit_distance` (how much users edit the AI's draft before sending it) in `decide` and `power --from-traces`.

Checked against a direct computation: rapidfuzz's normalized Levenshtein distance per request, summed per
user by hand; the decide estimate is the ratio of those sums, and a candidate whose drafts are edited more
trips the guardrail while one edited as much stays within tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from rollctl.db import connect
from rollctl.load import LoadOptions, load_inputs
from rollctl.text_distance import edit_distance_moments, edit_distances, next_score_hint
from tests.conftest import invoke
from tests.decide_sim import trace_table, write_parquet

WORDS = ("order", "refund", "shipping", "account", "password", "thanks", "please", "delivery", "invoice", "help")


def _draft(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, int(rng.integers(5, 30))))


def _edit(rng: np.random.Generator, text: str, share: float) -> str:
    """Substitute about `share` of the characters (so d ≈ share), sometimes append a sentence."""
    chars = np.array(list(text))
    hit = rng.random(len(chars)) < share
    chars[hit] = "#"
    out = "".join(chars)
    return out + " thank you!" if rng.random() < share else out


def with_texts(df: pd.DataFrame, seed: int, *, edit_base: float, edit_cand: float,
               sent_share: float = 0.6) -> pd.DataFrame:
    """Add a draft to every request and, for `sent_share` of them, the text the user sent."""
    rng = np.random.default_rng(seed)
    outputs, finals = [], []
    for variant in df["variant"]:
        draft = _draft(rng)
        outputs.append(draft)
        share = edit_cand if variant == "treatment" else edit_base
        finals.append(_edit(rng, draft, share) if rng.random() < sent_share else None)
    return df.assign(output=outputs, final_text=finals)


def expected_by_arm(df: pd.DataFrame) -> dict[str, float]:
    """Σd / #drafts with final_text per arm, by rapidfuzz directly, one pair at a time."""
    sent = df[df["final_text"].notna()]
    d = [Levenshtein.normalized_distance(o, f) for o, f in zip(sent["output"], sent["final_text"], strict=True)]
    sent = sent.assign(d=d)
    return {str(v): float(g["d"].sum() / len(g)) for v, g in sent.groupby("variant")}


PLAN = """
[rollout]
name = "edits"
change = "model"
baseline = "control"
candidate = "treatment"
salt = "sim_salt"
hash = "sha256"
stages = [50, 100]
current_stage = 50
canary_min_days = 7
planned_units = 2000

[[guardrails]]
metric = "thumbs_down_rate"
max_relative_increase = 0.5

[[guardrails]]
metric = "edit_distance"
max_absolute_increase = 0.05

[[primary]]
metric = "task_completion_rate"
direction = "increase"
min_detectable_effect = 0.05
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("edits")
    plan = d / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    same = with_texts(trace_table(11, users=2500, percent=50), 11, edit_base=0.10, edit_cand=0.10)
    more = with_texts(trace_table(12, users=2500, percent=50), 12, edit_base=0.10, edit_cand=0.30)
    no_final = trace_table(13, users=300, percent=50).assign(output="a draft")
    return {"plan": plan, "same": write_parquet(same, d / "same.parquet"),
            "more": write_parquet(more, d / "more.parquet"), "no_final": write_parquet(no_final, d / "nf.parquet")}


def test_moments_match_a_direct_computation_across_batches(tmp_path: Path) -> None:
    pairs = [
        # user u1 (control): two sent drafts, one never sent (no final_text: does not count)
        ("u1", "control", "hello world", "hello world"),
        ("u1", "control", "kitten", "sitting"),
        ("u1", "control", "unsent draft", None),
        ("u2", "control", "abc", "xyz"),
        ("u3", "treatment", "flaw", "lawn"),
        ("u3", "treatment", "", "typed it myself"),
        ("u4", "treatment", "same", "same"),
        ("u5", "treatment", "only a draft", None),
    ]
    rows = [{"request_id": f"r{i}", "user_id": u, "variant": v, "output": o, "final_text": f}
            for i, (u, v, o, f) in enumerate(pairs)]
    path = tmp_path / "t.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    db = connect()
    load_inputs(db, [str(path)], LoadOptions())
    got = edit_distance_moments(db, batch_size=2)  # units span batches: the partial sums must add up

    per_user: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["final_text"] is not None:
            d = Levenshtein.normalized_distance(r["output"], r["final_text"])
            per_user.setdefault(str(r["variant"]), {}).setdefault(str(r["user_id"]), []).append(d)
    assert set(got) == {"control", "treatment"}
    for variant, users in per_user.items():
        y = np.array([sum(v) for v in users.values()])
        n = np.array([len(v) for v in users.values()], dtype=float)
        m = got[variant].moments
        assert m.n == len(users)  # u5 sent nothing: not a unit of this metric
        assert m.sum_y == pytest.approx(y.sum()) and m.sum_y2 == pytest.approx((y * y).sum())
        assert m.sum_n == n.sum() and m.sum_n2 == (n * n).sum() and m.sum_yn == pytest.approx((y * n).sum())
        assert got[variant].requests == int(n.sum())
    # kitten → sitting is 3 edits over 7 characters
    assert per_user["control"]["u1"][1] == pytest.approx(3 / 7)
    assert got["control"].moments.ratio == pytest.approx((0 + 3 / 7 + 1) / 3)


def test_plan_check_accepts_edit_distance(data: dict[str, Path]) -> None:
    out = invoke(["plan", "check", str(data["plan"])], expect=0)
    assert "edit_distance may not increase by more than 0.05" in " ".join(out.stdout.split())


def test_decide_estimate_is_the_ratio_of_sums_and_within_tolerance(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["same"]), "--plan", str(data["plan"]), "--json"], expect=0).json()
    assert result["verdict"] == "go"
    ed = next(m for m in result["metrics"] if m["name"] == "edit_distance")
    want = expected_by_arm(pd.read_parquet(data["same"]))
    assert ed["baseline_value"] == pytest.approx(want["control"], rel=1e-9)
    assert ed["candidate_value"] == pytest.approx(want["treatment"], rel=1e-9)
    assert ed["estimate"] == pytest.approx(want["treatment"] - want["control"], rel=1e-9)
    assert ed["status"] == "within_tolerance" and ed["kind"] == "text_distance"
    assert ed["ci_low"] < ed["estimate"] < ed["ci_high"] < 0.05
    assert ed["sequence"] == []  # the daily chart omits it (documented)


def test_decide_rolls_back_when_the_candidates_drafts_are_edited_more(data: dict[str, Path]) -> None:
    result = invoke(["decide", str(data["more"]), "--plan", str(data["plan"]), "--json"], expect=1).json()
    assert result["verdict"] == "rollback"
    ed = next(m for m in result["metrics"] if m["name"] == "edit_distance")
    assert ed["status"] == "breached" and ed["ci_low"] > 0.05
    assert any(r["code"] == "GUARDRAIL_BREACHED" and r["message"].startswith("edit_distance")
               for r in result["reasons"])
    want = expected_by_arm(pd.read_parquet(data["more"]))
    assert ed["estimate"] == pytest.approx(want["treatment"] - want["control"], rel=1e-9)


def test_decide_without_final_text_cannot_evaluate(data: dict[str, Path]) -> None:
    out = invoke(["decide", str(data["no_final"]), "--plan", str(data["plan"])], expect=2)
    assert "final_text" in out.stderr


def test_power_from_traces_uses_the_same_per_user_moments(data: dict[str, Path]) -> None:
    result = invoke(["power", "--from-traces", str(data["same"]), "--metric-name", "edit_distance",
                     "--baseline", "control", "--mde", "0.02", "--json"], expect=0).json()
    want = expected_by_arm(pd.read_parquet(data["same"]))
    assert result["metric"]["name"] == "edit_distance"
    assert result["metric"]["baseline"] == pytest.approx(want["control"], rel=1e-9)
    assert result["n_total"] > 0


_TEXTS = st.text(st.sampled_from("ab cdé😀\n"), max_size=200)


@given(st.lists(st.tuples(_TEXTS, _TEXTS), min_size=1, max_size=30), st.floats(0.0, 1.0))
def test_a_score_hint_changes_no_distance(pairs: list[tuple[str, str]], hint: float) -> None:
    """The hint only picks rapidfuzz's banded search: every distance is the one computed without it."""
    outputs, finals = [a for a, _ in pairs], [b for _, b in pairs]
    plain = edit_distances(outputs, finals)
    assert np.array_equal(edit_distances(outputs, finals, score_hint=hint), plain)
    assert np.array_equal(plain, [Levenshtein.normalized_distance(a, b) for a, b in pairs])


@pytest.mark.parametrize(("distances", "expected"), [
    (np.linspace(0.0, 0.2, 1000), 0.1),  # most texts differ little: the median
    (np.r_[np.full(800, 0.05), np.full(200, 0.9)], 0.05),  # a fifth unrelated: still worth it
    (np.r_[np.full(700, 0.05), np.full(300, 0.9)], None),  # over a quarter unrelated: no hint
    (np.full(1000, 0.7), None),
    (np.zeros(1000), 0.01),  # identical texts: the smallest band, never 0
    (np.r_[np.full(49, 0.1), np.full(5000, np.nan)], None),  # too few computed to tell
    (np.r_[np.full(50, 0.1), np.full(5000, np.nan)], 0.1),  # NaN: not computed (identical or missing)
])
def test_next_score_hint_is_the_median_while_most_pairs_are_close(distances: np.ndarray,
                                                                  expected: float | None) -> None:
    hint = next_score_hint(distances)
    assert hint == (pytest.approx(expected) if expected is not None else None)

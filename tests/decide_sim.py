"""Seeded synthetic canaries for `decide` tests and simulations.

Two levels: `simulate_units` draws per-user, per-day request and event counts (numpy only, fast enough
for hundreds of runs), and `trace_table` expands a small population into canonical trace rows for the
CLI and the full analysis. Users have a latent propensity (Beta-distributed) so their requests are
correlated, as real users' are (ICC ~0.05-0.1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from rollctl.stats.ratio import RatioMoments

START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
SALT = "sim_salt"


def sha256_is_candidate(unit: str, percent: float, salt: str = SALT) -> bool:
    bucket = int.from_bytes(hashlib.sha256(f"{salt}.{unit}".encode()).digest()[:8], "big") % 10000
    return bucket < percent * 100


@dataclass(frozen=True)
class UnitPanel:
    """Per user: arm (True = candidate) and per-day request and event counts (users × days)."""

    candidate: np.ndarray
    requests: np.ndarray
    events: dict[str, np.ndarray]


def simulate_units(rng: np.random.Generator, *, users: int, days: int, share: float,
                   rates: dict[str, float], lift: dict[str, float] | None = None,
                   concentration: float = 8.0, daily_rate: float = 0.35) -> UnitPanel:
    """Users arrive uniformly over `days`, make 1 request on arrival and Poisson(daily_rate) per later day.

    Each event (thumbs-down, error) has a per-user probability ~ Beta(mean rate, `concentration`);
    `lift` multiplies the candidate's mean (0.4 = +40 % relative).
    """
    lift = lift or {}
    candidate = rng.random(users) < share
    arrival = rng.integers(0, days, users)
    day_idx = np.arange(days)[None, :]
    later = rng.poisson(daily_rate, (users, days)) * (day_idx > arrival[:, None])
    requests = (later + (day_idx == arrival[:, None])).astype(np.int64)
    events = {}
    for name, rate in rates.items():
        p_c = rate * (1 + lift.get(name, 0.0))
        mean = np.where(candidate, p_c, rate)
        a, b = mean * concentration, (1 - mean) * concentration
        p = rng.beta(a, b)
        events[name] = rng.binomial(requests, p[:, None])
    return UnitPanel(candidate=candidate, requests=requests, events=events)


def moments_through(panel: UnitPanel, name: str, day: int, arm: bool) -> RatioMoments:
    """Per-unit moments of events/requests over users seen by the end of `day` in one arm."""
    n = panel.requests[:, : day + 1].sum(axis=1)
    y = panel.events[name][:, : day + 1].sum(axis=1)
    keep = (n > 0) & (panel.candidate == arm)
    y, n = y[keep].astype(float), n[keep].astype(float)
    return RatioMoments(n=int(keep.sum()), sum_y=float(y.sum()), sum_y2=float((y * y).sum()), sum_n=float(n.sum()),
                        sum_n2=float((n * n).sum()), sum_yn=float((y * n).sum()))


def trace_table(seed: int, *, users: int = 4000, days: int = 7, percent: float = 50.0,
                thumbs_down: float = 0.08, error: float = 0.01, lift_thumbs: float = 0.0, lift_error: float = 0.0,
                request_hashing: bool = False, candidate_share_override: float | None = None,
                models: tuple[str, str] = ("claude-sonnet-4-5-20250929", "claude-sonnet-4-6-20260301"),
                prompts: tuple[str, str] = ("v1", "v1"),
                cache_rates: tuple[float, float] = (0.35, 0.35)) -> pd.DataFrame:
    """Canonical trace rows of a canary; sha256 assignment on user id (or per request when
    `request_hashing`, the classic mistake). `candidate_share_override` assigns by a plain coin with that
    share instead (to plant an SRM)."""
    rng = np.random.default_rng(seed)
    user_ids = [f"u{seed}_{i}" for i in range(users)]
    arrival = rng.integers(0, days, users)
    p_td = rng.beta(thumbs_down * 8, (1 - thumbs_down) * 8, users)
    p_err = rng.beta(error * 8, (1 - error) * 8, users)
    rows: dict[str, list[object]] = {k: [] for k in (
        "request_id", "timestamp", "user_id", "variant", "served", "model", "prompt_version", "latency_ms",
        "cost_usd", "cache_hit", "error", "thumbs", "task_completed")}
    rid = 0
    for i, uid in enumerate(user_ids):
        if candidate_share_override is not None:
            user_cand = rng.random() < candidate_share_override
        else:
            user_cand = sha256_is_candidate(uid, percent)
        n_days = days - arrival[i]
        per_day = rng.poisson(0.35, n_days)
        per_day[0] += 1
        for k, count in enumerate(per_day):
            for _ in range(count):
                rid += 1
                cand = sha256_is_candidate(f"r{seed}_{rid}", percent) if request_hashing else user_cand
                td = min(p_td[i] * (1 + lift_thumbs), 1.0) if cand else p_td[i]
                er = min(p_err[i] * (1 + lift_error), 1.0) if cand else p_err[i]
                moment = START + timedelta(days=int(arrival[i]) + k, seconds=float(rng.uniform(0, 86399)))
                rows["request_id"].append(f"r{seed}_{rid}")
                rows["timestamp"].append(moment.isoformat().replace("+00:00", "Z"))
                rows["user_id"].append(uid)
                rows["variant"].append("treatment" if cand else "control")
                rows["served"].append(True)
                rows["model"].append(models[1] if cand else models[0])
                rows["prompt_version"].append(prompts[1] if cand else prompts[0])
                rows["latency_ms"].append(float(rng.lognormal(7.3, 0.4)))
                rows["cost_usd"].append(float(rng.gamma(4.0, 0.002)))
                rows["cache_hit"].append(bool(rng.random() < cache_rates[1 if cand else 0]))
                rows["error"].append("json_parse" if rng.random() < er else None)
                rows["thumbs"].append(-1 if rng.random() < td else (1 if rng.random() < 0.12 else None))
                rows["task_completed"].append(bool(rng.random() < 0.7))
    return pd.DataFrame(rows)


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    df.to_parquet(path, index=False)
    return path

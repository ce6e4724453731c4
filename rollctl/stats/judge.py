"""Judge-preference statistics for shadow pairs.

Methods and sources:
- Win rate with ties counted as half: MT-Bench `win_rate_adjusted = (win + 0.5 tie) / (win + loss + tie)`
  (Zheng et al. 2023, FastChat `show_result.py`); AlpacaEval scores a draw 0.5 the same way.
- Wilson score interval on that rate (Wilson 1927; statsmodels `proportion_confint(method="wilson")`).
- Sign test: exact two-sided Binomial(W + L, 1/2) test of wins against losses, ties excluded
  (scipy `binomtest`), the standard paired test for preferences.
  Both from `rollctl.stats.closed_form`: the same values, without importing scipy.stats or statsmodels.
- Both orders judged: the MT-Bench rule (FastChat `common.py`/`show_result.py`): a verdict that changes
  when the answers swap places, or a tie in either order, counts as a tie; only a consistent winner wins.
- Length control: AlpacaEval "length_controlled_minimal" (Dubois et al. 2024, arXiv 2404.04475, eq. 2
  without the instruction-difficulty term): logit P(candidate wins) = b0 + b1 * tanh(dlen / sd(dlen)),
  fitted by maximum likelihood (a binomial GLM with the logit link, ties as y = 0.5, the same likelihood
  as AlpacaEval's row duplication for soft labels), by the iteration statsmodels GLM runs (`_logistic_mle`;
  the same estimates and standard errors, checked in tests). The length-controlled win rate is logistic(b0),
  the prediction at equal lengths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from rollctl.stats.closed_form import (
    normal_two_sided_p,
    sign_test_p_value,
    t_quantile,
    t_two_sided_p,
    wilson_interval,
)
from rollctl.stats.power import normal_ppf

# One judged unit's outcome after the order rule: what the candidate got.
WIN, TIE, LOSS, ERROR = "win", "tie", "loss", "error"


def combine_orders(baseline_first: str | None, candidate_first: str | None) -> str:
    """The MT-Bench rule for one (request, judge): verdicts given in each presentation order.

    Each argument is the winner named when that answer was shown first (`baseline`, `candidate`,
    `tie`, `error`), or None when that order was not judged. An error in any judged order makes the
    unit an error (it is counted, not dropped); flips and ties in either order are ties.
    """
    given = [w for w in (baseline_first, candidate_first) if w is not None]
    if not given:
        return ERROR
    if any(w not in ("baseline", "candidate", "tie") for w in given):
        return ERROR
    if len(given) == 2 and given[0] != given[1]:
        return TIE
    w = given[0]
    return {"candidate": WIN, "baseline": LOSS}.get(w, TIE)


@dataclass(frozen=True)
class WinRate:
    """Win / tie / loss for the candidate with the win rate, its Wilson interval and a sign test."""

    wins: int
    ties: int
    losses: int
    errors: int
    n: int
    """wins + ties + losses: the units the judge decided."""
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    """two-sided sign test of wins vs losses"""
    error_rate: float | None
    """errors / (decided + errors): shown so errors never vanish from the denominator"""
    win_rate_errors_as_losses: float | None
    """the conservative reading: every judge error counted as a candidate loss"""


def win_rate(wins: int, ties: int, losses: int, errors: int = 0, *, alpha: float = 0.05) -> WinRate:
    """Win rate (ties as half) with a Wilson interval and the exact sign test."""
    n = wins + ties + losses
    total = n + errors
    if n == 0:
        return WinRate(wins, ties, losses, errors, 0, None, None, None, None,
                       errors / total if total else None, 0.0 if total else None)
    score = wins + 0.5 * ties
    low, high = wilson_interval(score, n, alpha=alpha)
    decided = wins + losses
    p = sign_test_p_value(wins, decided) if decided else 1.0
    return WinRate(
        wins=wins, ties=ties, losses=losses, errors=errors, n=n,
        win_rate=score / n, ci_low=float(low), ci_high=float(high), p_value=p,
        error_rate=errors / total, win_rate_errors_as_losses=score / total,
    )


def win_rate_mde(n: int, *, alpha: float = 0.05, power: float = 0.8, unit_variance: float = 0.25) -> float | None:
    """Smallest shift of the win rate away from 0.5 that n judged pairs detect (two-sided, normal approx).

    MDE = (z_{1-a/2} + z_{power}) * sqrt(var / n) (Miller 2024, "Adding Error Bars to Evals", power
    section); var is the per-pair variance of the 1 / 0.5 / 0 score, 0.25 at most.
    """
    if n <= 0:
        return None
    z = normal_ppf(1 - alpha / 2) + normal_ppf(power)
    return float(z * math.sqrt(max(unit_variance, 1e-12) / n))


@dataclass(frozen=True)
class OrderStats:
    """Position-bias diagnostics for units judged in both orders."""

    both_orders: int
    """(request, judge) units with a non-error verdict in each order"""
    consistent: int
    order_consistency: float | None
    """share of those whose verdict did not change when the answers swapped places"""
    decisive_judgements: int
    first_position_wins: int
    first_position_rate: float | None
    """share of non-tie verdicts that went to the answer shown first (0.5 = no position bias)"""
    first_position_p_value: float | None


def order_stats(both_orders: int, consistent: int, decisive: int, first_position: int) -> OrderStats:
    """Order consistency and the first-position preference rate (MT-Bench §3.3 position bias).

    Counts come from SQL: units judged in both orders and how many kept their verdict; the non-tie
    judgements of those units and how many went to the answer shown first (tested against 1/2 with the
    sign test). Position bias is measurable only on swapped pairs: with every verdict in one order the
    answer shown first is always the same arm, so `decisive` is 0 and the rate and p-value are None.
    """
    return OrderStats(
        both_orders=both_orders,
        consistent=consistent,
        order_consistency=consistent / both_orders if both_orders else None,
        decisive_judgements=decisive,
        first_position_wins=first_position,
        first_position_rate=first_position / decisive if decisive else None,
        first_position_p_value=sign_test_p_value(first_position, decisive) if decisive else None,
    )


@dataclass(frozen=True)
class LengthControlled:
    """The AlpacaEval minimal length-controlled win rate and its length coefficient."""

    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    length_coef: float | None
    """b1: > 0 means the judge favours the longer answer"""
    length_coef_p_value: float | None
    n: int
    reason: str | None
    """why it could not be estimated (None when it was)"""


def length_controlled(outcome: NDArray[np.float64], delta_len: NDArray[np.float64], *,
                      counts: NDArray[np.float64] | None = None, alpha: float = 0.05) -> LengthControlled:
    """Fit logit P(win) = b0 + b1 tanh(dlen / sd) and report logistic(b0) with a Wald interval.

    `outcome` is 1 win / 0.5 tie / 0 loss for the candidate; `delta_len` is candidate minus baseline
    length in characters; `counts`, when given, is how many pairs each (outcome, delta_len) row stands for
    (frequency weights: the same likelihood as one row per pair). Degenerate inputs (too few units, no length
    variation, separation) return no estimate and a reason code instead of a number that means nothing.
    """
    y = np.asarray(outcome, dtype=float)
    d = np.asarray(delta_len, dtype=float)
    w = np.ones_like(y) if counts is None else np.asarray(counts, dtype=float)
    n = int(round(float(w.sum())))
    if n < 10:
        return LengthControlled(None, None, None, None, None, n, "LC_TOO_FEW_PAIRS")
    mean_d = float(np.dot(w, d)) / n
    sd = math.sqrt(float(np.dot(w, (d - mean_d) ** 2)) / (n - 1))  # the pairs' sample sd, ddof 1
    if not math.isfinite(sd) or sd == 0:
        return LengthControlled(None, None, None, None, None, n, "LC_NO_LENGTH_VARIATION")
    if np.all(y >= 1) or np.all(y <= 0):
        return LengthControlled(None, None, None, None, None, n, "LC_SEPARATION")
    # The fit runs on the distinct (length difference, outcome) rows with frequency weights: the same
    # likelihood, estimates and standard errors as one row per pair (statsmodels `freq_weights`), but a few
    # thousand rows instead of millions. One row per pair took 1.2 GB of memory on 5 M judged pairs.
    weights: NDArray[np.float64] | None
    if counts is not None:
        y_fit, d_fit, weights = y, d, w
    elif np.all(d == np.round(d)) and np.all(np.isin(y, (0.0, 0.5, 1.0))):
        key = d.astype(np.int64) * 3 + (y * 2).astype(np.int64)
        keys, key_counts = np.unique(key, return_counts=True)
        y_fit = (keys - np.floor_divide(keys, 3) * 3) / 2.0
        d_fit = np.floor_divide(keys, 3).astype(float)
        weights = key_counts.astype(float)
    else:
        y_fit, d_fit, weights = y, d, None
    x = np.column_stack([np.ones_like(d_fit), np.tanh(d_fit / sd)])
    fit = _logistic_mle(y_fit, x, np.ones_like(y_fit) if weights is None else weights)
    if fit is None:
        return LengthControlled(None, None, None, None, None, n, "LC_FIT_FAILED")
    (b0, b1), (se0, se1) = fit
    # Separation: outcomes that the length difference alone predicts perfectly (ties aside) have no finite
    # maximum; the fit runs off until its means are the outcomes (statsmodels warns of the same check).
    fitted = expit(x @ np.array([b0, b1]))
    decided = y_fit != 0.5
    separated = bool(decided.any()) and bool(np.all(np.abs(fitted[decided] - y_fit[decided]) < 1e-6))
    if separated or not all(math.isfinite(v) for v in (b0, b1, se0)) or abs(b0) > 20:
        return LengthControlled(None, None, None, None, None, n, "LC_SEPARATION")
    z = normal_ppf(1 - alpha / 2)
    return LengthControlled(
        win_rate=float(expit(b0)), ci_low=float(expit(b0 - z * se0)), ci_high=float(expit(b0 + z * se0)),
        length_coef=b1, length_coef_p_value=normal_two_sided_p(b1 / se1) if se1 > 0 else None, n=n, reason=None,
    )


_EPS = float(np.finfo(float).eps)


def _logistic_mle(y: NDArray[np.float64], x: NDArray[np.float64],
                  weights: NDArray[np.float64]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Maximum likelihood of logit E[y] = x b for y in [0, 1] with frequency weights: (b, standard errors).

    Iteratively reweighted least squares, Fisher scoring for a binomial GLM with the logit link (McCullagh &
    Nelder 1989, §2.5): with mu the fitted means, regress the working response eta + (y - mu) / (mu (1 - mu)) on
    x with weights f mu (1 - mu), repeat; the standard errors are the square roots of the diagonal of the
    inverse Fisher information (X'WX)^-1, dispersion 1. As statsmodels `GLM(y, x, family=Binomial(),
    freq_weights=f).fit()` runs it (which importing would cost half a second of a shadow-report): it starts at
    mu = (y + 1/2) / 2, solves each step by the pseudo-inverse, clips means to [eps, 1 - eps] where it divides
    by them, and stops when the deviance changes by at most 1e-8, after at most 100 steps. None when a step
    cannot be solved or the deviance is not a number.
    """

    def deviance(mu: NDArray[np.float64]) -> float:
        ratio = np.clip(y / (mu + 1e-20), _EPS, np.inf)
        other = np.clip((1.0 - y) / (1.0 - mu + 1e-20), _EPS, np.inf)
        return float(np.sum(weights * 2.0 * (y * np.log(ratio) + (1.0 - y) * np.log(other))))

    mu = (y + 0.5) / 2.0
    p = np.clip(mu, _EPS, 1.0 - _EPS)
    eta = np.log(p / (1.0 - p))
    previous = deviance(mu)
    if not math.isfinite(previous):
        return None
    try:
        for _ in range(100):
            p = np.clip(mu, _EPS, 1.0 - _EPS)
            slope = 1.0 / (p * (1.0 - p))  # d eta / d mu
            w = weights / (slope * slope * (p * (1.0 - p)))
            root = np.sqrt(w)
            pseudo_inverse = np.linalg.pinv(root[:, None] * x)
            b = pseudo_inverse @ (root * (eta + slope * (y - mu)))
            eta = x @ b
            mu = expit(eta)  # 0 or 1, without overflow, where a fit runs off (separation)
            current = deviance(mu)
            if not math.isfinite(current):
                return None
            if abs(current - previous) <= 1e-8:
                break
            previous = current
    except np.linalg.LinAlgError:
        return None
    se = np.sqrt(np.diag(pseudo_inverse @ pseudo_inverse.T))
    return (float(b[0]), float(b[1])), (float(se[0]), float(se[1]))


@dataclass(frozen=True)
class NumericPreference:
    """Mean numeric preference in [-1, 1] (+1: candidate better) with a t interval and test."""

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def numeric_preference(values: NDArray[np.float64], *, alpha: float = 0.05) -> NumericPreference:
    """One-sample t on per-pair preferences (orders averaged first, which cancels position bias)."""
    v = np.asarray(values, dtype=float)
    n = int(v.size)
    if n < 2:
        return NumericPreference(n, float(v.mean()) if n else None, None, None, None)
    mean = float(v.mean())
    se = float(v.std(ddof=1) / math.sqrt(n))
    if se == 0:
        return NumericPreference(n, mean, mean, mean, None)
    t = t_quantile(1 - alpha / 2, n - 1)
    p = t_two_sided_p(mean / se, n - 1)
    return NumericPreference(n, mean, mean - t * se, mean + t * se, p)

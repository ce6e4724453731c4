"""Ratio metrics with users as the unit: the delta method on per-unit sums.

A per-request rate R = ΣY_u / ΣN_u over units u is a ratio of two means. Its variance by the delta method
(Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics", KDD; gbstats
`utils.variance_of_ratios`):

    Var(R) ≈ (1/n) · (σ²_Y − 2 R σ_YN + R² σ²_N) / μ_N²

with σ² the per-unit sample variances (n − 1 denominators) and σ_YN their covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RatioMoments:
    """Summable per-arm moments of a ratio metric over n units: ΣY, ΣY², ΣN, ΣN², ΣYN."""

    n: int
    sum_y: float
    sum_y2: float
    sum_n: float
    sum_n2: float
    sum_yn: float

    def __add__(self, other: RatioMoments) -> RatioMoments:
        return RatioMoments(
            n=self.n + other.n, sum_y=self.sum_y + other.sum_y, sum_y2=self.sum_y2 + other.sum_y2,
            sum_n=self.sum_n + other.sum_n, sum_n2=self.sum_n2 + other.sum_n2, sum_yn=self.sum_yn + other.sum_yn,
        )

    @property
    def ratio(self) -> float:
        """ΣY/ΣN; NaN when there is no denominator (callers report that as inconclusive)."""
        return self.sum_y / self.sum_n if self.sum_n > 0 else math.nan

    @property
    def var_y(self) -> float:
        return _sample_variance(self.n, self.sum_y, self.sum_y2)

    @property
    def var_n(self) -> float:
        return _sample_variance(self.n, self.sum_n, self.sum_n2)

    @property
    def cov_yn(self) -> float:
        if self.n < 2:
            return math.nan
        return (self.sum_yn - self.sum_y * self.sum_n / self.n) / (self.n - 1)

    def unit_variance(self) -> float:
        """Per-unit variance of the linearised ratio, (σ²_Y − 2Rσ_YN + R²σ²_N)/μ_N² (delta method)."""
        if self.n < 2 or self.sum_n <= 0:
            return math.nan
        r = self.ratio
        mean_n = self.sum_n / self.n
        v = (self.var_y - 2 * r * self.cov_yn + r * r * self.var_n) / (mean_n * mean_n)
        return max(v, 0.0)

    def variance_of_ratio(self) -> float:
        """Var(R̂): the unit variance divided by the number of units."""
        v = self.unit_variance()
        return v / self.n if self.n > 0 and not math.isnan(v) else math.nan


def _sample_variance(n: int, total: float, total_sq: float) -> float:
    if n < 2:
        return math.nan
    return max((total_sq - total * total / n) / (n - 1), 0.0)


@dataclass(frozen=True)
class Difference:
    """Candidate − baseline of a ratio metric: absolute and relative, with standard errors."""

    baseline: float
    candidate: float
    absolute: float
    se_absolute: float
    relative: float
    se_relative: float


def difference(baseline: RatioMoments, candidate: RatioMoments) -> Difference:
    """Absolute and relative difference of two independent arms.

    Relative lift Δ/|μ_C| with the delta-method variance σ²_T/μ_C² + σ²_C·μ_T²/μ_C⁴ (gbstats
    `EffectMoments`, dividing by |μ_C| so a negative baseline keeps the sign right, growthbook PR #6658).
    NaN parts mean "cannot be computed" (no units, zero baseline); callers turn that into a reason.
    """
    mc, mt = baseline.ratio, candidate.ratio
    vc, vt = baseline.variance_of_ratio(), candidate.variance_of_ratio()
    absolute = mt - mc
    se_abs = math.sqrt(vc + vt) if not (math.isnan(vc) or math.isnan(vt)) else math.nan
    if mc == 0 or math.isnan(mc):
        return Difference(mc, mt, absolute, se_abs, math.nan, math.nan)
    relative = absolute / abs(mc)
    var_rel = vt / (mc * mc) + vc * (mt * mt) / (mc ** 4)
    return Difference(mc, mt, absolute, se_abs, relative, math.sqrt(var_rel) if var_rel >= 0 else math.nan)

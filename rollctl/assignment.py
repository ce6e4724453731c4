"""Deterministic arm assignment: which arm a unit falls in at a stage, reproducible anywhere.

Why not Python's `hash()`: since Python 3.3 string hashing is salted per process (PYTHONHASHSEED), so
`hash("u_42") % 100` gives a different answer in every run and on every machine; an assignment built on
it re-randomizes users each deploy. Every scheme here is a cryptographic or FNV hash of bytes, identical
across processes, machines and languages.

Schemes (all monotone: raising the percentage only moves units from baseline to candidate, never back):

- `sha256` (rollctl's default, Statsig's gate construction with one salt):
  bucket = uint64_big_endian(sha256(utf8(f"{salt}.{unit}"))[0:8]) % 10000; candidate iff
  bucket < percent * 100 (0.01 % resolution).
- `growthbook-v2`: GrowthBook's hash version 2, n = fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000
  (FNV-1a over UTF-16 code units, as the SDKs hash),
  with the plan's salt as the seed. The two arms are laid out as GrowthBook lays out an experiment with
  weights [1 - p, p] and full coverage (`getBucketRanges`): baseline [0, 1 - p), candidate [1 - p, 1),
  chosen with its half-open `chooseVariation`.
- `launchdarkly`: LaunchDarkly's bucket = int(sha1(f"{prefix}.{unit}").hexdigest()[:15], 16) / 0xFFFFFFFFFFFFFFF
  where prefix is `flagKey.flagSalt` (or the rollout seed): put that prefix in the plan's salt. Variations
  [baseline weight 1 - p, candidate weight p] walked in order: candidate iff bucket >= 1 - p.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
LD_SCALE = float(0xFFFFFFFFFFFFFFF)


def sha256_bucket(salt: str, unit: str) -> int:
    """0..9999, as `int.from_bytes(sha256(f"{salt}.{unit}").digest()[:8], "big") % 10000`."""
    return int.from_bytes(hashlib.sha256(f"{salt}.{unit}".encode()).digest()[:8], "big") % 10000


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over UTF-16 code units, as GrowthBook's SDKs hash (JavaScript's `charCodeAt`; the Python
    SDK, 4.0.0, hashes the same units): an id outside the Basic Multilingual Plane (an emoji) is its two
    surrogates, not one code point, or it would land in another bucket than the application served it.
    Vectors from both SDKs: tests/data/growthbook_hash_vectors.json."""
    h = FNV_OFFSET
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        h = ((h ^ (data[i] | data[i + 1] << 8)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def growthbook_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's `hash(seed, value, version)`: v1 (legacy, biased) and v2; None for other versions."""
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    return None


def growthbook_bucket_ranges(num_variations: int, coverage: float,
                             weights: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """GrowthBook's `getBucketRanges`: coverage clamped to [0, 1], bad weights fall back to equal."""
    coverage = min(max(coverage, 0.0), 1.0)
    equal = [1.0 / num_variations] * num_variations
    if weights is None or len(weights) != num_variations or not 0.99 <= sum(weights) <= 1.01:
        weights = equal
    ranges = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def growthbook_choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """GrowthBook's `chooseVariation`: the first half-open range [lo, hi) holding n, else -1."""
    for i, (lo, hi) in enumerate(ranges):
        if lo <= n < hi:
            return i
    return -1


def launchdarkly_bucket(prefix: str, unit: str) -> float:
    """LaunchDarkly's bucket in [0, 1]: SHA-1 of `prefix.unit`, first 15 hex digits."""
    digest = hashlib.sha1(f"{prefix}.{unit}".encode()).hexdigest()
    return int(digest[:15], 16) / LD_SCALE


def is_candidate(scheme: str, salt: str, unit: str, percent: float) -> bool:
    """Whether `unit` gets the candidate at `percent` % under `scheme`."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    share = percent / 100.0
    if scheme == "sha256":
        return sha256_bucket(salt, unit) < percent * 100
    if scheme == "growthbook-v2":
        n = growthbook_hash(salt, unit, 2)
        assert n is not None
        ranges = growthbook_bucket_ranges(2, 1.0, [1.0 - share, share])
        return growthbook_choose_variation(n, ranges) == 1
    if scheme == "launchdarkly":
        return launchdarkly_bucket(salt, unit) >= 1.0 - share
    raise ValueError(f"unknown hash scheme {scheme!r}")


def bucket_value(scheme: str, salt: str, unit: str) -> float:
    """The unit's position in [0, 1) (for display): sha256 bucket/10000, GrowthBook n, LaunchDarkly bucket."""
    if scheme == "sha256":
        return sha256_bucket(salt, unit) / 10000
    if scheme == "growthbook-v2":
        n = growthbook_hash(salt, unit, 2)
        assert n is not None
        return n
    if scheme == "launchdarkly":
        return launchdarkly_bucket(salt, unit)
    raise ValueError(f"unknown hash scheme {scheme!r}")


def wrong_arm_counts(batch: Any, scheme: str, salt: str, percent: float, baseline: str,
                     candidate: str) -> tuple[int, int, int]:
    """(traces, traces served the wrong arm, unit-arm rows served the wrong arm) over an Arrow batch of
    (unit, variant, requests): the assignment audit's sums, which add up over batches. A module-level
    function of plain values, so an engine can run it where the rows are (Spark's executors) and bring back
    three numbers instead of every unit."""
    traces = wrong_traces = wrong_units = 0
    units = batch.column("unit").to_pylist()
    variants = batch.column("variant").to_pylist()
    requests = batch.column("requests").to_pylist()
    for unit, variant, n in zip(units, variants, requests, strict=True):
        expected = candidate if is_candidate(scheme, salt, str(unit), percent) else baseline
        traces += int(n)
        if str(variant) != expected:
            wrong_traces += int(n)
            wrong_units += 1
    return traces, wrong_traces, wrong_units

"""Verdicts for `rollctl serve`: the same `decide` a command-line run makes, cached per (plan, stage).

A controller polls every minute or so, and several controllers may poll the same plan: a verdict is computed
once per cache interval and per change of the sources, whoever asks. The sources are re-read when a file
behind them changes (its size or modification time, or a file appearing or disappearing under a glob or a
directory): a `.duckdb` being appended to by `rollctl ingest` gives the new verdict on the next request.
A database is opened read-only, and only while its rows are copied (see `Database.attach`).
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollctl.errors import RollctlError, UsageError
from rollctl.load.types import LoadOptions
from rollctl.plan import Plan
from rollctl.render.jsonout import dumps, to_jsonable


@dataclass(frozen=True)
class ServedPlan:
    """A plan the server answers for, with the load options its metrics need."""

    name: str
    plan: Plan
    options: LoadOptions


@dataclass(frozen=True)
class Answer:
    """One verdict as served: the `decide --json` object, and where it came from."""

    body: dict[str, Any]
    text: str
    """`body` as sent: encoded once per computation, not once per request."""
    cache: str
    """"hit" (from the cache), "miss" (computed for this request) or "stale" (the sources could not be read
    now, e.g. locked by an ingest for longer than the lock wait: the last verdict, marked as such)."""
    computed_at: float


@dataclass
class _Entry:
    signature: tuple[tuple[str, int, int], ...]
    body: dict[str, Any]
    text: str
    computed_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


def source_signature(paths: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime in ns) of every file behind `paths` (files, directories, globs, a database's
    write-ahead log), so any change to what decide would read changes the signature."""
    found: set[str] = set()
    for given in paths:
        if os.path.isdir(given):
            found.update(os.path.join(root, n) for root, _dirs, names in os.walk(given) for n in names)
        elif os.path.exists(given):
            found.add(given)
        else:
            found.update(glob.glob(given, recursive=True))
        if given.endswith(".duckdb"):
            found.add(given + ".wal")
    signature = []
    for name in sorted(found):
        try:
            stat = os.stat(name)
        except OSError:
            continue
        signature.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


Compute = Callable[[Sequence[str], ServedPlan, float | None], dict[str, Any]]


class DecisionService:
    """Answers "what is the verdict for this plan at this stage?" from a cache, computing at most once per
    (plan, stage) at a time: concurrent requests for the same key wait for the one computation."""

    def __init__(self, sources: Sequence[str], plans: Sequence[ServedPlan], *, cache_seconds: float,
                 compute: Compute) -> None:
        self.sources = list(sources)
        self.plans = {p.name: p for p in plans}
        self.cache_seconds = cache_seconds
        self._compute = compute
        self._entries: dict[tuple[str, float | None], _Entry] = {}
        self._guard = threading.Lock()

    def plan(self, name: str) -> ServedPlan:
        served = self.plans.get(name)
        if served is None:
            raise UsageError(f"unknown plan {name!r}", field="plan",
                             fix="known plans: " + ", ".join(sorted(self.plans)))
        return served

    def stage(self, served: ServedPlan, text: str | None) -> float | None:
        """The stage asked for, one of the plan's stages (not given: the plan's current stage, so both ways of
        asking share one cache entry)."""
        if text is None or text == "":
            return served.plan.current_stage
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if value not in served.plan.stages:
            raise UsageError(f"stage {text!r} is not a stage of plan {served.name!r}", field="stage",
                             fix="stages: " + ", ".join(f"{s:g}" for s in served.plan.stages))
        return value

    def cached(self, name: str, stage_text: str | None) -> Answer | None:
        """The cached verdict if it is still good, without waiting for anything (None otherwise): the server
        answers a hit on its event loop, and only a computation goes to a worker thread."""
        served = self.plan(name)
        entry = self._entries.get((name, self.stage(served, stage_text)))
        if entry is None or not entry.lock.acquire(blocking=False):
            return None
        try:
            if self._fresh(entry, source_signature(self.sources)):
                return Answer(entry.body, entry.text, "hit", entry.computed_at)
            return None
        finally:
            entry.lock.release()

    def _fresh(self, entry: _Entry, signature: tuple[tuple[str, int, int], ...]) -> bool:
        return bool(entry.body) and entry.signature == signature and \
            time.monotonic() - entry.computed_at < self.cache_seconds

    def verdict(self, name: str, stage_text: str | None) -> Answer:
        served = self.plan(name)
        stage = self.stage(served, stage_text)
        key = (name, stage)
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(signature=(), body={}, text="", computed_at=float("-inf"))
        with entry.lock:
            signature = source_signature(self.sources)
            if self._fresh(entry, signature):
                return Answer(entry.body, entry.text, "hit", entry.computed_at)
            try:
                body = self._compute(self.sources, served, stage)
            except RollctlError:
                if entry.body:
                    return Answer(entry.body, entry.text, "stale", entry.computed_at)
                raise
            # The signature read before computing: a change made during the computation is seen next time.
            entry.signature, entry.body, entry.text = signature, body, encode(body)
            entry.computed_at = time.monotonic()
            return Answer(body, entry.text, "miss", entry.computed_at)


def encode(body: dict[str, Any]) -> str:
    """The object as `decide --json` prints it (`render.jsonout.dumps`), with its final newline."""
    return dumps(body) + "\n"


def compute_with_decide(sources: Sequence[str], served: ServedPlan, stage: float | None) -> dict[str, Any]:
    """The `decide --json` object for `served` at `stage`, on a fresh in-memory database."""
    from rollctl.core.decide import decide
    from rollctl.db import in_fresh_database

    result = in_fresh_database(lambda db: decide(db, sources, served.plan, stage=stage, options=served.options))
    body: dict[str, Any] = to_jsonable(result)
    return body

"""Deterministic case generation: the same seed gives the same cases, case for case.

Hypothesis generates; it does not judge here. Each (clause, dtype) draws from its own stream seeded
from the run seed, with the database off and only the generate phase, so adding a dtype or a
clause never changes another clause's cases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from .cases import Case
from .strategies import CLAUSE_CASES, CLAUSE_DRAFTS, planned_cases
from .validation_cases import VALIDATION_STRATEGIES, validation_cases

VALIDATION_PREFIX = "VAL-"


def stream_seed(run_seed: int, clause: str, dtype: str) -> int:
    digest = hashlib.sha256(f"{run_seed}/{clause}/{dtype}".encode()).hexdigest()
    return int(digest[:12], 16)


@contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis mixes literals from every imported non-installed module into its draws, so the
    cases would depend on which adapter files the command happened to import. Cases must depend on
    the seed alone: generate with that pool empty (a private hook; if it moves, the determinism
    tests say so)."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    if original is None or not hasattr(providers, "Constants"):  # pragma: no cover
        yield
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def draw_cases(strategy: st.SearchStrategy[Any], n: int, rng_seed: int) -> list[Any]:
    """Up to ``n`` distinct examples (cases or drafts: anything with an ``id``), in a deterministic order."""
    found: dict[str, Any] = {}

    @settings(max_examples=n, database=None, derandomize=False, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @seed(rng_seed)
    @given(strategy)
    def collect(example: Any) -> None:
        found.setdefault(example.id, example)

    with _without_local_constants():
        collect()
    return list(found.values())


def clause_strategy(clause: str, dtype: str) -> st.SearchStrategy[Case]:
    """The hypothesis strategy of one clause in one dtype (what shrinking and explore mode draw from)."""
    if clause.startswith(VALIDATION_PREFIX):
        return VALIDATION_STRATEGIES[clause](dtype)
    return CLAUSE_CASES[clause](dtype)


def streams(clauses: Iterable[str], dtypes: Sequence[str]) -> int:
    """How many hypothesis streams ``generate`` draws: one per step clause and dtype (what ``progress`` counts)."""
    return sum(not c.startswith(VALIDATION_PREFIX) for c in clauses) * len(dtypes)


def generate(clauses: Iterable[str], dtypes: Sequence[str], run_seed: int, max_examples: int,
             cache_dir: str | Path | None = None, progress: Callable[[int], None] | None = None) -> list[Case]:
    """Cases for every clause in every dtype.

    With ``cache_dir`` the set is read from a cache file keyed by everything generation depends on
    (``casecache``), and generated and stored there only when absent: off unless given. ``progress`` is
    called with the number of streams drawn so far, after each (a cached set draws none).
    """
    clauses = list(clauses)
    if cache_dir is not None:
        from .casecache import cached

        return cached(cache_dir, clauses, dtypes, run_seed, max_examples,
                      lambda: generate(clauses, dtypes, run_seed, max_examples, progress=progress))
    drawn = 0
    out: dict[str, Case] = {}
    for clause in clauses:
        if clause.startswith(VALIDATION_PREFIX):  # a small, known set: every refusal and acceptance
            for dtype in dtypes:
                for case in validation_cases(clause, dtype):
                    out.setdefault(case.id, case)
            continue
        for dtype in dtypes:
            found = draw_cases(CLAUSE_DRAFTS[clause](dtype), max_examples, stream_seed(run_seed, clause, dtype))
            for case in planned_cases(clause, dtype, found):  # drafts built with the pairwise plan's features
                out.setdefault(case.id, case)
            drawn += 1
            if progress is not None:
                progress(drawn)
    return list(out.values())

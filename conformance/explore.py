"""Explore mode: search with fresh randomness, climbing toward the worst error with hypothesis.target.

Gate mode generates derandomized cases and never looks at results while generating. Explore mode
instead runs each drawn case through the adapters and tells hypothesis how bad it was (the largest
error-to-bound ratio, per adapter), so generation drifts toward the corners where implementations
deviate most. The cases it visits are then run like any others; failures found are saved as case
files for the committed regression corpus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import seed as hseed

from .cases import Case
from .compare import judge
from .expected import expected
from .generate import _without_local_constants, clause_strategy, stream_seed


def _score(case: Case, run_one: Callable[[Case], Sequence[tuple[str, Any]]]) -> dict[str, float]:
    exp = expected(case)
    scores = {}
    for name, outcome in run_one(case):
        v = judge(case, exp, outcome)
        if v.verdict in ("FAIL", "ERROR"):
            scores[name] = 1e6
        elif v.ratio is not None and math.isfinite(v.ratio):
            scores[name] = float(v.ratio)
    return scores


def explore(clauses: Sequence[str], dtypes: Sequence[str], run_seed: int, max_examples: int,
            run_one: Callable[[Case], Sequence[tuple[str, Any]]]) -> list[Case]:
    """Cases visited by a targeted search per (clause, dtype); ``run_one`` runs a case on every adapter."""
    found: dict[str, Case] = {}
    for clause in clauses:
        for dtype in dtypes:

            @settings(max_examples=max_examples, database=None, phases=[Phase.generate, Phase.target],
                      deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
            @hseed(stream_seed(run_seed, clause, dtype))
            @given(clause_strategy(clause, dtype))
            def search(case: Case) -> None:
                found.setdefault(case.id, case)
                for name, score in _score(case, run_one).items():
                    target(min(score, 1e6), label=f"{name} error/bound")

            with _without_local_constants():
                search()
    return list(found.values())

"""Make a failing case smaller while it keeps failing the same way.

Two exact reductions: cut the trajectory after the first step that fails (every earlier step is
identical, so the prefix fails at the same place), then keep only the parameter that failed
(ungrouped cases). Each candidate is rerun in the adapter's worker and judged again.

``hypothesis_minimal`` (``run --hypothesis-shrink``) goes further: it asks hypothesis to find and
shrink an example of the same clause strategy that fails the same way, within a budget of adapter
runs. It costs one adapter run per shrink step -- a graph compile each for MindSpore -- so the
default run uses the exact reductions only.
"""

from __future__ import annotations

from typing import Any

from .cases import Case
from .compare import judge
from .expected import expected
from .runner import run_in_worker


def _still_fails(case: Case, verdict: str, handle: Any, timeout: float) -> bool:
    outcome = run_in_worker(handle, case, timeout)  # None: a crash or hang while shrinking, keep what we have
    return outcome is not None and judge(case, expected(case), outcome).verdict == verdict


def hypothesis_minimal(case: Case, record: dict[str, Any], handle: Any, timeout: float, seed: int,
                       budget: int = 150) -> Case | None:
    """A hypothesis-shrunk case of the same clause and dtype failing on the same clause(s), or None."""
    from random import Random

    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    from .generate import _without_local_constants, clause_strategy

    charged = set(record.get("deviates") or record["clauses"])
    calls = 0

    def fails_the_same_way(c: Case) -> bool:
        nonlocal calls
        calls += 1
        outcome = run_in_worker(handle, c, timeout) if calls <= budget else None
        if outcome is None:
            return False
        v = judge(c, expected(c), outcome)
        return v.verdict in ("FAIL", "ERROR") and bool(charged & set(v.extra.get("deviates") or c.clauses))

    opts = settings(max_examples=budget, database=None, phases=[Phase.generate, Phase.shrink], deadline=None,
                    suppress_health_check=list(HealthCheck))
    try:
        with _without_local_constants():
            found = find(clause_strategy(case.clauses[0], case.dtype), fails_the_same_way, settings=opts,
                         random=Random(seed))
    except NoSuchExample:
        return None
    # Hypothesis stops at the strategy's floor (e.g. 10 steps for UPD-BIAS); the exact reductions go on.
    outcome = run_in_worker(handle, found, timeout)
    if outcome is None:
        return found
    v = judge(found, expected(found), outcome)
    rec = {"verdict": v.verdict, "first_failing_step": v.extra.get("first_failing_step"), "worst": v.worst}
    return shrink_case(found, rec, handle, timeout) or found


def _retitled(case: Case, what: str) -> str:
    """The generator's title describes the case before shrinking ("10 steps"): say what the reduction did."""
    return f"{case.title}; shrunk: {what}" if case.title else f"shrunk: {what}"


def _truncate(case: Case, steps: int) -> Case:
    return Case(case.clauses, case.dtype, case.params, case.kind, case.hyper, case.groups, case.params_arg,
                case.grads[:steps], _retitled(case, f"the first {steps} of {case.num_steps} steps"))


def _only(case: Case, name: str) -> Case:
    params = tuple(p for p in case.params if p.name == name)
    grads = tuple({name: s[name]} for s in case.grads)
    return Case(case.clauses, case.dtype, params, case.kind, case.hyper, None, None, grads,
                _retitled(case, f"{name} alone, of {len(case.params)}"))


def shrink_case(case: Case, record: dict[str, Any], handle: Any, timeout: float) -> Case | None:
    """The smallest variant found that still gives ``record``'s verdict; None if nothing smaller."""
    if case.kind != "steps" or record["verdict"] not in ("FAIL", "ERROR"):
        return None
    verdict = record.get("raw_verdict", record["verdict"])
    best = case
    first = record.get("first_failing_step")
    if isinstance(first, int) and 0 < first < case.num_steps:
        cand = _truncate(case, first)
        if _still_fails(cand, verdict, handle, timeout):
            best = cand
    worst = (record.get("worst") or {}).get("param")
    if worst and best.groups is None and len(best.params) > 1 and worst in best.names:
        cand = _only(best, worst)
        if _still_fails(cand, verdict, handle, timeout):
            best = cand
    return best if best is not case else None

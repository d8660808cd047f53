"""Make a failing case smaller while it keeps failing the same way.

Two exact reductions: cut the trajectory after the first step that fails (every earlier step is
identical, so the prefix fails at the same place), then keep only the parameter that failed
(ungrouped cases). Each candidate is rerun in the adapter's worker and judged again.
"""

from __future__ import annotations

from typing import Any

from . import worker
from .cases import Case
from .compare import judge
from .expected import expected


def _still_fails(case: Case, verdict: str, handle: Any, timeout: float) -> bool:
    try:
        outcome, _, _ = handle.pool().submit(worker.run_case, handle.spec, case.to_json()).result(timeout=timeout)
    except Exception:  # a crash or timeout while shrinking: keep the case we have
        handle.kill()
        return False
    return judge(case, expected(case), outcome).verdict == verdict


def _truncate(case: Case, steps: int) -> Case:
    return Case(case.clauses, case.dtype, case.params, case.kind, case.hyper, case.groups, case.params_arg,
                case.grads[:steps], case.title)


def _only(case: Case, name: str) -> Case:
    params = tuple(p for p in case.params if p.name == name)
    grads = tuple({name: s[name]} for s in case.grads)
    return Case(case.clauses, case.dtype, params, case.kind, case.hyper, None, None, grads, case.title)


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

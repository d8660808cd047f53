"""The per-step trace of a failing case's worst element, stored in its record for the report.

A report must never run code under test (nor the reference: it renders records, nothing else), so
the trajectory a person wants to see -- how the implementation drifts from the spec over the
steps, and how its error grows against the bound -- is captured when the case is judged, for the
one element the judge found worst: per step ``got``, ``want``, ``abs_err`` and ``bound``. That is
four floats per step (a few hundred bytes per failing record), added only to records whose
trajectory was judged and failed.

The runner calls ``worst_trace(case, expected, outcome, record["worst"])`` after ``judge`` and
stores the result as ``record["trace"]`` (``None`` when there is nothing to trace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adapters.base import Outcome, Ran

from ..cases import Case
from ..errormodel import Bounds, trajectory_bounds
from ..expected import Expected

MAX_POINTS = 256  # longer trajectories are sampled evenly; the worst and first failing steps are kept


def _steps_to_keep(n: int, must: Sequence[int]) -> list[int]:
    if n <= MAX_POINTS:
        return list(range(n))
    picked = {int(x + 0.5) for x in np.linspace(0, n - 1, MAX_POINTS - len(must))}
    return sorted(picked | {m for m in must if 0 <= m < n})


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def worst_trace(case: Case, exp: Expected, outcome: Outcome, worst: dict[str, Any] | None,
                bounds: Sequence[dict[str, Bounds]] | None = None) -> dict[str, Any] | None:
    """Per step, the worst element's implementation value, spec value, |error| and bound.

    ``worst`` is the judge's located element (param, index, quantity, step). ``bounds`` may be passed
    when the caller already has ``trajectory_bounds(case, exp.trajectory)``; otherwise it is
    recomputed (cost: one bound propagation, only for the failing cases that are traced).
    Returns ``None`` when there is no trajectory or no located element to follow.
    """
    traj = exp.trajectory
    if (traj is None or not isinstance(outcome, Ran) or not worst or "index" not in worst
            or not traj.steps or len(outcome.steps) != len(traj.steps)):
        return None
    name, q, idx = worst["param"], worst["quantity"], tuple(worst["index"])
    if bounds is None:
        bounds = trajectory_bounds(case, traj)
    keep = _steps_to_keep(len(traj.steps), [int(worst["step"]) - 1])
    steps, got, want, err, bound = [], [], [], [], []
    for i in keep:
        g = getattr(outcome.steps[i].get(name), q, None) if outcome.steps[i].get(name) is not None else None
        w = getattr(traj.steps[i][name], q)
        b = getattr(bounds[i][name], q)
        wv = float(np.asarray(w, dtype=np.float64)[idx])
        gv = None if g is None else float(np.asarray(g, dtype=np.float64)[idx])
        steps.append(i + 1)
        want.append(wv)
        got.append(gv)
        bound.append(float(np.asarray(b, dtype=np.float64)[idx]))
        err.append(None if gv is None else (abs(gv - wv) if np.isfinite(gv) else float("inf")))
    return {"param": name, "index": list(idx), "quantity": q, "step": steps, "got": got, "want": want,
            "abs_err": err, "bound": bound}


def trace(case: Case, exp: Expected, outcome: Outcome, verdict: Any,
          bounds: Sequence[dict[str, Bounds]] | None = None) -> dict[str, Any] | None:
    """The runner's hook: ``worst_trace`` of a judged ``Verdict`` (its ``worst`` element); ``bounds``: the
    ones the judge used, when the caller has them."""
    return worst_trace(case, exp, outcome, getattr(verdict, "worst", None), bounds)

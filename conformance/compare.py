"""Trajectories -> a verdict: PASS, FAIL, ERROR or UNSUPPORTED, with the worst element located.

Parameters AND moments are compared after every step, element by element, against the error
model's bound. The worst element is the one with the largest error-to-bound ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.base import Outcome, Raised, Ran, Unsupported

from .cases import Case
from .dtypes import fmt, ulp_distance
from .errormodel import iter_bounds
from .expected import Expected

PASS, FAIL, ERROR, UNSUPPORTED = "PASS", "FAIL", "ERROR", "UNSUPPORTED"
GROUP_ERRORS = ("TypeError", "ValueError", "KeyError", "RuntimeError")  # VAL-GROUP: any of these


@dataclass
class Verdict:
    verdict: str
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    max_ulp: int | None = None
    bound: float | None = None
    ratio: float | None = None
    worst: dict[str, Any] | None = None
    raised: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # For ERROR: what kind of error, so a baseline waives only what it recorded (ERROR_KINDS).
    error_kind: str | None = None


# raised: the implementation raised where the spec requires it to run; nonfinite: NaN/inf where the spec
# is finite; protocol: the adapter's output broke the protocol (shape, missing state, bad dtype name);
# adapter: the adapter's own code raised; timeout / crashed / memory / load: the worker hung, died, grew
# past its memory limit, or could not load the adapter.
ERROR_KINDS = ("raised", "nonfinite", "protocol", "adapter", "timeout", "crashed", "memory", "load")


def judge(case: Case, exp: Expected, out: Outcome) -> Verdict:
    if isinstance(out, Unsupported):
        return Verdict(UNSUPPORTED, out.reason)
    if exp.trajectory is None:
        return _judge_raise(case, exp, out)
    if isinstance(out, Raised):
        if out.stage == "adapter":
            return Verdict(ERROR, f"the adapter itself raised {out.type}: {out.message}", raised=out.type,
                           error_kind="adapter")
        return Verdict(ERROR, f"raised {out.type} {_where_raised(out)}: {out.message}", raised=out.type,
                       error_kind="raised")
    assert isinstance(out, Ran)
    if case.kind == "construct":
        return Verdict(PASS, "constructed, as the spec requires")
    v = _judge_trajectory(case, exp, out)
    if v.verdict == FAIL:
        _explain(case, out, v)
    return v


def _explain(case: Case, out: Ran, v: Verdict) -> None:
    """Charge the failure to the clause whose alternative reading the trajectory does satisfy.

    Single readings are tried before pairs (the simpler explanation first); among the readings of one
    size that pass, the best fit -- the smallest worst error/bound ratio -- is the one charged, so two
    readings that both explain a trajectory (eps placement and a beta2 held in float16 both shrink a
    step) are told apart by how well each fits.
    """
    from .variants import alternative_trajectories

    fits: list[tuple[float, Any]] = []
    for size in (1, 2):
        for readings, traj, args in alternative_trajectories(case, sizes=(size,)):
            got = _judge_trajectory(case, Expected(traj), out, args.eps_scale, args.hyper, quick=True)
            if got.verdict == PASS:
                fits.append((got.ratio or 0.0, readings))
        if fits:
            break
    if not fits:
        return
    _, readings = min(fits, key=lambda x: x[0])
    v.extra["deviates"] = sorted({r.clause for r in readings})
    v.extra["explained_by"] = [r.text for r in readings]
    v.message = f"{v.message}; consistent with: {'; '.join(r.text for r in readings)}"


def _where_raised(out: Raised) -> str:
    return "at construction" if out.stage == "construct" else f"at step {(out.step or 0) + 1}"


def _judge_raise(case: Case, exp: Expected, out: Outcome) -> Verdict:
    want = exp.exc_type or "Exception"
    accept = GROUP_ERRORS if "VAL-GROUP" in case.clauses else (want,)
    if isinstance(out, Raised):
        if out.stage == "construct" and out.type in accept:
            return Verdict(PASS, f"raised {out.type}: {out.message}", raised=out.type)
        if out.stage == "adapter":
            return Verdict(ERROR, f"the adapter itself raised {out.type}: {out.message}", raised=out.type,
                           error_kind="adapter")
        return Verdict(FAIL, f"raised {out.type} {_where_raised(out)}; the spec requires {' or '.join(accept)} "
                             f"at construction ({exp.message})", raised=out.type)
    return Verdict(FAIL, f"accepted the arguments; the spec requires {want} ({exp.message})")


def _shape_problem(case: Case, out: Ran, names: Sequence[str]) -> str | None:
    if len(out.steps) != case.num_steps:
        return f"returned {len(out.steps)} steps for {case.num_steps} updates"
    for i, step in enumerate(out.steps):
        missing = set(names) - set(step)
        if missing:
            return f"step {i + 1}: no state for {sorted(missing)}"
    return None


def _judge_trajectory(case: Case, exp: Expected, out: Ran, eps_scale: Callable[[int], float] | None = None,
                      hyper: Mapping[str, float] | None = None, quick: bool = False) -> Verdict:
    """The verdict of a trajectory against ``exp``; ``quick``: stop at the first element out of bounds and
    skip the error statistics (the verdict and, for a PASS, the worst ratio are all a caller gets)."""
    traj = exp.trajectory
    assert traj is not None
    problem = _shape_problem(case, out, traj.order)
    if problem:
        return Verdict(ERROR, problem, error_kind="protocol")
    bounds = iter_bounds(case, traj, eps_scale, hyper)
    big = fmt(case.dtype).max
    best: tuple[float, dict[str, Any]] | None = None
    first_fail: int | None = None
    max_abs = max_rel = 0.0
    max_ulp = 0
    for i, (ref_step, got_step, b_step) in enumerate(zip(traj.steps, out.steps, bounds)):
        for name in traj.order:
            r, g, b = ref_step[name], got_step[name], b_step[name]
            for q in ("w", "m", "v"):
                got = getattr(g, q)
                if got is None:
                    continue
                want, lim = getattr(r, q), getattr(b, q)
                got = np.asarray(got, dtype=np.float64)
                if got.shape != want.shape:
                    return Verdict(ERROR, f"{q} of {name!r} has shape {list(got.shape)}, expected {list(want.shape)}",
                                   worst={"param": name, "step": i + 1, "quantity": q}, error_kind="protocol")
                if got.size == 0:
                    continue
                # Overflow is allowed only where the bound itself reaches past the largest finite value.
                bad = ~np.isfinite(got) & np.isfinite(want) & (np.abs(want) + lim <= big)
                if bad.any():
                    idx = np.unravel_index(int(np.argmax(bad)), got.shape)
                    msg = f"non-finite {q} of {name!r} at step {i + 1} where the reference is finite (UPD-DTYPE)"
                    return Verdict(ERROR, msg, worst=_where(name, idx, i, q, got, want, lim),
                                   extra={"first_failing_step": i + 1}, error_kind="nonfinite")
                err = np.where(np.isfinite(want), np.abs(got - want), 0.0)
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    ratio = np.where(err > 0, err / lim, 0.0)
                    rel = np.where(err > 0, err / np.abs(want), 0.0)
                k = int(np.argmax(ratio))
                if quick and float(ratio.flat[k]) > 1.0:
                    return Verdict(FAIL, "out of bounds", ratio=float(ratio.flat[k]))
                if not quick:
                    max_abs = max(max_abs, float(err.max()))
                    max_rel = max(max_rel, float(np.nanmax(np.where(np.isfinite(rel), rel, 0.0))))
                    max_ulp = max(max_ulp, int(ulp_distance(got, want, case.dtype).max()))
                if first_fail is None and float(ratio.flat[k]) > 1.0:
                    first_fail = i + 1
                if best is None or float(ratio.flat[k]) > best[0]:
                    best = (float(ratio.flat[k]), _where(name, np.unravel_index(k, got.shape), i, q, got, want, lim))
    dtype_bad = {n: d for n, d in out.dtypes.items() if d != case.dtype}
    if dtype_bad:
        return Verdict(FAIL, f"parameters changed dtype: {dtype_bad} (UPD-DTYPE)")
    if best is None:
        return Verdict(PASS, "nothing to compare (empty parameters)", 0.0, 0.0, 0, 0.0, 0.0)
    ratio, worst = best
    ok = ratio <= 1.0
    msg = (f"worst {worst['quantity']} of {worst['param']!r}{list(worst['index'])} at step {worst['step']}: "
           f"got {worst['got']:.9g}, spec {worst['want']:.9g}, |diff| {worst['abs_err']:.3g} "
           f"{'<=' if ok else '>'} bound {worst['bound']:.3g}")
    v = Verdict(PASS if ok else FAIL, msg, max_abs, max_rel, max_ulp, worst["bound"], ratio, worst)
    v.extra["first_failing_step"] = first_fail
    return v


def _where(name: str, idx: tuple[Any, ...], i: int, q: str, got: np.ndarray, want: np.ndarray,
           lim: np.ndarray) -> dict[str, Any]:
    g, w, b = float(got[idx]), float(want[idx]), float(lim[idx])
    return {"param": name, "index": [int(x) for x in idx], "step": i + 1, "quantity": q,
            "got": g, "want": w, "abs_err": abs(g - w) if np.isfinite(g) else float("inf"), "bound": b}

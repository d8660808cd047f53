"""The judge compares many steps at once; its verdicts must be the ones a step-by-step reading gives.

``stepwise`` below is that reading, written as plainly as possible: every step, every parameter, every
quantity in turn, the first shape error / non-finite value (and, quick, the first element out of bounds)
ends it, and the first of equal worst ratios is the one reported. Outcomes are the reference's own
trajectories in the case dtype, perturbed the ways real implementations go wrong.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from adapters.base import Ran, StepState
from conformance import compare
from conformance.compare import ERROR, FAIL, PASS, Prepared, Verdict, _judge_trajectory, _shape_problem, judge
from conformance.dtypes import fmt, rounded, ulp_distance
from conformance.errormodel import trajectory_bounds
from conformance.expected import expected
from conformance.generate import generate

CLAUSES = ("UPD-MOMENTS", "UPD-BIAS", "DEC-L2", "GRP-LR", "LR-SEQUENCE", "SPR-DUPLICATES", "UPD-DTYPE")


def stepwise(case: Any, exp: Any, out: Ran, quick: bool = False) -> Verdict:
    traj = exp.trajectory
    problem = _shape_problem(case, out, traj.order)
    if problem:
        return Verdict(ERROR, problem, error_kind="protocol")
    bounds = trajectory_bounds(case, traj)
    big = fmt(case.dtype).max
    best, first_fail, max_abs, max_rel, max_ulp = None, None, 0.0, 0.0, 0
    for i, (ref_step, got_step, b_step) in enumerate(zip(traj.steps, out.steps, bounds)):
        for name in traj.order:
            for q in ("w", "m", "v"):
                got = getattr(got_step[name], q)
                if got is None:
                    continue
                want, lim = getattr(ref_step[name], q), getattr(b_step[name], q)
                got = np.asarray(got, dtype=np.float64)
                if got.shape != want.shape:
                    return Verdict(ERROR, f"{q} of {name!r} has shape {list(got.shape)}, expected {list(want.shape)}",
                                   worst={"param": name, "step": i + 1, "quantity": q}, error_kind="protocol")
                if got.size == 0:
                    continue
                with np.errstate(all="ignore"):  # an infinity only on the side the bound overflows; NaN never
                    allowed = ((got == np.inf) & (want + lim > big)) | ((got == -np.inf) & (want - lim < -big))
                bad = ~np.isfinite(got) & np.isfinite(want) & ~allowed
                if bad.any():
                    return Verdict(ERROR, "nonfinite", worst={"param": name, "step": i + 1, "quantity": q,
                                   "index": [int(x) for x in np.unravel_index(int(np.argmax(bad)), got.shape)]},
                                   error_kind="nonfinite")
                with np.errstate(all="ignore"):
                    err = np.where(np.isfinite(want), np.abs(got - want), 0.0)
                    ratio = np.where(err > 0, err / lim, 0.0)
                    rel = np.where(err > 0, err / np.abs(want), 0.0)
                k = int(np.argmax(ratio))
                r = float(ratio.flat[k])
                if quick and r > 1.0:
                    return Verdict(FAIL, "out of bounds", ratio=r)
                if not quick:
                    max_abs = max(max_abs, float(err.max()))
                    max_rel = max(max_rel, float(np.where(np.isfinite(rel), rel, 0.0).max()))
                    max_ulp = max(max_ulp, int(ulp_distance(got, want, case.dtype).max()))
                if first_fail is None and r > 1.0:
                    first_fail = i + 1
                if best is None or r > best[0]:
                    idx = [int(x) for x in np.unravel_index(k, got.shape)]
                    best = (r, {"param": name, "index": idx, "step": i + 1, "quantity": q})
    if any(d != case.dtype for d in out.dtypes.values()):
        return Verdict(FAIL, "dtype")
    if best is None or best[0] <= 1.0:  # a pass whose w values the named dtype cannot hold is a dtype change
        for st in out.steps:
            for s in st.values():
                w = np.asarray(s.w, dtype=np.float64)[np.isfinite(np.asarray(s.w, dtype=np.float64))]
                if not np.array_equal(rounded(w, case.dtype), w):
                    return Verdict(FAIL, "dtype")
    if best is None:
        return Verdict(PASS, "empty", 0.0, 0.0, 0, 0.0, 0.0)
    v = Verdict(PASS if best[0] <= 1.0 else FAIL, "", max_abs, max_rel, max_ulp, None, best[0], best[1])
    v.extra["first_failing_step"] = first_fail
    return v


def _perturbed(case: Any, exp: Any, kind: str, rng: random.Random) -> Ran:
    steps = []
    for st in exp.trajectory.steps:
        row = {}
        for name in exp.trajectory.order:
            arrs: list[Any] = []
            for q in ("w", "m", "v"):
                a = rounded(getattr(st[name], q), case.dtype).copy()
                if kind == "ulps" and a.size and rng.random() < 0.3:
                    a.flat[rng.randrange(a.size)] *= 1 + rng.choice([1e-6, 1e-3, 1e-2, 0.5])
                elif kind == "nonfinite" and a.size and rng.random() < 0.1:
                    a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
                elif kind == "no-moments" and q != "w" and rng.random() < 0.5:
                    a = None
                elif kind == "shape" and rng.random() < 0.05:
                    a = np.zeros(7)
                elif kind == "scaled" and a.size:
                    a = a * (1 + 1e-3 * rng.random())
                arrs.append(a)
            row[name] = StepState(*arrs)
        steps.append(row)
    return Ran(steps, {n: case.dtype for n in exp.trajectory.order})


KINDS = ("faithful", "ulps", "nonfinite", "no-moments", "shape", "scaled")


@pytest.fixture(scope="module")
def judged() -> list[tuple[Any, Any, Ran]]:
    rng = random.Random(0)
    out = []
    for case in generate(CLAUSES, ("float64", "float32", "float16", "bfloat16"), 0, 3):
        exp = expected(case)
        if case.kind != "steps" or exp.trajectory is None:
            continue
        out += [(case, exp, _perturbed(case, exp, kind, rng)) for kind in KINDS]
    return out


def _same(new: Verdict, old: Verdict) -> None:
    assert new.verdict == old.verdict and new.error_kind == old.error_kind, (new, old)
    assert new.ratio == old.ratio or (new.ratio != new.ratio and old.ratio != old.ratio), (new, old)
    for key in ("param", "step", "quantity", "index"):
        assert (new.worst or {}).get(key) == (old.worst or {}).get(key), (new.worst, old.worst)
    if new.verdict in (PASS, FAIL) and old.max_abs_err is not None and new.message != "out of bounds":
        assert (new.max_abs_err, new.max_rel_err, new.max_ulp) == (old.max_abs_err, old.max_rel_err, old.max_ulp)
        assert new.extra.get("first_failing_step") == old.extra.get("first_failing_step")


@pytest.mark.parametrize("whole", [compare.QUICK_WHOLE, 0])  # 0: a quick judge goes 1, 2, 4, ... steps at a time
def test_the_judge_agrees_with_a_step_by_step_reading(judged: list[tuple[Any, Any, Ran]], whole: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "QUICK_WHOLE", whole)
    kinds = set()
    for case, exp, out in judged:
        prep = Prepared(case, exp)
        _same(_judge_trajectory(prep, out), stepwise(case, exp, out))
        _same(_judge_trajectory(Prepared(case, exp), out, quick=True), stepwise(case, exp, out, quick=True))
        kinds.add(_judge_trajectory(prep, out).verdict)
    assert kinds == {PASS, FAIL, ERROR}  # every branch was met


def test_a_prepared_expectation_gives_every_outcome_the_verdict_a_fresh_one_gives(
        judged: list[tuple[Any, Any, Ran]]) -> None:
    shared: dict[str, Prepared] = {}
    for case, exp, out in judged:  # six outcomes per case share one Prepared, alternatives included
        prep = shared.setdefault(case.id, Prepared(case, exp))
        a, b = judge(case, prep, out), judge(case, exp, out)
        assert (a.verdict, a.message, a.ratio, a.extra) == (b.verdict, b.message, b.ratio, b.extra)

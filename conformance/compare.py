"""Trajectories -> a verdict: PASS, FAIL, ERROR or UNSUPPORTED, with the worst element located.

Parameters AND moments are compared after every step, element by element, against the error
model's bound. The worst element is the one with the largest error-to-bound ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from adapters.base import Outcome, Raised, Ran, Unsupported

from .cases import Case
from .dtypes import fmt, rounded, ulp_distance
from .errormodel import Bounds, stacked_bounds
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


class _Slab(NamedTuple):
    """One (parameter, quantity) over a range of steps, one row per step (the array flattened)."""

    want: np.ndarray  # the reference
    lim: np.ndarray  # the error model's bound
    finite: np.ndarray  # where the reference is finite (elsewhere nothing is compared)
    strict: np.ndarray  # where a non-finite result is an error: the bound stays inside the dtype's range


class Prepared:
    """A case's expectation made ready to judge any number of outcomes: the reference's answer, the error
    model's bound of every step and both stacked per (parameter, quantity), computed once and shared by
    every adapter that runs the case (and by the alternative readings a failure is tried against).

    Nothing is computed until it is first needed (``ready()`` computes it now: the gate does it while it
    waits); the whole trajectory's bounds are computed at once (``errormodel.stacked_bounds``).

    >>> from conformance.compare import Prepared, judge
    >>> # prep = Prepared(case, expected(case)); [judge(case, prep, out) for out in outcomes]
    """

    def __init__(self, case: Case, exp: Expected, eps_scale: Callable[[int], float] | None = None,
                 hyper: Mapping[str, float] | None = None) -> None:
        self.case, self.expected = case, exp
        traj = exp.trajectory
        self._n = len(traj.steps) if traj is not None else 0
        self._args = (eps_scale, hyper)
        self._full: dict[tuple[str, str], _Slab] | None = None
        self._stacked: dict[str, Bounds] | None = None
        self._alts: dict[int, list[tuple[Sequence[Any], Prepared]]] = {}

    def shape(self, name: str) -> tuple[int, ...]:
        assert self.expected.trajectory is not None
        return tuple(np.shape(self.expected.trajectory.steps[0][name].w))

    def _bounds_stacked(self) -> dict[str, Bounds]:
        if self._stacked is None:
            traj = self.expected.trajectory
            assert traj is not None
            self._stacked = stacked_bounds(self.case, traj, *self._args) if self._n else {}
        return self._stacked

    def bounds(self, upto: int | None = None) -> list[dict[str, Bounds]]:
        """The bounds of steps ``[0, upto)`` (every step by default), one dict per step."""
        n = self._n if upto is None else min(upto, self._n)
        b = self._bounds_stacked()
        return [{name: Bounds(x.w[i], x.m[i], x.v[i]) for name, x in b.items()} for i in range(n)]

    def slabs(self, lo: int, hi: int) -> dict[tuple[str, str], _Slab]:
        """Reference and bound of steps ``[lo, hi)`` per (parameter, quantity): views of the whole range."""
        if self._full is None:
            traj = self.expected.trajectory
            assert traj is not None
            b = self._bounds_stacked()
            big = fmt(self.case.dtype).max
            full: dict[tuple[str, str], _Slab] = {}
            for name in traj.order:
                for q in QUANTITIES:
                    want = np.stack([np.asarray(getattr(s[name], q), dtype=np.float64).reshape(-1)
                                     for s in traj.steps])
                    lim = getattr(b[name], q).reshape(self._n, -1)
                    fin = np.isfinite(want)
                    with np.errstate(invalid="ignore", over="ignore"):
                        strict = fin & (np.abs(want) + lim <= big)
                    full[(name, q)] = _Slab(want, lim, fin, strict)
            self._full = full
        if lo == 0 and hi == self._n:
            return self._full
        return {k: _Slab(*(a[lo:hi] for a in s)) for k, s in self._full.items()}

    def ready(self) -> Prepared:
        """Compute now what judging a whole trajectory needs (nothing for a raise or construct case)."""
        if self._full is None and self._n and self.case.kind != "construct":
            self.slabs(0, self._n)
        return self

    def alternatives(self, size: int) -> list[tuple[Sequence[Any], Prepared]]:
        """The case under every alternative reading (``size`` 1) or pair of readings (2), prepared once."""
        if size not in self._alts:
            from .variants import alternative_trajectories

            self._alts[size] = [(readings, Prepared(self.case, Expected(traj), args.eps_scale, args.hyper))
                                for readings, traj, args in alternative_trajectories(self.case, sizes=(size,))]
        return self._alts[size]


def judge(case: Case, exp: Expected | Prepared, out: Outcome, explain: bool = True) -> Verdict:
    """The verdict of one outcome. ``exp`` is the reference's answer, or a ``Prepared`` one when several
    outcomes of the same case are judged: its bounds are then computed once. ``explain`` False: a FAIL is
    left for the caller to explain (``explanation``, ``apply_explanation``).

    >>> from adapters.numpy_lowp import NumpyLowPrecisionAdapter  # the spec computed in float32
    >>> from conformance.cases import load
    >>> from conformance.expected import expected
    >>> case = load("reports/cases/DEC-c8f1d382bbfc.json")
    >>> judge(case, expected(case), NumpyLowPrecisionAdapter().run(case)).verdict
    'PASS'
    """
    prep = exp if isinstance(exp, Prepared) else Prepared(case, exp)
    if isinstance(out, Unsupported):
        return Verdict(UNSUPPORTED, out.reason)
    if prep.expected.trajectory is None:
        return _judge_raise(case, prep.expected, out)
    if isinstance(out, Raised):
        if out.stage == "adapter":
            return Verdict(ERROR, f"the adapter itself raised {out.type}: {out.message}", raised=out.type,
                           error_kind="adapter")
        return Verdict(ERROR, f"raised {out.type} {_where_raised(out)}: {out.message}", raised=out.type,
                       error_kind="raised")
    assert isinstance(out, Ran)
    if case.kind == "construct":
        return Verdict(PASS, "constructed, as the spec requires")
    v = _judge_trajectory(prep, out)
    if v.verdict == FAIL and explain and "deviates" not in v.extra:  # (a dtype change is UPD-DTYPE's already)
        _explain(prep, out, v)
    return v


def _explain(prep: Prepared, out: Ran, v: Verdict) -> None:
    """Charge the failure to the clause whose alternative reading the trajectory does satisfy."""
    apply_explanation(v, explanation(prep, out))


def explanation(prep: Prepared, out: Ran) -> tuple[list[str], list[str]] | None:
    """The alternative reading a failing trajectory satisfies: (the clauses it charges, sorted; the
    readings' texts), or None when none does.

    Single readings are tried before pairs (the simpler explanation first); among the readings of one
    size that pass, the best fit -- the smallest worst error/bound ratio -- is the one charged, so two
    readings that both explain a trajectory (eps placement and a beta2 held in float16 both shrink a
    step) are told apart by how well each fits.
    """
    fits: list[tuple[float, Any]] = []
    for size in (1, 2):
        for readings, alt in prep.alternatives(size):
            got = _judge_trajectory(alt, out, quick=True)
            if got.verdict == PASS:
                fits.append((got.ratio or 0.0, readings))
        if fits:
            break
    if not fits:
        return None
    _, readings = min(fits, key=lambda x: x[0])
    return sorted({r.clause for r in readings}), [r.text for r in readings]


def apply_explanation(v: Verdict, found: tuple[list[str], list[str]] | None) -> None:
    """Record on a FAIL verdict what ``explanation`` found (nothing when it found nothing)."""
    if found is None:
        return
    v.extra["deviates"], v.extra["explained_by"] = list(found[0]), list(found[1])
    v.message = f"{v.message}; consistent with: {'; '.join(found[1])}"


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


QUANTITIES = ("w", "m", "v")


QUICK_WHOLE = 16  # a trajectory this short is compared whole even by a caller that stops early (one pass
# over a few rows costs less than several)


def _chunks(n: int, quick: bool) -> list[tuple[int, int]]:
    """Step ranges to compare at once: all of them, or (``quick``: a caller that stops at the first failing
    step, on a trajectory longer than QUICK_WHOLE) 1, 2, 4, ... steps at a time, so an early failure costs
    little."""
    if not quick or n <= QUICK_WHOLE:
        return [(0, n)] if n else []
    out, lo, k = [], 0, 1
    while lo < n:
        out.append((lo, min(n, lo + k)))
        lo, k = lo + k, 2 * k
    return out


def _collect(traj: Any, out: Ran) -> tuple[dict[tuple[int, int], list[tuple[int, np.ndarray]]],
                                              Verdict | None, tuple[int, int, int]]:
    """The outcome's arrays per (parameter, quantity), step by step, up to the first one of the wrong shape
    (in the order a step-by-step reading meets them: step, parameter, quantity). Returns them, the shape
    ERROR that stops there (or None) and its position."""
    names = traj.order
    shapes = [np.shape(traj.steps[0][n].w) for n in names]
    cols: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {
        (ni, qi): [] for ni in range(len(names)) for qi in range(len(QUANTITIES))}
    for i, step in enumerate(out.steps):
        for ni, name in enumerate(names):
            state = step[name]
            for qi, q in enumerate(QUANTITIES):
                a = getattr(state, q)
                if a is None:
                    continue
                a = np.asarray(a, dtype=np.float64)
                if a.shape != shapes[ni]:
                    v = Verdict(ERROR, f"{q} of {name!r} has shape {list(a.shape)}, expected {list(shapes[ni])}",
                                worst={"param": name, "step": i + 1, "quantity": q}, error_kind="protocol")
                    return cols, v, (i, ni, qi)
                cols[(ni, qi)].append((i, a))
    return cols, None, (len(out.steps), 0, 0)


def _judge_trajectory(prep: Prepared, out: Ran, quick: bool = False) -> Verdict:
    """The verdict of a trajectory against ``prep``; ``quick``: stop at the first step out of bounds and
    skip the error statistics (the verdict and, for a PASS, the worst ratio are all a caller gets).

    Each (parameter, quantity) is compared over many steps at once; the result is what a step-by-step
    reading gives (tests/test_compare.py checks it against one): the first shape error, non-finite value
    or (``quick``) out-of-bounds element met in step, parameter, quantity order ends the comparison, and
    among equal worst ratios the first one met is reported.
    """
    case, traj = prep.case, prep.expected.trajectory
    assert traj is not None
    problem = _shape_problem(case, out, traj.order)
    if problem:
        return Verdict(ERROR, problem, error_kind="protocol")
    names = traj.order
    big = fmt(case.dtype).max
    cols, shape_error, stop = _collect(traj, out)
    pos = {key: 0 for key in cols}
    best: tuple[float, dict[str, Any]] | None = None
    first_fail: int | None = None
    max_abs = max_rel = 0.0
    max_ulp = 0
    for lo, hi in _chunks(len(traj.steps), quick):
        slabs = prep.slabs(lo, hi)
        events: list[tuple[int, int, int, int, Any]] = []
        cands: list[tuple[int, int, int, float, Any]] = []
        for (ni, qi), rows in cols.items():
            j0 = pos[(ni, qi)]
            j1 = j0
            while j1 < len(rows) and rows[j1][0] < hi:
                j1 += 1
            pos[(ni, qi)] = j1
            if j1 == j0:
                continue
            steps = [rows[j][0] for j in range(j0, j1)]
            s = slabs[(names[ni], QUANTITIES[qi])]
            if s.want.shape[1] == 0:
                continue
            got = np.stack([rows[j][1].reshape(-1) for j in range(j0, j1)])
            if len(steps) == hi - lo:
                want, lim, fin, strict = s
            else:  # an adapter that reports this quantity at some steps only
                ix = np.asarray(steps) - lo
                want, lim, fin, strict = s.want[ix], s.lim[ix], s.finite[ix], s.strict[ix]
            # Overflow is allowed only where the bound itself reaches past the largest finite value, and only
            # to the infinity on that side; NaN never is where the reference is finite.
            bad = ~np.isfinite(got) & strict
            loose = fin & ~strict
            if loose.any():
                with np.errstate(invalid="ignore", over="ignore"):
                    allowed = ((got == np.inf) & (want + lim > big)) | ((got == -np.inf) & (want - lim < -big))
                bad |= loose & ~np.isfinite(got) & ~allowed
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                err = np.where(fin, np.abs(got - want), 0.0)
                ratio = np.where(err > 0, err / lim, 0.0)
            k = ratio.argmax(axis=1)
            r = ratio[np.arange(len(steps)), k]
            badrow = bad.any(axis=1)
            if badrow.any():
                j = int(np.argmax(badrow))
                events.append((steps[j], ni, qi, 0, (j, int(np.argmax(bad[j])), got, want, lim)))
            over = r > 1.0
            if quick and over.any():
                j = int(np.argmax(over))
                events.append((steps[j], ni, qi, 1, float(r[j])))
            if events:
                continue
            if not quick:
                rowmax = err.max(axis=1)
                rowmax = rowmax[~np.isnan(rowmax)]
                if rowmax.size:
                    max_abs = max(max_abs, float(rowmax.max()))
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    rel = np.where(err > 0, err / np.abs(want), 0.0)
                max_rel = max(max_rel, float(np.where(np.isfinite(rel), rel, 0.0).max()))
                max_ulp = max(max_ulp, int(ulp_distance(got, want, case.dtype).max()))
                if over.any():
                    f = steps[int(np.argmax(over))] + 1
                    first_fail = f if first_fail is None else min(first_fail, f)
            for j, (rj, kj) in enumerate(zip(r.tolist(), k.tolist())):
                cands.append((steps[j], ni, qi, rj, (j, kj, got, want, lim)))
        if events:
            i, ni, qi, kind, data = min(events, key=lambda e: e[:4])
            name, q = names[ni], QUANTITIES[qi]
            if kind == 1:
                return Verdict(FAIL, "out of bounds", ratio=data)
            j, flat, got, want, lim = data
            msg = f"non-finite {q} of {name!r} at step {i + 1} where the reference is finite (UPD-DTYPE)"
            return Verdict(ERROR, msg, worst=_where(name, i, q, prep.shape(name), flat, got[j], want[j], lim[j]),
                           extra={"first_failing_step": i + 1}, error_kind="nonfinite")
        if shape_error is not None and stop[0] < hi:
            return shape_error
        cands.sort(key=lambda c: c[:3])
        for i, ni, qi, rj, (j, kj, got, want, lim) in cands:
            if best is None or rj > best[0]:
                name = names[ni]
                best = (rj, _where(name, i, QUANTITIES[qi], prep.shape(name), kj, got[j], want[j], lim[j]))
    if shape_error is not None:
        return shape_error
    dtype_bad = {n: d for n, d in out.dtypes.items() if d != case.dtype}
    if not dtype_bad and (best is None or best[0] <= 1.0):  # a pass: do its values fit the dtype it names?
        dtype_bad = {n: f"values not representable in {case.dtype}" for n in names if _wider(out, n, case.dtype)}
    if dtype_bad:
        v = Verdict(FAIL, f"parameters changed dtype: {dtype_bad} (UPD-DTYPE)")
        v.extra["deviates"], v.extra["explained_by"] = ["UPD-DTYPE"], []  # whatever the case's own clauses
        return v
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


def _wider(out: Ran, name: str, dtype: str) -> bool:
    """Whether any reported w of ``name`` is a finite value ``dtype`` cannot hold (a float64 result reported
    as float16): parameters that did not keep their dtype, whatever dtype name came with them."""
    if dtype == "float64":
        return False
    ws = [np.ravel(st.w) for step in out.steps if (st := step.get(name)) is not None and st.w is not None]
    if not ws:
        return False
    w = np.concatenate(ws).astype(np.float64, copy=False)  # one rounding for every step: cases have many
    w = w[np.isfinite(w)]
    return bool(w.size) and not np.array_equal(rounded(w, dtype), w)


def _where(name: str, i: int, q: str, shape: tuple[int, ...], flat: int, got: np.ndarray, want: np.ndarray,
           lim: np.ndarray) -> dict[str, Any]:
    idx = np.unravel_index(flat, shape)
    g, w, b = float(got[flat]), float(want[flat]), float(lim[flat])
    return {"param": name, "index": [int(x) for x in idx], "step": i + 1, "quantity": q,
            "got": g, "want": w, "abs_err": abs(g - w) if np.isfinite(g) else float("inf"), "bound": b}

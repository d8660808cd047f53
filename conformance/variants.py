"""Known alternative readings of single clauses, used to say *which* clause a failure comes from.

A failing case often fails for one reason that shows everywhere: torch-style eps placement moves
every float64 trajectory, whatever clause the case was written for. When a failing trajectory
passes the error model against the reference with one reading swapped (eps after bias correction,
lazy sparse rows, sparse duplicates squared separately), the failure is charged to that clause --
and the case counts as conformant for the clauses it was written for. The readings are semantic
alternatives written down in SPEC-NOTES, never implementation names; the verdict stays FAIL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

import reference as ref

from .cases import Case, SparseGrad
from .expected import reference_gradients, reference_params, to_reference


class Reading(NamedTuple):
    key: str
    clause: str
    text: str


def eps_scale(readings: Sequence[Reading], beta2: float) -> Callable[[int], float] | None:
    """How the readings rescale eps at update t (for the error model), or None."""
    if any(r.key == "eps-after-bias-correction" for r in readings):
        return lambda t: float(np.sqrt(1 - beta2**t))
    return None


READINGS: tuple[Reading, ...] = (
    Reading("eps-after-bias-correction", "UPD-EPS",
            "eps added after bias correction: sqrt(v)/sqrt(1-b2^t) + eps (= eps-hat with eps*sqrt(1-b2^t))"),
    Reading("lazy-rows", "SPR-DENSE-EQUIV", "lazy sparse update: rows absent from the indices keep w, m, v"),
    Reading("squares-per-occurrence", "SPR-DUPLICATES",
            "repeated indices not summed before squaring: v gets the sum of squares"),
)


def _run(opt: ref.Adam, case: Case, keys: frozenset[str]) -> ref.Trajectory:
    """The reference loop with the chosen readings swapped in (``keys`` empty = the spec)."""
    w = dict(opt.values)
    m = {n: np.zeros_like(x) for n, x in w.items()}
    v = {n: np.zeros_like(x) for n, x in w.items()}
    h = ref.hyper_dtype(opt.dtype)
    steps = []
    for i in range(case.num_steps):
        t = i + 1
        raw = case.gradients(i)
        grads: Mapping[str, Any] = reference_gradients(case, i)
        eps = opt.eps * np.sqrt(1 - opt.beta2**t) if "eps-after-bias-correction" in keys else opt.eps
        trace = {}
        for group in opt.groups:
            lr = ref.round_scalar(ref.learning_rate_at(group.lr, i), h)
            wd = ref.round_scalar(group.weight_decay, h)
            l = ref.step_size(lr, opt.beta1, opt.beta2, t)
            for name in group.names:
                g = ref.received_gradient(grads[name], opt.dtype)
                wd_n = wd if ref.decays(name, opt.grouped) else 0.0
                ge = ref.effective_gradient(g, w[name], wd_n, opt.loss_scale, group.grad_centralization)
                m_new, v_new = ref.moments(m[name], v[name], ge, opt.beta1, opt.beta2)
                sp = raw[name] if isinstance(raw[name], SparseGrad) else None
                if sp is not None and "squares-per-occurrence" in keys:
                    sq = ref.densify(ref.Sparse(sp.indices, ref.round_to(sp.values, opt.dtype) ** 2, sp.dense_shape))
                    sq = sq / opt.loss_scale**2
                    if wd_n:
                        sq = (np.sqrt(sq) + wd_n * np.abs(w[name])) ** 2  # decay folded in per row
                    v_new = opt.beta2 * v[name] + (1 - opt.beta2) * sq
                num = ref.numerator(m_new, ge, opt.beta1, opt.use_nesterov)
                w_new = ref.apply_update(w[name], num, v_new, l, eps)
                if sp is not None and "lazy-rows" in keys:
                    touched = np.zeros(sp.dense_shape[0], dtype=bool)
                    touched[np.asarray(sp.indices, dtype=np.int64)] = True
                    keep = ~touched
                    for arr, old in ((w_new, w[name]), (m_new, m[name]), (v_new, v[name])):
                        arr[keep] = old[keep]
                m[name], v[name], w[name] = m_new, v_new, w_new
                trace[name] = ref.StepTrace(w_new, m_new, v_new, ge, lr, wd_n)
        steps.append({n: trace[n] for n in opt.order})
    return ref.Trajectory(opt.order, tuple(steps))


def applicable(case: Case) -> list[Reading]:
    sparse = any(case.is_sparse(n) for n in case.names)
    return [r for r in READINGS if sparse or not r.clause.startswith("SPR-")]


def alternative_trajectories(case: Case, max_combined: int = 2
                             ) -> list[tuple[Sequence[Reading], ref.Trajectory, Callable[[int], float] | None]]:
    """Trajectories under every reading and every pair of readings that applies to the case,
    with the eps rescaling the error model must use for each."""
    params = {n: ref.Param(n, v) for n, v in case.param_values().items()}
    kwargs = {k: to_reference(v, params) for k, v in case.hyperparameters().items()}
    opt = ref.Adam(reference_params(case, params), **kwargs, received_as=case.dtype)
    readings = applicable(case)
    out = []
    for k in range(1, max_combined + 1):
        for combo in itertools.combinations(readings, k):
            with np.errstate(all="ignore"):
                out.append((combo, _run(opt, case, frozenset(r.key for r in combo)), eps_scale(combo, opt.beta2)))
    return out

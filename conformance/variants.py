"""Known alternative readings of single clauses, used to say *which* clause a failure comes from.

A failing case often fails for one reason that shows everywhere: torch-style eps placement moves
every float64 trajectory, whatever clause the case was written for. When a failing trajectory
passes the error model against the reference with one reading swapped (eps after bias correction,
decoupled AdamW-style decay, hyperparameters held in the parameter's half dtype, lazy sparse rows,
sparse duplicates squared separately), the failure is charged to that clause --
and the case counts as conformant for the clauses it was written for. The readings are semantic
alternatives written down in SPEC-NOTES, never implementation names; the verdict stays FAIL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

import reference as ref

from .cases import Case, Group, SparseGrad
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


HALF = ("float16", "bfloat16")
HELD = ("hyper-in-storage", "betas-in-storage")  # readings that hold hyperparameters in the storage dtype


class Held(NamedTuple):
    """The scalars an implementation uses under a reading that holds some of them in the storage dtype."""

    lr: Callable[[float], float]
    beta1: float
    beta2: float
    eps: float
    weight_decay: Callable[[float], float]
    step_size: Callable[[float, int], float]  # (lr, t) -> l
    step_betas: tuple[float, float]


def held(opt: ref.Adam, keys: frozenset[str]) -> Held:
    """The spec's scalars (float32 for half dtypes), or the ones a storage-dtype reading makes of them."""
    st = lambda x: ref.round_scalar(x, opt.dtype)  # noqa: E731
    same = lambda x: x  # noqa: E731
    if "hyper-in-storage" in keys:  # every scalar and the beta powers in the storage dtype
        b1, b2 = st(opt.beta1), st(opt.beta2)
        return Held(st, b1, b2, st(opt.eps), st,
                    lambda lr, t: lr * np.sqrt(1 - st(b2**t)) / (1 - st(b1**t)), (b1, b2))
    if "betas-in-storage" in keys:  # betas and eps cast inside the kernel; float32 beta powers outside it
        return Held(same, st(opt.beta1), st(opt.beta2), st(opt.eps), same,
                    lambda lr, t: ref.step_size(lr, opt.beta1, opt.beta2, t), (opt.beta1, opt.beta2))
    return Held(same, opt.beta1, opt.beta2, opt.eps, same,
                lambda lr, t: ref.step_size(lr, opt.beta1, opt.beta2, t), (opt.beta1, opt.beta2))


class BoundsArgs(NamedTuple):
    """What the error model must know about a reading to bound a trajectory computed under it."""

    eps_scale: Callable[[int], float] | None = None
    hyper: dict[str, float] | None = None


READINGS: tuple[Reading, ...] = (
    Reading("eps-after-bias-correction", "UPD-EPS",
            "eps added after bias correction: sqrt(v)/sqrt(1-b2^t) + eps (= eps-hat with eps*sqrt(1-b2^t))"),
    Reading("decoupled-decay", "DEC-L2",
            "decoupled (AdamW-style) weight decay: w -= lr*wd*w beside the Adam step, not wd*w in the gradient"),
    Reading("hyper-in-storage", "UPD-DTYPE",
            "hyperparameters and beta powers held in the parameter's dtype, not float32 "
            "(bfloat16: beta2 = 0.999 becomes 1.0)"),
    Reading("betas-in-storage", "UPD-DTYPE",
            "beta1, beta2 and eps cast to the parameter's dtype inside the kernel, beta powers in float32 "
            "(bfloat16: 1 - beta2 = 0, v stays 0)"),
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
    k = held(opt, keys)
    decoupled = "decoupled-decay" in keys
    steps = []
    for i in range(case.num_steps):
        t = i + 1
        raw = case.gradients(i)
        grads: Mapping[str, Any] = reference_gradients(case, i)
        eps = k.eps * np.sqrt(1 - opt.beta2**t) if "eps-after-bias-correction" in keys else k.eps
        trace = {}
        for group in opt.groups:
            lr = k.lr(ref.round_scalar(ref.learning_rate_at(group.lr, i), h))
            wd = k.weight_decay(ref.round_scalar(group.weight_decay, h))
            l = k.step_size(lr, t)
            for name in group.names:
                g = ref.received_gradient(grads[name], opt.dtype)
                wd_n = wd if ref.decays(name, opt.grouped) else 0.0
                ge = ref.effective_gradient(g, w[name], 0.0 if decoupled else wd_n, opt.loss_scale,
                                            group.grad_centralization)
                m_new, v_new = ref.moments(m[name], v[name], ge, k.beta1, k.beta2)
                sp = raw[name] if isinstance(raw[name], SparseGrad) else None
                if sp is not None and "squares-per-occurrence" in keys:
                    sq = ref.densify(ref.Sparse(sp.indices, ref.round_to(sp.values, opt.dtype) ** 2, sp.dense_shape))
                    sq = sq / opt.loss_scale**2
                    if wd_n:
                        sq = (np.sqrt(sq) + wd_n * np.abs(w[name])) ** 2  # decay folded in per row
                    v_new = k.beta2 * v[name] + (1 - k.beta2) * sq
                num = ref.numerator(m_new, ge, k.beta1, opt.use_nesterov)
                w_new = ref.apply_update(w[name], num, v_new, l, eps)
                if decoupled and wd_n:
                    w_new = w_new - lr * wd_n * w[name]
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


def _decays_anything(case: Case) -> bool:
    h = case.hyperparameters()
    groups = [g for g in case.param_groups() or [] if isinstance(g, Group)]
    return bool(h.get("weight_decay", 0.0)) or any(g.weight_decay for g in groups)


def applicable(case: Case) -> list[Reading]:
    sparse = any(case.is_sparse(n) for n in case.names)
    out = []
    for r in READINGS:
        if r.clause.startswith("SPR-") and not sparse:
            continue
        if r.key in HELD and case.dtype not in HALF:
            continue  # float32/float64 hyperparameters already are the storage dtype's
        if r.key == "decoupled-decay" and not _decays_anything(case):
            continue
        out.append(r)
    return out


def bounds_args(readings: Sequence[Reading], opt: ref.Adam) -> BoundsArgs:
    """The eps rescaling and the scalars the error model must use for a trajectory under ``readings``."""
    keys = frozenset(r.key for r in readings)
    scale = eps_scale(readings, opt.beta2)
    if not keys & set(HELD):
        return BoundsArgs(scale)
    k = held(opt, keys)
    return BoundsArgs(scale, {"beta1": k.beta1, "beta2": k.beta2, "eps": k.eps,
                              "step_beta1": k.step_betas[0], "step_beta2": k.step_betas[1]})


def alternative_trajectories(case: Case, sizes: Sequence[int] = (1, 2)
                             ) -> list[tuple[Sequence[Reading], ref.Trajectory, BoundsArgs]]:
    """Trajectories under every reading (``sizes`` 1) and every pair of readings (2) that applies to the
    case, with what the error model must use for each (two storage-dtype readings never combine: they
    exclude each other)."""
    params = {n: ref.Param(n, v) for n, v in case.param_values().items()}
    kwargs = {k: to_reference(v, params) for k, v in case.hyperparameters().items()}
    opt = ref.Adam(reference_params(case, params), **kwargs, received_as=case.dtype)
    readings = applicable(case)
    out = []
    for n in sizes:
        for combo in itertools.combinations(readings, n):
            if sum(r.key in HELD for r in combo) > 1:
                continue
            with np.errstate(all="ignore"):
                out.append((combo, _run(opt, case, frozenset(r.key for r in combo)), bounds_args(combo, opt)))
    return out

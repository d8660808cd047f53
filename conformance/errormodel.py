"""How far a faithful implementation may be from the float64 reference: a bound per element per step.

A first-order forward rounding analysis of one Adam step in the implementation's dtype, carried
across steps. The derivation, with the constants and why they are what they are, is in
``docs/error-model.md``; each term below is labelled with the equation it implements there.

Summary: every elementwise operation may round with relative error ``u`` (the storage dtype's unit
roundoff -- an implementation computing half types in float32 is strictly better) plus an absolute
``eta`` where it underflows; every hyperparameter may be held in float32 or float64 (relative
``uh``), and beta powers may be float32 running products (relative ``2 t uh``). Errors in w, m and v
propagate to the next step through the decay term, the moment recurrences and the step. Where the
denominator ``sqrt(v) + eps`` is too uncertain for the first-order ratio bound, the ratio's error
is capped by the Cauchy-Schwarz bound on |m| / sqrt(v), which holds for any gradient sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

import reference as ref

from .cases import Case, DynamicLRValue, Group, OrderParams, ScheduleValue, SparseGrad
from .dtypes import fmt

SAFETY = 2.0  # (E9) covers dropped second-order terms; see docs/error-model.md
CAP_SLACK = 1.25  # (E7) rounding slack on the Cauchy-Schwarz ratio cap


class Bounds(NamedTuple):
    """Allowed |implementation - reference| for w, m, v of one parameter after one step."""

    w: np.ndarray
    m: np.ndarray
    v: np.ndarray


class Units(NamedTuple):
    u: float  # storage unit roundoff
    uh: float  # hyperparameter / scalar unit roundoff
    eta: float  # absolute underflow error of one operation
    big: float  # largest finite value of the storage dtype


def units(dtype: str) -> Units:
    f = fmt(dtype)
    h = fmt(ref.hyper_dtype(dtype))
    return Units(f.unit_roundoff, h.unit_roundoff, f.tiny_abs, f.max)


# ---- learning-rate evaluation error (E5) -------------------------------------------------------

def _lr_error(form: Any, value: float, i: int, uh: float) -> float:
    """Absolute error an implementation may make evaluating update i's learning rate."""
    base = 2 * uh * abs(value)  # representation (float32 or float64) of the value itself
    if isinstance(form, (ScheduleValue, DynamicLRValue)):
        a = dict(form.args)
        name = form.name.lower()
        s = i if isinstance(form, ScheduleValue) else i // max(int(a.get("step_per_epoch", 1)), 1)
        if "exponential" in name:
            span = abs(math.log(a["decay_rate"])) * s / max(a.get("decay_steps", a.get("decay_epoch", 1)), 1)
            return base + uh * abs(value) * (6 + 4 * span)
        if "natural" in name:
            return base + uh * abs(value) * (6 + 4 * abs(a["decay_rate"]) * s)
        if "cosine" in name:
            return base + 8 * uh * (abs(a["min_lr"]) + abs(a["max_lr"]))
        if "polynomial" in name:
            d = a.get("decay_steps", a.get("decay_epoch", 1))
            d = d * max(1, math.ceil(s / d)) if a.get("update_decay_steps", a.get("update_decay_epoch")) else d
            lo = abs(a["learning_rate"]) + abs(a["end_learning_rate"])
            return base + uh * lo * (8 + 4 * abs(a["power"]) * d)
        return base + 6 * uh * abs(value)
    return base


# ---- one step of the analysis ------------------------------------------------------------------

class _Ctx(NamedTuple):
    b1: float  # the betas of the moments (and the Cauchy-Schwarz cap)
    b2: float
    eps: float
    ls: float
    nesterov: bool
    un: Units
    sb1: float  # the betas of the step size's powers (the same, except under a storage-dtype reading)
    sb2: float


def _sqrt_err(v: np.ndarray, dv: np.ndarray) -> np.ndarray:
    # (E6) |sqrt(v + d) - sqrt(v)| <= min(d / (2 sqrt v), sqrt(d)), exact for any d >= 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = np.where(v > 0, dv / (2 * np.sqrt(np.maximum(v, 0))), np.inf)
    return np.minimum(lin, np.sqrt(dv))


def _ratio_cap(c: _Ctx, t: int) -> float:
    # (E7) |m| / sqrt(v) <= (1-b1)/sqrt(1-b2) * sqrt(sum_{k<t} (b1^2/b2)^k) by Cauchy-Schwarz; no cap
    # when beta2 = 1 (v never grows: a reading that holds beta2 in bfloat16).
    if c.b2 >= 1.0:
        return math.inf
    q = c.b1 * c.b1 / c.b2
    s = t if abs(q - 1) < 1e-12 else (1 - q**t) / (1 - q)
    r = (1 - c.b1) / math.sqrt(1 - c.b2) * math.sqrt(s)
    return r if not c.nesterov else c.b1 * r + (1 - c.b1) / math.sqrt(1 - c.b2)


def _moment_rounding(u: float, b: float, new: np.ndarray, old: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(E2/E3) Rounding of one moving average ``new = b old + (1-b) x`` with per-operation rounding ``u``.

    Form A, ``b*old + (1-b)*x``: the products round to ``u b|old|`` and ``u (1-b)|x|``, the sum to
    ``u|new|``; computing ``x`` itself (``g*g`` for v) rounds to ``u|x|`` *before* the factor (1-b), so it
    reaches ``new`` as ``u (1-b)|x|``: at most ``u(|new| + b|old| + 2(1-b)|x|)``.
    Form B, ``old + (x - old)*(1-b)``: ``x`` and ``x - old`` round before the factor (1-b) (``u(1-b)|x|``,
    ``u(1-b)|x - old|``), the product rounds to ``u(1-b)|x - old|``, the sum to ``u|new|``: at most
    ``u(|new| + (1-b)(3|x| + 2|old|))``.
    Both are below ``u(|new| + (b + 2(1-b))|old| + 3(1-b)|x|)``. Charging the rounding of ``x`` in full
    (``u|x|`` instead of ``u(1-b)|x|``) is the slip this replaces: with beta2 = 0.999 it allowed v an error
    of ~31 v in bfloat16, 3.9 v in float16, so v frozen at 0 or 2.3% low passed.
    """
    return u * (np.abs(new) + (b + 2 * (1 - b)) * np.abs(old) + 3 * (1 - b) * np.abs(x))


class _Cols(NamedTuple):
    """One parameter over a run of steps, every array stacked along a leading step axis (row k: update
    ``t[k]``); per-step scalars are columns that broadcast against the parameter's shape."""

    w: np.ndarray  # the reference after the update
    m: np.ndarray
    v: np.ndarray
    ge: np.ndarray  # the effective gradient the update saw
    w0: np.ndarray  # the reference before the update
    m0: np.ndarray
    v0: np.ndarray
    g_raw: np.ndarray  # |g| as received
    dg_in: np.ndarray  # the error of receiving it (repeated sparse rows)
    t: list[int]
    wd: np.ndarray  # per-step scalars (columns)
    eps: np.ndarray
    step: np.ndarray  # the step size l of each update
    rel_l: np.ndarray  # its relative error (E4/E5)
    cap: np.ndarray  # CAP_SLACK times the Cauchy-Schwarz ratio cap (E7)
    floor: np.ndarray  # 64 t eta: the mass v may have lost to underflow

    def rows(self, k: int) -> _Cols:
        """Row ``k`` alone, still stacked (a block of one step)."""
        return _Cols(*(x[k:k + 1] for x in self[:9]), self.t[k:k + 1], *(x[k:k + 1] for x in self[10:]))


def _gradient_error(c: _Ctx, x: _Cols, gc: bool, ew: np.ndarray) -> np.ndarray:
    """(E1) The effective gradient's error per step, given w's error before each step (``ew``)."""
    u, uh, eta = c.un.u, c.un.uh, c.un.eta
    # (E1) effective gradient g/ls + wd*w. The received g is exact (the reference starts from it), so with
    # no decay and no loss scale nothing rounds; g * f32(1/ls) alone is one product (u) and one reciprocal
    # (uh, held in float32 or float64: 2uh); decay adds the product, the sum (MindSpore: g + w*(wd*ls),
    # then * f32(1/ls); torch order: g/ls + wd*w) and the hyperparameter products: (4u + 4uh) |g/ls + wd w|.
    wd = np.abs(x.wd)
    mag = x.g_raw / c.ls + wd * np.abs(x.w0)
    dge = x.dg_in / c.ls + wd * ew
    if x.wd.size and x.wd.flat[0]:  # a block of several steps has no decay (stacked_bounds); one step, its own
        dge = dge + (4 * u + 4 * uh) * mag + 3 * eta
    elif c.ls != 1:
        dge = dge + (u + 2 * uh) * mag + eta
    ge = x.ge
    if gc and ge.ndim >= 3 and ge.shape[2] % 16 == 0 and ge[0].size:
        # centralization: the mean carries the mean of the errors; subtracting it and summing k terms round.
        # (Each step's mean is taken on its own row: the same reduction, in the same order, as one step.)
        axes = tuple(range(1, ge.ndim - 1))
        k = int(np.prod(ge.shape[2:]))
        dmean = np.stack([row.mean(axis=axes, keepdims=True) for row in dge])
        mmean = np.stack([row.mean(axis=axes, keepdims=True) for row in mag])
        dge = dge + dmean + u * (np.abs(ge) + k * mmean)
    return dge


def _recur(b: float | None, start: np.ndarray, terms: tuple[np.ndarray | float, ...]) -> np.ndarray:
    """``e[k] = b e[k-1] + terms[0][k] + terms[1][k] + ...`` (``b`` None: 1), added left to right as one
    step's expression adds them, so a block of steps gives exactly what that many single steps give."""
    n = len(terms[0])  # type: ignore[arg-type]
    out = np.empty((n, *np.shape(start)))
    prev = start
    for k in range(n):
        acc = prev if b is None else b * prev
        for term in terms:
            acc = acc + (term[k] if isinstance(term, np.ndarray) else term)
        out[k] = prev = acc
    return out


def _steps(c: _Ctx, x: _Cols, e_prev: Bounds, dge: np.ndarray) -> Bounds:
    """The errors of w, m, v after each step of the block ``x``, from the errors before its first step."""
    u, uh, eta = c.un.u, c.un.uh, c.un.eta
    ge = x.ge
    age = np.abs(ge)
    # (E2) first moment: propagated b1 dm + (1-b1) dge; beta1 held in float32 or float64 moves (1-b1) by
    # uh, which multiplies (g - m_prev); the rounding of either algebraic form (_moment_rounding); 3
    # operations may underflow.
    dm = _recur(c.b1, e_prev.m, ((1 - c.b1) * dge, 2 * uh * np.abs(ge - x.m0),
                                 _moment_rounding(u, c.b1, x.m, x.m0, age), 3 * eta))
    # (E3) second moment, with |d(g^2)| <= 2|g| dg + dg^2 reaching v times (1 - b2); beta2's
    # representation moves (1-b2) by uh times (g^2 - v_prev); rounding as E2 with x = g^2; 4 operations.
    dsq = 2 * age * dge + dge * dge
    dv = _recur(c.b2, e_prev.v, ((1 - c.b2) * dsq, 2 * uh * np.abs(ge * ge - x.v0),
                                 _moment_rounding(u, c.b2, x.v, x.v0, ge * ge), 4 * eta))
    # numerator (nesterov look-ahead b1 m + (1-b1) g: the same moving-average form as E2, with m for old)
    if c.nesterov:
        num = c.b1 * x.m + (1 - c.b1) * ge
        dnum = (c.b1 * dm + (1 - c.b1) * dge + 2 * uh * np.abs(x.m - ge)
                + _moment_rounding(u, c.b1, num, x.m, age) + 3 * eta)
    else:
        num, dnum = x.m, dm
    # (E6) denominator sqrt(v) + eps: v's error through the square root, the root's rounding (u sqrt v),
    # eps's representation (uh eps) and the sum's rounding (u d).
    root = np.sqrt(x.v)
    d = root + x.eps
    dd = _sqrt_err(x.v, dv) + u * root + uh * x.eps + u * d + 2 * eta
    # (E6/E7) ratio r = num / d: first order while the denominator is well determined (lo > 0),
    # never more than the direct bound (|num| + dnum) / lo, and capped by Cauchy-Schwarz where the
    # implementation's v cannot have lost mass to underflow (v - dv >= 64 t eta).
    # The implementation adds eps (held in float32 or better) to sqrt(v) >= 0, so its denominator is
    # at least eps (1 - 2 uh): an implementation that loses eps deviates from UPD-EPS.
    r = num / d
    lo = np.maximum(d - dd, x.eps * (1 - 2 * uh))
    first = dnum / d + np.abs(num) * dd / (d * lo) + 2 * u * np.abs(r)
    direct = np.abs(r) + (np.abs(num) + dnum) / lo
    cs_ok = x.v - dv >= x.floor
    cap = np.where(cs_ok, np.abs(r) + x.cap, np.inf)
    dr = np.minimum(np.where(d - dd > 0, np.minimum(first, direct), direct), cap)
    # (E8) parameter w - l r: the propagated dw, l dr, the step size's relative error, the rounding of
    # l*r (and of the quotient, 3u l|r|) and of the difference (u |w|). The stored w_prev is exact -- its
    # own rounding is the previous step's u|w|, already in dw_prev -- so it is not charged again.
    lr_abs = x.step * np.abs(r)
    dw = _recur(None, e_prev.w, (x.step * dr, x.rel_l * lr_abs, 3 * u * lr_abs, u * np.abs(x.w), eta))
    return Bounds(dw, dm, dv)


# ---- the whole trajectory -----------------------------------------------------------------------

def _context(case: Case, hyper: Mapping[str, float] | None = None) -> _Ctx:
    h = case.hyperparameters()
    hd = ref.hyper_dtype(case.dtype)
    r = lambda key, default: ref.round_scalar(float(h.get(key, default)), hd)  # noqa: E731
    b1, b2 = r("beta1", 0.9), r("beta2", 0.999)
    c = _Ctx(b1, b2, r("eps", 1e-8), r("loss_scale", 1.0), bool(h.get("use_nesterov", False)), units(case.dtype),
             b1, b2)
    if hyper:  # an alternative reading's scalars (variants.bounds_args)
        keys = {"beta1": "b1", "beta2": "b2", "eps": "eps", "step_beta1": "sb1", "step_beta2": "sb2"}
        c = c._replace(**{keys[k]: float(v) for k, v in hyper.items()})
    return c


def _lr_forms(case: Case) -> tuple[dict[str, Any], dict[str, bool]]:
    """Which learning-rate form and grad_centralization flag each parameter has."""
    h = case.hyperparameters()
    top = h.get("learning_rate", 1e-3)
    forms = {n: top for n in case.names}
    gcs = {n: False for n in case.names}
    for g in case.param_groups() or []:
        if isinstance(g, OrderParams):
            continue
        assert isinstance(g, Group)
        for n in g.params:
            forms[n] = top if g.lr is None else g.lr
            gcs[n] = bool(g.grad_centralization)
    return forms, gcs


def _received_gradient(g: np.ndarray | SparseGrad, dtype: str, u: float) -> tuple[np.ndarray, np.ndarray]:
    """|g| as received, and the error of summing repeated sparse rows (k values: (k-1) u sum|v|)."""
    if isinstance(g, SparseGrad):
        vals = ref.round_to(g.values, dtype)
        total = np.abs(ref.densify(ref.Sparse(g.indices, vals, g.dense_shape)))
        absum = ref.densify(ref.Sparse(g.indices, np.abs(vals), g.dense_shape))
        mult = ref.densify(ref.Sparse(g.indices, np.ones_like(vals), g.dense_shape))
        return np.maximum(total, 0), u * np.maximum(mult - 1, 0) * absum
    a = np.abs(ref.round_to(g, dtype))
    return a, np.zeros_like(a)


def trajectory_bounds(case: Case, traj: ref.Trajectory, eps_scale: Callable[[int], float] | None = None,
                      hyper: Mapping[str, float] | None = None) -> list[dict[str, Bounds]]:
    """Per step, per parameter: the largest |impl - ref| a faithful implementation can show.

    For trajectories computed under an alternative reading (``variants``): ``eps_scale(t)`` multiplies
    eps at update t, and ``hyper`` replaces the scalars the moments, the denominator and the step size
    use (keys beta1, beta2, eps, step_beta1, step_beta2); the spec's own trajectory has neither.
    """
    stacked = stacked_bounds(case, traj, eps_scale, hyper)
    return [{n: Bounds(b.w[i], b.m[i], b.v[i]) for n, b in stacked.items()} for i in range(len(traj.steps))]


def stacked_bounds(case: Case, traj: ref.Trajectory, eps_scale: Callable[[int], float] | None = None,
                   hyper: Mapping[str, float] | None = None) -> dict[str, Bounds]:
    """``trajectory_bounds`` per parameter, every step at once: arrays with a leading step axis.

    Errors carry from step to step only through the moment recurrences, w's running sum and -- with
    weight decay -- w's error inside the next gradient. Without decay every other term depends on the
    reference alone, so all steps are computed together and only the three running sums go step by step;
    with decay (or where an error is no longer finite, and 0 * inf must be what a single step makes of it)
    the same block is computed one step at a time. Either way the numbers are exactly those of one step
    after another (the same operations on the same values, in the same order).
    """
    c0 = _context(case, hyper)
    forms, gcs = _lr_forms(case)
    init = {n: ref.round_to(v, case.dtype) for n, v in case.param_values().items()}
    n_steps = len(traj.steps)
    if not n_steps:
        return {}
    eps = [c0.eps if eps_scale is None else c0.eps * eps_scale(i + 1) for i in range(n_steps)]
    with np.errstate(all="ignore"):
        grads = [case.gradients(i) for i in range(n_steps)]
        out: dict[str, Bounds] = {}
        for n in traj.steps[0]:
            x = _columns(c0, traj, n, init[n], [g[n] for g in grads], case.dtype, forms[n], eps)
            zero = np.zeros_like(init[n])
            e0 = Bounds(zero, zero, zero)
            e = None
            if not np.any(x.wd):  # no decay: w's error never enters a gradient
                e = _steps(c0, x, e0, _gradient_error(c0, x, gcs[n], np.zeros_like(x.w)))
                if not all(np.isfinite(q).all() for q in e):
                    e = None
            if e is None:
                e = _one_by_one(c0, x, e0, gcs[n])
            out[n] = Bounds(*(_final(q, val, c0.un) for q, val in zip(e, (x.w, x.m, x.v))))
    return out


def _one_by_one(c: _Ctx, x: _Cols, e: Bounds, gc: bool) -> Bounds:
    rows = []
    for k in range(len(x.t)):
        xk = x.rows(k)
        e = _carried(_steps(c, xk, e, _gradient_error(c, xk, gc, e.w[None])))
        rows.append(e)
    return Bounds(*(np.stack([getattr(r, q) for r in rows]) for q in ("w", "m", "v")))


def _columns(c: _Ctx, traj: ref.Trajectory, name: str, init: np.ndarray, grads: list[Any], dtype: str,
             form: Any, eps: list[float]) -> _Cols:
    steps = [s[name] for s in traj.steps]
    w, m, v, ge = (np.stack([getattr(s, q) for s in steps]) for q in ("w", "m", "v", "g_eff"))
    zero = np.zeros_like(init)[None]
    w0, m0, v0 = (np.concatenate([first, a[:-1]]) for first, a in ((init[None], w), (zero, m), (zero, v)))
    received = [_received_gradient(g, dtype, c.un.u) for g in grads]
    g_raw, dg_in = np.stack([r[0] for r in received]), np.stack([r[1] for r in received])
    t = list(range(1, len(steps) + 1))
    per = [_scalars(c, s.lr, ti, _lr_error(form, s.lr, ti - 1, c.un.uh)) for s, ti in zip(steps, t)]
    shape = (-1,) + (1,) * init.ndim

    def col(values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(shape)

    return _Cols(w, m, v, ge, w0, m0, v0, g_raw, dg_in, t, col([s.weight_decay for s in steps]), col(eps),
                 *(col([p[j] for p in per]) for j in range(4)))


def _scalars(c: _Ctx, lr: float, t: int, dlr: float) -> tuple[float, float, float, float]:
    """Update t's scalars: the step size, its relative error, the ratio cap, the underflow floor of v."""
    uh = c.un.uh

    # (E4) step size l = lr sqrt(1 - b2^t) / (1 - b1^t), beta powers as float32 running products; all
    # scalar arithmetic (float32 or better): uh per operation, never the storage u. (E5) the lr's own error.
    def rel_one_minus_power(b: float) -> float:
        p = b**t
        return (2 * t * uh * p + uh * (1 - p)) / (1 - p) if p < 1 else 0.0  # p = 1: l = 0 exactly

    step = ref.step_size(lr, c.sb1, c.sb2, t)
    rel_l = (dlr / lr if lr else 0.0) + 0.5 * rel_one_minus_power(c.sb2) + rel_one_minus_power(c.sb1) + 4 * uh
    return step, rel_l, CAP_SLACK * _ratio_cap(c, t), 64 * t * c.un.eta


def _step(c: _Ctx, t: int, tr: ref.StepTrace, prev: tuple[np.ndarray, np.ndarray, np.ndarray],
          e_prev: Bounds, g_abs: np.ndarray, dg_in: np.ndarray, gc: bool, dlr: float) -> Bounds:
    """One update t's errors, from the state before it (``prev``: w, m, v) and its errors (``e_prev``)."""
    shape = (-1,) + (1,) * np.ndim(tr.w)
    with np.errstate(all="ignore"):
        one = [np.asarray(a, dtype=np.float64)[None] for a in (tr.w, tr.m, tr.v, tr.g_eff, *prev, g_abs, dg_in)]
        cols = [np.asarray([x], dtype=np.float64).reshape(shape)
                for x in (tr.weight_decay, c.eps, *_scalars(c, tr.lr, t, dlr))]
        x = _Cols(*one, [t], *cols)
        return _carried(_steps(c, x, e_prev, _gradient_error(c, x, gc, np.asarray(e_prev.w)[None])))


def _carried(block: Bounds) -> Bounds:
    """A one-step block's errors as the next step takes them: NaN (0 * inf, inf - inf) as unbounded."""
    return Bounds(*(np.where(np.isnan(q[0]), np.inf, q[0]) for q in block))


def _final(e: np.ndarray, value: np.ndarray, un: Units) -> np.ndarray:
    # (E9) safety factor over the first-order bound, plus the rounding of the stored value itself;
    # a value the dtype cannot represent (overflow) is unconstrained.
    b = SAFETY * e + un.u * np.abs(value) + un.eta
    return np.where(np.abs(value) > un.big, np.inf, b)


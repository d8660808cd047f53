"""An independent check of the reference: a naive mpmath Adam (60 digits), element by element.

The naive implementation below is written from the seed and SPEC-NOTES, not from the reference:
its own densify (duplicates summed), its own decay filter ('beta'/'gamma' substrings, ungrouped
only), its own group fallback, its own loss-scale handling (g/ls + wd*w).  It shares nothing with
``reference`` but the input values.

Tolerance.  The mpmath result is exact for our purposes (60 digits), so the difference is the
reference's float64 rounding alone.  Every float64 operation rounds with relative error <= u = 2^-53,
so alongside the exact value the naive implementation carries a *running error bound* for each
quantity the reference computes, op by op, in the reference's order of operations:

  * each rounding contributes u * |result|, scaled by the magnitudes involved (|g/ls| and |wd*w|
    separately, so a cancelling g/ls + wd*w is not judged against its tiny sum);
  * errors already present propagate through the exact derivatives (b1*e_m, 2|g|e_g + e_g^2,
    e_v / (2 sqrt v), num/s^2 * e_s, ...): this is where the step count and the conditioning near
    |g| ~ eps (s = sqrt(v) + eps small) amplify them;
  * beta**t is one pow (<= 2u) and 1 - beta^t then carries u*beta^t absolute, which is large
    relative to 1 - beta^t for beta near 1: that conditioning is part of the bound too.

The test asserts |reference - exact| <= 2 * bound + 1e-300 for w, m, v and g_eff at every step:
a factor 2 covers the second-order terms the first-order bound leaves out.  No constant tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mpmath import mpf

import reference as ref

DPS = 60
NAMES = ("w", "conv.weight", "bn.beta", "ln_gamma", "Beta", "fc.Gamma", "alphabet")


@dataclass
class ParamCase:
    name: str
    w0: np.ndarray  # (rows, cols)
    grads: list  # per step: ("dense", ndarray) or ("sparse", indices, values)
    group_lr: float | None
    group_wd: float | None


@dataclass
class Case:
    params: list
    steps: int
    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    loss_scale: float
    nesterov: bool
    grouped: bool


# ---- case generation --------------------------------------------------------------------------

def _grad_value():
    mag = st.floats(-8.0, 3.0).map(lambda e: 10.0**e)
    signed = st.tuples(mag, st.booleans()).map(lambda p: -p[0] if p[1] else p[0])
    return st.one_of(st.just(0.0), signed, signed)


@st.composite
def cases(draw):
    steps = draw(st.integers(1, 20))
    n = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=n, max_size=n, unique=True))
    grouped = draw(st.booleans())
    params = []
    for name in names:
        rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        w_vals = st.lists(st.floats(-10.0, 10.0, allow_subnormal=False), min_size=rows * cols, max_size=rows * cols)
        w0 = np.array(draw(w_vals), dtype=np.float64).reshape(rows, cols)
        grads = []
        for _ in range(steps):
            if draw(st.integers(0, 2)) == 0:  # a third of the gradients sparse
                k = draw(st.integers(0, 2 * rows))
                idx = draw(st.lists(st.integers(0, rows - 1), min_size=k, max_size=k))
                vals = draw(st.lists(_grad_value(), min_size=k * cols, max_size=k * cols))
                grads.append(("sparse", np.array(idx, dtype=np.int64),
                              np.array(vals, dtype=np.float64).reshape(k, cols)))
            else:
                vals = draw(st.lists(_grad_value(), min_size=rows * cols, max_size=rows * cols))
                grads.append(("dense", np.array(vals, dtype=np.float64).reshape(rows, cols)))
        group_lr = draw(st.one_of(st.none(), st.floats(1e-4, 1.0))) if grouped else None
        group_wd = draw(st.one_of(st.none(), st.just(0.0), st.floats(0.0, 1.0))) if grouped else None
        params.append(ParamCase(name, w0, grads, group_lr, group_wd))
    beta = st.floats(1e-12, 1.0 - 2.0**-45)
    return Case(
        params=params, steps=steps, lr=draw(st.floats(1e-4, 1.0)),
        beta1=draw(beta), beta2=draw(beta), eps=draw(st.floats(1e-12, 1.0)),
        weight_decay=draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0))),
        loss_scale=draw(st.one_of(st.just(1.0), st.floats(0.5, 1e4))),
        nesterov=draw(st.booleans()), grouped=grouped,
    )


# ---- the naive mpmath Adam, with its running error bound ------------------------------------

U = mpf(2) ** -53


class Val:
    """An exact value and a bound on the absolute error of the float64 value the reference holds."""

    __slots__ = ("e", "x")

    def __init__(self, x, e=0):
        self.x, self.e = mpf(x), mpf(e)


def naive_adam(case: Case):
    """Returns, per step, {name: (w, m, v, g_eff)} as 2-d lists of Val."""
    b1, b2, eps, ls = mpf(case.beta1), mpf(case.beta2), mpf(case.eps), mpf(case.loss_scale)
    c1, c2 = 1 - b1, 1 - b2  # exact; the reference's fl(1 - b) is off by <= u*(1 - b)
    state = {}
    for p in case.params:
        rows, cols = p.w0.shape
        state[p.name] = {
            "w": [[Val(p.w0[r, c]) for c in range(cols)] for r in range(rows)],
            "m": [[Val(0) for _ in range(cols)] for _ in range(rows)],
            "v": [[Val(0) for _ in range(cols)] for _ in range(rows)],
        }
    out = []
    for i in range(case.steps):
        t = i + 1
        trace = {}
        for p in case.params:
            rows, cols = p.w0.shape
            # learning rate: the group's if it has one, else the optimizer's
            lr = mpf(p.group_lr if (case.grouped and p.group_lr is not None) else case.lr)
            # weight decay: grouped -> group's or optimizer's, no name filter; else filter by name
            if case.grouped:
                wd = mpf(p.group_wd if p.group_wd is not None else case.weight_decay)
            elif "beta" in p.name or "gamma" in p.name:
                wd = mpf(0)
            else:
                wd = mpf(case.weight_decay)
            # step size with its relative error bound
            p1, p2 = b1**t, b2**t
            d1, d2 = 1 - p1, 1 - p2
            l = lr * mpmath.sqrt(d2) / d1
            rel_l = (8 * U + (2 * U * p2 + U * d2) / (2 * d2) + (2 * U * p1 + U * d1) / d1)
            # densify (naively, every occurrence added in order) with the summation error
            kind = p.grads[i][0]
            dense = [[mpf(0)] * cols for _ in range(rows)]
            dense_err = [[mpf(0)] * cols for _ in range(rows)]
            if kind == "dense":
                g = p.grads[i][1]
                for r in range(rows):
                    for c in range(cols):
                        dense[r][c] = mpf(g[r, c])
            else:
                _, idx, vals = p.grads[i]
                absum = [[mpf(0)] * cols for _ in range(rows)]
                count = [0] * rows
                for k, r in enumerate(idx):
                    count[r] += 1
                    for c in range(cols):
                        dense[r][c] += mpf(vals[k, c])
                        absum[r][c] += abs(mpf(vals[k, c]))
                for r in range(rows):
                    for c in range(cols):
                        dense_err[r][c] = max(count[r] - 1, 0) * U * absum[r][c]
            st_ = state[p.name]
            w_row, m_row, v_row, ge_row = [], [], [], []
            for r in range(rows):
                wl, ml, vl, gl = [], [], [], []
                for c in range(cols):
                    w, m, v = st_["w"][r][c], st_["m"][r][c], st_["v"][r][c]
                    q = dense[r][c] / ls
                    dec = wd * w.x
                    ge = Val(q + dec,
                             dense_err[r][c] / ls + U * abs(q) + (2 * U * abs(dec) + U * abs(q + dec) + wd * w.e
                                                                  if wd else 0))
                    m_new = Val(b1 * m.x + c1 * ge.x,
                                b1 * m.e + c1 * ge.e + 3 * U * (b1 * abs(m.x) + c1 * abs(ge.x)) + U * abs(m.x))
                    gg, e_gg = ge.x * ge.x, 2 * abs(ge.x) * ge.e + ge.e**2
                    v_new = Val(b2 * v.x + c2 * gg,
                                b2 * v.e + c2 * e_gg + 4 * U * (b2 * v.x + c2 * gg))
                    if case.nesterov:
                        num = Val(b1 * m_new.x + c1 * ge.x,
                                  b1 * m_new.e + c1 * ge.e + 3 * U * (b1 * abs(m_new.x) + c1 * abs(ge.x)))
                    else:
                        num = m_new
                    root = mpmath.sqrt(v_new.x)
                    e_root = mpmath.sqrt(v_new.e) if root == 0 else min(v_new.e / (2 * root), mpmath.sqrt(v_new.e))
                    s = Val(root + eps, e_root + 2 * U * (root + eps))
                    step = l * num.x / s.x
                    if s.x > s.e:
                        e_step = (abs(step) * (rel_l + 3 * U)
                                  + l * (num.e * s.x + abs(num.x) * s.e) / (s.x * (s.x - s.e)))
                    else:  # ill-conditioned beyond a first-order bound: no claim
                        e_step = mpmath.inf
                    w_new = Val(w.x - step, w.e + e_step + U * abs(w.x - step))
                    st_["w"][r][c], st_["m"][r][c], st_["v"][r][c] = w_new, m_new, v_new
                    wl.append(w_new)
                    ml.append(m_new)
                    vl.append(v_new)
                    gl.append(ge)
                w_row.append(wl)
                m_row.append(ml)
                v_row.append(vl)
                ge_row.append(gl)
            trace[p.name] = (w_row, m_row, v_row, ge_row)
        out.append(trace)
    return out


# ---- the reference, on the same case --------------------------------------------------------

def run_reference(case: Case):
    params = [ref.Param(p.name, p.w0.copy()) for p in case.params]
    if case.grouped:
        groups = []
        for p, prm in zip(case.params, params):
            gdict = {"params": [prm]}
            if p.group_lr is not None:
                gdict["lr"] = p.group_lr
            if p.group_wd is not None:
                gdict["weight_decay"] = p.group_wd
            groups.append(gdict)
        params = groups
    opt = ref.Adam(params, learning_rate=case.lr, beta1=case.beta1, beta2=case.beta2, eps=case.eps,
                   use_nesterov=case.nesterov, weight_decay=case.weight_decay, loss_scale=case.loss_scale,
                   received_as="float64")
    grads = []
    for i in range(case.steps):
        step = {}
        for p in case.params:
            gi = p.grads[i]
            step[p.name] = (gi[1] if gi[0] == "dense"
                            else ref.Sparse(gi[1], gi[2], p.w0.shape))
        grads.append(step)
    return opt.run(grads)


def _check(label, got: np.ndarray, exact):
    rows, cols = got.shape
    for r in range(rows):
        for c in range(cols):
            val = exact[r][c]
            err = abs(mpf(float(got[r, c])) - val.x)
            bound = 2 * val.e + mpf(1e-300)
            assert err <= bound, (f"{label}[{r},{c}]: reference {float(got[r, c])!r}, exact {mpmath.nstr(val.x, 20)}, "
                                  f"error {mpmath.nstr(err, 3)} > bound {mpmath.nstr(bound, 3)}")


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_reference_agrees_with_naive_mpmath_adam(case):
    with mpmath.workdps(DPS):
        exact = naive_adam(case)
        traj = run_reference(case)
        assert traj.order == tuple(p.name for p in case.params)
        for i in range(case.steps):
            for p in case.params:
                w, m, v, ge = exact[i][p.name]
                s = traj.steps[i][p.name]
                label = f"step {i + 1} {p.name}"
                _check(label + " g_eff", s.g_eff, ge)
                _check(label + " m", s.m, m)
                _check(label + " v", s.v, v)
                _check(label + " w", s.w, w)


def test_naive_checker_detects_a_wrong_update():
    """The bound is tight enough to catch a real mistake: eps inside the bias correction (torch's
    form) on an otherwise identical case is rejected by the same comparison."""
    p = ParamCase("w", np.array([[0.5, -1.0]]), [("dense", np.array([[3e-8, -1e-7]]))], None, None)
    case = Case([p], 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, False, False)
    with mpmath.workdps(DPS):
        exact = naive_adam(case)
        traj = run_reference(case)
        _check("w", traj.steps[0]["w"].w, exact[0]["w"][0])  # the reference passes
        g = np.array([[3e-8, -1e-7]])
        torch_form = np.array([[0.5, -1.0]]) - 0.1 * g / (np.abs(g) + 1e-8)
        try:
            _check("w", torch_form, exact[0]["w"][0])
        except AssertionError:
            return
        raise AssertionError("the mpmath comparison accepted torch's eps placement")

"""Closed forms the reference must reproduce: one step, a constant gradient, zero gradient, t = 1000.

Every expected value here is derived on paper from the seed's epsilon-hat update
(SPEC-NOTES section 1, rule 3), not by calling any reference function:

    m_t = b1*m + (1-b1)*g,  v_t = b2*v + (1-b2)*g*g,  l_t = lr*sqrt(1-b2^t)/(1-b1^t),
    w_t = w_{t-1} - l_t * m_t / (sqrt(v_t) + eps).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import reference as ref

U = 2.0**-53  # unit roundoff of float64


def _run(w0, grads, **kw):
    kw.setdefault("received_as", "float64")
    opt = ref.Adam([ref.Param("w", np.asarray(w0, dtype=np.float64))], **kw)
    return opt.run([{"w": np.asarray(g, dtype=np.float64)} for g in grads])


G_SPREAD = np.array([3.0, -2.5, 1e-8, -1e-7, 5e-9, 1e3, -0.25, 0.0])


@pytest.mark.parametrize(("lr", "b1", "b2", "eps"), [
    (0.1, 0.9, 0.999, 1e-8),
    (1e-3, 0.5, 0.75, 1e-6),
    (0.3, 0.99, 0.9, 1.0),
])
def test_one_step_from_zero_state(lr, b1, b2, eps):
    """t = 1: l = lr*sqrt(1-b2)/(1-b1), m = (1-b1)g, sqrt(v) = sqrt(1-b2)|g|.

    So the update is lr*sqrt(1-b2)*g/(sqrt(1-b2)|g| + eps) = lr*g/(|g| + eps/sqrt(1-b2)): +-lr where
    |g| >> eps (the brief's ``lr*g/(|g|+eps)`` with eps scaled by 1/sqrt(1-b2), as epsilon-hat implies).
    """
    w0 = np.linspace(-1.0, 1.0, G_SPREAD.size)
    tr = _run(w0, [G_SPREAD], learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    s = tr.steps[0]["w"]
    c = math.sqrt(1.0 - b2)
    expected_delta = lr * c * G_SPREAD / (c * np.abs(G_SPREAD) + eps)
    # w0 - w1 cancels: it is only good to the rounding of w1, U*|w0| absolute.
    np.testing.assert_allclose(w0 - s.w, expected_delta, rtol=1e-14, atol=2 * U * np.abs(w0).max())
    np.testing.assert_allclose(s.m, (1.0 - b1) * G_SPREAD, rtol=4 * U, atol=0)
    np.testing.assert_allclose(np.sqrt(s.v), c * np.abs(G_SPREAD), rtol=4 * U, atol=0)
    # Where |g| >> eps/sqrt(1-b2) the step is +-lr (sign of g), independent of the gradient's size.
    big = np.abs(G_SPREAD) * c > 1e6 * eps
    if big.any():
        np.testing.assert_allclose((w0 - s.w)[big], lr * np.sign(G_SPREAD[big]), rtol=1e-5)


def test_one_step_differs_from_eps_after_bias_correction():
    """At |g| = eps the epsilon-hat step is lr*g/(g + eps/sqrt(1-b2)), not torch's lr*g/(g + eps)."""
    lr, b2, eps = 1.0, 0.75, 1e-3  # sqrt(1-b2) = 0.5 exactly
    g = np.array([eps])
    tr = _run([0.0], [g], learning_rate=lr, beta1=0.5, beta2=b2, eps=eps)
    delta = -tr.steps[0]["w"].w[0]
    assert delta == pytest.approx(lr * eps / (eps + eps / 0.5), rel=1e-15)  # = lr/3
    assert abs(delta - lr * eps / (eps + eps)) > 0.1  # torch's form would give lr/2


@pytest.mark.parametrize(("b1", "b2", "eps", "g"), [
    (0.9, 0.999, 1e-8, 0.37),
    (0.5, 0.99, 1e-3, -2.0e-3),  # |g| ~ eps: the eps term matters at every step
    (0.95, 0.9, 1e-6, 1e2),
])
def test_constant_gradient_trajectory(b1, b2, eps, g):
    """Constant g: m_t = (1-b1^t)g, v_t = (1-b2^t)g^2 and
    w_t = w_0 - sum_{k<=t} lr*sqrt(1-b2^k)/(1-b1^k) * (1-b1^k)g / (sqrt(1-b2^k)|g| + eps)."""
    lr, T, w0 = 0.05, 25, 1.5
    tr = _run([w0], [[g]] * T, learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    w = w0
    for t in range(1, T + 1):
        l = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        w -= l * (1.0 - b1**t) * g / (math.sqrt(1.0 - b2**t) * abs(g) + eps)
        s = tr.steps[t - 1]["w"]
        # A 25-step recurrence: a few dozen roundings, each <= U relative to the magnitudes involved.
        assert s.m[0] == pytest.approx((1.0 - b1**t) * g, rel=64 * U * t)
        assert s.v[0] == pytest.approx((1.0 - b2**t) * g * g, rel=64 * U * t)
        assert s.w[0] == pytest.approx(w, rel=0, abs=64 * U * t * (abs(w0) + t * lr))


def test_zero_gradient_zero_state_leaves_everything_at_zero():
    w0 = np.array([[0.5, -3.0], [0.0, 7.25]])
    tr = _run(w0, [np.zeros_like(w0)] * 5, learning_rate=0.5, eps=1e-12)
    for s in tr.steps:
        np.testing.assert_array_equal(s["w"].w, w0)
        np.testing.assert_array_equal(s["w"].m, 0.0)
        np.testing.assert_array_equal(s["w"].v, 0.0)


def test_zero_gradient_after_nonzero_state_keeps_moving():
    """Control for the test above: with m != 0 a zero gradient still moves w (state is not reset)."""
    tr = _run([1.0], [[1.0], [0.0]], learning_rate=0.1, beta1=0.9, beta2=0.999)
    s1, s2 = tr.steps[0]["w"], tr.steps[1]["w"]
    assert s2.m[0] == pytest.approx(0.9 * s1.m[0], rel=2 * U)
    assert s2.w[0] < s1.w[0]


def _closed_form_mp(lr, b1, b2, eps, g, w0, T):
    """w_T, m_T, v_T of the constant-gradient closed form, evaluated with 60 significant digits."""
    with mpmath.workdps(60):
        lr_, b1_, b2_, eps_, g_ = (mpmath.mpf(x) for x in (lr, b1, b2, eps, g))
        w = mpmath.mpf(w0)
        for t in range(1, T + 1):
            a, b = 1 - b1_**t, 1 - b2_**t
            w -= lr_ * mpmath.sqrt(b) / a * a * g_ / (mpmath.sqrt(b) * abs(g_) + eps_)
        return float(w), float((1 - b1_**T) * g_), float((1 - b2_**T) * g_ * g_)


@pytest.mark.parametrize(("b1", "b2"), [(0.9, 0.999), (0.99, 0.9999), (0.5, 0.999)])
def test_beta_power_bookkeeping_over_1000_steps(b1, b2):
    """UPD-BIAS at t = 1000, against the closed form evaluated exactly (mpmath, 60 digits).

    Tolerance: each step does ~10 float64 operations, each with relative error <= U = 2^-53.
    The m and v recurrences are contractions (errors shrink by b per step), so their accumulated
    relative error is <= ~4U*min(t, 1/(1-b)) <= 4U*T.  beta**t is one correctly rounded pow (~U),
    1-beta^t does not cancel here (beta^1000 <= 0.37), and w is a sum of T same-signed steps
    starting from 0, whose rounding adds <= T*U relative.  So |err| <= ~8*T*U*|w| (~9e-13 relative):
    still 10^8 times smaller than using t-1 or t+1 in the powers (checked below).
    """
    lr, eps, g, T = 1e-3, 1e-8, 0.2, 1000
    tr = _run([0.0], [[g]] * T, learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    w_T, m_T, v_T = _closed_form_mp(lr, b1, b2, eps, g, 0.0, T)
    last = tr.steps[-1]["w"]
    tol = 8 * T * U
    assert last.w[0] == pytest.approx(w_T, rel=tol)
    assert last.m[0] == pytest.approx(m_T, rel=tol)
    assert last.v[0] == pytest.approx(v_T, rel=tol)
    # The tolerance discriminates: an off-by-one t (powers shifted by one step) is far outside it.
    l_T = lr * math.sqrt(1 - b2**T) / (1 - b1**T)
    l_shift = lr * math.sqrt(1 - b2 ** (T + 1)) / (1 - b1 ** (T + 1))
    assert abs(l_T - l_shift) / l_T > 1e3 * tol
    # The last step's displacement is the t = 1000 step of the closed form; the difference of two
    # w's each good to tol*|w| is good to 2*tol*|w| absolute.
    prev = tr.steps[-2]["w"].w[0]
    step = l_T * m_T / (math.sqrt(v_T) + eps)
    assert prev - last.w[0] == pytest.approx(step, rel=tol, abs=2 * tol * abs(w_T))


@pytest.mark.parametrize(("b1", "b2", "eps", "g"), [(0.9, 0.999, 1e-8, 1.5), (0.5, 0.75, 1.0, -1.0),
                                                    (0.8, 0.99, 1e-4, 3e-5)])
def test_nesterov_one_step(b1, b2, eps, g):
    """UPD-NESTEROV, t = 1: numerator b1*m_1 + (1-b1)*g = (1-b1)(1+b1)g, so the step is
    lr*sqrt(1-b2)*(1+b1)*g/(sqrt(1-b2)|g| + eps): (1+b1)*lr where |g| >> eps."""
    lr = 0.01
    tr = _run([2.0], [[g]], learning_rate=lr, beta1=b1, beta2=b2, eps=eps, use_nesterov=True)
    c = math.sqrt(1 - b2)
    expected = lr * c * (1 + b1) * g / (c * abs(g) + eps)
    assert 2.0 - tr.steps[0]["w"].w[0] == pytest.approx(expected, rel=1e-13)
    plain = _run([2.0], [[g]], learning_rate=lr, beta1=b1, beta2=b2, eps=eps)
    # The look-ahead is (1+b1) times the plain first step; the moments themselves are identical.
    assert (2.0 - tr.steps[0]["w"].w[0]) == pytest.approx((1 + b1) * (2.0 - plain.steps[0]["w"].w[0]), rel=1e-13)
    assert tr.steps[0]["w"].m[0] == plain.steps[0]["w"].m[0]
    assert tr.steps[0]["w"].v[0] == plain.steps[0]["w"].v[0]


def test_nesterov_two_steps_uses_updated_moment():
    """Step 2 with g1=1, g2=-1, b1=0.5, b2=0.75, eps=1, lr=1 (all exact in binary):
    m2 = 0.5*0.5 + 0.5*(-1) = -0.25, v2 = 0.75*0.25 + 0.25*1 = 0.4375,
    numerator = 0.5*m2 + 0.5*g2 = -0.625, l2 = sqrt(1-0.5625)/(1-0.25)."""
    tr = _run([0.0], [[1.0], [-1.0]], learning_rate=1.0, beta1=0.5, beta2=0.75, eps=1.0, use_nesterov=True)
    s1, s2 = tr.steps[0]["w"], tr.steps[1]["w"]
    assert s1.w[0] == pytest.approx(-(0.5 * 0.5 + 0.5 * 1.0) / (0.5 + 1.0), rel=1e-15)  # l1 = 1
    assert s2.m[0] == -0.25
    assert s2.v[0] == 0.4375
    l2 = math.sqrt(0.4375) / 0.75
    assert s1.w[0] - s2.w[0] == pytest.approx(l2 * -0.625 / (math.sqrt(0.4375) + 1.0), rel=1e-14)

"""One or more hand-computed cases per clause family (SPEC-NOTES section 2).

Numbers are chosen exact in binary where possible (b1 = 0.5, b2 = 0.75, sqrt(1 - b2) = 0.5) so the
expected values can be written out; elsewhere the expected value is computed in the test from the
clause's formula, never from reference functions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from reference import Param, Sparse

U = 2.0**-53


def adam(params, received_as="float64", **kw):
    return ref.Adam(params, received_as=received_as, **kw)


def P(name, value):
    return Param(name, np.asarray(value, dtype=np.float64))


def one_step_delta(lr, b1, b2, eps, g):
    """w0 - w1 from zero state, written out: l = lr*sqrt(1-b2)/(1-b1), m = (1-b1)g, v = (1-b2)g^2."""
    g = np.asarray(g, dtype=np.float64)
    l = lr * math.sqrt(1 - b2) / (1 - b1)
    return l * (1 - b1) * g / (np.sqrt((1 - b2) * g * g) + eps)


# ---- UPD ---------------------------------------------------------------------------------------

def test_upd_moments_two_steps_exact():
    """b1 = 0.5, b2 = 0.75; g1 = [1, -2], g2 = [3, 0.5]:
    m1 = [0.5, -1], v1 = [0.25, 1]; m2 = 0.5*m1 + 0.5*g2 = [1.75, -0.25];
    v2 = 0.75*v1 + 0.25*g2^2 = [2.4375, 0.8125].  All exact in binary."""
    tr = adam([P("w", [0.0, 0.0])], beta1=0.5, beta2=0.75).run(
        [{"w": np.array([1.0, -2.0])}, {"w": np.array([3.0, 0.5])}])
    np.testing.assert_array_equal(tr.steps[0]["w"].m, [0.5, -1.0])
    np.testing.assert_array_equal(tr.steps[0]["w"].v, [0.25, 1.0])
    np.testing.assert_array_equal(tr.steps[1]["w"].m, [1.75, -0.25])
    np.testing.assert_array_equal(tr.steps[1]["w"].v, [2.4375, 0.8125])


def test_upd_bias_step_sizes_t1_t2_t3():
    """lr = 1, b1 = 0.5, b2 = 0.75, eps = 2^-20, g = 4 every step.
    l1 = sqrt(0.25)/0.5 = 1, l2 = sqrt(0.4375)/0.75, l3 = sqrt(1 - 0.421875)/0.875;
    m_t = (1 - 0.5^t)*4, sqrt(v_t) = sqrt(1 - 0.75^t)*4."""
    eps = 2.0**-20
    tr = adam([P("w", [0.0])], learning_rate=1.0, beta1=0.5, beta2=0.75, eps=eps).run([{"w": np.array([4.0])}] * 3)
    ls = [1.0, math.sqrt(0.4375) / 0.75, math.sqrt(0.578125) / 0.875]
    ms = [2.0, 3.0, 3.5]
    roots = [2.0, 4 * math.sqrt(0.4375), 4 * math.sqrt(0.578125)]
    w = 0.0
    for t in range(3):
        w -= ls[t] * ms[t] / (roots[t] + eps)
        assert tr.steps[t]["w"].m[0] == ms[t]
        assert tr.steps[t]["w"].w[0] == pytest.approx(w, rel=1e-15)


def test_upd_bias_t_counts_updates_not_parameters():
    """t advances once per update: with three parameters, each still sees t = 1 on the first update."""
    g = np.array([0.3])
    single = adam([P("a", [1.0])], learning_rate=0.1).run([{"a": g}] * 2)
    triple = adam([P("a", [1.0]), P("b", [1.0]), P("c", [1.0])], learning_rate=0.1).run(
        [{"a": g, "b": g, "c": g}] * 2)
    for i in range(2):
        for n in "abc":
            np.testing.assert_array_equal(triple.steps[i][n].w, single.steps[i]["a"].w)


def test_upd_eps_placement():
    """eps = 1, g = 1, b1 = 0.5, b2 = 0.75, lr = 1: l = 1, m = 0.5, sqrt(v) = 0.5, so
    w1 = w0 - 0.5/(0.5 + 1) = w0 - 1/3 (eps after bias correction would give w0 - 0.5)."""
    tr = adam([P("w", [1.0])], learning_rate=1.0, beta1=0.5, beta2=0.75, eps=1.0).run([{"w": np.array([1.0])}])
    assert tr.steps[0]["w"].w[0] == pytest.approx(1.0 - 1.0 / 3.0, rel=1e-15)


def test_upd_nesterov_hand_case():
    """Same numbers with use_nesterov: numerator 0.5*0.5 + 0.5*1 = 0.75, w1 = w0 - 0.75/1.5 = w0 - 0.5."""
    tr = adam([P("w", [1.0])], learning_rate=1.0, beta1=0.5, beta2=0.75, eps=1.0, use_nesterov=True).run(
        [{"w": np.array([1.0])}])
    assert tr.steps[0]["w"].w[0] == 0.5


def test_upd_dtype_shape_kept_inputs_untouched_and_run_repeatable():
    w0 = np.array([[1.0, -2.0, 3.0]])
    g = np.array([[0.5, 0.0, -7.0]])
    w0_copy, g_copy = w0.copy(), g.copy()
    opt = adam([P("w", w0)], learning_rate=0.1, weight_decay=0.1)
    a = opt.run([{"w": g}] * 3)
    b = opt.run([{"w": g}] * 3)
    np.testing.assert_array_equal(w0, w0_copy)
    np.testing.assert_array_equal(g, g_copy)
    for sa, sb in zip(a.steps, b.steps):
        for f in ("w", "m", "v", "g_eff"):
            arr = getattr(sa["w"], f)
            assert arr.shape == (1, 3)
            assert arr.dtype == np.float64
            np.testing.assert_array_equal(arr, getattr(sb["w"], f))


# ---- DEC ---------------------------------------------------------------------------------------

def test_dec_l2_uses_w_before_the_step():
    """wd = 0.5, w0 = 2, g = 1: g_eff1 = 1 + 0.5*2 = 2; g_eff2 = 1 + 0.5*w1 with w1 after step 1."""
    tr = adam([P("w", [2.0])], learning_rate=0.1, beta1=0.5, beta2=0.75, weight_decay=0.5).run(
        [{"w": np.array([1.0])}] * 2)
    s1, s2 = tr.steps[0]["w"], tr.steps[1]["w"]
    assert s1.g_eff[0] == 2.0
    assert s1.m[0] == 1.0  # 0.5 * 2
    assert s1.weight_decay == 0.5
    assert s2.g_eff[0] == 1.0 + 0.5 * s1.w[0]
    assert s2.g_eff[0] != 1.0 + 0.5 * 2.0


def test_dec_filter_names_case_sensitive():
    """Ungrouped: names containing 'beta' or 'gamma' (case-sensitive substrings) are not decayed."""
    names = {"conv.weight": True, "bn.beta": False, "ln.gamma": False, "betas_x": False, "xgammay": False,
             "Beta": True, "GAMMA": True, "alphabet": True, "bet.a": True}
    params = [P(n, [2.0, -4.0]) for n in names]
    g = np.array([1.0, 1.0])
    tr = adam(params, learning_rate=0.1, weight_decay=0.25).run([{n: g for n in names}])
    for n, decayed in names.items():
        s = tr.steps[0][n]
        expected = g + 0.25 * np.array([2.0, -4.0]) if decayed else g
        np.testing.assert_array_equal(s.g_eff, expected, err_msg=n)
        assert s.weight_decay == (0.25 if decayed else 0.0), n


def test_dec_group_own_and_fallback_weight_decay_no_filter():
    """Grouped: a group's weight_decay applies to all its parameters, 'beta' and 'gamma' included;
    a group without the key takes the optimizer's weight_decay (0.3)."""
    w = [2.0]
    groups = [{"params": [P("bn.beta", w), P("fc.w", w)], "weight_decay": 0.125},
              {"params": [P("ln.gamma", w), P("b", w)]}]
    tr = adam(groups, learning_rate=0.1, weight_decay=0.3).run(
        [{n: np.array([1.0]) for n in ("bn.beta", "fc.w", "ln.gamma", "b")}])
    s = tr.steps[0]
    assert s["bn.beta"].g_eff[0] == 1.0 + 0.125 * 2.0
    assert s["fc.w"].g_eff[0] == 1.0 + 0.125 * 2.0
    assert s["ln.gamma"].g_eff[0] == pytest.approx(1.0 + 0.3 * 2.0, rel=U)
    assert s["b"].g_eff[0] == pytest.approx(1.0 + 0.3 * 2.0, rel=U)
    assert (s["bn.beta"].weight_decay, s["ln.gamma"].weight_decay) == (0.125, 0.3)


def test_dec_loss_scale_divides_gradient_not_decay():
    """ls = 4, g = 8, wd = 0.5, w = 2: g_eff = 8/4 + 0.5*2 = 3 (not (8 + 0.5*2)/4 = 2.25)."""
    tr = adam([P("w", [2.0])], learning_rate=0.1, beta1=0.5, beta2=0.75, weight_decay=0.5, loss_scale=4.0).run(
        [{"w": np.array([8.0])}])
    s = tr.steps[0]["w"]
    assert s.g_eff[0] == 3.0
    assert s.m[0] == 1.5
    assert s.v[0] == 0.25 * 9.0


def test_dec_loss_scale_cancels_in_first_step_direction():
    """Without decay, loss_scale scales g and so m and sqrt(v) alike: with eps tiny the first step is
    (almost) unchanged, but m is exactly g/ls*(1-b1)."""
    tr = adam([P("w", [0.0])], learning_rate=0.1, beta1=0.5, beta2=0.75, loss_scale=1024.0).run(
        [{"w": np.array([2048.0])}])
    assert tr.steps[0]["w"].m[0] == 1.0
    assert tr.steps[0]["w"].w[0] == pytest.approx(-0.1, rel=1e-7)


# ---- GRP ---------------------------------------------------------------------------------------

def test_grp_lr_group_value_and_fallback():
    """A group's lr is used; a group without 'lr' uses learning_rate.  g = 1e3 >> eps: step ~ lr."""
    groups = [{"params": [P("a", [0.0])], "lr": 0.01}, {"params": [P("b", [0.0])]}]
    g = np.array([1e3])
    tr = adam(groups, learning_rate=0.25).run([{"a": g, "b": g}])
    s = tr.steps[0]
    assert (s["a"].lr, s["b"].lr) == (0.01, 0.25)
    assert -s["a"].w[0] == pytest.approx(one_step_delta(0.01, 0.9, 0.999, 1e-8, 1e3), rel=1e-14)
    assert -s["b"].w[0] == pytest.approx(one_step_delta(0.25, 0.9, 0.999, 1e-8, 1e3), rel=1e-14)
    assert -s["a"].w[0] == pytest.approx(0.01, rel=1e-6)


def test_grp_lr_group_sequence():
    groups = [{"params": [P("a", [0.0])], "lr": [0.5, 0.25]}, {"params": [P("b", [0.0])]}]
    tr = adam(groups, learning_rate=0.125).run([{"a": np.array([1.0]), "b": np.array([1.0])}] * 2)
    assert [s["a"].lr for s in tr.steps] == [0.5, 0.25]
    assert [s["b"].lr for s in tr.steps] == [0.125, 0.125]


def test_grp_order_follows_order_params_values_unaffected():
    a, b, c = P("a", [1.0, 2.0]), P("b", [3.0]), P("c", [[4.0, 5.0]])
    grads = [{"a": np.array([0.5, -0.5]), "b": np.array([2.0]), "c": np.array([[1.0, -1.0]])}] * 2
    base = [{"params": [a, b], "weight_decay": 0.1}, {"params": [c], "lr": 0.05}]
    plain = adam(base, learning_rate=0.1).run(grads)
    ordered = adam([*base, {"order_params": [c, a, b]}], learning_rate=0.1).run(grads)
    assert plain.order == ("a", "b", "c")
    assert ordered.order == ("c", "a", "b")
    for sp, so in zip(plain.steps, ordered.steps):
        assert tuple(so) == ("c", "a", "b")
        for n in "abc":
            np.testing.assert_array_equal(so[n].w, sp[n].w)
            np.testing.assert_array_equal(so[n].v, sp[n].v)


def test_grp_gc_rule():
    """Centralization (g minus its mean over all axes but 0) only with grad_centralization=True, only for
    ndim >= 2 with shape[1] % 16 == 0."""
    rng = np.random.default_rng(7)
    shapes = {"q16": (2, 16), "q32x3": (3, 32, 3), "n8": (2, 8), "vec16": (16,), "n17": (2, 17)}
    gc = {n: P(n, np.zeros(s)) for n, s in shapes.items()}
    off = P("off16", np.zeros((2, 16)))
    grads = {n: rng.normal(size=s) for n, s in shapes.items()}
    grads["off16"] = rng.normal(size=(2, 16))
    tr = adam([{"params": list(gc.values()), "grad_centralization": True}, {"params": [off]}],
              learning_rate=0.1).run([grads])
    s = tr.steps[0]
    for n in ("q16", "q32x3"):
        g = grads[n]
        expected = g - g.reshape(g.shape[0], -1).mean(axis=1).reshape((-1,) + (1,) * (g.ndim - 1))
        np.testing.assert_allclose(s[n].g_eff, expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(s[n].g_eff.reshape(g.shape[0], -1).sum(axis=1), 0.0, atol=1e-14)
    for n in ("n8", "vec16", "n17", "off16"):
        np.testing.assert_array_equal(s[n].g_eff, grads[n], err_msg=n)


def test_grp_gc_centralizes_the_decayed_gradient():
    """Decay comes first, then centralization: g_eff = C(g/ls + wd*w), not C(g)/ls + wd*w."""
    w0 = np.arange(32.0).reshape(2, 16) / 8.0
    g = np.ones((2, 16)) * 4.0  # C(g) = 0
    tr = adam([{"params": [P("c", w0)], "grad_centralization": True, "weight_decay": 0.5}],
              loss_scale=2.0).run([{"c": g}])
    d = g / 2.0 + 0.5 * w0
    np.testing.assert_allclose(tr.steps[0]["c"].g_eff, d - d.mean(axis=1, keepdims=True), rtol=0, atol=1e-15)
    assert np.abs(tr.steps[0]["c"].g_eff).max() > 0.4  # 0.5*w0 centred per row: up to 0.46875


def test_grp_gc_not_applied_ungrouped():
    g = np.arange(32.0).reshape(2, 16)
    tr = adam([P("w", np.zeros((2, 16)))]).run([{"w": g}])
    np.testing.assert_array_equal(tr.steps[0]["w"].g_eff, g)


# ---- LR ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lr", "expected"), [(0.1, 0.1), (1, 1.0), (np.array(0.1), 0.1), (np.array(2), 2.0),
                                              (True, 1.0)])
def test_lr_fixed(lr, expected):
    tr = adam([P("w", [0.0])], learning_rate=lr).run([{"w": np.array([1e3])}] * 3)
    assert [s["w"].lr for s in tr.steps] == [expected] * 3
    assert -tr.steps[0]["w"].w[0] == pytest.approx(one_step_delta(expected, 0.9, 0.999, 1e-8, 1e3), rel=1e-14)


@pytest.mark.parametrize("make", [list, tuple, np.array], ids=["list", "tuple", "ndarray"])
def test_lr_sequence_ith_update_uses_element_i(make):
    seq = make([0.5, 0.0, 0.25])
    opt = adam([P("w", [1.0])], learning_rate=seq, beta1=0.5, beta2=0.75)
    tr = opt.run([{"w": np.array([1.0])}] * 3)
    assert [s["w"].lr for s in tr.steps] == [0.5, 0.0, 0.25]
    # update 2 uses lr 0: w does not move while m and v still update.
    assert tr.steps[1]["w"].w[0] == tr.steps[0]["w"].w[0]
    assert tr.steps[1]["w"].m[0] != tr.steps[0]["w"].m[0]
    with pytest.raises((IndexError, RuntimeError)):
        opt.run([{"w": np.array([1.0])}] * 4)


def test_lr_sequence_from_a_generator():
    """The seed's Iterable: a one-shot iterator must still give element i to update i."""
    opt = adam([P("w", [1.0])], learning_rate=(x for x in [0.5, 0.25, 0.125]))
    tr = opt.run([{"w": np.array([1.0])}] * 3)
    assert [s["w"].lr for s in tr.steps] == [0.5, 0.25, 0.125]


def test_lr_schedule_in_run():
    sched = ref.Schedule("InverseDecayLR", {"learning_rate": 0.5, "decay_rate": 1.0, "decay_steps": 1})
    tr = adam([P("w", [1.0])], learning_rate=sched).run([{"w": np.array([1.0])}] * 4)
    assert [s["w"].lr for s in tr.steps] == [0.5 / (1 + i) for i in range(4)]


# ---- SPR ---------------------------------------------------------------------------------------

def _both(params_w0, sparse_steps, **kw):
    """Run the same gradients once as Sparse and once densified by hand (np loops, duplicates summed)."""
    dense_steps = []
    for step in sparse_steps:
        d = {}
        for n, sp in step.items():
            g = np.zeros(sp.dense_shape)
            for k, r in enumerate(sp.indices):
                g[r] = g[r] + sp.values[k]
            d[n] = g
        dense_steps.append(d)
    a = adam([P(n, w) for n, w in params_w0.items()], **kw).run(sparse_steps)
    b = adam([P(n, w) for n, w in params_w0.items()], **kw).run(dense_steps)
    return a, b


def test_spr_dense_equiv_untouched_rows_move():
    w0 = np.arange(6.0).reshape(3, 2)
    s1 = Sparse(np.array([0, 1, 2]), np.ones((3, 2)), (3, 2))
    s2 = Sparse(np.array([0]), np.array([[2.0, -1.0]]), (3, 2))
    sp, de = _both({"w": w0}, [{"w": s1}, {"w": s2}], learning_rate=0.1, beta1=0.5, beta2=0.75)
    for i in range(2):
        for f in ("w", "m", "v", "g_eff"):
            np.testing.assert_array_equal(getattr(sp.steps[i]["w"], f), getattr(de.steps[i]["w"], f))
    step2 = sp.steps[1]["w"]
    # rows 1 and 2 are not in the indices of step 2: m = 0.5*0.5, v = 0.75*0.25, and w moves.
    np.testing.assert_array_equal(step2.m[1:], 0.25)
    np.testing.assert_array_equal(step2.v[1:], 0.1875)
    assert np.all(step2.w[1:] < sp.steps[0]["w"].w[1:])


def test_spr_duplicates_summed_before_squaring():
    """indices [1, 1] with values a = 2, b = 3: v_row1 = (1-b2)*(a+b)^2 = 0.25*25, not 0.25*(4+9)."""
    s = Sparse(np.array([1, 1]), np.array([[2.0], [3.0]]), (2, 1))
    tr = adam([P("w", [[0.0], [0.0]])], beta1=0.5, beta2=0.75).run([{"w": s}])
    st = tr.steps[0]["w"]
    assert st.v[1, 0] == 0.25 * 25.0
    assert st.v[1, 0] != 0.25 * 13.0
    assert st.m[1, 0] == 2.5
    assert (st.m[0, 0], st.v[0, 0], st.w[0, 0]) == (0.0, 0.0, 0.0)


def test_spr_decay_every_row_as_dense():
    """Sparse + weight decay decays every row, once: g_eff = densified g + wd*w (rows off the indices
    get wd*w alone; a row indexed twice gets wd*w once)."""
    w0 = np.array([[1.0], [2.0], [4.0]])
    s = Sparse(np.array([2, 0, 2]), np.array([[1.0], [3.0], [1.0]]), (3, 1))
    sp, de = _both({"w": w0}, [{"w": s}] * 2, learning_rate=0.1, weight_decay=0.5)
    np.testing.assert_array_equal(sp.steps[0]["w"].g_eff, [[3.5], [1.0], [4.0]])
    for i in range(2):
        np.testing.assert_array_equal(sp.steps[i]["w"].w, de.steps[i]["w"].w)
        np.testing.assert_array_equal(sp.steps[i]["w"].g_eff, de.steps[i]["w"].g_eff)


def test_spr_nesterov_as_dense():
    w0 = np.array([[1.0, -1.0], [0.5, 0.5]])
    s1 = Sparse(np.array([0, 1]), np.array([[1.0, 2.0], [3.0, -4.0]]), (2, 2))
    s2 = Sparse(np.array([1, 1]), np.array([[1.0, 1.0], [-0.5, 2.0]]), (2, 2))
    sp, de = _both({"w": w0}, [{"w": s1}, {"w": s2}], learning_rate=0.1, use_nesterov=True, beta1=0.5,
                   beta2=0.75, eps=1.0)
    for i in range(2):
        np.testing.assert_array_equal(sp.steps[i]["w"].w, de.steps[i]["w"].w)
    # Row 0 at step 2 has g = 0: nesterov numerator 0.5*m2 with m2 = 0.5*m1, still moves w.
    m1 = sp.steps[0]["w"].m[0]
    np.testing.assert_array_equal(sp.steps[1]["w"].m[0], 0.5 * m1)
    v2 = sp.steps[1]["w"].v[0]
    l2 = 0.1 * math.sqrt(1 - 0.75**2) / (1 - 0.25)
    np.testing.assert_allclose(sp.steps[0]["w"].w[0] - sp.steps[1]["w"].w[0],
                               l2 * 0.5 * (0.5 * m1) / (np.sqrt(v2) + 1.0), rtol=1e-14)


# ---- received_as -------------------------------------------------------------------------------

def test_received_as_float32_rounds_hyperparameters_and_params():
    f32 = float(np.float32(0.1))
    assert f32 != 0.1
    tr = adam([P("w", [0.1, 1.0 / 3.0])], received_as="float32", learning_rate=0.1, weight_decay=0.1).run(
        [{"w": np.array([0.0, 0.0])}])
    s = tr.steps[0]["w"]
    assert s.lr == f32
    assert s.weight_decay == f32
    # g = 0, so g_eff = wd*w with w the float32-rounded parameter
    w32 = np.array([0.1, 1.0 / 3.0], dtype=np.float32).astype(np.float64)
    np.testing.assert_array_equal(s.g_eff, f32 * w32)


def test_received_as_float32_param_unchanged_by_zero_step():
    tr = adam([P("w", [0.1])], received_as="float32", learning_rate=0.0).run([{"w": np.array([0.7])}])
    assert tr.steps[0]["w"].w[0] == float(np.float32(0.1))
    assert tr.steps[0]["w"].g_eff[0] == float(np.float32(0.7))


def test_received_as_float64_keeps_values():
    tr = adam([P("w", [0.1])], learning_rate=0.1).run([{"w": np.array([0.0])}])
    assert tr.steps[0]["w"].lr == 0.1
    assert tr.steps[0]["w"].w[0] == 0.1


def test_received_as_float16_rounds_params():
    tr = adam([P("w", [0.1])], received_as="float16", learning_rate=0.0).run([{"w": np.array([0.0])}])
    assert tr.steps[0]["w"].w[0] == float(np.float16(0.1))
    assert tr.steps[0]["w"].lr == 0.0


def test_received_as_float32_sparse_values_rounded_before_summing():
    """A float32 implementation receives the sparse *values* in float32 and sums duplicates from
    those: 1 + 1e-10 arrives as 1.0, so values [1 + 1e-10, -1] at one row densify to exactly 0 and
    w must not move.  Rounding the float64 sum instead (1e-10 -> float32(1e-10)) gives a non-zero
    gradient and, with eps tiny, an almost full-size step."""
    s = Sparse(np.array([0, 0]), np.array([[1.0 + 1e-10], [-1.0]]), (1, 1))
    tr = adam([P("w", [[0.5]])], received_as="float32", learning_rate=0.1, eps=1e-12).run([{"w": s}])
    st = tr.steps[0]["w"]
    assert st.g_eff[0, 0] == 0.0
    assert st.w[0, 0] == 0.5

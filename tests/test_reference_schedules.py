"""LR-SCHEDULE: MindSpore's LearningRateSchedules and nn.dynamic_lr builders, as MindSpore executes them.

Expected values are written out here from SPEC-NOTES section 3 (s = global step, 0 at the first
update; E = floor(i / step_per_epoch) for the list builders), independently of reference.schedules.
A few are MindSpore's own docstring examples, copied as literals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from reference import DynamicLR, Param, Schedule

STEPS = range(10)


def _exp(s, lr, rate, D, stair):
    return lr * rate ** (math.floor(s / D) if stair else s / D)


def _natexp(s, lr, rate, D, stair):
    k = D * math.floor(s / D) if stair else s  # the rate multiplies the step itself, not s/D
    return lr * math.exp(-rate * k)


def _inverse(s, lr, rate, D, stair):
    return lr / (1.0 + rate * (math.floor(s / D) if stair else s / D))


def _cosine(s, lo, hi, D):
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * min(s, D) / D))


def _poly(s, lr, end, D, power, update):
    if update:
        Dp = D * max(math.ceil(s / D), 1)
        p = s / Dp
    else:
        p = min(s, D) / D
    return (lr - end) * (1.0 - p) ** power + end


def _warmup(s, lr, W):
    return lr * min(s, W) / W


SCHEDULE_CASES = [
    ("ExponentialDecayLR", {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 4},
     lambda s: _exp(s, 0.1, 0.9, 4, False)),
    ("ExponentialDecayLR", {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 4, "is_stair": True},
     lambda s: _exp(s, 0.1, 0.9, 4, True)),
    ("NaturalExpDecayLR", {"learning_rate": 0.1, "decay_rate": 0.3, "decay_steps": 4},
     lambda s: _natexp(s, 0.1, 0.3, 4, False)),
    ("NaturalExpDecayLR", {"learning_rate": 0.1, "decay_rate": 0.3, "decay_steps": 4, "is_stair": True},
     lambda s: _natexp(s, 0.1, 0.3, 4, True)),
    ("InverseDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 3},
     lambda s: _inverse(s, 0.1, 0.5, 3, False)),
    ("InverseDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 3, "is_stair": True},
     lambda s: _inverse(s, 0.1, 0.5, 3, True)),
    ("CosineDecayLR", {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 6}, lambda s: _cosine(s, 0.01, 0.1, 6)),
    ("PolynomialDecayLR", {"learning_rate": 0.1, "end_learning_rate": 0.01, "decay_steps": 4, "power": 0.5},
     lambda s: _poly(s, 0.1, 0.01, 4, 0.5, False)),
    ("PolynomialDecayLR", {"learning_rate": 0.1, "end_learning_rate": 0.01, "decay_steps": 4, "power": 2.0,
                           "update_decay_steps": True},
     lambda s: _poly(s, 0.1, 0.01, 4, 2.0, True)),
    ("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 4}, lambda s: _warmup(s, 0.1, 4)),
]


def _id(case):
    name, args, _ = case
    flags = [k for k in ("is_stair", "update_decay_steps") if args.get(k)]
    return "-".join([name, *flags])


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=[_id(c) for c in SCHEDULE_CASES])
def test_schedule_first_10_values(case):
    name, args, formula = case
    got = [ref.schedule_value(Schedule(name, args), s) for s in STEPS]
    np.testing.assert_allclose(got, [formula(float(s)) for s in STEPS], rtol=1e-14, atol=0)


def test_schedule_hand_values():
    """A few values worked by hand, to pin the formulas above as well."""
    v = lambda name, args, s: ref.schedule_value(Schedule(name, args), s)  # noqa: E731
    # NaturalExpDecayLR decays with rate*s, not rate*s/decay_steps: s = 2, rate 0.5 -> e^-1.
    assert v("NaturalExpDecayLR", {"learning_rate": 1.0, "decay_rate": 0.5, "decay_steps": 10}, 2) == \
        pytest.approx(math.exp(-1.0), rel=1e-15)
    # stair: s = 7, D = 4 -> floor(7/4)*4 = 4 -> e^(-0.5*4)
    assert v("NaturalExpDecayLR", {"learning_rate": 1.0, "decay_rate": 0.5, "decay_steps": 4, "is_stair": True},
             7) == pytest.approx(math.exp(-2.0), rel=1e-15)
    # CosineDecayLR: s = 3 of 6 is the midpoint, s >= 6 stays at min_lr
    cos = {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 6}
    assert v("CosineDecayLR", cos, 0) == pytest.approx(0.1, rel=1e-15)
    assert v("CosineDecayLR", cos, 3) == pytest.approx(0.055, rel=1e-15)
    assert v("CosineDecayLR", cos, 9) == pytest.approx(0.01, rel=1e-15)
    # PolynomialDecayLR with update_decay_steps: s = 5, D = 4 -> D' = 8, p = 5/8
    poly = {"learning_rate": 0.1, "end_learning_rate": 0.01, "decay_steps": 4, "power": 2.0,
            "update_decay_steps": True}
    assert v("PolynomialDecayLR", poly, 4) == pytest.approx(0.01, rel=1e-15)
    assert v("PolynomialDecayLR", poly, 5) == pytest.approx(0.09 * (3 / 8) ** 2 + 0.01, rel=1e-15)
    # without it, s >= D is clamped to end_learning_rate
    poly["update_decay_steps"] = False
    assert v("PolynomialDecayLR", poly, 9) == pytest.approx(0.01, rel=1e-15)
    # ExponentialDecayLR stair: s = 7, D = 4 -> rate^1
    assert v("ExponentialDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 4, "is_stair": True},
             7) == pytest.approx(0.05, rel=1e-15)
    assert v("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 4}, 0) == 0.0
    assert v("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 4}, 9) == pytest.approx(0.1, rel=1e-15)


def _run(lr, steps, w0=1.0, g=0.5):
    opt = ref.Adam([Param("w", np.array([w0]))], learning_rate=lr, received_as="float64")
    return opt.run([{"w": np.array([g])}] * steps)


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=[_id(c) for c in SCHEDULE_CASES])
def test_adam_with_schedule_uses_value_at_update_index(case):
    name, args, formula = case
    tr = _run(Schedule(name, args), 10)
    lrs = [s["w"].lr for s in tr.steps]
    np.testing.assert_allclose(lrs, [formula(float(i)) for i in STEPS], rtol=1e-14, atol=0)
    # and the step actually taken is that lr times the (lr-free) Adam direction of a constant gradient
    w_prev = 1.0
    for i, s in enumerate(tr.steps):
        t = i + 1
        direction = math.sqrt(1 - 0.999**t) / (1 - 0.9**t) * (1 - 0.9**t) * 0.5 / (math.sqrt(1 - 0.999**t) * 0.5
                                                                                  + 1e-8)
        assert w_prev - s["w"].w[0] == pytest.approx(formula(float(i)) * direction, rel=1e-12, abs=1e-15)
        w_prev = s["w"].w[0]


def test_warmup_first_update_moves_nothing():
    tr = _run(Schedule("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 3}), 2)
    first, second = tr.steps[0]["w"], tr.steps[1]["w"]
    assert first.lr == 0.0
    assert first.w[0] == 1.0
    assert first.m[0] == pytest.approx(0.05, rel=1e-15)  # the moments still update
    assert second.lr == pytest.approx(0.1 / 3, rel=1e-15)
    assert second.w[0] < 1.0


# ---- nn.dynamic_lr builders (lists over E = floor(i / step_per_epoch)) --------------------------

def _E(i, spe):
    return i // spe


DYN_CASES = [
    ("piecewise_constant_lr", {"milestone": [2, 5, 10], "learning_rates": [0.1, 0.05, 0.01]},
     lambda i: 0.1 if i < 2 else (0.05 if i < 5 else 0.01)),
    ("exponential_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.9, "total_step": 10, "step_per_epoch": 2,
                              "decay_epoch": 3},
     lambda i: 0.1 * 0.9 ** (_E(i, 2) / 3)),
    ("exponential_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.9, "total_step": 10, "step_per_epoch": 2,
                              "decay_epoch": 2, "is_stair": True},
     lambda i: 0.1 * 0.9 ** (_E(i, 2) // 2)),
    ("natural_exp_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.3, "total_step": 10, "step_per_epoch": 2,
                              "decay_epoch": 3},
     lambda i: 0.1 * math.exp(-0.3 * _E(i, 2))),  # decay_epoch ignored without is_stair
    ("natural_exp_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.3, "total_step": 10, "step_per_epoch": 2,
                              "decay_epoch": 2, "is_stair": True},
     lambda i: 0.1 * math.exp(-0.3 * 2 * (_E(i, 2) // 2))),
    ("inverse_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.5, "total_step": 10, "step_per_epoch": 2,
                          "decay_epoch": 3},
     lambda i: 0.1 / (1 + 0.5 * _E(i, 2) / 3)),
    ("inverse_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.5, "total_step": 10, "step_per_epoch": 2,
                          "decay_epoch": 2, "is_stair": True},
     lambda i: 0.1 / (1 + 0.5 * (_E(i, 2) // 2))),
    ("cosine_decay_lr", {"min_lr": 0.01, "max_lr": 0.1, "total_step": 10, "step_per_epoch": 2, "decay_epoch": 3},
     lambda i: 0.01 + 0.045 * (1 + math.cos(math.pi * min(_E(i, 2), 3) / 3))),
    ("polynomial_decay_lr", {"learning_rate": 0.1, "end_learning_rate": 0.01, "total_step": 10,
                             "step_per_epoch": 2, "decay_epoch": 3, "power": 0.5},
     lambda i: 0.09 * (1 - min(_E(i, 2), 3) / 3) ** 0.5 + 0.01),
    ("polynomial_decay_lr", {"learning_rate": 0.1, "end_learning_rate": 0.01, "total_step": 10,
                             "step_per_epoch": 1, "decay_epoch": 2, "power": 2.0, "update_decay_epoch": True},
     lambda i: 0.09 * (1 - i / (2 * max(math.ceil(i / 2), 1))) ** 2 + 0.01),
    ("warmup_lr", {"learning_rate": 0.1, "total_step": 10, "step_per_epoch": 2, "warmup_epoch": 3},
     lambda i: 0.1 * min(_E(i, 2), 3) / 3),
]


def _dyn_id(case):
    name, args, _ = case
    flags = [k for k in ("is_stair", "update_decay_epoch") if args.get(k)]
    return "-".join([name, *flags])


@pytest.mark.parametrize("case", DYN_CASES, ids=[_dyn_id(c) for c in DYN_CASES])
def test_dynamic_lr_first_10_values(case):
    name, args, formula = case
    got = ref.dynamic_lr_values(DynamicLR(name, args))
    assert len(got) == 10
    np.testing.assert_allclose(got, [formula(i) for i in range(10)], rtol=1e-14, atol=0)


@pytest.mark.parametrize(("name", "args", "expected"), [
    # MindSpore's own docstring examples (nn/dynamic_lr.py), as literals
    ("piecewise_constant_lr", {"milestone": [2, 5, 10], "learning_rates": [0.1, 0.05, 0.01]},
     [0.1, 0.1, 0.05, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01]),
    ("exponential_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.9, "total_step": 6, "step_per_epoch": 2,
                              "decay_epoch": 1},
     [0.1, 0.1, 0.09000000000000001, 0.09000000000000001, 0.08100000000000002, 0.08100000000000002]),
    ("natural_exp_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.9, "total_step": 6, "step_per_epoch": 2,
                              "decay_epoch": 2, "is_stair": True},
     [0.1, 0.1, 0.1, 0.1, 0.016529888822158657, 0.016529888822158657]),
    ("inverse_decay_lr", {"learning_rate": 0.1, "decay_rate": 0.5, "total_step": 6, "step_per_epoch": 1,
                          "decay_epoch": 1, "is_stair": True},
     [0.1, 0.06666666666666667, 0.05, 0.04, 0.03333333333333333, 0.028571428571428574]),
    ("cosine_decay_lr", {"min_lr": 0.01, "max_lr": 0.1, "total_step": 6, "step_per_epoch": 2, "decay_epoch": 2},
     [0.1, 0.1, 0.05500000000000001, 0.05500000000000001, 0.01, 0.01]),
    ("polynomial_decay_lr", {"learning_rate": 0.1, "end_learning_rate": 0.01, "total_step": 6,
                             "step_per_epoch": 2, "decay_epoch": 2, "power": 0.5},
     [0.1, 0.1, 0.07363961030678928, 0.07363961030678928, 0.01, 0.01]),
    ("warmup_lr", {"learning_rate": 0.1, "total_step": 6, "step_per_epoch": 2, "warmup_epoch": 2},
     [0.0, 0.0, 0.05, 0.05, 0.1, 0.1]),
])
def test_dynamic_lr_mindspore_docstring_examples(name, args, expected):
    np.testing.assert_allclose(ref.dynamic_lr_values(DynamicLR(name, args)), expected, rtol=4e-16, atol=0)


@pytest.mark.parametrize("case", DYN_CASES, ids=[_dyn_id(c) for c in DYN_CASES])
def test_adam_with_dynamic_lr_uses_element_i_and_stops_at_the_end(case):
    name, args, formula = case
    lr = DynamicLR(name, args)
    tr = _run(lr, 10)
    np.testing.assert_allclose([s["w"].lr for s in tr.steps], [formula(i) for i in range(10)], rtol=1e-14, atol=0)
    with pytest.raises((IndexError, RuntimeError)):
        _run(lr, 11)


def test_dynamic_warmup_first_update_moves_nothing():
    tr = _run(DynamicLR("warmup_lr", {"learning_rate": 0.1, "total_step": 4, "step_per_epoch": 1,
                                      "warmup_epoch": 2}), 2)
    assert tr.steps[0]["w"].w[0] == 1.0
    assert tr.steps[1]["w"].w[0] < 1.0


def test_unknown_schedule_name_is_refused():
    with pytest.raises(ValueError, match="Nope"):
        ref.schedule_value(Schedule("Nope", {}), 0)
    with pytest.raises(ValueError, match="nope"):
        ref.dynamic_lr_values(DynamicLR("nope", {}))

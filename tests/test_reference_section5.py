"""SPEC-NOTES section 5: the decisions taken from MindSpore's own tests, each pinned in the reference.

Every refusal raises its named type at construction; every acceptance constructs and steps, and an
iterator-given argument steps exactly as its list form does (it is read once, not twice).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from reference import Param


def _p(name: str = "w") -> Param:
    return Param(name, np.array([1.0, 2.0]))


def _run(params, steps: int = 2, **kw):
    """One parameter named "w", given in any form; ``steps`` updates."""
    opt = ref.Adam(params, received_as="float64", **kw)
    return opt.run([{"w": np.array([0.5, -0.25]) * (i + 1)} for i in range(steps)])


NON_FINITE = [(arg, v) for arg in ("learning_rate", "eps", "loss_scale", "weight_decay")
              for v in (math.inf, math.nan)] + [("learning_rate", -math.inf)]


@pytest.mark.parametrize(("arg", "value"), NON_FINITE, ids=[f"{a}={v}" for a, v in NON_FINITE])
def test_non_finite_hyperparameters_are_value_errors(arg, value):
    with pytest.raises(ValueError, match=arg):
        ref.Adam([_p()], received_as="float64", **{arg: value})


@pytest.mark.parametrize("key", ["lr", "weight_decay"])
def test_non_finite_group_values_are_value_errors(key):
    with pytest.raises(ValueError, match=key):
        ref.Adam([{"params": [_p()], key: math.inf}], received_as="float64")


def test_one_shot_iterator_of_parameters_is_read_once():
    a, b = _p("a"), _p("b")
    grads = [{"a": np.array([0.5, -1.0]), "b": np.array([2.0, 0.25])}] * 2
    from_iter = ref.Adam(filter(lambda p: True, [a, b]), received_as="float64").run(grads)
    from_list = ref.Adam([a, b], received_as="float64").run(grads)
    assert from_iter.order == ("a", "b")
    for s_i, s_l in zip(from_iter.steps, from_list.steps):
        np.testing.assert_array_equal(s_i["b"].w, s_l["b"].w)


def test_a_generator_learning_rate_is_read_once():
    tr = _run([_p()], steps=2, learning_rate=(x for x in (0.1, 0.2)))
    assert [s["w"].lr for s in tr.steps] == [0.1, 0.2]


def test_same_parameter_twice_ungrouped_is_a_value_error():
    a = _p("a")
    with pytest.raises(ValueError, match="'a'"):
        ref.Adam([a, a], received_as="float64")


def test_same_parameter_in_two_groups_stays_a_runtime_error():
    a = _p("a")
    with pytest.raises(RuntimeError):
        ref.Adam([{"params": [a]}, {"params": [a]}], received_as="float64")


@pytest.mark.parametrize("params", [[], None, iter([])], ids=["[]", "None", "iter([])"])
def test_empty_or_none_params_are_value_errors(params):
    with pytest.raises(ValueError, match="params"):
        ref.Adam(params, received_as="float64")


def test_bare_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="bare Parameter"):
        ref.Adam(_p(), received_as="float64")


@pytest.mark.parametrize("lr", [[0.1, 0.1, 0.1], (0.1, 0.1, 0.1), np.array([0.1, 0.1, 0.1])],
                         ids=["list", "tuple", "1-d tensor"])
def test_group_sequence_lr_length_must_match_the_optimizer_sequence(lr):
    with pytest.raises(ValueError, match="sequence"):
        ref.Adam([{"params": [_p()], "lr": [0.1, 0.2]}], learning_rate=lr, received_as="float64")


def test_group_sequence_lr_of_the_same_length_is_accepted():
    tr = _run([{"params": [_p()], "lr": [0.1, 0.2]}], learning_rate=[0.3, 0.4])
    assert [s["w"].lr for s in tr.steps] == [0.1, 0.2]


def test_two_d_tensor_lr_is_a_value_error():
    with pytest.raises(ValueError, match="learning_rate"):
        ref.Adam([_p()], learning_rate=np.full((2, 2), 0.1), received_as="float64")


@pytest.mark.parametrize("arg", ["beta1", "beta2", "eps", "loss_scale"])
def test_tensor_float_hyperparameters_are_type_errors(arg):
    with pytest.raises(TypeError, match=arg):
        ref.Adam([_p()], received_as="float64", **{arg: np.array(0.5)})


@pytest.mark.parametrize("wd", [True, False])
def test_bool_weight_decay_is_a_type_error(wd):
    with pytest.raises(TypeError, match="weight_decay"):
        ref.Adam([_p()], weight_decay=wd, received_as="float64")
    with pytest.raises(TypeError, match="weight_decay"):
        ref.Adam([{"params": [_p()], "weight_decay": wd}], received_as="float64")


def test_fixed_group_lr_beside_a_dynamic_optimizer_lr_stays_fixed():
    a, b = _p("a"), _p("b")
    opt = ref.Adam([{"params": [a], "lr": 0.05}, {"params": [b]}], learning_rate=[0.1, 0.2, 0.3],
                   received_as="float64")
    tr = opt.run([{"a": np.ones(2), "b": np.ones(2)}] * 3)
    assert [s["a"].lr for s in tr.steps] == [0.05] * 3
    assert [s["b"].lr for s in tr.steps] == [0.1, 0.2, 0.3]


def test_centralization_with_loss_scale_in_mindspore_order():
    """decay first (g + wd*ls*w), then centralize, then divide by ls: equals centralizing g/ls + wd*w."""
    w = np.arange(32.0).reshape(2, 16) / 10
    g = np.linspace(-1, 1, 32).reshape(2, 16)
    ls, wd = 8.0, 0.1
    ms_order = ref.centralize(g + wd * ls * w) / ls
    np.testing.assert_allclose(ref.effective_gradient(g, w, wd, ls, True), ms_order, rtol=1e-14, atol=1e-15)

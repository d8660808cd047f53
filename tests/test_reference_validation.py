"""VAL-*: every "Raises" line of the seed plus the silent ones of SPEC-NOTES sections 2 and 3.

Each refusal must raise the named exception type at construction, and its message must name the
argument that was refused.  Each acceptance must construct (and take a step).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference as ref
from reference import Param


def _p(name="w"):
    return Param(name, np.array([1.0, 2.0]))


def make(params=None, **kw):
    return ref.Adam([_p()] if params is None else params, received_as="float64", **kw)


REFUSED = [
    # (argument, value, exception)
    ("beta1", 1, TypeError), ("beta1", True, TypeError), ("beta1", "0.9", TypeError), ("beta1", None, TypeError),
    ("beta1", 0.0, ValueError), ("beta1", 1.0, ValueError), ("beta1", -0.5, ValueError),
    ("beta1", math.nan, ValueError), ("beta1", 1.5, ValueError),
    ("beta2", 0, TypeError), ("beta2", "0.999", TypeError), ("beta2", 0.0, ValueError), ("beta2", 1.0, ValueError),
    ("beta2", -0.5, ValueError), ("beta2", math.nan, ValueError),
    ("eps", 1, TypeError), ("eps", "1e-8", TypeError), ("eps", 0.0, ValueError), ("eps", -1e-8, ValueError),
    ("weight_decay", -0.1, ValueError), ("weight_decay", -1, ValueError), ("weight_decay", "x", TypeError),
    ("weight_decay", None, TypeError), ("weight_decay", np.array(0.1), TypeError),
    ("loss_scale", 0.0, ValueError), ("loss_scale", -1.0, ValueError), ("loss_scale", "a", TypeError),
    ("loss_scale", 2, TypeError),  # the seed: "TypeError - If ... loss_scale is not a float"
    ("use_locking", 1, TypeError), ("use_locking", "True", TypeError), ("use_locking", None, TypeError),
    ("use_nesterov", 1, TypeError), ("use_nesterov", 0, TypeError), ("use_nesterov", "False", TypeError),
    ("learning_rate", -0.1, ValueError), ("learning_rate", -1, ValueError), ("learning_rate", math.nan, ValueError),
    ("learning_rate", None, TypeError), ("learning_rate", "0.1", TypeError),
    ("learning_rate", np.float32(0.1), TypeError), ("learning_rate", {"lr": 0.1}, TypeError),
    ("learning_rate", np.ones((2, 2)), ValueError),
]


@pytest.mark.parametrize(("arg", "value", "exc"), REFUSED, ids=[f"{a}={v!r}" for a, v, _ in REFUSED])
def test_refused_with_type_and_named(arg, value, exc):
    with pytest.raises(Exception) as info:
        make(**{arg: value})
    assert type(info.value) is exc, f"{arg}={value!r}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert arg in str(info.value)


ACCEPTED = [
    ("weight_decay", 2), ("weight_decay", 0), ("weight_decay", 0.0), ("learning_rate", True),
    ("learning_rate", 0), ("learning_rate", 0.0), ("learning_rate", 3), ("learning_rate", np.array(0.5)),
    ("learning_rate", np.array([0.1, 0.2])), ("learning_rate", [0.1, 0.2]), ("learning_rate", (0.1, 0.2)),
    ("learning_rate", np.array([-0.1, 0.2])),  # tensors carry no sign check (MindSpore)
    ("beta1", 1e-300), ("beta1", 1.0 - 2.0**-53), ("beta2", 0.5), ("eps", 1.0), ("eps", 5e-324),
    ("loss_scale", 1e-3), ("loss_scale", 1024.0), ("use_locking", True), ("use_nesterov", True),
]


@pytest.mark.parametrize(("arg", "value"), ACCEPTED, ids=[f"{a}={v!r}" for a, v in ACCEPTED])
def test_accepted(arg, value):
    opt = make(**{arg: value})
    tr = opt.run([{"w": np.array([0.5, -0.5])}])
    assert tr.order == ("w",)


def test_int_weight_decay_behaves_as_float():
    a = make(weight_decay=2).run([{"w": np.array([0.5, -0.5])}])
    b = make(weight_decay=2.0).run([{"w": np.array([0.5, -0.5])}])
    np.testing.assert_array_equal(a.steps[0]["w"].w, b.steps[0]["w"].w)
    assert a.steps[0]["w"].weight_decay == 2.0


PARAMS_REFUSED = [
    (5, TypeError), ([5], TypeError), (None, ValueError), ([], ValueError), ((), ValueError),
    ("abc", TypeError), ({"params": [_p()]}, TypeError), ([_p(), 5], TypeError), ([np.array([1.0])], TypeError),
    ([_p("a"), {"params": [_p("b")]}], TypeError),  # a mix of Parameters and group dicts
]


@pytest.mark.parametrize(("params", "exc"), PARAMS_REFUSED, ids=[repr(p)[:40] for p, _ in PARAMS_REFUSED])
def test_params_refused(params, exc):
    with pytest.raises(Exception) as info:
        ref.Adam(params, received_as="float64")
    assert type(info.value) is exc
    assert "params" in str(info.value)


def _groups_refused():
    a, b = _p("a"), _p("b")
    return [
        ("unknown key", [{"params": [a], "momentum": 0.9}], KeyError, "momentum"),
        ("missing params", [{"lr": 0.1}], KeyError, "params"),
        ("empty params", [{"params": []}], ValueError, "params"),
        ("non-Param element", [{"params": [a, 3.0]}], TypeError, "params"),
        ("dict element", [{"params": [{"params": [a]}]}], TypeError, "params"),
        ("same param twice, two groups", [{"params": [a]}, {"params": [a]}], RuntimeError, "'a'"),
        ("same param twice, one group", [{"params": [a, a]}], RuntimeError, "'a'"),
        ("order_params with another key", [{"params": [a]}, {"order_params": [a], "lr": 0.1}], ValueError,
         "order_params"),
        ("order_params too short", [{"params": [a, b]}, {"order_params": [a]}], ValueError, "order_params"),
        ("order_params too long", [{"params": [a]}, {"order_params": [a, b]}], ValueError, "order_params"),
        ("order_params foreign param", [{"params": [a]}, {"order_params": [b]}], ValueError, "order_params"),
        ("grad_centralization not bool", [{"params": [a], "grad_centralization": 1}], TypeError,
         "grad_centralization"),
        ("group lr negative", [{"params": [a], "lr": -0.1}], ValueError, "lr"),
        ("group lr str", [{"params": [a], "lr": "0.1"}], TypeError, "lr"),
        ("group weight_decay negative", [{"params": [a], "weight_decay": -1.0}], ValueError, "weight_decay"),
        ("group weight_decay str", [{"params": [a], "weight_decay": "x"}], TypeError, "weight_decay"),
    ]


GROUPS_REFUSED = _groups_refused()


@pytest.mark.parametrize(("label", "groups", "exc", "named"), GROUPS_REFUSED, ids=[g[0] for g in GROUPS_REFUSED])
def test_groups_refused(label, groups, exc, named):
    with pytest.raises(Exception) as info:
        ref.Adam(groups, received_as="float64")
    assert type(info.value) is exc, f"{label}: raised {type(info.value).__name__}, expected {exc.__name__}"
    assert named in str(info.value), f"{label}: {info.value}"


def test_empty_order_params_is_ignored():
    a, b = _p("a"), _p("b")
    opt = ref.Adam([{"params": [b]}, {"params": [a]}, {"order_params": []}], received_as="float64")
    tr = opt.run([{"a": np.array([1.0, 1.0]), "b": np.array([1.0, 1.0])}])
    assert tr.order == ("b", "a")


def test_grad_centralization_bool_accepted():
    opt = ref.Adam([{"params": [_p()], "grad_centralization": False}], received_as="float64")
    assert opt.run([{"w": np.array([1.0, 1.0])}]).order == ("w",)


def test_validation_happens_before_any_step():
    """A refused argument fails at construction, not at run()."""
    with pytest.raises(ValueError):
        make(beta2=1.0)
    opt = make(beta2=0.5)
    assert len(opt.run([]).steps) == 0


def test_received_as_must_be_a_known_dtype():
    with pytest.raises(ValueError, match="float8"):
        ref.Adam([_p()], received_as="float8")

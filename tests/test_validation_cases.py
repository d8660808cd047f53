"""Validation cases (issue 9 items 5, 7, 8): every corner is generated, refused or accepted as decided.

Refusals must make the reference raise at construction; acceptances must construct and step in the
reference, and an implementation that refuses one (raises at construction) must not PASS.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import reference as ref
from adapters.base import Raised, Ran, StepState
from conformance.cases import DYNAMIC_LR_ARGS, SCHEDULE_ARGS, Case
from conformance.clauses import BY_ID
from conformance.compare import FAIL, PASS, judge
from conformance.dtypes import rounded
from conformance.expected import expected
from conformance.generate import clause_strategy, generate
from conformance.validation_cases import ACCEPTANCES, VALIDATION_CLAUSES, acceptances, refusals

DTYPES = ("float64", "float32", "float16", "bfloat16")
ALL = generate(VALIDATION_CLAUSES, DTYPES, 0, 6)
REFUSALS = [c for c in ALL if c.kind == "construct"]
ACCEPTED = [c for c in ALL if c.kind == "steps"]


def _hyper(c: Case) -> dict[str, Any]:
    return dict(c.hyper)


def _arg(c: Case) -> str:
    return json.dumps(c.params_arg)


def _tensor_ndim(c: Case, key: str) -> int | None:
    """ndim of a ``$tensor`` hyperparameter, None when ``key`` is not one."""
    v = _hyper(c).get(key)
    return int(np.ndim(v["$tensor"])) if isinstance(v, dict) and "$tensor" in v else None


# Issue 9 item 5 and SPEC-NOTES section 5: each corner, as a predicate over the JSON of a case.
CORNERS: dict[str, tuple[str, Callable[[Case], bool]]] = {
    "params=[]": ("ValueError", lambda c: c.params_arg == []),
    "params=None": ("ValueError", lambda c: c.params_arg == {"$none": True}),
    "bare Parameter": ("TypeError", lambda c: c.params_arg == {"$param": "w0"}),
    "2-d Tensor lr": ("ValueError", lambda c: _tensor_ndim(c, "learning_rate") == 2),
    "Tensor beta1": ("TypeError", lambda c: _tensor_ndim(c, "beta1") == 0),
    "Tensor beta2": ("TypeError", lambda c: _tensor_ndim(c, "beta2") == 0),
    "Tensor eps": ("TypeError", lambda c: _tensor_ndim(c, "eps") == 0),
    "non-numeric group weight_decay": ("TypeError", lambda c: '"weight_decay": "0.1"' in _arg(c)),
    "bool weight_decay": ("TypeError", lambda c: _hyper(c).get("weight_decay") is True),
    "bool group weight_decay": ("TypeError", lambda c: '"weight_decay": true' in _arg(c)),
    "group lr length vs list learning_rate": ("ValueError", lambda c: isinstance(_hyper(c).get("learning_rate"),
                                                                                 list) and c.params_arg is not None),
    "group lr length vs tuple learning_rate": ("ValueError", lambda c: "$tuple" in json.dumps(
        _hyper(c).get("learning_rate")) and c.params_arg is not None),
    "same Parameter twice, ungrouped": ("ValueError", lambda c: c.params_arg == [{"$param": "w0"}] * 2),
    "inf learning_rate": ("ValueError", lambda c: _hyper(c).get("learning_rate") == {"$float": "inf"}),
    "inf eps": ("ValueError", lambda c: _hyper(c).get("eps") == {"$float": "inf"}),
    "inf loss_scale": ("ValueError", lambda c: _hyper(c).get("loss_scale") == {"$float": "inf"}),
    "inf weight_decay": ("ValueError", lambda c: _hyper(c).get("weight_decay") == {"$float": "inf"}),
    "nan weight_decay": ("ValueError", lambda c: _hyper(c).get("weight_decay") == {"$float": "nan"}),
}


@pytest.mark.parametrize("corner", list(CORNERS))
def test_every_corner_is_generated_in_every_dtype_and_refused_as_decided(corner: str) -> None:
    exc, pred = CORNERS[corner]
    hits = [c for c in REFUSALS if pred(c)]
    assert {c.dtype for c in hits} == set(DTYPES), f"{corner}: generated in {sorted({c.dtype for c in hits})}"
    for c in hits:
        assert c.clauses[0].startswith("VAL-") and all(k in BY_ID for k in c.clauses)
        assert expected(c).exc_type == exc, (corner, c.title, expected(c))


ACCEPT_KINDS: dict[str, Callable[[Case], bool]] = {
    "int weight_decay": lambda c: type(_hyper(c).get("weight_decay")) is int,
    "int learning_rate": lambda c: type(_hyper(c).get("learning_rate")) is int,
    "bool learning_rate": lambda c: type(_hyper(c).get("learning_rate")) is bool,
    "0-d Tensor lr": lambda c: _tensor_ndim(c, "learning_rate") == 0,
    "1-d Tensor lr": lambda c: _tensor_ndim(c, "learning_rate") == 1,
    "iterable (tuple) of Parameters": lambda c: isinstance(c.params_arg, dict) and "$tuple" in c.params_arg,
    "one-shot iterator of Parameters": lambda c: isinstance(c.params_arg, dict) and "$iter" in c.params_arg,
    "empty order_params": lambda c: any(g.get("order_params") == [] for g in c.groups or ()),
    "int group weight_decay": lambda c: any(type(g.get("weight_decay")) is int for g in c.groups or ()),
    "int group lr": lambda c: any(type(g.get("lr")) is int for g in c.groups or ()),
}


@pytest.mark.parametrize("kind", list(ACCEPT_KINDS))
def test_every_acceptance_is_generated_in_every_dtype(kind: str) -> None:
    hits = [c for c in ACCEPTED if ACCEPT_KINDS[kind](c)]
    assert {c.dtype for c in hits} == set(DTYPES), kind


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: f"{c.dtype}-{c.title[:60]}")
def test_refusals_raise_in_the_reference(case: Case) -> None:
    exp = expected(case)
    assert exp.trajectory is None and exp.exc_type in ("TypeError", "ValueError", "KeyError", "RuntimeError")


def _ran(case: Case) -> Ran:
    """What a faithful implementation returns: the reference's own trajectory, w held in the case dtype
    (a w the dtype cannot hold is a dtype change)."""
    traj = expected(case).trajectory
    assert traj is not None
    return Ran([{n: StepState(rounded(s.w, case.dtype), s.m, s.v) for n, s in step.items()} for step in traj.steps],
               {n: case.dtype for n in case.names})


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: f"{c.dtype}-{c.title}")
def test_acceptances_step_and_a_refusing_implementation_is_caught(case: Case) -> None:
    exp = expected(case)
    assert exp.trajectory is not None and len(exp.trajectory.steps) == case.num_steps == 3
    assert case.clauses[0].startswith("VAL-") and case.title.startswith("accept:")
    assert judge(case, exp, _ran(case)).verdict == PASS
    refused = judge(case, exp, Raised("TypeError", "int weight_decay is not a float", "construct"))
    assert refused.verdict not in (PASS, "UNSUPPORTED"), refused


def test_an_acceptance_that_steps_wrongly_fails() -> None:
    """Acceptance cases are judged like step cases: a wrong trajectory is a FAIL, not a pass-by-constructing."""
    case = next(c for c in ACCEPTED if c.dtype == "float32" and "int weight_decay=1" in c.title)
    out = _ran(case)
    bad = Ran([{n: StepState(s.w * 1.01, s.m, s.v) for n, s in step.items()} for step in out.steps], out.dtypes)
    assert judge(case, expected(case), bad).verdict == FAIL


def test_the_iterator_acceptance_reaches_the_reference_as_an_iterator() -> None:
    case = next(c for c in ACCEPTED if "one-shot iterator of Parameters" in c.title)
    arg = case.params_argument({n: ref.Param(n, v) for n, v in case.param_values().items()})
    assert iter(arg) is arg and [p.name for p in arg] == ["w0", "w1"]


def test_acceptances_move_the_parameters_where_lr_is_nonzero() -> None:
    """No acceptance case is vacuous: w moves unless the case is about a zero learning rate."""
    for case in (c for c in ACCEPTED if c.dtype == "float64"):
        traj = expected(case).trajectory
        assert traj is not None
        moved = any(not np.array_equal(traj.steps[-1][n].w, case.param_values()[n]) for n in case.names)
        assert moved or _hyper(case).get("learning_rate") in (0, False), case.title


def test_strategies_draw_the_same_cases() -> None:
    from hypothesis import given, settings

    seen: set[str] = set()

    @settings(max_examples=20, database=None, deadline=None)
    @given(clause_strategy("VAL-GROUP", "float16"))
    def draw(case: Case) -> None:
        seen.add(case.id)

    draw()
    assert seen <= {c.id for c in refusals("VAL-GROUP", "float16") + acceptances("VAL-GROUP", "float16")}


def test_every_acceptance_clause_is_a_catalog_clause() -> None:
    for a in ACCEPTANCES:
        assert a.clauses[0] in VALIDATION_CLAUSES and all(c in BY_ID for c in a.clauses)


@pytest.mark.parametrize(("table", "functions"), [(SCHEDULE_ARGS, ref.SCHEDULES), (DYNAMIC_LR_ARGS, ref.DYNAMIC_LR)],
                         ids=["schedules", "dynamic_lr"])
def test_the_loader_knows_exactly_the_reference_schedules(table: dict[str, Any], functions: dict[str, Any]) -> None:
    assert set(table) == set(functions)
    for name, fn in functions.items():
        params = inspect.signature(fn).parameters
        names = [p for p in params if p != "s"]
        assert set(table[name]) == set(names), name
        required = {p for p in names if params[p].default is inspect.Parameter.empty}
        assert {k for k, (_, req) in table[name].items() if req} == required, name

"""Validation cases: every refusal the spec demands, and every acceptance it promises.

Two halves, both enumerated (a small, known set: the gate runs all of them, in every dtype):

- *Refusals* (``kind: construct``): one broken argument per case -- a constructor keyword, the
  ``params`` argument, or a group dict -- that must raise the type the reference raises (the seed's
  "Raises" lines, SPEC-NOTES sections 2, 3 and 5).
- *Acceptances* (``kind: steps``): inputs the seed or SPEC-NOTES allows that an implementation might
  wrongly refuse (an int ``weight_decay``, int/bool/Tensor learning rates, iterables and one-shot
  iterators of Parameters, an empty ``order_params`` list). They must construct AND step, and are
  judged like any step case. Each is tagged first with the VAL clause whose line allows it, then with
  the clauses its steps exercise; the title starts with "accept:".

Refusals that existed before this module keep their exact case content, so their IDs (and any
baseline entry or pinned corpus case naming them) do not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st

from .cases import Case, IterValue, NoneValue, ParamRef, ParamSpec, TensorValue, encode_value
from .clauses import BY_ID

P0, P1 = ParamRef("w0"), ParamRef("w1")
INF, NAN = float("inf"), float("nan")
VAL_PARAMS = (ParamSpec("w0", (2,), [0.5, -1.0]), ParamSpec("w1", (3,), [1.0, 2.0, -3.0]))


def _tensor(x: Any) -> TensorValue:
    return TensorValue(np.asarray(x, dtype=np.float64))


# ---- refusals: one broken constructor keyword -----------------------------------------------------

REFUSED_KWARGS: dict[str, list[dict[str, Any]]] = {
    "VAL-LR-TYPE": [{"learning_rate": None}, {"learning_rate": "0.1"},
                    {"learning_rate": _tensor([[0.1, 0.1], [0.1, 0.1]])}],  # 2-d Tensor: ValueError (SPEC-NOTES 5)
    "VAL-FLOAT-TYPE": [{k: v} for k in ("beta1", "beta2", "eps", "loss_scale") for v in (1, True, "0.9", None)]
    + [{k: _tensor(v)} for k, v in (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("loss_scale", 1.0))],
    "VAL-WD-TYPE": [{"weight_decay": v} for v in ("0.1", None, [0.1])]
    + [{"weight_decay": True}, {"weight_decay": False}, {"weight_decay": _tensor(0.1)}],
    "VAL-BOOL-TYPE": [{k: v} for k in ("use_locking", "use_nesterov") for v in (1, 0, "True", None)],
    "VAL-POSITIVE": [{k: v} for k in ("eps", "loss_scale") for v in (0.0, -1.0, -1e-8)]
    + [{k: v} for k in ("eps", "loss_scale") for v in (INF, NAN)],  # non-finite: SPEC-NOTES 5
    "VAL-BETA-RANGE": [{k: v} for k in ("beta1", "beta2") for v in (0.0, 1.0, -0.5, 1.5, NAN)]
    + [{k: INF} for k in ("beta1", "beta2")],
    "VAL-WD-RANGE": [{"weight_decay": v} for v in (-0.1, -1, -1e-12)] + [{"weight_decay": v} for v in (INF, NAN)],
    "VAL-LR-RANGE": [{"learning_rate": v} for v in (-0.1, -1, NAN)] + [{"learning_rate": v} for v in (INF, -INF)],
}

# ---- refusals: a broken params argument (with the keywords it needs, if any) -----------------------

REFUSED_PARAMS: dict[str, list[Any]] = {
    "VAL-PARAM-TYPE": [5, [5], [P0, "w1"], [P0, 3.0],
                       [], NoneValue(), IterValue(()), (),  # empty or None: ValueError (SPEC-NOTES 5)
                       P0,  # a bare Parameter, not in a list: TypeError
                       "w0", IterValue((P0, 5)),
                       [P0, P0], IterValue((P0, P1, P0))],  # the same Parameter twice, ungrouped: ValueError
    "VAL-GROUP": [
        [{"params": [P0], "momentum": 0.9}, {"params": [P1]}],
        [{"lr": 0.1}, {"params": [P0, P1]}],
        [{"params": []}, {"params": [P0, P1]}],
        [{"params": [P0, "w1"]}],
        [{"params": [P0, P1]}, {"params": [P0]}],
        [{"params": [P0, P1]}, {"order_params": [P0, P1], "lr": 0.1}],
        [{"params": [P0]}, {"params": [P1]}, {"order_params": [P0]}],
        [{"params": [P0, P1], "grad_centralization": 1}],
        [{"params": [P0], "weight_decay": -0.5}, {"params": [P1]}],
        [{"params": [P0], "lr": "fast"}, {"params": [P1]}],
        # issue 9 item 5 and SPEC-NOTES 5:
        [{"params": [P0], "weight_decay": "0.1"}, {"params": [P1]}],  # non-numeric group weight_decay
        [{"params": [P0], "weight_decay": None}, {"params": [P1]}],
        [{"params": [P0], "weight_decay": True}, {"params": [P1]}],  # bool group weight_decay
        [{"params": [P0], "weight_decay": INF}, {"params": [P1]}],
        [{"params": [P0], "lr": INF}, {"params": [P1]}],
        [{"params": [P0], "lr": _tensor([[0.1], [0.1]])}, {"params": [P1]}],
        [{"params": [P0], "lr": [0.1, 0.2]}, {"params": [P1], "lr": [0.1, 0.2, 0.3]}],  # sequence lengths differ
        [{"params": P0}, {"params": [P1]}],  # a group's params not a list
        [{"params": [P0, P0]}, {"params": [P1]}],
    ],
}

# A group lr sequence whose length differs from the optimizer's list/tuple/1-d learning_rate (SPEC-NOTES 5).
_SHORT_GROUP_LR = [{"params": [P0], "lr": [0.1, 0.2]}, {"params": [P1]}]
REFUSED_BOTH: dict[str, list[tuple[dict[str, Any], Any]]] = {
    "VAL-GROUP": [({"learning_rate": [0.1, 0.1, 0.1]}, _SHORT_GROUP_LR),
                  ({"learning_rate": (0.1, 0.1, 0.1)}, _SHORT_GROUP_LR),
                  ({"learning_rate": _tensor([0.1, 0.1, 0.1])}, _SHORT_GROUP_LR)],
}


def refusal_case(clause: str, dtype: str, hyper: Mapping[str, Any] | None, params_arg: Any = None) -> Case:
    """A construct-only case: the constructor must raise what the reference raises."""
    enc = {k: encode_value(v) for k, v in (hyper or {}).items()}
    arg = None if params_arg is None else encode_value(params_arg)
    parts = ([_compact(enc)] if enc or arg is None else []) + ([f"params={_compact(arg)}"] if arg is not None else [])
    return Case((clause,), dtype, VAL_PARAMS, "construct", enc, None, arg, (), ", ".join(parts))


def _compact(encoded: Any) -> str:
    """A one-line title from JSON-encoded values."""
    return json.dumps(encoded, separators=(", ", ": "), allow_nan=False)


def refusals(clause: str, dtype: str) -> list[Case]:
    """Every broken input the suite knows for a validation clause, in a fixed order."""
    out = [refusal_case(clause, dtype, kw) for kw in REFUSED_KWARGS.get(clause, [])]
    out += [refusal_case(clause, dtype, None, bad) for bad in REFUSED_PARAMS.get(clause, [])]
    out += [refusal_case(clause, dtype, kw, bad) for kw, bad in REFUSED_BOTH.get(clause, [])]
    return out


# ---- acceptances: allowed inputs that must construct and step ----------------------------------------

class Acceptance(NamedTuple):
    """One allowed input: the clauses it is tagged with (VAL first), and what it sets."""

    clauses: tuple[str, ...]
    title: str
    hyper: Mapping[str, Any] = {}
    groups: tuple[Mapping[str, Any], ...] | None = None
    params_arg: Any = None


# Gradients exact in every dtype (few mantissa bits), none zero and |g| >= 0.5 (v stays a normal
# float16 number): every element can deviate.
ACCEPT_GRADS = (
    {"w0": [0.5, -0.75], "w1": [1.5, 0.625, -1.0]},
    {"w0": [-0.875, 1.0], "w1": [0.5, -1.25, 1.5]},
    {"w0": [0.625, 2.0], "w1": [-0.75, 0.5, 1.0]},
)
ACCEPT_BASE = {"learning_rate": 0.01}
# eps so small beside sqrt(v) >= 0.0158 that where it is added (before or after bias correction,
# UPD-EPS) moves w by far less than the error bound: an acceptance verdict is about acceptance only.
ACCEPT_EPS = {"float64": 1e-16, "float32": 1e-12, "bfloat16": 1e-9, "float16": 1e-4}
_SEQ = [0.01, 0.02, 0.005]

ACCEPTANCES: tuple[Acceptance, ...] = (
    # VAL-WD-TYPE: "TypeError - If weight_decay is neither float nor int": an int is allowed.
    Acceptance(("VAL-WD-TYPE", "DEC-L2"), "accept: int weight_decay=1", {"weight_decay": 1}),
    Acceptance(("VAL-WD-TYPE", "DEC-L2"), "accept: int weight_decay=0", {"weight_decay": 0}),
    Acceptance(("VAL-GROUP", "DEC-GROUP"), "accept: int group weight_decay=1",
               groups=({"params": ["w0"], "weight_decay": 1}, {"params": ["w1"]})),
    # VAL-LR-TYPE: "If learning_rate is not one of int, float, Tensor, Iterable, LearningRateSchedule".
    Acceptance(("VAL-LR-TYPE", "LR-FIXED"), "accept: int learning_rate=1", {"learning_rate": 1}),
    Acceptance(("VAL-LR-TYPE", "LR-FIXED"), "accept: int learning_rate=0", {"learning_rate": 0}),
    Acceptance(("VAL-LR-TYPE", "LR-FIXED"), "accept: bool learning_rate=True (1.0, SPEC-NOTES 3)",
               {"learning_rate": True}),
    Acceptance(("VAL-LR-TYPE", "LR-FIXED"), "accept: bool learning_rate=False (0.0, SPEC-NOTES 3)",
               {"learning_rate": False}),
    Acceptance(("VAL-LR-TYPE", "LR-FIXED"), "accept: 0-d Tensor learning_rate", {"learning_rate": _tensor(0.01)}),
    Acceptance(("VAL-LR-TYPE", "LR-SEQUENCE"), "accept: 1-d Tensor learning_rate",
               {"learning_rate": _tensor(_SEQ)}),
    Acceptance(("VAL-LR-TYPE", "LR-SEQUENCE"), "accept: list learning_rate", {"learning_rate": list(_SEQ)}),
    Acceptance(("VAL-LR-TYPE", "LR-SEQUENCE"), "accept: tuple learning_rate", {"learning_rate": tuple(_SEQ)}),
    Acceptance(("VAL-LR-TYPE", "LR-SEQUENCE"), "accept: one-shot iterator learning_rate",
               {"learning_rate": IterValue(tuple(_SEQ))}),
    Acceptance(("VAL-GROUP", "GRP-LR"), "accept: int group lr=1",
               groups=({"params": ["w0"], "lr": 1}, {"params": ["w1"]})),
    Acceptance(("VAL-GROUP", "GRP-LR"), "accept: 0-d Tensor group lr",
               groups=({"params": ["w0"], "lr": _tensor(0.02)}, {"params": ["w1"]})),
    Acceptance(("VAL-GROUP", "GRP-LR", "LR-SEQUENCE"), "accept: group lr list as long as a list learning_rate",
               {"learning_rate": list(_SEQ)}, ({"params": ["w0"], "lr": [0.02, 0.01, 0.03]}, {"params": ["w1"]})),
    # VAL-PARAM-TYPE: any iterable of Parameters, a one-shot iterator included (SPEC-NOTES 5).
    Acceptance(("VAL-PARAM-TYPE", "UPD-MOMENTS"), "accept: params as a tuple of Parameters",
               params_arg=(P0, P1)),
    Acceptance(("VAL-PARAM-TYPE", "UPD-MOMENTS"), "accept: params as a one-shot iterator of Parameters",
               params_arg=IterValue((P0, P1))),
    # VAL-GROUP: an empty order_params list is ignored (SPEC-NOTES 3).
    Acceptance(("VAL-GROUP", "GRP-ORDER"), "accept: empty order_params list",
               groups=({"params": ["w1"]}, {"params": ["w0"]}, {"order_params": []})),
)


def acceptance_case(a: Acceptance, dtype: str) -> Case:
    """A steps case: three updates of the fixed exact gradients, judged like any step case."""
    hyper = {**ACCEPT_BASE, "eps": ACCEPT_EPS[dtype], **a.hyper}
    groups = None if a.groups is None else tuple(
        {k: (list(v) if k in ("params", "order_params") else encode_value(v)) for k, v in g.items()}
        for g in a.groups)
    grads = tuple({n: {"dense": list(v)} for n, v in step.items()} for step in ACCEPT_GRADS)
    return Case(a.clauses, dtype, VAL_PARAMS, "steps", {k: encode_value(v) for k, v in hyper.items()}, groups,
                None if a.params_arg is None else encode_value(a.params_arg), grads, a.title)


def acceptances(clause: str, dtype: str) -> list[Case]:
    """The acceptance cases written for ``clause`` (the first clause they are tagged with)."""
    return [acceptance_case(a, dtype) for a in ACCEPTANCES if a.clauses[0] == clause]


# ---- what generate / shrink / explore use --------------------------------------------------------

VALIDATION_CLAUSES = tuple(c for c in BY_ID if c.startswith("VAL-"))


def validation_cases(clause: str, dtype: str) -> list[Case]:
    """Every refusal and acceptance of a validation clause in ``dtype``, in a fixed order."""
    return refusals(clause, dtype) + acceptances(clause, dtype)


def validation_strategy(clause: str, dtype: str) -> st.SearchStrategy[Case]:
    """The same cases as a hypothesis strategy (shrinking and explore mode draw from it)."""
    return st.sampled_from(validation_cases(clause, dtype))


VALIDATION_STRATEGIES: dict[str, Callable[[str], st.SearchStrategy[Case]]] = {
    c: (lambda d, c=c: validation_strategy(c, d)) for c in VALIDATION_CLAUSES
}

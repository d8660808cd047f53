"""What the spec says a case should do: the reference run on exactly what the implementation received.

The only module that translates a Case into the reference's vocabulary. ``expected`` always passes
``received_as=case.dtype``: the rounding step is not optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

import reference as ref

from .cases import Case, DynamicLRValue, IterValue, NoneValue, ParamRef, ScheduleValue, SparseGrad, TensorValue


class Expected(NamedTuple):
    """The reference's answer: a trajectory, or the exception the spec demands."""

    trajectory: ref.Trajectory | None
    exc_type: str | None = None
    message: str = ""


def to_reference(value: Any, params: Mapping[str, ref.Param]) -> Any:
    """Case values -> reference values (tensors become ndarrays, schedules become data).

    An ``IterValue`` becomes a fresh one-shot iterator: the reference must read it exactly once.
    """
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, IterValue):
        return iter([to_reference(v, params) for v in value.items])
    if isinstance(value, NoneValue):
        return None
    if isinstance(value, TensorValue):
        return np.asarray(value.values, dtype=np.float64)
    if isinstance(value, ScheduleValue):
        return ref.Schedule(value.name, dict(value.args))
    if isinstance(value, DynamicLRValue):
        return ref.DynamicLR(value.name, dict(value.args))
    if isinstance(value, list):
        return [to_reference(v, params) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(to_reference(v, params) for v in value)
    if isinstance(value, dict):
        return {k: to_reference(v, params) for k, v in value.items()}
    return value


def reference_params(case: Case, params: Mapping[str, ref.Param]) -> Any:
    return case.params_argument(params, lambda v: to_reference(v, params))


def reference_gradients(case: Case, step: int) -> dict[str, Any]:
    return {n: ref.Sparse(g.indices, g.values, g.dense_shape) if isinstance(g, SparseGrad) else g
            for n, g in case.gradients(step).items()}


def expected(case: Case) -> Expected:
    """Run the reference on the case as received in ``case.dtype``."""
    params = {n: ref.Param(n, v) for n, v in case.param_values().items()}
    kwargs = {k: to_reference(v, params) for k, v in case.hyperparameters().items()}
    try:
        opt = ref.Adam(reference_params(case, params), **kwargs, received_as=case.dtype)
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        return Expected(None, type(e).__name__, str(e))
    if case.kind == "construct":
        return Expected(ref.Trajectory(opt.order, ()))
    with np.errstate(all="ignore"):
        traj = opt.run(reference_gradients(case, i) for i in range(case.num_steps))
    return Expected(traj)

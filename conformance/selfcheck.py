"""The ``reference`` adapter: the reference itself through the adapter protocol.

A self-check of the engine: it must pass every case, in every dtype, with the reference's values
stored in the case dtype as an implementation would store them.
"""

from __future__ import annotations

import numpy as np

from adapters.base import Adapter, AdapterInfo, Outcome, Raised, Ran, StepState, cpu_device

from .cases import Case
from .dtypes import NAMES, rounded
from .expected import expected


class ReferenceAdapter(Adapter):
    name = "reference"

    def info(self) -> AdapterInfo:
        return AdapterInfo(self.name, "the NumPy float64 reference, results stored in the case dtype",
                           {"numpy": np.__version__}, cpu_device(), NAMES)

    def run(self, case: Case) -> Outcome:
        exp = expected(case)
        if exp.trajectory is None:
            return Raised(exp.exc_type or "Exception", exp.message, "construct")
        steps = [{n: StepState(rounded(s.w, case.dtype), rounded(s.m, case.dtype), rounded(s.v, case.dtype))
                  for n, s in step.items()} for step in exp.trajectory.steps]
        return Ran(steps, {n: case.dtype for n in case.names})

"""Faulty adapters for the gate's own tests: every way an implementation can misbehave.

Each one is the faithful ``NumpyAdam`` (``reference-f32``) with exactly one fault, loaded through
``--adapter tests/broken_adapters.py:NAME``. Isolation faults (raise, hang, abort, segfault, NaN,
wrong shape, unpicklable outcome) must each cost ERROR records, never the run; numeric faults
(eps after bias correction) must be FAILs a baseline can pin; ``Slow`` drives the resume tests.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any

import numpy as np

from adapters.base import Outcome, Ran, StepState
from adapters.numpy_lowp import NumpyAdam, NumpyLowPrecisionAdapter
from conformance.cases import Case

# The case ID ``HangOnOneCase`` hangs on (set by the test that knows the run's case IDs).
HANG_CASE_ENV = "BROKEN_ADAPTER_HANG_CASE"
SLOW_SECONDS = 0.3


class _Broken(NumpyLowPrecisionAdapter):
    """reference-f32 under another name, so records of each fault are told apart."""

    dtypes = ("float32",)


# ---- exceptions ------------------------------------------------------------------------------------

class _RaisingCtor(NumpyAdam):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("broken constructor: refuses every argument")


class RaiseAtConstruct(_Broken):
    """The optimizer's constructor raises for valid arguments."""

    name = "broken-raise-construct"
    impl = _RaisingCtor


class _RaisingStep(NumpyAdam):
    def step(self, grads: Any) -> None:
        raise ZeroDivisionError("broken step: division by zero in the update")


class RaiseAtStep(_Broken):
    """Constructs, then raises at the first update."""

    name = "broken-raise-step"
    impl = _RaisingStep


class RaiseInRun(_Broken):
    """The adapter itself (not the library) raises: an adapter bug the worker must survive."""

    name = "broken-raise-in-run"

    def run(self, case: Case) -> Outcome:
        raise KeyError("adapter bug: no such slot")


class AdapterInitFails(_Broken):
    """The adapter object cannot even be created (e.g. its library fails to import)."""

    name = "broken-adapter-init"

    def __init__(self) -> None:
        raise ImportError("broken adapter: libmissing.so not found")


class InfoRaises(_Broken):
    """Loads, then raises while declaring itself (``info``), which happens in the worker."""

    name = "broken-info"

    def info(self) -> Any:
        raise RuntimeError("broken adapter: cannot query the library version")


# ---- hangs -------------------------------------------------------------------------------------------

class Hang(_Broken):
    """Never returns from ``run``."""

    name = "broken-hang"

    def run(self, case: Case) -> Outcome:
        while True:
            time.sleep(3600)


class HangOnOneCase(_Broken):
    """Hangs on the one case whose ID is in $BROKEN_ADAPTER_HANG_CASE; faithful on every other."""

    name = "broken-hang-one"

    def run(self, case: Case) -> Outcome:
        if case.id == os.environ.get(HANG_CASE_ENV):
            while True:
                time.sleep(3600)
        return super().run(case)


class LoadHangs(_Broken):
    """Hangs while probing whether it can run here (``available``, called in the worker)."""

    name = "broken-load-hang"

    def available(self) -> tuple[bool, str]:
        while True:
            time.sleep(3600)


# ---- wrong results -----------------------------------------------------------------------------------

class _NanStep(NumpyAdam):
    def step(self, grads: Any) -> None:
        super().step(grads)
        for s in self.slots:
            s["p"].value = np.full_like(s["p"].value, np.nan)


class NanOutput(_Broken):
    """Every parameter becomes NaN after the first update (the reference stays finite)."""

    name = "broken-nan"
    impl = _NanStep


class WrongShape(_Broken):
    """Reports each parameter flattened with one extra element."""

    name = "broken-shape"

    def run(self, case: Case) -> Outcome:
        out = super().run(case)
        if not isinstance(out, Ran):
            return out
        steps = [{n: StepState(np.append(np.ravel(s.w), 0.0), s.m, s.v) for n, s in step.items()}
                 for step in out.steps]
        return Ran(steps, out.dtypes)


class Unpicklable(_Broken):
    """Returns an outcome that cannot cross the process boundary (a lock inside it)."""

    name = "broken-unpicklable"

    def run(self, case: Case) -> Outcome:
        out = super().run(case)
        if not isinstance(out, Ran):
            return out
        return Ran(out.steps, {**out.dtypes, "lock": threading.Lock()})  # type: ignore[dict-item]


# ---- process deaths ------------------------------------------------------------------------------------

class Abort(_Broken):
    """``os.abort()``: SIGABRT kills the worker process."""

    name = "broken-abort"

    def run(self, case: Case) -> Outcome:
        os.abort()


class Segfault(_Broken):
    """Reads address 0: SIGSEGV kills the worker process."""

    name = "broken-segfault"

    def run(self, case: Case) -> Outcome:
        ctypes.string_at(0)
        return super().run(case)


class LoadAborts(_Broken):
    """Kills its worker while probing whether it can run here (a backend crashing at init)."""

    name = "broken-load-abort"

    def available(self) -> tuple[bool, str]:
        os.abort()


# ---- numeric deviations (baseline tests) -----------------------------------------------------------------

class _EpsAfterBias(NumpyAdam):
    """torch's placement: eps added after bias correction, i.e. eps * sqrt(1 - beta2^t) in this form."""

    def denominator(self, v: np.ndarray) -> np.ndarray:
        return np.sqrt(self.up(v)) + self.eps * np.sqrt(self.ct(1.0) - self.b2p)


class EpsAfterBias(_Broken):
    name = "broken-eps-after-bias"
    impl = _EpsAfterBias


# ---- slow (resume tests) -----------------------------------------------------------------------------------

class Slow(_Broken):
    """Faithful, but takes SLOW_SECONDS per case: a run long enough to interrupt."""

    name = "slow"

    def run(self, case: Case) -> Outcome:
        time.sleep(SLOW_SECONDS)
        return super().run(case)

"""Adapters whose every declared string is an injection attempt, for the report tests.

Names, descriptions, devices, versions, notes and exception messages carry HTML/script, Markdown
table and heading breakers, newlines, and ANSI/OSC escapes plus other control characters. The
numeric behaviour is ordinary: ``HostileEps`` adds eps after bias correction (FAILs charged to
UPD-EPS), ``HostileRaise`` raises at its first step (ERROR), ``KnownEps`` is the same eps fault
under a plain name, for a baseline to pin (XFAIL).

Load with ``--adapter tests/hostile_report_adapters.py:HostileEps`` (relative to the repo root).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from adapters.numpy_lowp import NumpyAdam, NumpyLowPrecisionAdapter

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=\"document.title='PWNED'\">"
ANSI = "\x1b[31mRED\x1b[0m\x1b]0;owned-title\x07"
CONTROL = "nul\x00ff\x0cbs\x08cr\rbidi\u202eevil"
MD_BREAK = " | x |\n\n## All clauses conformant\n\n| a | b |\n|---|---|"
NAME = f"evil{SCRIPT}|pipe{ANSI}"
MESSAGE = f"boom {SCRIPT} {IMG} {MD_BREAK} {ANSI} {CONTROL} $x$ `tick` [link](javascript:alert(1))"


class _EpsAfterBias(NumpyAdam):
    def denominator(self, v: np.ndarray) -> np.ndarray:
        return np.sqrt(self.up(v)) + self.eps * np.sqrt(self.ct(1.0) - self.b2p)


class _Raising(NumpyAdam):
    def step(self, grads: Any) -> None:
        raise RuntimeError(MESSAGE)


class _Hostile(NumpyLowPrecisionAdapter):
    dtypes = ("float32",)
    description = f"desc {SCRIPT} {MD_BREAK}"

    def info(self) -> AdapterInfo:
        base = super().info()
        return AdapterInfo(self.name, self.description, {**base.versions, f"lib{SCRIPT}": f"1.0{ANSI}"},
                           f"device{IMG}\n## heading", self.dtypes, {}, {"UPD-EPS": f"note {MESSAGE}"})


class HostileEps(_Hostile):
    name = NAME
    impl = _EpsAfterBias


class HostileRaise(_Hostile):
    name = f"raise{IMG}\n# heading{ANSI}"
    impl = _Raising


class KnownEps(NumpyLowPrecisionAdapter):
    dtypes = ("float32",)
    name = "known-eps"
    impl = _EpsAfterBias

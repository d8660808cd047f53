"""Worked example of docs/adapters.md: a tiny pure-numpy Adam library and its adapter, written against the kit.

The library part (``TinyParam``, ``TinyAdam``) stands for any third-party library: it has parameters with
names, a constructor that validates its arguments, ``step(grads, lrs)`` and readable moments -- but no
weight decay, no loss scale, no gradient centralization, no schedules, no sparse gradients. The adapter
part (``TinyAdamAdapter``) is all a plugin author writes: the kit merges nn.Adam's defaults, resolves
groups and the beta/gamma filter, evaluates every learning-rate form per update, emulates what the
library lacks in the spec's order, normalises dtype names and checks the read-out.

Run it::

    adam-conformance run --adapter examples/kit_numpy.py:adapter --dtypes float64,float32,float16

It exits 1, and that is the suite at work: TinyAdam adds eps in the parameters' own dtype, so in float16
an eps below 6e-8 rounds to 0, and an element whose gradient is always 0 then divides 0 by 0 (the
"dead-elements" corner of UPD-EPS: one ERROR, "non-finite w"). Every other case it runs passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from adapters.kit import KitAdapter, Plan

# ---- the "library" ---------------------------------------------------------------------------------------


class TinyParam:
    """A named weight, as most libraries have (the name matters to nn.Adam's beta/gamma filter)."""

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name, self.value = name, value


class TinyAdam:
    """Adam in the spec's epsilon-hat form, computed in the parameters' own dtype."""

    def __init__(self, params: Iterable[TinyParam], lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, nesterov: bool = False) -> None:
        if params is None:
            raise ValueError("params must be a non-empty iterable of TinyParam, got None")
        if not isinstance(params, Iterable) or isinstance(params, TinyParam):
            raise TypeError(f"params must be an iterable of TinyParam, got {type(params).__name__}")
        self.params = list(params)
        if not self.params:
            raise ValueError("params must not be empty")
        if not all(isinstance(p, TinyParam) for p in self.params):
            raise TypeError("params must hold TinyParam objects only")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("the same parameter appears twice")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            if not (isinstance(lr, np.ndarray) and lr.ndim == 0):
                raise (ValueError if isinstance(lr, np.ndarray) else TypeError)(f"lr must be a number, got {lr!r}")
        if not (math.isfinite(float(lr)) and float(lr) >= 0):
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not isinstance(b, float):
                raise TypeError(f"{name} must be a float, got {type(b).__name__}")
            if not 0.0 < b < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {b}")
        if not isinstance(eps, float):
            raise TypeError(f"eps must be a float, got {type(eps).__name__}")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite float > 0, got {eps}")
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        self.lr, self.beta1, self.beta2, self.eps, self.nesterov = float(lr), beta1, beta2, eps, nesterov
        self.m = {p.name: np.zeros_like(p.value) for p in self.params}
        self.v = {p.name: np.zeros_like(p.value) for p in self.params}
        self.t = 0

    def step(self, grads: Mapping[str, np.ndarray], lrs: Mapping[str, float] | None = None) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for p in self.params:
            dt = p.value.dtype
            g = np.asarray(grads[p.name], dtype=dt)
            lr = self.lr if lrs is None else lrs[p.name]
            l = dt.type(lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t))
            m = dt.type(b1) * self.m[p.name] + dt.type(1.0 - b1) * g
            v = dt.type(b2) * self.v[p.name] + dt.type(1.0 - b2) * g * g
            num = dt.type(b1) * m + dt.type(1.0 - b1) * g if self.nesterov else m
            p.value = p.value - l * num / (np.sqrt(v) + dt.type(self.eps))
            self.m[p.name], self.v[p.name] = m, v


# ---- the adapter: all a plugin author writes ---------------------------------------------------------------


class TinyAdamAdapter(KitAdapter):
    name = "numpy-kit"
    description = "examples.kit_numpy.TinyAdam (pure numpy) through adapters.kit"
    dtypes = ("float64", "float32", "float16")

    def make_param(self, name: str, value: np.ndarray, dtype: str) -> TinyParam:
        return TinyParam(name, value.astype(dtype))

    def construct(self, plan: Plan) -> TinyAdam:
        h = plan.hyper  # nn.Adam's defaults merged; learning_rate is update 0's value (lr_mode "values")
        return TinyAdam(plan.argument, lr=h["learning_rate"], beta1=h["beta1"], beta2=h["beta2"], eps=h["eps"],
                        nesterov=h["use_nesterov"])

    def step(self, opt: TinyAdam, i: int, grads: Mapping[str, Any], lrs: Mapping[str, float | None]) -> None:
        opt.step(grads, lrs)  # grads: decay, centralization and loss scale already applied by the kit

    def read(self, opt: TinyAdam) -> dict[str, tuple[Any, Any, Any]]:
        return {p.name: (p.value, opt.m[p.name], opt.v[p.name]) for p in opt.params}


adapter = TinyAdamAdapter()

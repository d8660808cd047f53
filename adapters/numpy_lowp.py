"""A faithful low-precision Adam in NumPy: the suite's false-alarm detector.

It follows the spec but computes the way production kernels do -- MindSpore's update form
(``m += (g - m)(1 - b1)``), hyperparameters and beta powers held as float32 running products,
schedules evaluated in float32, and every elementwise result rounded to the parameter's dtype.
A faithful implementation must never be flagged; if the gate flags this adapter, the error model
is wrong. Its small overridable methods are also what the suite's faulty adapters bend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import ml_dtypes
import numpy as np

from conformance.cases import (
    Case,
    DynamicLRValue,
    IterValue,
    ParamRef,
    ScheduleValue,
    SparseGrad,
    TensorValue,
    bind_params,
)

from . import lr_port
from .base import Adapter, AdapterInfo, Outcome, Raised, Ran, StepState, Unsupported, cpu_device, raised

STORAGE = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
DEFAULTS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "use_locking": False,
            "use_nesterov": False, "weight_decay": 0.0, "loss_scale": 1.0}


class _Param:
    """What a Parameter is to this implementation: a name and a value."""

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name, self.value = name, value


def _must(ok: bool, exc: type[Exception], text: str) -> None:
    if not ok:
        raise exc(text)


class NumpyAdam:
    """nn.Adam's constructor and step, computed in ``dtype`` with float32-held hyperparameters."""

    def __init__(self, params: Any, learning_rate: Any = 1e-3, beta1: Any = 0.9, beta2: Any = 0.999,
                 eps: Any = 1e-8, use_locking: Any = False, use_nesterov: Any = False, weight_decay: Any = 0.0,
                 loss_scale: Any = 1.0, *, dtype: str = "float32") -> None:
        if isinstance(learning_rate, Iterator):  # a one-shot iterator lr is read once (a 1-d tensor)
            learning_rate = list(learning_rate)
        plist = self.read_params(params)
        self.check(plist, learning_rate, beta1, beta2, eps, use_locking, use_nesterov, weight_decay, loss_scale)
        self.st = STORAGE[dtype]
        self.ct = np.float64 if dtype == "float64" else np.float32  # where scalars and opmath live
        c = self.ct
        self.b1, self.b2, self.eps, self.ls = c(beta1), c(beta2), c(eps), c(loss_scale)
        self.nesterov = use_nesterov
        self.b1p, self.b2p = c(1.0), c(1.0)
        self.global_step = 0
        self.grouped = isinstance(plist[0], dict)
        self.slots: list[dict[str, Any]] = []
        groups = plist if self.grouped else [{"params": plist}]
        for g in groups:
            if "order_params" in g:
                continue
            for p in g["params"]:
                wd = g.get("weight_decay", weight_decay)
                if not self.grouped and not self.decays(p.name):
                    wd = 0.0
                self.slots.append({"p": p, "lr": g.get("lr", learning_rate), "wd": c(wd),
                                   "gc": g.get("grad_centralization", False),
                                   "m": np.zeros_like(p.value), "v": np.zeros_like(p.value)})

    # -- validation (the seed's Raises section and SPEC-NOTES section 5, as a table) ----------------
    @staticmethod
    def read_params(params: Any) -> list[Any]:
        """Any iterable of Parameters or group dicts, read once (a one-shot iterator too)."""
        _must(params is not None, ValueError, "params is None")
        _must(not isinstance(params, (_Param, str, bytes, Mapping)) and isinstance(params, Iterable), TypeError,
              f"params must be an iterable of Parameter or dict, got {type(params).__name__}")
        plist = list(params)
        _must(len(plist) > 0, ValueError, "params is empty")
        for i, g in enumerate(plist):  # group members are read once too
            if isinstance(g, dict) and "params" in g and isinstance(g["params"], Iterator):
                plist[i] = {**g, "params": list(g["params"])}
        return plist

    def check(self, params: list[Any], lr: Any, b1: Any, b2: Any, eps: Any, lock: Any, nest: Any, wd: Any,
              ls: Any) -> None:
        self.check_lr(lr, "learning_rate")
        for item in params:
            _must(isinstance(item, (_Param, dict)), TypeError, f"params element {item!r} is not a Parameter or dict")
        if any(isinstance(item, dict) for item in params):
            _must(all(isinstance(item, dict) for item in params), TypeError, "params mixes Parameters and dicts")
            self.check_groups(params, lr)
        else:
            names = [p.name for p in params]
            _must(len(set(names)) == len(names), ValueError, "a Parameter appears twice in params")
        self.check_scalars(b1, b2, eps, ls)
        for name, value in (("use_locking", lock), ("use_nesterov", nest)):
            _must(type(value) is bool, TypeError, f"{name} must be bool")
        self.check_wd(wd, "weight_decay")

    @staticmethod
    def check_scalars(b1: Any, b2: Any, eps: Any, ls: Any) -> None:
        for name, value in (("beta1", b1), ("beta2", b2)):
            _must(type(value) is float, TypeError, f"{name} must be float")
            _must(0.0 < value < 1.0, ValueError, f"{name} must be in (0, 1)")
        for name, value in (("eps", eps), ("loss_scale", ls)):
            _must(type(value) is float, TypeError, f"{name} must be float")
            _must(0.0 < value < math.inf, ValueError, f"{name} must be finite and > 0")

    @staticmethod
    def check_lr(lr: Any, name: str) -> None:
        if isinstance(lr, (ScheduleValue, DynamicLRValue, list, tuple)):
            return
        if isinstance(lr, np.ndarray):
            _must(lr.ndim <= 1, ValueError, f"{name} must be 0-d or 1-d")
            return
        _must(isinstance(lr, (int, float)), TypeError, f"{name} has type {type(lr).__name__}")
        _must(0 <= lr < math.inf, ValueError, f"{name} must be finite and >= 0")

    @staticmethod
    def check_wd(wd: Any, name: str) -> None:
        _must(isinstance(wd, (int, float)) and not isinstance(wd, bool), TypeError, f"{name} must be int/float")
        _must(0 <= wd < math.inf, ValueError, f"{name} must be finite and >= 0")

    @staticmethod
    def _length(lr: Any) -> int | None:
        if isinstance(lr, np.ndarray):
            return lr.size if lr.ndim == 1 else None
        return len(lr) if isinstance(lr, (list, tuple)) and not isinstance(lr, (ScheduleValue, DynamicLRValue)) \
            else None

    def check_groups(self, groups: list[dict[str, Any]], lr: Any = None) -> None:
        allowed = {"params", "lr", "weight_decay", "grad_centralization", "order_params"}
        seen: set[str] = set()
        ordered: list[Any] = []
        length = self._length(lr)
        for g in groups:
            _must(set(g) <= allowed, KeyError, f"unknown group key in {sorted(g)}")
            if "order_params" in g:
                _must(len(g) == 1, ValueError, "order_params must be alone in its dict")
                ordered = list(g["order_params"])
                continue
            _must("params" in g, KeyError, "group without 'params'")
            members = g["params"]
            _must(isinstance(members, (list, tuple)), TypeError, "group 'params' must be a list of Parameters")
            _must(len(members) > 0, ValueError, "group with empty 'params'")
            for p in members:
                _must(isinstance(p, _Param), TypeError, "group params element is not a Parameter")
                _must(p.name not in seen, RuntimeError, f"parameter {p.name} in two groups")
                seen.add(p.name)
            if "lr" in g:
                self.check_lr(g["lr"], "group lr")
                n = self._length(g["lr"])
                if n is not None:
                    _must(length is None or n == length, ValueError, "group lr sequences differ in length")
                    length = n
            if "weight_decay" in g:
                self.check_wd(g["weight_decay"], "group weight_decay")
            if "grad_centralization" in g:
                _must(isinstance(g["grad_centralization"], bool), TypeError, "grad_centralization must be bool")
        if ordered:
            _must({getattr(p, "name", None) for p in ordered} == seen and len(ordered) == len(seen), ValueError,
                  "order_params must cover the grouped parameters")

    # -- the pieces a faulty implementation bends ---------------------------------------------------
    def q(self, x: Any) -> np.ndarray:
        """Round an opmath result to storage: one rounding per elementwise operation."""
        return np.asarray(x, dtype=self.ct).astype(self.st)

    def up(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).astype(self.ct)

    @staticmethod
    def decays(name: str) -> bool:
        return "beta" not in name and "gamma" not in name

    def lr_at(self, lr: Any, i: int) -> Any:
        if isinstance(lr, ScheduleValue):
            return self.ct(lr_port.schedule_at(lr.name, lr.args, i))
        if isinstance(lr, DynamicLRValue):
            return self.ct(lr_port.dynamic_lr_list(lr.name, lr.args)[i])
        if isinstance(lr, np.ndarray):
            return self.ct(lr if lr.ndim == 0 else lr.reshape(-1)[i])
        if isinstance(lr, (list, tuple)):
            return self.ct(lr[i])
        return self.ct(float(lr))

    def densify(self, g: Any, shape: tuple[int, ...]) -> np.ndarray:
        if isinstance(g, SparseGrad):
            dense = np.zeros(shape, dtype=self.ct)
            np.add.at(dense, g.indices, self.up(self.q(g.values)))
            return self.q(dense)
        return self.q(g)

    def grad(self, g: np.ndarray, w: np.ndarray, wd: Any, gc: bool) -> np.ndarray:
        """MindSpore's order: decay * loss_scale -> centralization -> times f32(1/loss_scale)."""
        if wd:
            g = self.q(self.up(g) + self.q(self.up(w) * (wd * self.ls)))
        if gc and g.ndim >= 2 and g.shape[1] % 16 == 0 and g.size:
            axes = tuple(range(1, g.ndim))
            g = self.q(self.up(g) - self.up(g).mean(axis=axes, keepdims=True))
        return self.q(self.up(g) * (self.ct(1.0) / self.ls)) if self.ls != 1 else g

    def moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MindSpore's kernel form in opmath; only the stored moments are rounded to storage."""
        one, gc = self.ct(1.0), self.up(g)
        m = self.q(self.up(m) + (gc - self.up(m)) * (one - self.b1))
        v = self.q(self.up(v) + (gc * gc - self.up(v)) * (one - self.b2))
        return m, v

    def step_size(self, lr: Any) -> Any:
        one = self.ct(1.0)
        return lr * np.sqrt(one - self.b2p) / (one - self.b1p)

    def numerator(self, m: np.ndarray, g: np.ndarray) -> np.ndarray:
        if not self.nesterov:
            return self.up(m)
        return self.up(m) * self.b1 + self.up(g) * (self.ct(1.0) - self.b1)

    def denominator(self, v: np.ndarray) -> np.ndarray:
        return np.sqrt(self.up(v)) + self.eps

    # -- one update ----------------------------------------------------------------------------------
    def step(self, grads: Mapping[str, Any]) -> None:
        i = self.global_step
        self.global_step += 1
        self.b1p, self.b2p = self.ct(self.b1p * self.b1), self.ct(self.b2p * self.b2)
        for s in self.slots:
            p = s["p"]
            g = self.grad(self.densify(grads[p.name], p.value.shape), p.value, s["wd"], s["gc"])
            s["m"], s["v"] = self.moments(s["m"], s["v"], g)
            l = self.step_size(self.lr_at(s["lr"], i))
            p.value = self.q(self.up(p.value) - l * self.numerator(s["m"], g) / self.denominator(s["v"]))


def _bind(value: Any, params: Mapping[str, _Param]) -> Any:
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, IterValue):
        return bind_params(value, params, lambda v: _bind(v, params))
    if isinstance(value, list):
        return [_bind(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _bind(v, params) for k, v in value.items()}
    if isinstance(value, TensorValue):  # rounded to where this implementation keeps scalars, in lr_at
        return np.asarray(value.values, dtype=np.float64)
    return value


def build_params(case: Case, params: Mapping[str, _Param]) -> Any:
    """The ``params`` argument as a user writes it: Parameters, or group dicts of Parameters."""
    return case.params_argument(params, lambda v: _bind(v, params))


class NumpyLowPrecisionAdapter(Adapter):
    """``reference-f32``: the spec computed for real in float32 / float16 / bfloat16."""

    name = "reference-f32"
    impl: type[NumpyAdam] = NumpyAdam
    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    description = "NumPy Adam computing in the parameter dtype (float32 opmath for halves), float32 hyperparameters"

    def info(self) -> AdapterInfo:
        notes = {} if "float64" in self.dtypes else \
            {"float64": "it emulates the lower precisions; the `reference` adapter computes float64"}
        return AdapterInfo(self.name, self.description, {"numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__},
                           cpu_device(), self.dtypes, notes=notes)

    def run(self, case: Case) -> Outcome:
        if case.dtype not in self.dtypes:
            return Unsupported(f"{self.name} computes in {', '.join(self.dtypes)} only")
        st = STORAGE[case.dtype]
        params = {n: _Param(n, v.astype(st)) for n, v in case.param_values().items()}
        kwargs = {k: _bind(v, params) for k, v in case.hyperparameters().items()}
        try:
            opt = self.impl(build_params(case, params), **kwargs, dtype=case.dtype)
        except Exception as e:  # the implementation's own refusal is the observation
            return raised(e, "construct")
        if case.kind == "construct":
            return Ran([], {})
        steps: list[dict[str, StepState]] = []
        for i in range(case.num_steps):
            try:
                with np.errstate(all="ignore"):
                    opt.step(case.gradients(i))
            except Exception as e:
                return raised(e, "step", i)
            steps.append({s["p"].name: StepState(*(np.asarray(x, dtype=np.float64).copy()
                                                    for x in (s["p"].value, s["m"], s["v"]))) for s in opt.slots})
        return Ran(steps, {n: _dtype_name(p.value) for n, p in params.items()})


class StorageArithmeticAdam(NumpyAdam):
    """The same spec, computed the way an eager framework without opmath computes half types: every
    elementwise result an eager kernel materializes as a tensor is rounded to the storage dtype --
    ``b1*m``, ``(1-b1)*g``, their sum, ``g*g``, ``(1-b2)*g^2``, ``b2*v``, their sum and ``sqrt(v)`` -- with
    scalars held in float32 (so the moments use the other algebraic form, ``b m + (1-b) g``, than
    ``NumpyAdam``). The last update ``w - l*num/(sqrt(v) + eps)`` is one fused op (torch's ``addcdiv_``)
    whose denominator stays in float32: in float16 ``sqrt(0) + 1e-8`` rounds to 0 and 0/0 is NaN, which
    is an eps-losing implementation (UPD-EPS), not this faithful one."""

    def moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        one, q, up = self.ct(1.0), self.q, self.up
        m = q(up(q(up(m) * self.b1)) + up(q(up(g) * (one - self.b1))))
        v = q(up(q(up(v) * self.b2)) + up(q(up(q(up(g) * up(g))) * (one - self.b2))))
        return m, v

    def numerator(self, m: np.ndarray, g: np.ndarray) -> np.ndarray:
        if not self.nesterov:
            return self.up(m)
        one, q, up = self.ct(1.0), self.q, self.up
        return up(q(up(q(up(m) * self.b1)) + up(q(up(g) * (one - self.b1)))))

    def denominator(self, v: np.ndarray) -> np.ndarray:
        return self.up(self.q(np.sqrt(self.up(v)))) + self.eps


class StorageArithmeticAdapter(NumpyLowPrecisionAdapter):
    """``numpy-storage-arith``: the faithful NumpyAdam with per-operation rounding to the storage dtype."""

    name = "numpy-storage-arith"
    impl = StorageArithmeticAdam
    description = "NumPy Adam rounding every elementwise result to the parameter dtype, float32 hyperparameters"


def _dtype_name(x: np.ndarray) -> str:
    return "bfloat16" if x.dtype == ml_dtypes.bfloat16 else str(x.dtype)




__all__ = ["NumpyAdam", "NumpyLowPrecisionAdapter", "Raised", "StorageArithmeticAdam", "StorageArithmeticAdapter",
           "build_params"]

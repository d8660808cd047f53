"""The adapter kit: what every adapter needs, done once, so a plugin author writes only the library calls.

Why: the built-in adapters each kept their own copy of nn.Adam's defaults, of the learning-rate forms,
of the beta/gamma filter and the group fallbacks, and of the dtype names -- and every copy was a place
to get the spec wrong in a way that reads as the *library's* nonconformance. ``KitAdapter`` owns those
rules; a subclass says how to build, step and read its library, and which spec features its library
lacks (the kit then emulates them exactly as the spec says, and declares them EMULATED).

A subclass implements three methods (see docs/adapters.md for a complete worked example):

- ``construct(plan)``: build the library's optimizer from ``plan`` (a ``Plan``: parameters as float64
  arrays already representable in the case dtype, per-parameter lr/decay/centralization after the
  group fallbacks and the beta/gamma filter, the hyperparameters with nn.Adam's defaults merged, in the
  form ``value_for`` gives them). Raise whatever the library raises: it is reported as a construct-stage
  ``Raised``. Called for ``construct`` cases too (validation: constructing is the whole test).
- ``step(opt, i, grads, lrs)``: one update; ``grads`` maps name -> the gradient the library must see
  (emulations already applied, in float64), ``lrs`` maps name -> the lr of update i (per-update values,
  ``lr_mode = "values"``) or None (``lr_mode = "schedule"``: the library was given ``plan.lr`` itself).
- ``read(opt)``: name -> (w, m, v) as the library holds them (any array-likes; m/v may be None); the kit
  converts to float64, checks shapes and reports a protocol slip as the *adapter's* error, never the
  library's.

Flags (class attributes) say what the library lacks: ``emulate_loss_scale``, ``emulate_decay``,
``emulate_centralization`` (the kit computes ``centralize(g/ls + wd*w)`` in the spec's order),
``sparse`` ("densify" | "native" | "unsupported"), ``lr_mode``. ``dtype_name`` of the parameters after
the run is normalised by ``dtype_name`` (numpy/torch/jax/mindspore dtype objects or their names).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.cases import (
    Case,
    DynamicLRValue,
    Group,
    IterValue,
    NoneValue,
    OrderParams,
    ParamRef,
    ScheduleValue,
    SparseGrad,
    TensorValue,
)
from conformance.dtypes import FORMATS, NAMES

from . import lr_port
from .base import Adapter, AdapterInfo, Outcome, Raised, Ran, StepState, Support, Unsupported, raised

DEFAULTS: dict[str, Any] = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "use_locking": False,
                            "use_nesterov": False, "weight_decay": 0.0, "loss_scale": 1.0}
_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32",
            "single": "float32", "fp64": "float64", "double": "float64"}


class KitError(Exception):
    """The adapter broke the protocol (not the library): reported as an adapter error naming the adapter."""


class NoCounterpart(Exception):
    """The case needs something the library cannot express: the case becomes Unsupported with this reason."""


class LibraryRaised(Exception):
    """What a library hook (``make_param``, ``value_for``) raised while the kit planned a case: the library's
    raise, ``NoCounterpart`` included -- never the adapter's decline."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _library(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:
        raise LibraryRaised(e) from None


def merged_hyperparameters(case: Case) -> dict[str, Any]:
    """nn.Adam's defaults with the case's keys on top (a case holds only the keys it sets)."""
    return {**DEFAULTS, **case.hyperparameters()}


def dtype_name(dtype: Any, adapter: str = "adapter") -> str:
    """A library dtype (numpy, ml_dtypes, torch, jax, MindSpore object or name) -> the suite's name."""
    if isinstance(dtype, type):  # a scalar type (np.float16, ml_dtypes.bfloat16)
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            dtype = dtype.__name__
    name = getattr(dtype, "name", None)
    text = str(name if isinstance(name, str) else dtype).strip().lower()
    for prefix in ("torch.", "mindspore.", "jnp.", "np.", "numpy.", "dtype(", "<class '"):
        text = text.removeprefix(prefix)
    text = text.strip("')> ")
    text = _ALIASES.get(text, text)
    if text not in NAMES:
        raise KitError(f"{adapter}: cannot name dtype {dtype!r} as one of {', '.join(NAMES)}")
    return text


# ---- learning rates ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LearningRate:
    """A case's lr in one of nn.Adam's forms. ``kind``: fixed | sequence | schedule | dynamic_lr | literal."""

    kind: str
    value: Any  # float (fixed), list of floats (sequence), (name, args) (schedule/dynamic_lr), or as given

    def at(self, i: int) -> float:
        """The lr of update i (0-based). Past a sequence's end: NoCounterpart (the spec raises there)."""
        if self.kind == "fixed":
            return float(self.value)
        if self.kind == "schedule":
            return lr_port.schedule_at(self.value[0], self.value[1], i)
        values = self.value if self.kind == "sequence" else lr_port.dynamic_lr_list(*self.value)
        if self.kind in ("sequence", "dynamic_lr") and i < len(values):
            return float(values[i])
        if self.kind == "literal":
            raise NoCounterpart(f"learning rate {self.value!r} has no per-update value")
        raise NoCounterpart(f"the learning-rate sequence has {len(values)} values; update {i + 1} needs one more")

    @property
    def dynamic(self) -> bool:
        return self.kind in ("sequence", "schedule", "dynamic_lr")


def learning_rate(value: Any) -> LearningRate:
    """Classify a decoded lr value (what a case holds) into a ``LearningRate``."""
    if isinstance(value, ScheduleValue):
        return LearningRate("schedule", (value.name, dict(value.args)))
    if isinstance(value, DynamicLRValue):
        return LearningRate("dynamic_lr", (value.name, dict(value.args)))
    if isinstance(value, TensorValue):
        a = np.asarray(value.values, dtype=np.float64)
        if a.ndim == 0:
            return LearningRate("fixed", float(a))
        if a.ndim == 1:
            return LearningRate("sequence", [float(x) for x in a])
        return LearningRate("literal", value)
    if isinstance(value, IterValue):
        return LearningRate("sequence", [float(x) for x in value.items])
    if isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields")):
        try:
            return LearningRate("sequence", [float(x) for x in value])
        except (TypeError, ValueError):
            return LearningRate("literal", value)
    if isinstance(value, (int, float)):  # bool included: True is 1.0, as nn.Adam reads it
        return LearningRate("fixed", float(value))
    return LearningRate("literal", value)


# ---- the plan of one case ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamPlan:
    """One parameter after the group fallbacks and the beta/gamma filter."""

    name: str
    shape: tuple[int, ...]
    value: np.ndarray  # float64, representable in the case dtype
    group: int  # index among the well-formed groups (0 when ungrouped)
    lr: LearningRate
    weight_decay: float  # 0.0 when filtered out (ungrouped beta/gamma) or not given
    centralize: bool  # grad_centralization asked and the shape qualifies (ndim >= 2, shape[1] % 16 == 0)


@dataclass
class Plan:
    case: Case
    dtype: str
    hyper: dict[str, Any]  # nn.Adam's defaults merged, values as ``value_for`` maps them
    lr: LearningRate  # the optimizer's own learning_rate
    params: list[ParamPlan] = field(default_factory=list)  # in the optimizer's parameter order
    objects: dict[str, Any] = field(default_factory=dict)  # name -> the library's parameter (make_param)
    params_arg: Any = None  # a literal params argument (validation/acceptance cases), mapped to objects

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def argument(self) -> Any:
        """What to pass as the library's params: the case's literal argument, else the objects in order."""
        if self.case.raw_params_arg() is not None:
            return self.params_arg
        return [self.objects[n] for n in self.names]


def centralizable(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2 and shape[1] % 16 == 0 and int(np.prod(shape)) > 0


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NoCounterpart(f"weight_decay {value!r} is no number: the emulated decay cannot apply it")
    return float(value)


def param_plans(case: Case, lr: LearningRate, weight_decay: Any, need_numbers: bool) -> list[ParamPlan]:
    """Per parameter: its group, lr (group's or the optimizer's), decay (group's, else the filtered default)."""
    values = case.param_values()
    shapes = {p.name: tuple(p.shape) for p in case.params}
    groups = case.param_groups()
    conv: Callable[[Any], Any] = _number if need_numbers else (lambda v: v)
    if groups is None:
        return [ParamPlan(n, shapes[n], values[n], 0, lr,
                          0.0 if ("beta" in n or "gamma" in n) else conv(weight_decay), False) for n in case.names]
    order = next((g.names for g in groups if isinstance(g, OrderParams) and g.names), None)
    out = []
    real = [g for g in groups if isinstance(g, Group)]
    for k, g in enumerate(real):
        glr = lr if g.lr is None else learning_rate(g.lr)
        wd = conv(weight_decay if g.weight_decay is None else g.weight_decay)
        for n in g.params:
            out.append(ParamPlan(n, shapes[n], values[n], k, glr, wd,
                                 bool(g.grad_centralization) and centralizable(shapes[n])))
    if order:
        out.sort(key=lambda p: order.index(p.name))
    return out


def centralize(g: np.ndarray) -> np.ndarray:
    """GRP-GC: subtract the mean over every axis but 0 (callers check the shape rule)."""
    return g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)


def densify(g: SparseGrad, dtype: str) -> np.ndarray:
    """A row-sparse gradient as the library would densify it: values in the dtype, duplicates summed."""
    out = np.zeros(g.dense_shape, dtype=np.float64)
    np.add.at(out, np.asarray(g.indices, dtype=np.int64), round_to(g.values, dtype))
    return round_to(out, dtype)


def round_to(x: Any, dtype: str) -> np.ndarray:
    """float64 values rounded once to ``dtype`` (and back to float64)."""
    return np.asarray(np.asarray(x, dtype=np.float64).astype(FORMATS[dtype].np_type), dtype=np.float64)


# ---- the base class ------------------------------------------------------------------------------------

class KitAdapter(Adapter):
    """Subclass and implement ``construct``, ``step``, ``read`` (and ``versions``); set the flags it needs."""

    name = "kit-adapter"
    description = ""
    device = "cpu"
    dtypes: tuple[str, ...] = ("float64", "float32")
    emulate_loss_scale = True
    emulate_decay = True
    emulate_centralization = True
    sparse = "densify"  # "densify" | "native" (step gets SparseGrad) | "unsupported"
    lr_mode = "values"  # "values": step gets each update's lr; "schedule": construct gets plan.lr itself
    kwarg_names: tuple[str, ...] = ("learning_rate", "beta1", "beta2", "eps", "use_nesterov")  # reach construct

    # -- what a subclass provides ------------------------------------------------------------------------
    @abc.abstractmethod
    def construct(self, plan: Plan) -> Any:
        """Build the library's optimizer; raise what the library raises."""

    @abc.abstractmethod
    def step(self, opt: Any, i: int, grads: Mapping[str, Any], lrs: Mapping[str, float | None]) -> None:
        """Apply update i (0-based)."""

    @abc.abstractmethod
    def read(self, opt: Any) -> Mapping[str, tuple[Any, Any, Any]]:
        """name -> (w, m, v) after the last update; m or v None when the library hides them."""

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def make_param(self, name: str, value: np.ndarray, dtype: str) -> Any:
        """The library's parameter object for one case parameter (default: a numpy array of the dtype)."""
        return np.asarray(value).astype(FORMATS[dtype].np_type)

    def value_for(self, value: Any, objects: Mapping[str, Any] | None = None) -> Any:
        """A decoded case value as the library's user would pass it (override for tensors of your library).

        ``ParamRef`` -> the parameter object, ``$iter`` -> a one-shot iterator, ``$none`` -> None, a 0-d
        or n-d tensor -> a numpy array; lists, tuples and dicts are mapped element by element.
        """
        if isinstance(value, ParamRef):
            return (objects or {})[value.name]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self.value_for(v, objects) for v in value)
        if isinstance(value, TensorValue):
            return np.asarray(value.values)
        if isinstance(value, IterValue):
            return iter([self.value_for(v, objects) for v in value.items])
        if isinstance(value, NoneValue):
            return None
        if isinstance(value, list):
            return [self.value_for(v, objects) for v in value]
        if isinstance(value, dict):
            return {k: self.value_for(v, objects) for k, v in value.items()}
        return value

    def dtype_of(self, w: Any) -> Any:
        """The library's dtype of a read-out weight (override when ``w.dtype`` is not it)."""
        return getattr(w, "dtype", type(w))

    # -- declarations ------------------------------------------------------------------------------------
    def declarations(self) -> tuple[dict[str, Support], dict[str, str]]:
        E, U = Support.EMULATED, Support.UNSUPPORTED
        s: dict[str, Support] = {}
        n: dict[str, str] = {}

        def put(clauses: str, support: Support, note: str) -> None:
            for c in clauses.split():
                s[c], n[c] = support, note

        if self.emulate_loss_scale:
            put("DEC-LOSS-SCALE", E, "the kit divides each gradient by loss_scale before the library sees it")
        if self.emulate_decay:
            put("DEC-L2 DEC-FILTER DEC-GROUP SPR-DECAY", E, "the kit adds wd*w (group fallbacks and the "
                "beta/gamma filter applied) to the gradient: the library gets no weight decay")
            put("VAL-WD-TYPE VAL-WD-RANGE", U, "weight decay is the kit's emulation: refusing a bad one would "
                "judge the kit, not the library")
        if self.emulate_centralization:
            put("GRP-GC", E, "the kit computes centralize(g/ls + wd*w) in the spec's order")
        if self.emulate_loss_scale:
            n["VAL-POSITIVE"] = "loss_scale is the kit's emulation: loss_scale cases are unsupported"
        if self.lr_mode == "values":
            put("LR-SEQUENCE LR-SCHEDULE GRP-LR", E, "the kit evaluates the lr of every update (adapters.lr_port "
                "for schedules) and passes it to each step")
        if self.sparse == "densify":
            put("SPR-DENSE-EQUIV SPR-DUPLICATES SPR-NESTEROV", E, "the kit densifies sparse gradients (values in "
                "the dtype, duplicates summed)")
        elif self.sparse == "unsupported":
            put("SPR-DENSE-EQUIV SPR-DUPLICATES SPR-DECAY SPR-NESTEROV", U, "no sparse gradients")
        put("GRP-ORDER", E, "parameters are handed over in order_params order")
        put("VAL-GROUP", U, "parameter groups are the kit's data, not the library's argument")
        put("VAL-BOOL-TYPE", U, "use_locking has no counterpart")
        return s, n

    def info(self) -> AdapterInfo:
        support, notes = self.declarations()
        return AdapterInfo(self.name, self.description, self.versions(), self.device, self.dtypes, support, notes)

    # -- running a case -----------------------------------------------------------------------------------
    def plan(self, case: Case) -> Plan:
        h = merged_hyperparameters(case)
        if self.emulate_loss_scale and not (type(h["loss_scale"]) is float and 0 < h["loss_scale"] < np.inf):
            raise NoCounterpart(f"loss_scale={h['loss_scale']!r}: the library has no loss_scale to validate it")
        if h["use_locking"] is not False:
            raise NoCounterpart(f"use_locking={h['use_locking']!r}: the library has no use_locking")
        lr = learning_rate(h["learning_rate"])
        hyper = {k: _library(self.value_for, h[k]) for k in self.kwarg_names}
        if self.lr_mode == "values":
            hyper["learning_rate"] = lr.at(0) if lr.kind != "literal" else _library(self.value_for, lr.value)
        raw = case.raw_params_arg()
        if raw is not None and isinstance(raw, (list, tuple, IterValue)) and not isinstance(raw, ParamRef):
            items = raw.items if isinstance(raw, IterValue) else raw
            if any(isinstance(x, dict) for x in items):
                raise NoCounterpart("parameter groups are the kit's data: a literal group dict has no counterpart")
        try:
            params = param_plans(case, lr, h["weight_decay"], need_numbers=self.emulate_decay and case.kind == "steps")
        except NoCounterpart:
            raise
        except Exception as e:  # malformed groups of a validation case: groups are the kit's data
            raise NoCounterpart(f"malformed parameter groups ({type(e).__name__}) are the kit's data, not the "
                                "library's argument") from None
        objects = {p.name: _library(self.make_param, p.name, p.value, case.dtype) for p in params}
        mapped = None if raw is None else _library(self.value_for, raw, objects)
        return Plan(case, case.dtype, hyper, lr, params, objects, mapped)

    def gradient(self, plan: Plan, p: ParamPlan, g: Any, w: np.ndarray) -> Any:
        """What the library is handed for ``p``: the spec's chain for the features the library lacks."""
        if isinstance(g, SparseGrad):
            if self.sparse == "native" and not (p.weight_decay and self.emulate_decay) and not p.centralize:
                return g._replace(values=round_to(g.values, plan.dtype) / self._ls(plan))
            g = densify(g, plan.dtype)
        g = round_to(g, plan.dtype)
        ls = self._ls(plan)
        if self.emulate_decay and p.weight_decay:
            g = g + p.weight_decay * ls * w
        if self.emulate_centralization and p.centralize:
            g = centralize(g)
        return g / ls if ls != 1.0 else g

    def _ls(self, plan: Plan) -> float:
        return float(plan.case.hyperparameters().get("loss_scale", 1.0)) if self.emulate_loss_scale else 1.0

    def run(self, case: Case) -> Outcome:
        if case.dtype not in self.dtypes:
            return Unsupported(f"{self.name} does not run {case.dtype}")
        if case.kind == "steps" and self.sparse == "unsupported" and any(case.is_sparse(n) for n in case.names):
            return Unsupported(f"{self.name}: no sparse gradients")
        try:  # the adapter's plan (override ``plan`` to decline more); make_param / value_for are the library's
            plan = self.plan(case)
        except LibraryRaised as e:
            return raised(e.exc, "construct")
        except NoCounterpart as e:
            return Unsupported(str(e))
        except Exception as e:
            return raised(e, "construct")
        try:  # the library runs from here: whatever it raises, NoCounterpart included, is its raise
            opt = self.construct(plan)
        except Exception as e:
            return raised(e, "construct")
        if case.kind == "construct":
            return Ran([], {})
        return self._steps(plan, opt)

    def _steps(self, plan: Plan, opt: Any) -> Outcome:
        w = {p.name: round_to(p.value, plan.dtype) for p in plan.params}
        steps: list[dict[str, StepState]] = []
        last: Mapping[str, tuple[Any, Any, Any]] = {}
        for i in range(plan.case.num_steps):
            try:
                grads_in = plan.case.gradients(i)
                grads = {p.name: self.gradient(plan, p, grads_in[p.name], w[p.name]) for p in plan.params}
                lrs = {p.name: p.lr.at(i) if self.lr_mode == "values" else None for p in plan.params}
            except NoCounterpart as e:  # the kit's own lr / gradient emulation: no library code runs here
                return Unsupported(f"update {i + 1}: {e}")
            try:
                self.step(opt, i, grads, lrs)
            except Exception as e:
                return raised(e, "step", i)
            try:
                last = self.read(opt)
                state = self._state(plan, last)
            except KitError as e:
                return Raised("KitError", str(e)[:500], "adapter", i)
            w = {n: s.w for n, s in state.items()}
            steps.append(state)
        try:
            dtypes = {n: dtype_name(self.dtype_of(last[n][0]), self.name) for n in plan.names} if last else {}
        except KitError as e:
            return Raised("KitError", str(e)[:500], "adapter", None)
        return Ran(steps, dtypes)

    def _state(self, plan: Plan, got: Mapping[str, tuple[Any, Any, Any]]) -> dict[str, StepState]:
        out = {}
        for p in plan.params:
            if p.name not in got:
                raise KitError(f"{self.name}: read() gave no state for parameter {p.name!r}")
            arrays = []
            for what, x in zip("wmv", got[p.name]):
                if x is None and what != "w":
                    arrays.append(None)
                    continue
                a = np.asarray(np.asarray(x).astype(np.float64))
                if a.shape != p.shape:
                    raise KitError(f"{self.name}: read() gave {what} of {p.name!r} in shape {a.shape}, "
                                   f"the parameter has {p.shape}")
                arrays.append(a)
            out[p.name] = StepState(*arrays)
        return out

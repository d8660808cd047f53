"""A case is plain data: what to build, what gradients to feed, which clauses it exercises.

Cases travel as versioned JSON (``docs/case-format.md``); loading never executes code. The ID is a
content hash of everything that affects the outcome, so the same inputs always get the same ID.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .clauses import BY_ID
from .dtypes import FORMATS

FORMAT = "adam-conformance/case@1"
KINDS = ("steps", "construct")
HYPER_KEYS = ("learning_rate", "beta1", "beta2", "eps", "use_locking", "use_nesterov", "weight_decay", "loss_scale")
GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")


class CaseFormatError(ValueError):
    """A case file that is not a valid case; the message is one line saying what and where."""


# ---- decoded values an adapter maps to its own library ----------------------------------------

class TensorValue(NamedTuple):
    """A framework tensor (0-d fixed lr, 1-d lr sequence, or a deliberately wrong one)."""

    values: np.ndarray


class ScheduleValue(NamedTuple):
    """A MindSpore ``LearningRateSchedule`` by class name and constructor arguments."""

    name: str
    args: Mapping[str, Any]


class DynamicLRValue(NamedTuple):
    """An ``nn.dynamic_lr`` builder by function name and arguments: the optimizer gets its list."""

    name: str
    args: Mapping[str, Any]


class ParamRef(NamedTuple):
    """The Parameter of that name (inside a raw ``params_arg``)."""

    name: str


class SparseGrad(NamedTuple):
    """Row-sparse gradient; indices may repeat, be unsorted, or skip rows."""

    indices: np.ndarray
    values: np.ndarray
    dense_shape: tuple[int, ...]


class Group(NamedTuple):
    """A well-formed parameter group; ``None`` means the key is absent (the optimizer's value applies)."""

    params: tuple[str, ...]
    lr: Any = None
    weight_decay: Any = None
    grad_centralization: Any = None


class OrderParams(NamedTuple):
    names: tuple[str, ...]


def decode_value(obj: Any, where: str = "value") -> Any:
    """JSON -> Python value, keeping the types validation cases depend on (int vs float vs bool)."""
    if isinstance(obj, dict):
        if "$float" in obj:
            text = obj["$float"]
            if text not in ("nan", "inf", "-inf"):
                raise CaseFormatError(f"{where}: $float must be 'nan', 'inf' or '-inf', got {text!r}")
            return float(text)
        if "$tensor" in obj:
            return TensorValue(np.asarray(obj["$tensor"], dtype=np.float64))
        if "$schedule" in obj:
            return ScheduleValue(str(obj["$schedule"]), dict(obj.get("args", {})))
        if "$dynamic_lr" in obj:
            return DynamicLRValue(str(obj["$dynamic_lr"]), dict(obj.get("args", {})))
        if "$param" in obj:
            return ParamRef(str(obj["$param"]))
        if "$tuple" in obj:
            return tuple(decode_value(x, where) for x in obj["$tuple"])
        return {k: decode_value(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_value(x, where) for x in obj]
    return obj


def encode_value(value: Any) -> Any:
    """Python value -> JSON, the inverse of ``decode_value``."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, TensorValue):
        return {"$tensor": np.asarray(value.values).tolist()}
    if isinstance(value, ScheduleValue):
        return {"$schedule": value.name, "args": dict(value.args)}
    if isinstance(value, DynamicLRValue):
        return {"$dynamic_lr": value.name, "args": dict(value.args)}
    if isinstance(value, ParamRef):
        return {"$param": value.name}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__} in a case")


def bind_params(value: Any, params: Mapping[str, Any], convert: Callable[[Any], Any]) -> Any:
    """Replace ParamRefs by the caller's Parameters, recursively; other leaves go through ``convert``."""
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, dict):
        return {k: bind_params(v, params, convert) for k, v in value.items()}
    if isinstance(value, list):
        return [bind_params(v, params, convert) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(bind_params(v, params, convert) for v in value)
    return convert(value)


# ---- tensors: explicit values or a seeded recipe -------------------------------------------------

def materialize(spec: Any, shape: Sequence[int], where: str) -> np.ndarray:
    """Explicit nested values, or ``{"$random": {"seed", "scale"}}`` for big tensors."""
    if isinstance(spec, dict) and "$random" in spec:
        r = spec["$random"]
        rng = np.random.default_rng(int(r.get("seed", 0)))
        return rng.standard_normal(tuple(shape)) * float(r.get("scale", 1.0))
    try:
        a = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise CaseFormatError(f"{where}: values must be numbers") from None
    if a.shape != tuple(shape):
        try:
            a = a.reshape(tuple(shape))
        except ValueError:
            raise CaseFormatError(f"{where}: {a.size} values do not fit shape {list(shape)}") from None
    return a


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    values: Any  # JSON: nested list or {"$random": ...}


@dataclass(frozen=True)
class Case:
    """One generated (or hand-written) conformance case."""

    clauses: tuple[str, ...]
    dtype: str
    params: tuple[ParamSpec, ...]
    kind: str = "steps"
    hyper: Mapping[str, Any] = field(default_factory=dict)  # JSON-encoded constructor kwargs
    groups: tuple[Mapping[str, Any], ...] | None = None  # JSON-encoded groups
    params_arg: Any = None  # JSON-encoded raw params argument (validation cases only)
    grads: tuple[Mapping[str, Any], ...] = ()  # per step: {name: {"dense": ...} | {"sparse": ...}}
    title: str = ""

    # -- identity --------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.clauses[0].split("-")[0] if self.clauses else "?"

    def payload(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "kind": self.kind,
            "clauses": list(self.clauses),
            "dtype": self.dtype,
            "params": [{"name": p.name, "shape": list(p.shape), "values": p.values} for p in self.params],
            "hyper": dict(self.hyper),
            "groups": None if self.groups is None else [dict(g) for g in self.groups],
            "grads": [dict(s) for s in self.grads],
        }
        if self.params_arg is not None:
            d["params_arg"] = self.params_arg
        return d

    @property
    def id(self) -> str:
        blob = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return f"{self.family}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def to_json(self) -> dict[str, Any]:
        d = self.payload()
        return {"format": FORMAT, "id": self.id, "title": self.title, **{k: v for k, v in d.items() if k != "format"}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, allow_nan=False)

    # -- what an adapter reads -------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return len(self.grads)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param_values(self) -> dict[str, np.ndarray]:
        """Initial parameter values as float64 arrays (already representable in ``dtype``)."""
        return {p.name: materialize(p.values, p.shape, f"params[{p.name}]") for p in self.params}

    def gradients(self, step: int) -> dict[str, np.ndarray | SparseGrad]:
        """Gradients of update ``step`` (0-based): dense float64 arrays or ``SparseGrad``."""
        shapes = {p.name: p.shape for p in self.params}
        out: dict[str, np.ndarray | SparseGrad] = {}
        for name, g in self.grads[step].items():
            where = f"grads[{step}][{name}]"
            if "sparse" in g:
                s = g["sparse"]
                idx = np.asarray(s["indices"], dtype=np.int64).reshape(-1)
                vshape = (idx.size, *shapes[name][1:])
                out[name] = SparseGrad(idx, materialize(s["values"], vshape, where), tuple(shapes[name]))
            else:
                out[name] = materialize(g["dense"], shapes[name], where)
        return out

    def is_sparse(self, name: str) -> bool:
        return any("sparse" in s.get(name, {}) for s in self.grads)

    def hyperparameters(self) -> dict[str, Any]:
        """Constructor keyword arguments present in the case, decoded (absent ones take defaults)."""
        return {k: decode_value(v, f"hyper.{k}") for k, v in self.hyper.items()}

    def param_groups(self) -> list[Group | OrderParams] | None:
        """Well-formed groups (``None`` when the case does not group its parameters)."""
        if self.groups is None:
            return None
        out: list[Group | OrderParams] = []
        for g in self.groups:
            if "order_params" in g:
                out.append(OrderParams(tuple(g["order_params"])))
            else:
                out.append(Group(tuple(g["params"]), *(decode_value(g[k]) if k in g else None
                                                       for k in ("lr", "weight_decay", "grad_centralization"))))
        return out

    def raw_params_arg(self) -> Any:
        """The literal ``params`` argument of a validation case, with ``ParamRef`` for Parameters."""
        return decode_value(self.params_arg, "params_arg")

    def params_argument(self, params: Mapping[str, Any], convert: Callable[[Any], Any] = lambda v: v) -> Any:
        """nn.Adam's ``params`` argument built from the caller's own Parameter objects.

        A list of Parameters, group dicts, or a validation case's literal argument; every other value
        in it (a group's lr, weight_decay ...) goes through ``convert``, which maps TensorValue,
        ScheduleValue and DynamicLRValue to the caller's library.
        """
        raw = self.raw_params_arg()
        if raw is not None:
            return bind_params(raw, params, convert)
        groups = self.param_groups()
        if groups is None:
            return [params[n] for n in self.names]
        out: list[dict[str, Any]] = []
        for g in groups:
            if isinstance(g, OrderParams):
                out.append({"order_params": [params[n] for n in g.names]})
                continue
            d: dict[str, Any] = {"params": [params[n] for n in g.params]}
            for key in ("lr", "weight_decay", "grad_centralization"):
                if getattr(g, key) is not None:
                    d[key] = bind_params(getattr(g, key), params, convert)
            out.append(d)
        return out


# ---- loading --------------------------------------------------------------------------------------

def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise CaseFormatError(msg)


def from_json(d: Any, source: str = "case") -> Case:
    """Validate and build a Case; every problem is one ``CaseFormatError`` line naming the field."""
    _require(isinstance(d, dict), f"{source}: a case is a JSON object")
    _require(d.get("format") == FORMAT, f"{source}: 'format' must be {FORMAT!r}, got {d.get('format')!r}")
    kind = d.get("kind", "steps")
    _require(kind in KINDS, f"{source}: 'kind' must be one of {KINDS}, got {kind!r}")
    clauses = d.get("clauses")
    _require(isinstance(clauses, list) and clauses and all(isinstance(c, str) for c in clauses),
             f"{source}: 'clauses' must be a non-empty list of clause IDs")
    unknown = [c for c in clauses if c not in BY_ID]
    _require(not unknown, f"{source}: unknown clause ID(s) {unknown}; see `adam-conformance clauses`")
    dtype = d.get("dtype")
    _require(dtype in FORMATS, f"{source}: 'dtype' must be one of {list(FORMATS)}, got {dtype!r}")
    params = d.get("params")
    _require(isinstance(params, list), f"{source}: 'params' must be a list")
    specs = []
    for i, p in enumerate(params):
        _require(isinstance(p, dict) and isinstance(p.get("name"), str),
                 f"{source}: params[{i}] needs a string 'name'")
        shape = p.get("shape")
        _require(isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape),
                 f"{source}: params[{i}].shape must be a list of non-negative ints")
        _require("values" in p, f"{source}: params[{i}] needs 'values'")
        materialize(p["values"], shape, f"{source}: params[{i}]")
        specs.append(ParamSpec(p["name"], tuple(shape), p["values"]))
    names = {s.name for s in specs}
    hyper = d.get("hyper", {})
    _require(isinstance(hyper, dict), f"{source}: 'hyper' must be an object")
    bad = [k for k in hyper if k not in HYPER_KEYS]
    _require(not bad, f"{source}: unknown hyperparameter(s) {bad}; allowed: {list(HYPER_KEYS)}")
    groups = d.get("groups")
    _require(groups is None or isinstance(groups, list), f"{source}: 'groups' must be a list or null")
    grads = d.get("grads", [])
    _require(isinstance(grads, list), f"{source}: 'grads' must be a list (one object per step)")
    case = Case(tuple(clauses), dtype, tuple(specs), kind, hyper, None if groups is None else tuple(groups),
                d.get("params_arg"), tuple(grads), str(d.get("title", "")))
    if kind == "steps":
        for t, step in enumerate(grads):
            _require(isinstance(step, dict) and set(step) == names,
                     f"{source}: grads[{t}] must give a gradient for every parameter {sorted(names)}")
            for n, g in step.items():
                _require(isinstance(g, dict) and ("dense" in g) != ("sparse" in g),
                         f"{source}: grads[{t}][{n}] must be {{'dense': ...}} or {{'sparse': ...}}")
        for t in range(len(grads)):
            case.gradients(t)
        if groups is not None:
            for k, g in enumerate(groups):
                _require(isinstance(g, dict) and set(g) <= set(GROUP_KEYS), f"{source}: groups[{k}] has unknown keys")
                members = g.get("order_params", g.get("params", []))
                _require(isinstance(members, list) and set(members) <= names,
                         f"{source}: groups[{k}] names parameters that the case does not define")
    if "id" in d and d["id"] != case.id:
        raise CaseFormatError(f"{source}: 'id' {d['id']} does not match the content ({case.id}); "
                              "the file was edited -- delete the 'id' field to accept the edit")
    return case


def load(path: str | Path) -> Case:
    """Read one case file; a missing, unreadable or malformed file is one ``CaseFormatError`` line."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise CaseFormatError(f"{path}: cannot read case file ({e.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CaseFormatError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    return from_json(data, str(path))

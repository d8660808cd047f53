"""A case is plain data: what to build, what gradients to feed, which clauses it exercises.

Cases travel as versioned JSON (``docs/case-format.md``); loading never executes code. The ID is a
content hash of everything that affects the outcome, so the same inputs always get the same ID.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .clauses import BY_ID
from .dtypes import FORMATS
from .errors import ConformanceError

FORMAT = "adam-conformance/case@1"
KINDS = ("steps", "construct")
HYPER_KEYS = ("learning_rate", "beta1", "beta2", "eps", "use_locking", "use_nesterov", "weight_decay", "loss_scale")
GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")


class CaseFormatError(ConformanceError, ValueError):
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


class IterValue(NamedTuple):
    """A one-shot iterator over ``items`` (``{"$iter": [...]}``): pass ``iter([...])`` itself, read once."""

    items: tuple[Any, ...]


class NoneValue(NamedTuple):
    """The literal ``None`` as the whole ``params`` argument (``{"$none": true}``), where JSON null means absent."""


TAGS = ("$float", "$tensor", "$schedule", "$dynamic_lr", "$param", "$tuple", "$iter", "$none")


def decode_value(obj: Any, where: str = "value") -> Any:
    """JSON -> Python value, keeping the types validation cases depend on (int vs float vs bool)."""
    if isinstance(obj, dict):
        tags = [k for k in obj if isinstance(k, str) and k.startswith("$")]
        if not tags:
            return {k: decode_value(v, f"{where}.{k}") for k, v in obj.items()}
        tag = tags[0]
        extra = set(obj) - {tag, "args"} if tag in ("$schedule", "$dynamic_lr") else set(obj) - {tag}
        if tag not in TAGS or len(tags) > 1 or extra:
            raise CaseFormatError(f"{where}: a tagged value is one of {list(TAGS)} alone, got keys {sorted(obj)}")
        return _decode_tagged(tag, obj, where)
    if isinstance(obj, list):
        return [decode_value(x, f"{where}[{i}]") for i, x in enumerate(obj)]
    return obj


def _decode_tagged(tag: str, obj: dict[str, Any], where: str) -> Any:
    body = obj[tag]
    if tag == "$float":
        if body not in ("nan", "inf", "-inf"):
            raise CaseFormatError(f"{where}: $float must be 'nan', 'inf' or '-inf', got {body!r}")
        return float(body)
    if tag == "$tensor":
        return TensorValue(numbers(body, f"{where}.$tensor"))
    if tag in ("$schedule", "$dynamic_lr"):
        args = obj.get("args", {})
        check_schedule(tag, body, args, where)
        return (ScheduleValue if tag == "$schedule" else DynamicLRValue)(body, dict(args))
    if tag == "$param":
        if not isinstance(body, str):
            raise CaseFormatError(f"{where}: $param must name a parameter (a string), got {type(body).__name__}")
        return ParamRef(body)
    if tag == "$none":
        if body is not True:
            raise CaseFormatError(f"{where}: write the literal None as {{\"$none\": true}}")
        return NoneValue()
    if not isinstance(body, list):
        raise CaseFormatError(f"{where}: {tag} must be a list, got {type(body).__name__}")
    items = tuple(decode_value(x, f"{where}{tag}[{i}]") for i, x in enumerate(body))
    return items if tag == "$tuple" else IterValue(items)


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
    if isinstance(value, IterValue):
        return {"$iter": [encode_value(v) for v in value.items]}
    if isinstance(value, NoneValue):
        return {"$none": True}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__} in a case")


def bind_params(value: Any, params: Mapping[str, Any], convert: Callable[[Any], Any]) -> Any:
    """Replace ParamRefs by the caller's Parameters, recursively; other leaves go through ``convert``.

    An ``IterValue`` becomes a fresh one-shot iterator over its bound items; ``NoneValue`` becomes None.
    """
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, IterValue):
        return iter([bind_params(v, params, convert) for v in value.items])
    if isinstance(value, NoneValue):
        return None
    if isinstance(value, dict):
        return {k: bind_params(v, params, convert) for k, v in value.items()}
    if isinstance(value, list):
        return [bind_params(v, params, convert) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(bind_params(v, params, convert) for v in value)
    return convert(value)


# ---- tensors: explicit values or a seeded recipe -------------------------------------------------

def numbers(spec: Any, where: str) -> np.ndarray:
    """Explicit (nested) numbers as float64; anything else -- strings, bools, null, ragged -- is refused."""
    return _numeric(spec, where).astype(np.float64)


def _numeric(spec: Any, where: str) -> np.ndarray:
    """``spec`` as NumPy reads it, when it is (nested) numbers; what ``numbers`` refuses, refused."""
    try:
        a = np.asarray(spec)
    except (TypeError, ValueError):
        raise CaseFormatError(f"{where}: values must be numbers in a (nested) list of one shape") from None
    if a.dtype.kind not in "iuf":
        raise CaseFormatError(f"{where}: values must be numbers, got {_what(a)}")
    if isinstance(spec, list) and _holds_bool(spec):  # NumPy reads [true, 2.0] as floats
        raise CaseFormatError(f"{where}: values must be numbers, got a boolean among them")
    if a.ndim > MAX_NDIM:
        raise CaseFormatError(f"{where}: {a.ndim} dimensions; at most {MAX_NDIM}")
    return a


def _holds_bool(spec: list[Any]) -> bool:
    for x in spec:  # exact types: JSON gives bool, list, float, int (this runs for every array of a case)
        t = type(x)
        if t is bool or (t is list and _holds_bool(x)):
            return True
    return False


def _what(a: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "O": "mixed or non-numeric values"}.get(a.dtype.kind, str(a.dtype))


def materialize(spec: Any, shape: Sequence[int], where: str) -> np.ndarray:
    """Explicit nested values, or ``{"$random": {"seed", "scale"}}`` for big tensors."""
    shape = tuple(shape)
    if isinstance(spec, dict):
        seed_, scale = check_random(spec, where)
        rng = np.random.default_rng(seed_)
        return rng.standard_normal(shape) * scale
    a = numbers(spec, where)
    if a.shape != shape:
        try:
            a = a.reshape(shape)
        except ValueError:
            raise CaseFormatError(f"{where}: {a.size} values do not fit shape {list(shape)}") from None
    return a


def check_random(spec: Mapping[str, Any], where: str) -> tuple[int, float]:
    """A ``{"$random": {"seed": int >= 0, "scale": finite number}}`` recipe -> (seed, scale)."""
    r = spec.get("$random")
    if set(spec) != {"$random"} or not isinstance(r, dict) or not set(r) <= {"seed", "scale"}:
        raise CaseFormatError(f"{where}: a recipe is {{\"$random\": {{\"seed\": int, \"scale\": number}}}}")
    seed_, scale = r.get("seed", 0), r.get("scale", 1.0)
    if not _is_int(seed_) or not 0 <= seed_ < 2**63:
        raise CaseFormatError(f"{where}: $random seed must be an int in [0, 2**63), got {seed_!r}")
    if not _is_real(scale) or not math.isfinite(scale):
        raise CaseFormatError(f"{where}: $random scale must be a finite number, got {scale!r}")
    return int(seed_), float(scale)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---- schedules: names and arguments a case may give --------------------------------------------
# (kind, required?) per argument; kinds: "real" a finite number, "count" an int >= 1, "bool", and
# for piecewise_constant_lr "milestones" (increasing ints >= 1) and "reals" (finite numbers).
_DECAY = {"learning_rate": ("real", True), "decay_rate": ("real", True), "decay_steps": ("count", True),
          "is_stair": ("bool", False)}
_EPOCHS = {"total_step": ("count", True), "step_per_epoch": ("count", True), "decay_epoch": ("count", True)}
SCHEDULE_ARGS: dict[str, dict[str, tuple[str, bool]]] = {
    "ExponentialDecayLR": _DECAY, "NaturalExpDecayLR": _DECAY, "InverseDecayLR": _DECAY,
    "CosineDecayLR": {"min_lr": ("real", True), "max_lr": ("real", True), "decay_steps": ("count", True)},
    "PolynomialDecayLR": {"learning_rate": ("real", True), "end_learning_rate": ("real", True),
                          "decay_steps": ("count", True), "power": ("positive", True),
                          "update_decay_steps": ("bool", False)},
    "WarmUpLR": {"learning_rate": ("real", True), "warmup_steps": ("count", True)},
}
DYNAMIC_LR_ARGS: dict[str, dict[str, tuple[str, bool]]] = {
    "piecewise_constant_lr": {"milestone": ("milestones", True), "learning_rates": ("reals", True)},
    "exponential_decay_lr": {"learning_rate": ("real", True), "decay_rate": ("real", True), **_EPOCHS,
                             "is_stair": ("bool", False)},
    "natural_exp_decay_lr": {"learning_rate": ("real", True), "decay_rate": ("real", True), **_EPOCHS,
                             "is_stair": ("bool", False)},
    "inverse_decay_lr": {"learning_rate": ("real", True), "decay_rate": ("real", True), **_EPOCHS,
                         "is_stair": ("bool", False)},
    "cosine_decay_lr": {"min_lr": ("real", True), "max_lr": ("real", True), **_EPOCHS},
    "polynomial_decay_lr": {"learning_rate": ("real", True), "end_learning_rate": ("real", True), **_EPOCHS,
                            "power": ("positive", True), "update_decay_epoch": ("bool", False)},
    "warmup_lr": {"learning_rate": ("real", True), "total_step": ("count", True), "step_per_epoch": ("count", True),
                  "warmup_epoch": ("count", True)},
}


def _arg_ok(kind: str, v: Any) -> bool:
    if kind == "real":
        return _is_real(v) and math.isfinite(v)
    if kind == "positive":
        return _is_real(v) and math.isfinite(v) and v > 0
    if kind == "count":
        return _is_int(v) and 1 <= v <= MAX_STEPS
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "reals":
        return isinstance(v, list) and bool(v) and all(_arg_ok("real", x) for x in v)
    return (isinstance(v, list) and bool(v) and all(_arg_ok("count", x) for x in v)
            and all(a < b for a, b in itertools.pairwise(v)))


def check_schedule(tag: str, name: Any, args: Any, where: str) -> None:
    """A ``$schedule`` / ``$dynamic_lr`` names a known one and gives exactly its arguments, well typed."""
    table = SCHEDULE_ARGS if tag == "$schedule" else DYNAMIC_LR_ARGS
    if not isinstance(name, str) or name not in table:
        raise CaseFormatError(f"{where}: unknown {tag[1:]} {name!r}; known: {', '.join(table)}")
    if not isinstance(args, dict):
        raise CaseFormatError(f"{where}: {name} args must be an object")
    spec = table[name]
    unknown = sorted(set(args) - set(spec))
    missing = sorted(k for k, (_, req) in spec.items() if req and k not in args)
    if unknown or missing:
        raise CaseFormatError(f"{where}: {name} args: unknown {unknown}, missing {missing}; takes {list(spec)}")
    for k, v in args.items():
        if not _arg_ok(spec[k][0], v):
            raise CaseFormatError(f"{where}: {name} argument {k}={_short(v)} is not a valid {spec[k][0]} "
                                  f"(counts are ints in [1, {MAX_STEPS}])")
    if name == "piecewise_constant_lr" and len(args["milestone"]) != len(args["learning_rates"]):
        raise CaseFormatError(f"{where}: piecewise_constant_lr needs as many learning_rates as milestones")


def dynamic_lr_length(value: DynamicLRValue) -> int:
    """How many values an ``nn.dynamic_lr`` builder returns (from its validated arguments)."""
    if value.name == "piecewise_constant_lr":
        return int(value.args["milestone"][-1])
    return int(value.args["total_step"])


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


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

    @functools.cached_property
    def id(self) -> str:  # a content hash; computed once (a case is frozen, and nothing edits its lists)
        return _case_id(self.family, json.dumps(self.payload(), sort_keys=True, separators=(",", ":"),
                                                allow_nan=False))

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
# Limits: a case is refused before anything is allocated for it when it exceeds one of these
# (docs/case-format.md). They bound what one case can cost the gate, reference and error model
# included (the trajectory holds w, m, v and g after every step: about 4 x MAX_ELEMENTS float64).
MAX_FILE_BYTES = 64 * 2**20  # a case file on disk
MAX_DEPTH = 64  # JSON nesting
MAX_NDIM = 32  # dimensions of a parameter or tensor (NumPy 1.x's limit)
MAX_ELEMENTS = 4_000_000  # parameter elements + gradient elements over all steps + lr sequence lengths
MAX_STEPS = 100_000  # updates (and counts inside schedules)
MAX_PARAMS = 10_000  # named parameters


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise CaseFormatError(msg)


def check_plain(d: Any, source: str) -> Any:
    """JSON data only: finite numbers, UTF-8-encodable strings; argument fields at most MAX_DEPTH deep.

    The whole object goes through the C JSON encoder (fast; it refuses NaN/inf, non-JSON types and
    runaway nesting); the fields later code recurses into (hyper, groups, params_arg) are walked
    iteratively for depth and integer range. Tensor values need no walk: NumPy reads them and
    ``numbers`` refuses what is not a numeric array. Returns ``d``, or a copy with non-finite floats
    of the argument fields canonicalized (``canonical``).
    """
    if not _encodes(d, source) and isinstance(d, dict):
        try:
            d = {k: canonical(v) if k in ARGUMENT_FIELDS else v for k, v in d.items()}
        except RecursionError:
            raise CaseFormatError(f"{source}: nested far deeper than {MAX_DEPTH} levels") from None
        _require(_encodes(d, source), f"{source}: a non-finite number; write {{\"$float\": \"nan\"}} (or "
                                      "\"inf\", \"-inf\") for a non-finite hyperparameter")
    _require(isinstance(d, dict) or _encodes(d, source), f"{source}: a non-finite number")
    _walk_fields(d, source)
    return d


def _encodes(d: Any, source: str) -> bool:
    """True when ``d`` is JSON data; False when only a non-finite float keeps it from being so."""
    try:
        json.dumps(d, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise CaseFormatError(f"{source}: nested far deeper than {MAX_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise CaseFormatError(f"{source}: a string holds an unpaired surrogate (not UTF-8)") from None
    except ValueError:
        return False
    except TypeError as e:
        raise CaseFormatError(f"{source}: not JSON data ({str(e).splitlines()[0][:80]})") from None
    return True


ARGUMENT_FIELDS = ("hyper", "groups", "params_arg")


def canonical(value: Any) -> Any:
    """A Python non-finite float in an argument field is its ``{"$float": ...}`` tag (the only JSON for it).

    Python callers (and wires that decode the tag) may hand ``from_json`` real ``inf``/``nan``
    hyperparameters; JSON text cannot carry them (``decode_text`` refuses the literals).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _walk_fields(d: Any, source: str) -> None:
    if isinstance(d, dict):
        for key in (*ARGUMENT_FIELDS, "clauses", "params"):
            _walk(d.get(key), source, key)


def _walk(obj: Any, source: str, path: str) -> None:
    """Depth and integer range of one field, iteratively (a deep object must not hit the recursion limit)."""
    stack: list[tuple[Any, int, str]] = [(obj, 2, path)]
    while stack:
        obj, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise CaseFormatError(f"{source}: nested deeper than {MAX_DEPTH} levels at {path}")
        if isinstance(obj, dict):
            stack.extend((v, depth + 1, f"{path}.{k}") for k, v in obj.items() if k != "values")
        elif isinstance(obj, list):
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(obj))
        elif _is_int(obj):
            if not -(2**63) <= obj < 2**63:
                raise CaseFormatError(f"{source}: {path}: integer out of range (|x| < 2**63)")


def _shape(p: dict[str, Any], i: int, source: str) -> tuple[int, ...]:
    shape = p.get("shape")
    if not (isinstance(shape, list) and all(_is_int(s) and s >= 0 for s in shape)):
        raise CaseFormatError(f"{source}: params[{i}].shape must be a list of non-negative ints")
    if len(shape) > MAX_NDIM:
        raise CaseFormatError(f"{source}: params[{i}].shape has {len(shape)} dimensions; at most {MAX_NDIM}")
    if not (all(s <= MAX_ELEMENTS for s in shape) and math.prod(shape) <= MAX_ELEMENTS):
        raise CaseFormatError(f"{source}: params[{i}].shape {shape} has {math.prod(shape)} elements; "
                              f"at most {MAX_ELEMENTS}")
    return tuple(shape)


def _param_specs(params: Any, source: str) -> list[ParamSpec]:
    if not isinstance(params, list):
        raise CaseFormatError(f"{source}: 'params' must be a list")
    if len(params) > MAX_PARAMS:
        raise CaseFormatError(f"{source}: {len(params)} parameters; at most {MAX_PARAMS}")
    specs: list[ParamSpec] = []
    for i, p in enumerate(params):
        if not (isinstance(p, dict) and isinstance(p.get("name"), str)):
            raise CaseFormatError(f"{source}: params[{i}] needs a string 'name'")
        if p["name"] in {s.name for s in specs}:
            raise CaseFormatError(f"{source}: params[{i}]: name {p['name']!r} is repeated")
        if "values" not in p:
            raise CaseFormatError(f"{source}: params[{i}] needs 'values'")
        specs.append(ParamSpec(p["name"], _shape(p, i, source), p["values"]))
    return specs


def _grad_elements(step: Any, t: int, shapes: Mapping[str, tuple[int, ...]], source: str) -> int:
    """Validate the form of one step's gradients; their element count (nothing allocated)."""
    if not (isinstance(step, dict) and set(step) == set(shapes)):
        raise CaseFormatError(f"{source}: grads[{t}] must give a gradient for every parameter {sorted(shapes)}")
    total = 0
    for n, g in step.items():
        where = f"{source}: grads[{t}][{n}]"
        if not (isinstance(g, dict) and len(g) == 1 and ("dense" in g or "sparse" in g)):
            raise CaseFormatError(f"{where} must be {{'dense': ...}} or {{'sparse': ...}}")
        if "dense" in g:
            total += math.prod(shapes[n])
            continue
        sp = g["sparse"]
        if not (isinstance(sp, dict) and set(sp) == {"indices", "values"}):
            raise CaseFormatError(f"{where}: sparse is {{'indices': [...], 'values': ...}}")
        if len(shapes[n]) < 1:
            raise CaseFormatError(f"{where}: a 0-d parameter has no rows for a sparse gradient")
        idx, rows = sp["indices"], shapes[n][0]
        if not (isinstance(idx, list) and all(_is_int(i) and 0 <= i < rows for i in idx)):
            raise CaseFormatError(f"{where}: sparse indices must be a flat list of ints in [0, {rows})")
        total += len(idx) * math.prod(shapes[n][1:])
    return total


def _lr_length(value: Any) -> int | None:
    """Values in a sequence learning rate (None for a fixed one or a schedule)."""
    if isinstance(value, DynamicLRValue):
        return dynamic_lr_length(value)
    if isinstance(value, TensorValue):
        return int(value.values.size) if value.values.ndim == 1 else None
    if isinstance(value, IterValue):
        return len(value.items)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return len(value)
    return None


def _check_groups(groups: list[Any], names: set[str], source: str) -> list[Any]:
    """The ``groups`` field holds well-formed dicts naming the case's parameters; their decoded lrs."""
    lrs = []
    for k, g in enumerate(groups):
        where = f"{source}: groups[{k}]"
        _require(isinstance(g, dict) and set(g) <= set(GROUP_KEYS), f"{where} must be a dict with keys in "
                                                                    f"{list(GROUP_KEYS)}")
        key = "order_params" if "order_params" in g else "params"
        _require(key in g and (key == "params" or len(g) == 1),
                 f"{where} needs 'params' (or holds 'order_params' alone)")
        members = g[key]
        _require(isinstance(members, list) and all(isinstance(m, str) for m in members) and set(members) <= names,
                 f"{where}.{key} must list names of the case's parameters")
        values = {v: decode_value(g[v], f"{where}.{v}") for v in ("lr", "weight_decay", "grad_centralization")
                  if v in g}
        lrs += [values["lr"]] if "lr" in values else []
    return lrs


def _case_id(family: str, canonical: str) -> str:
    """A case's ID from its family and its payload's canonical JSON (sorted keys, no spaces)."""
    return f"{family}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def _plain(d: Any, source: str) -> tuple[Any, str | None]:
    """``check_plain(d, source)``, and, when it cost no extra pass, the canonical text of the payload
    the case built from ``d`` will have if ``from_json`` accepts ``d`` (the text ``Case.id`` hashes),
    else None.

    ``check_plain`` encodes all of ``d`` to see that it is JSON data, and ``Case.id`` encodes its
    payload again -- mostly the same numbers, and formatting numbers is most of what both cost. So
    ``d`` is encoded once, as two objects: the fields the payload takes from ``d`` (with the defaults
    ``from_json`` gives absent ones), canonically, and the rest (``id``, ``title``, anything else).
    When both encode, ``d`` is JSON data (a string with a surrogate escape is left to
    ``check_plain``'s own UTF-8 check), so ``check_plain`` would return ``d`` after its walk of the
    fields; the walk is done here. Anything else -- not an object, a non-finite number, a type JSON
    has no form for, keys that do not sort -- goes to ``check_plain`` itself, which says what is
    wrong exactly as it always did (and no text is returned). A parameter entry with keys besides
    name, shape and values (which ``payload()`` drops) also gives no text."""
    if type(d) is not dict:
        return check_plain(d, source), None
    payload = {"format": d.get("format"), "kind": d.get("kind", "steps"), "clauses": d.get("clauses"),
               "dtype": d.get("dtype"), "params": d.get("params"), "hyper": d.get("hyper", {}),
               "groups": d.get("groups"), "grads": d.get("grads", [])}
    if d.get("params_arg") is not None:
        payload["params_arg"] = d["params_arg"]
    rest = {k: v for k, v in d.items() if k not in payload}
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        other = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return check_plain(d, source), None
    if "\\ud" in text or "\\ud" in other:  # a surrogate's escape (or a backslash, then "ud")
        return check_plain(d, source), None
    _walk_fields(d, source)
    params = payload["params"]  # an accepted entry holds name, shape and values: three keys, or more
    exact = type(params) is list and all(type(p) is dict and len(p) == 3 for p in params)
    return d, text if exact else None


def _check_tensors(case: Case, source: str = "case") -> None:
    """What ``case.param_values()`` and ``case.gradients(t)`` for every step refuse, refused in the same
    order with the same messages, without making the float64 arrays they return: every value NumPy
    reads as numbers of at most MAX_NDIM dimensions, as many as its shape holds (a recipe: well formed)."""
    shapes = {p.name: p.shape for p in case.params}

    def check(spec: Any, shape: tuple[int, ...], where: str) -> None:  # materialize's checks
        if isinstance(spec, dict):
            check_random(spec, where)
            return
        a = _numeric(spec, where)
        if a.shape != shape and a.size != math.prod(shape):  # reshape fails exactly when sizes differ
            raise CaseFormatError(f"{where}: {a.size} values do not fit shape {list(shape)}")

    for p in case.params:
        check(p.values, p.shape, f"{source}: params[{p.name}]")
    for step, grads in enumerate(case.grads):
        for name, g in grads.items():
            where = f"{source}: grads[{step}][{name}]"
            if "sparse" in g:  # indices: a flat list of valid rows (checked by _grad_elements)
                s = g["sparse"]
                check(s["values"], (len(s["indices"]), *shapes[name][1:]), where)
            else:
                check(g["dense"], shapes[name], where)


# Outside the content (the id does not cover them): "note", free text for people; "shrunk_from", the ID
# of the case a shrunk failure file was cut down from.
CASE_FIELDS = ("format", "id", "title", "kind", "clauses", "dtype", "params", "hyper", "groups", "params_arg",
               "grads", "note", "shrunk_from")


def from_json(d: Any, source: str = "case") -> Case:
    """Validate and build a Case; every problem is one ``CaseFormatError`` line naming the field.

    Sizes are checked before any tensor is allocated (MAX_* above).
    """
    d, canonical = _plain(d, source)
    if not isinstance(d, dict):
        raise CaseFormatError(f"{source}: a case is a JSON object")
    if d.get("format") != FORMAT:
        raise CaseFormatError(f"{source}: 'format' must be {FORMAT!r}, got {_short(d.get('format'))}")
    extra = [k for k in d if k not in CASE_FIELDS]
    if extra:  # a misspelt field would be ignored silently: 'hyperparams' for 'hyper' runs the defaults
        raise CaseFormatError(f"{source}: unknown field(s) {_short(extra)}; a case has {', '.join(CASE_FIELDS)} "
                              "(docs/case-format.md)")
    kind = d.get("kind", "steps")
    if kind not in KINDS:
        raise CaseFormatError(f"{source}: 'kind' must be one of {KINDS}, got {_short(kind)}")
    clauses = d.get("clauses")
    if not (isinstance(clauses, list) and clauses and all(isinstance(c, str) for c in clauses)):
        raise CaseFormatError(f"{source}: 'clauses' must be a non-empty list of clause IDs")
    unknown = [c for c in clauses if c not in BY_ID]
    if unknown:
        raise CaseFormatError(f"{source}: unknown clause ID(s) {_short(unknown)}; see `adam-conformance clauses`")
    dtype = d.get("dtype")
    if not (isinstance(dtype, str) and dtype in FORMATS):
        raise CaseFormatError(f"{source}: 'dtype' must be one of {list(FORMATS)}, got {_short(dtype)}")
    specs = _param_specs(d.get("params"), source)
    shapes = {s.name: s.shape for s in specs}
    hyper = d.get("hyper", {})
    if not isinstance(hyper, dict):
        raise CaseFormatError(f"{source}: 'hyper' must be an object")
    bad = [k for k in hyper if k not in HYPER_KEYS]
    if bad:
        raise CaseFormatError(f"{source}: unknown hyperparameter(s) {_short(bad)}; allowed: {list(HYPER_KEYS)}")
    decoded = {k: decode_value(v, f"{source}: hyper.{k}") for k, v in hyper.items()}
    lrs = [decoded["learning_rate"]] if "learning_rate" in decoded else []
    groups = d.get("groups")
    if groups is not None and not isinstance(groups, list):
        raise CaseFormatError(f"{source}: 'groups' must be a list or null")
    if groups is not None:
        lrs += _check_groups(groups, set(shapes), source)
    if d.get("params_arg") is not None:
        refs = _param_refs(decode_value(d["params_arg"], f"{source}: params_arg"))
        if not refs <= set(shapes):
            raise CaseFormatError(f"{source}: params_arg names parameters the case does not define: "
                                  f"{_short(sorted(refs - set(shapes)))}")
    grads = d.get("grads", [])
    if not isinstance(grads, list):
        raise CaseFormatError(f"{source}: 'grads' must be a list (one object per step)")
    if len(grads) > MAX_STEPS:
        raise CaseFormatError(f"{source}: {len(grads)} steps; at most {MAX_STEPS}")
    if kind == "steps" and not grads:
        raise CaseFormatError(f"{source}: a 'steps' case needs at least one step in 'grads' (a case that only "
                              "constructs is kind 'construct')")
    total = sum(math.prod(s.shape) for s in specs)
    total += sum(_grad_elements(step, t, shapes, source) for t, step in enumerate(grads))
    for lr in lrs:
        n = _lr_length(lr)
        total += n or 0
        if kind == "steps" and n is not None and n < len(grads):
            raise CaseFormatError(f"{source}: a learning-rate sequence has {n} values for {len(grads)} steps")
    if total > MAX_ELEMENTS:
        raise CaseFormatError(f"{source}: {total} elements in parameters, gradients and learning rates; "
                              f"at most {MAX_ELEMENTS}")
    case = Case(tuple(clauses), dtype, tuple(specs), kind, hyper, None if groups is None else tuple(groups),
                d.get("params_arg"), tuple(grads), str(d.get("title", "")))
    _check_tensors(case, source)
    if canonical is not None:  # what Case.id computes, from the same text
        case.__dict__["id"] = _case_id(case.family, canonical)
    if "id" in d and d["id"] != case.id:
        raise CaseFormatError(f"{source}: 'id' {_short(d['id'])} does not match the content ({case.id}); "
                              "the file was edited -- delete the 'id' field to accept the edit")
    return case


def trusted(d: dict[str, Any]) -> Case:
    """The Case of JSON that ``Case.to_json`` wrote and this package already validated -- a worker's request
    from its gate -- built without checking it again (``from_json`` is for anything read from outside).

    >>> case = load("reports/cases/DEC-c8f1d382bbfc.json")
    >>> c = trusted(case.to_json())
    >>> c == case, c.id == case.id
    (True, True)
    """
    groups = d.get("groups")
    case = Case(tuple(d["clauses"]), d["dtype"],
                tuple(ParamSpec(p["name"], tuple(p["shape"]), p["values"]) for p in d["params"]),
                d.get("kind", "steps"), d.get("hyper", {}), None if groups is None else tuple(groups),
                d.get("params_arg"), tuple(d.get("grads", [])), str(d.get("title", "")))
    if "id" in d:
        case.__dict__["id"] = d["id"]
    return case


def _param_refs(value: Any) -> set[str]:
    """Names of every ``ParamRef`` inside a decoded value."""
    if isinstance(value, ParamRef):
        return {value.name}
    if isinstance(value, IterValue):
        value = value.items
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)) and not isinstance(value, (TensorValue, ScheduleValue, DynamicLRValue)):
        return set().union(*(_param_refs(v) for v in value)) if value else set()
    return set()


def _refuse_constant(name: str) -> Any:
    raise CaseFormatError(f"JSON has no {name}: write {{\"$float\": \"{_CONSTANTS[name]}\"}} for a non-finite value")


_CONSTANTS = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose key repeats has two readings (the last silently wins): refused."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CaseFormatError(f"key {k!r} appears twice in one object")
        out[k] = v
    return out


def decode_text(raw: bytes, source: str) -> Any:
    """UTF-8 JSON bytes -> data; NaN/Infinity literals, other encodings and runaway nesting refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) >= 2 and b"\x00" in raw[:4]):
        raise CaseFormatError(f"{source}: the file looks like UTF-16 or UTF-32; case files are UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CaseFormatError(f"{source}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except CaseFormatError as e:
        raise CaseFormatError(f"{source}: {e}") from None
    except json.JSONDecodeError as e:
        raise CaseFormatError(f"{source}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise CaseFormatError(f"{source}: JSON nested far deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # e.g. an integer literal of thousands of digits
        raise CaseFormatError(f"{source}: not valid JSON ({str(e).splitlines()[0][:120]})") from None


def load(path: str | Path) -> Case:
    """Read one case file; a missing, unreadable, oversized or malformed file is one ``CaseFormatError`` line."""
    if not isinstance(path, (str, os.PathLike)):
        raise CaseFormatError(f"a case file is named by a path (str or Path), got {type(path).__name__}")
    p = Path(path)
    try:
        size = p.stat().st_size
        _require(p.is_file(), f"{path}: not a regular file")
        _require(size <= MAX_FILE_BYTES, f"{path}: {size} bytes; a case file holds at most {MAX_FILE_BYTES}")
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise CaseFormatError(f"{path}: cannot read case file ({e.strerror})") from None
    _require(len(raw) <= MAX_FILE_BYTES, f"{path}: more than {MAX_FILE_BYTES} bytes")
    return from_json(decode_text(raw, str(path)), str(path))

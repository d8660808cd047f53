"""``mindspore.nn.Adam`` driven as a user drives it: Parameters, a gradient tuple, ``opt(grads)``.

Two adapters: ``mindspore`` (the default sparse path) and ``mindspore-target-cpu`` (``opt.target =
'CPU'`` after construction, which routes sparse gradients to FusedSparseAdam). Both run dense cases.

Speed: ``nn.Adam.construct`` is ``@jit``; MindSpore keys a compiled graph on the optimizer object
(its id and create time) and the arguments' shapes, so a new optimizer per case means a new compile
(~40 ms) while a step of a compiled one costs ~0.5 ms. Every case still constructs a fresh ``nn.Adam``
(validation and the initial state are MindSpore's own), but when an earlier case built an optimizer of
the same *structure* -- same Parameter names/shapes/dtypes and the same graph constants (flags, decay
and scaling branches, schedule constants ...), read off the fresh object itself -- the fresh
optimizer's Parameters (weights, moments, beta powers, global step, learning-rate Parameters) are
copied in place into the compiled one, which then runs the case.

Held hyperparameters: nn.Adam keeps beta1, beta2, eps, weight decay (already times loss scale) and
1/loss_scale as float32 scalar Tensors, which a graph bakes in as constants (assigning into such a
Tensor after a compile changes nothing the graph reads). So the optimizer that is kept for reuse holds
them as float32 scalar Parameters instead, of the same dtype and value, and each case's fresh values
are copied into them; the key records only that they are held (a tuple's length for per-group decay),
and every branch they select (``exec_weight_decay``, ``decay_flags``, ``need_scale``) stays in the key.
The kernels read the same float32 values either way: tests compare reused against fresh optimizers
bitwise on dense (float32, float16; decayed, scaled, grouped, nesterov) and sparse (float32, float64;
both targets) cases. The one path where it is not exact -- the default target's sparse nesterov branch,
whose result depends on kernel order -- keeps every value in the key (``_relaxable``).

Sparse gradients exist only inside a graph: they are built as ``RowTensorInner(indices, values,
dense_shape)`` -- the object MindSpore's own SparseGatherV2 backward produces -- in a small ``@jit``
Cell that then calls the optimizer, with duplicates and order exactly as the case gives them. A reused
optimizer's feeder declares the row count dynamic (``set_inputs`` with ``None`` rows), so cases and
steps with different index counts share one compile; a test checks it bitwise against static shapes.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.cases import (
    Case,
    DynamicLRValue,
    IterValue,
    ScheduleValue,
    SparseGrad,
    TensorValue,
)

from .base import Adapter, AdapterInfo, Outcome, Raised, Ran, StepState, cpu_device, exception_name, raised

_PROBE_DTYPES = ("float64", "float32", "float16", "bfloat16")
_CACHE_MAX = 256  # compiled optimizers kept; each holds a small graph
# Bookkeeping attributes of a Cell that change per object and never reach the graph as constants.
_SKIP_ATTRS = frozenset({
    "_create_time", "_id", "init_params", "init_args", "init_learning_rate", "_exist_objs", "_exist_names",
    "_compile_cache", "_phase_cache", "arguments_key", "_compiled", "_jit_graph_name", "_compile_phase",
    "_mutable_flags", "__parse_method__", "phase_cache", "_params", "_cells", "_params_list",
    "_lazy_user_parameters", "_user_parameters",
})
# Float32 scalar Tensors of the optimizer cell that its graph reads as values: a reused optimizer holds
# them as Parameters (same dtype, shape and value), so only their dtype and shape are structure.
_HELD = ("beta1", "beta2", "eps", "weight_decay", "reciprocal_scale")
# Read only while the optimizer is built (weight_decay and reciprocal_scale carry their effect, need_scale
# and decay_flags the branches they pick): their type is structure, their value is not.
_BUILD_ONLY = frozenset({"loss_scale", "group_weight_decay"})
_HELD_PREFIX = "adapter_held."

_MS: Any = None


def _quiet_env() -> None:
    """Environment MindSpore reads once, at its import: set here (importing this module is cheap) too,
    so it holds even when something imports mindspore before the first ``_ms()``.

    GLOG_v=4 silences even the ERROR lines MindSpore logs for an exception it then raises (the adapter
    reports those); a failed compile writes rank_0/om/analyze_fail.ir under MS_OM_PATH (default: the
    current directory) -- keep it out of the user's tree.
    """
    os.environ.setdefault("GLOG_v", "4")
    os.environ.setdefault("MS_OM_PATH", os.path.join(tempfile.gettempdir(), "adam-conformance-mindspore"))


_quiet_env()


def _ms() -> Any:
    """Import MindSpore once, quietly, in PyNative mode on CPU."""
    global _MS
    if _MS is None:
        _quiet_env()
        import mindspore as ms

        # Synchronous PyNative: for tiny tensors the async op pipeline's thread hand-offs cost ~4x
        # the work itself (measured 24 ms vs 5.5 ms per reused 3-step case); results are identical.
        ms.set_context(mode=ms.PYNATIVE_MODE, pynative_synchronize=True)
        try:
            ms.set_device("CPU")
        except (AttributeError, RuntimeError, ValueError):
            ms.set_context(device_target="CPU")
        _MS = ms
    return _MS


def _ms_dtype(name: str) -> Any:
    ms = _ms()
    return {"float64": ms.float64, "float32": ms.float32, "float16": ms.float16, "bfloat16": ms.bfloat16}[name]


def _dtype_name(dt: Any) -> str:
    ms = _ms()
    names = {ms.float64: "float64", ms.float32: "float32", ms.float16: "float16", ms.bfloat16: "bfloat16"}
    return names.get(dt, str(dt).lower())


def _tensor(values: np.ndarray, dtype: str) -> Any:
    """A MindSpore tensor holding ``values`` (exactly representable in ``dtype``)."""
    ms = _ms()
    if dtype == "bfloat16":  # no NumPy bfloat16 in MindSpore's converter: go through float32 (exact)
        return ms.Tensor(np.asarray(values, np.float32), dtype=ms.bfloat16)
    return ms.Tensor(np.asarray(values, dtype=np.dtype(dtype)))


def _parameter(values: np.ndarray, dtype: str, name: str) -> Any:
    """A MindSpore Parameter of ``dtype`` holding ``values`` (exactly representable in it).

    A bfloat16 Parameter is built in float32 and then given its dtype with ``set_dtype``, as MindSpore's
    own message advises: ``Parameter(bfloat16 Tensor)`` copies its data through NumPy, and MindSpore has
    no NumPy bfloat16 when NumPy's major version differs from the one it was built with (2.10.0 with
    NumPy 2: ``TypeError: The Numpy bfloat16 data type is not supported now``). The values are bfloat16
    already, so the widening and the narrowing are both exact.
    """
    ms = _ms()
    if dtype == "bfloat16":
        p = ms.Parameter(ms.Tensor(np.asarray(values, np.float32)), name=name)
        p.set_dtype(ms.bfloat16)
        return p
    return ms.Parameter(_tensor(values, dtype), name=name)


def _no_numpy_bfloat16() -> str:
    """Why this MindSpore cannot hold bfloat16 Parameters in an optimizer ("" when it can).

    ``nn.Adam`` builds its moments with ``Parameter.clone``, which copies the data through NumPy; a
    MindSpore whose NumPy bfloat16 support does not match the NumPy installed (2.10.0 built for NumPy 1,
    run with NumPy 2) raises ``TypeError`` there for every bfloat16 Parameter, before the optimizer
    exists. That is the environment, not the optimizer, so the adapter then does not declare bfloat16 and
    says why; the check converts a bare Tensor and never touches ``nn.Adam``.
    """
    ms = _ms()
    try:
        ms.Tensor(np.zeros((1,), np.float32), dtype=ms.bfloat16).asnumpy()
    except TypeError as e:
        first = (str(e).strip().splitlines() or [""])[0].split(",")[0].strip()
        said = f": {first[:100]}" if first else ""
        return (f"MindSpore {ms.__version__} cannot copy bfloat16 through NumPy {np.__version__} here (Tensor.asnumpy "
                f"raised TypeError{said}), and nn.Adam copies every Parameter through NumPy to build its moments")
    return ""


def _to_f64(t: Any) -> np.ndarray:
    """A float64 NumPy copy of a MindSpore tensor (half types widened exactly through float32)."""
    ms = _ms()
    if t.dtype in (ms.bfloat16, ms.float16):
        t = t.astype(ms.float32)
    return np.array(t.asnumpy(), dtype=np.float64, copy=True)


def _raised(exc: BaseException, stage: str, step: int | None = None) -> Raised:
    """``raised`` with the first informative line: MindSpore messages often open with a rule of dashes
    and a section header ("- Kernel select failed:") before the actual sentence."""
    for line in str(exc).splitlines():
        text = line.strip()
        if not text or set(text) <= {"-"} or (text.startswith("- ") and text.endswith(":")):
            continue
        return Raised(exception_name(exc), text[:500], stage, step)
    return raised(exc, stage, step)


def _compile_count() -> int:
    """Phases MindSpore has compiled in this process (its own jit cache, one entry per compile)."""
    from mindspore.graph import api

    return len(api.ms_compile_cache)


# ---- case -> MindSpore arguments -------------------------------------------------------------------

def _lr_arg(value: Any) -> Any:
    """A case learning-rate value as the MindSpore object a user would pass."""
    ms = _ms()
    if isinstance(value, TensorValue):
        return ms.Tensor(np.asarray(value.values, dtype=np.float32))
    if isinstance(value, ScheduleValue):
        return getattr(ms.nn, value.name)(**dict(value.args))
    if isinstance(value, DynamicLRValue):
        return getattr(ms.nn.dynamic_lr, value.name)(**dict(value.args))
    return value


def _value(value: Any) -> Any:
    """Any case value as a MindSpore user passes it: tensors as ``ms.Tensor`` (a Tensor beta too: MindSpore
    judges it), ``$iter`` as a one-shot iterator handed over itself, schedules and dynamic_lr as MindSpore's."""
    if isinstance(value, IterValue):
        return iter([_value(v) for v in value.items])
    return _lr_arg(value)


def _params_arg(case: Case, params: Mapping[str, Any]) -> Any:
    return case.params_argument(params, _lr_arg)  # $iter, $none, $tuple are mapped by bind_params


def _kwargs(case: Case) -> dict[str, Any]:
    return {k: _value(v) for k, v in case.hyperparameters().items()}


# ---- structure key: what a compiled graph bakes in ------------------------------------------------

def _plain(v: Any) -> Any:
    """A hashable stand-in for an attribute value that may become a graph constant."""
    ms = _ms()
    if v is None or isinstance(v, (bool, int, float, str)):
        return (type(v).__name__, repr(v))
    if isinstance(v, ms.Parameter):
        return ("P", v.name)
    if isinstance(v, ms.Tensor):
        a = v.astype(ms.float32) if v.dtype == ms.bfloat16 else v
        return ("T", str(v.dtype), tuple(v.shape), a.asnumpy().tobytes())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_plain(x) for x in v))
    if isinstance(v, ms.nn.Cell):
        return ("Cell", type(v).__name__)
    if isinstance(v, ms.ops.Primitive):
        return ("Prim", repr(v))
    return ("obj", type(v).__name__)


def _heldable(v: Any) -> bool:
    """A float32 scalar Tensor (not a Parameter) of the optimizer cell, or a tuple of only those."""
    ms = _ms()
    if isinstance(v, tuple):
        return bool(v) and all(_heldable(x) for x in v)
    return isinstance(v, ms.Tensor) and not isinstance(v, ms.Parameter) and v.dtype == ms.float32 and v.shape == ()


def _build_only(v: Any) -> Any:
    """The type of a build-time-only value, element by element (Cells and Parameters as ``_plain``)."""
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_build_only(x) for x in v))
    if isinstance(v, (bool, int, float)):
        return (type(v).__name__,)
    return _plain(v)


def _structure_key(opt: Any, hold: bool = True) -> tuple:
    """Every graph-relevant constant of a freshly built optimizer, plus its Parameter signature.

    With ``hold``, the values of the ``_HELD`` Tensors (when all of them are float32 scalars) and of the
    build-only attributes are left out: a reused optimizer takes those values from each case.
    """
    hold = hold and _holds(opt)
    items: list[Any] = []
    for cname, cell in opt.cells_and_names():
        items.append((cname, type(cell).__name__))
        for k, v in sorted(vars(cell).items()):
            if k in _SKIP_ATTRS or k.startswith("_lazy"):
                continue
            if k == "_primitives":
                items.append((k, tuple((n, repr(p)) for n, p in v.items())))
                continue
            if isinstance(v, dict):
                continue
            if hold and cname == "" and k in _HELD:
                items.append((k, ("held", len(v) if isinstance(v, tuple) else None)))
                continue
            if hold and cname == "" and k in _BUILD_ONLY:
                items.append((k, _build_only(v)))
                continue
            items.append((k, _plain(v)))
    sig = tuple((n, tuple(p.shape), str(p.dtype)) for n, p in opt.parameters_dict().items())
    return (tuple(items), sig)


def _relaxable(opt: Any, case: Case, target: str | None) -> bool:
    """Whether a reused optimizer may hold its hyperparameters as Parameters and take a dynamic row count.

    Only on the paths where that was checked to compute bitwise what a fresh optimizer computes: plain
    Adam (no use_lazy, use_offload, use_amsgrad), and not the default target's sparse nesterov branch.
    That branch reads ``next_m`` (the output of an in-place ScatterAdd on ``m``) around further
    ``F.assign``s to ``m``, so its result depends on the order MindSpore schedules the kernels in, and a
    graph that reads Parameters (and casts them) where constants were folded schedules differently
    (observed on float64 SPR-NESTEROV cases). Such cases keep every value in the key, static shapes.
    """
    if any(getattr(opt, k, False) for k in ("use_lazy", "use_offload", "use_amsgrad")):
        return False
    return not (target is None and getattr(opt, "use_nesterov", False) and any(case.is_sparse(n) for n in case.names))


def _holds(opt: Any) -> bool:
    """Whether this optimizer's ``_HELD`` values can be held as Parameters: each is a float32 scalar
    Tensor (or a tuple of them) and no Parameter of the optimizer already uses a held name."""
    if any(n.startswith(_HELD_PREFIX) for n in opt.parameters_dict()):
        return False
    return all(_heldable(getattr(opt, k, None)) for k in _HELD)


def _hold(opt: Any) -> dict[str, Any]:
    """Replace the optimizer's ``_HELD`` Tensors by float32 scalar Parameters of the same value (before its
    first compile); returns attribute -> Parameter or tuple of Parameters."""
    ms = _ms()

    def param(t: Any, name: str) -> Any:
        return ms.Parameter(ms.Tensor(t.asnumpy().copy(), ms.float32), name=name, requires_grad=False)

    held: dict[str, Any] = {}
    for k in _HELD:
        v = getattr(opt, k)
        if isinstance(v, tuple):
            held[k] = tuple(param(t, f"{_HELD_PREFIX}{k}.{i}") for i, t in enumerate(v))
        else:
            held[k] = param(v, _HELD_PREFIX + k)
        setattr(opt, k, held[k])
    return held


def _make_feeder(opt: Any, layout: tuple[tuple[bool, tuple[int, ...]], ...], dtype: str | None = None) -> Any:
    """A graph-mode Cell that builds RowTensor gradients (sparse slots) and calls the optimizer.

    With ``dtype``, its inputs are declared with a dynamic row count for the sparse slots (indices
    ``[None]``, values ``[None, *row]``) and static shapes for the dense ones: one compile serves every
    index count. Without, each new index count compiles anew (shapes as the arguments have them)."""
    ms = _ms()
    from mindspore.common import RowTensorInner

    slots = []
    k = 0
    for sparse, shape in layout:
        slots.append((sparse, shape, k, k + 1))
        k += 2 if sparse else 1

    class SparseGradStep(ms.nn.Cell):
        """forward(indices, values, ..., dense grads ...) -> opt((RowTensor | Tensor, ...))."""

        def __init__(self) -> None:
            super().__init__(auto_prefix=False)
            self.opt = opt
            self.slots = tuple(slots)

        @ms.jit
        def construct(self, *args: Any) -> Any:
            grads = ()
            for sparse, shape, i, j in self.slots:
                if sparse:
                    grads = (*grads, RowTensorInner(args[i], args[j], shape))
                else:
                    grads = (*grads, args[i])
            return self.opt(grads)

    feeder = SparseGradStep()
    if dtype is not None:
        dt = _ms_dtype(dtype)
        specs: list[Any] = []
        for sparse, shape in layout:
            if sparse:
                specs += [ms.Tensor(shape=[None], dtype=ms.int32), ms.Tensor(shape=[None, *shape[1:]], dtype=dt)]
            else:
                specs.append(ms.Tensor(shape=list(shape), dtype=dt))
        feeder.set_inputs(*specs)
    return feeder


class _Entry:
    """A compiled optimizer and the Parameters it updates, kept for cases of the same structure."""

    def __init__(self, opt: Any, params: dict[str, Any], hold: bool = False, dynamic: bool = False) -> None:
        self.opt = opt
        self.params = params
        self.state = dict(opt.parameters_dict())  # name -> Parameter, captured before any wrapping
        self.order = tuple(p.name for p in opt.parameters)
        self.feeders: dict[tuple, Any] = {}
        self.held: dict[str, Any] = _hold(opt) if hold else {}
        self.dynamic = dynamic  # sparse feeders declare a dynamic row count

    def load_from(self, fresh: Any) -> bool:
        """Copy every Parameter (and held value) of a fresh optimizer into this one; False if the names
        do not match."""
        src = dict(fresh.parameters_dict())
        if set(src) != set(self.state):
            return False
        for name, p in src.items():
            self.state[name].copy_(p.value() if hasattr(p, "value") else p)
        for k, dst in self.held.items():
            v = getattr(fresh, k)
            for d, t in zip(dst, v, strict=True) if isinstance(dst, tuple) else ((dst, v),):
                d.copy_(t)
        return True


class MindSporeAdam(Adapter):
    """``mindspore.nn.Adam`` on CPU, PyNative mode, sparse gradients through the default path."""

    name = "mindspore"
    target: str | None = None
    description = "mindspore.nn.Adam (CPU, PyNative; sparse gradients as RowTensor in a jit Cell)"

    def __init__(self, reuse: bool = True) -> None:
        self.reuse = reuse
        self._cache: OrderedDict[tuple, _Entry] = OrderedDict()
        self._compiles = 0
        self._info: AdapterInfo | None = None

    # -- protocol ----------------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            _ms()
        except ImportError:
            return False, "mindspore not installed"
        except Exception as e:  # a broken install: say why in one line
            return False, f"mindspore failed to initialise: {type(e).__name__}: {e}".splitlines()[0]
        return True, ""

    def compilations(self) -> int | None:
        return self._compiles

    def info(self) -> AdapterInfo:
        if self._info is None:
            ms = _ms()
            # Every suite dtype, by design: a dtype MindSpore cannot step is an ERROR per case (the gate
            # never reads a failing probe of the optimizer as "not declared", which would pass a broken
            # dtype as UNSUPPORTED). The one exception is not the optimizer's: see _no_numpy_bfloat16.
            missing = _no_numpy_bfloat16()
            dtypes = tuple(d for d in _PROBE_DTYPES if not (d == "bfloat16" and missing))
            notes = {"bfloat16": missing} if missing else {}
            notes |= {
                "SPR-DENSE-EQUIV": "sparse gradients are RowTensorInner(indices, values, shape) built inside a "
                                   "@jit Cell that calls the optimizer (MindSpore has no eager sparse gradient)",
            }
            if self.target:
                notes["SPR-DUPLICATES"] = f"opt.target = {self.target!r} set after construction (FusedSparseAdam)"
            self._info = AdapterInfo(
                name=self.name,
                description=self.description,
                versions={"mindspore": ms.__version__, "numpy": np.__version__},
                device=cpu_device(),
                dtypes=dtypes,
                support={},
                notes=notes,
            )
        return self._info

    def run(self, case: Case) -> Outcome:
        ms = _ms()
        try:  # a declared dtype the adapter cannot build is its ERROR, never a decline
            params = {n: _parameter(v, case.dtype, n) for n, v in case.param_values().items()}
        except (TypeError, ValueError, RuntimeError) as e:
            raise RuntimeError(f"cannot build {case.dtype} Parameters: {type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
        try:
            opt = ms.nn.Adam(_params_arg(case, params), **_kwargs(case))
            if self.target:
                opt.target = self.target
        except Exception as e:
            return _raised(e, "construct")
        if case.kind == "construct":
            return Ran([], {})
        entry = self._entry(opt, params, _relaxable(opt, case, self.target))
        return self._steps(case, entry)

    # -- internals ---------------------------------------------------------------------------------
    def _entry(self, fresh: Any, params: dict[str, Any], relax: bool) -> _Entry:
        """The compiled optimizer for this fresh one's structure (loaded with its values), or the fresh one.

        ``relax``: held hyperparameters and a dynamic row count are allowed (see ``_relaxable``); entries
        built with and without it never share a key."""
        if not self.reuse:
            return _Entry(fresh, params)
        key = (relax, _structure_key(fresh, hold=relax))
        hit = self._cache.get(key)
        if hit is not None and hit.load_from(fresh):
            self._cache.move_to_end(key)
            return hit
        entry = _Entry(fresh, params, hold=relax and _holds(fresh), dynamic=relax)
        self._cache[key] = entry
        while len(self._cache) > _CACHE_MAX:
            self._cache.popitem(last=False)
        return entry

    def _drop(self, entry: _Entry) -> None:
        for k, e in list(self._cache.items()):
            if e is entry:
                del self._cache[k]

    def _call(self, entry: _Entry, grads: Mapping[str, Any], dtype: str) -> None:
        ms = _ms()
        layout = tuple((isinstance(grads[n], SparseGrad), tuple(entry.params[n].shape)) for n in entry.order)
        before = _compile_count()
        try:
            if not any(s for s, _ in layout):
                entry.opt(tuple(_tensor(grads[n], dtype) for n in entry.order))
                return
            feeder = entry.feeders.get((layout, dtype))
            if feeder is None:  # a relaxed entry's feeder takes any index count (one compile)
                feeder = entry.feeders[(layout, dtype)] = _make_feeder(entry.opt, layout,
                                                                       dtype if entry.dynamic else None)
            args: list[Any] = []
            for n in entry.order:
                g = grads[n]
                if isinstance(g, SparseGrad):
                    args.append(ms.Tensor(np.asarray(g.indices, np.int32)))
                    args.append(_tensor(g.values, dtype))
                else:
                    args.append(_tensor(g, dtype))
            feeder(*args)
        finally:
            self._compiles += max(0, _compile_count() - before)

    def _steps(self, case: Case, entry: _Entry) -> Outcome:
        steps: list[dict[str, StepState]] = []
        m_of = {p.name[len("moment1."):]: p for p in entry.opt.moment1}
        v_of = {p.name[len("moment2."):]: p for p in entry.opt.moment2}
        names = case.names
        for i in range(case.num_steps):
            try:
                self._call(entry, case.gradients(i), case.dtype)
                state = {}
                for n in names:
                    m, v = m_of.get(n), v_of.get(n)
                    state[n] = StepState(_to_f64(entry.params[n]), None if m is None else _to_f64(m),
                                         None if v is None else _to_f64(v))
            except Exception as e:
                self._drop(entry)  # never reuse an optimizer whose step failed part-way
                return _raised(e, "step", i)
            steps.append(state)
        return Ran(steps, {n: _dtype_name(entry.params[n].dtype) for n in names})


class MindSporeAdamTargetCPU(MindSporeAdam):
    """The same optimizer with ``opt.target = 'CPU'``: sparse gradients go to FusedSparseAdam."""

    name = "mindspore-target-cpu"
    target = "CPU"
    description = "mindspore.nn.Adam with opt.target='CPU' (sparse gradients via FusedSparseAdam)"

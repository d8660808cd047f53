"""``optax.adam`` under ``jax.jit``: adapters ``optax-cpu`` and ``optax-gpu``.

How a case becomes optax (what a user porting a MindSpore model would write):
- params are a dict name -> array; ``order_params`` is ignored (a dict's order changes no value).
- weight decay: ``optax.chain(optax.add_decayed_weights(wd, mask), optax.adam(lr, b1, b2, eps))`` --
  decay added to the gradient *before* adam, i.e. coupled L2. The beta/gamma name filter is the mask;
  groups are ``optax.partition`` (formerly ``multi_transform``) keyed by parameter name, one chain per
  group with the group's lr and weight_decay.
- loss_scale: the gradient is divided by it before the update; grad_centralization: a masked
  ``optax.centralize()`` after the decay, on shapes with ndim >= 2 and shape[1] % 16 == 0.
- sparse gradients: optax has none; the user densifies them (``zeros.at[idx].add(values)``, duplicates
  summed) in the parameter dtype.
- nesterov: ``optax.adam(nesterov=...)`` is passed through as is (its bias correction is its own).

One compiled step per *structure* (parameter names/shapes/dtype, group layout, which parameters decay
or centralize, nesterov, whether gradients are scaled). Hyperparameters -- lr of this update, b1, b2,
eps, weight decays, loss_scale -- are jit *arguments*, and the step calls the factory
(``optax.adam(lr, b1, b2, eps)``) inside the traced function. That is what
``optax.inject_hyperparams`` does inside its own ``update``, minus one thing we measured and refuse:
inject_hyperparams casts every float hyperparameter to the parameter dtype, so in bfloat16 b2=0.999
becomes 1.0, 1 - b2**t == 0 and the first update is NaN; in float16 1 - b2 comes out 2.3% off. No
user of ``optax.adam(<floats>)`` sees that. Python floats passed to jit are *weakly typed* tracers,
promoted exactly like the literal floats a user writes: measured bitwise equal to
``jit(optax.adam(<floats>))`` in float64/float32/bfloat16 and to eager ``optax.adam`` in float16.
Changing values between cases never retraces.

One XLA compilation per structure, init included, and none for work that needs no new structure:
- ``init`` runs inside the jitted step: ``lax.cond(first, lambda: tx.init(params), lambda: state)``,
  ``first`` a traced flag, so the first update starts from init's own values (bitwise what an eager
  ``tx.init`` gives) in the same executable as every later update. The state handed to the first call is
  a placeholder of init's shapes and dtypes (``jax.eval_shape(init)``: traced, never compiled; whatever
  init raises is raised there, at construction), made on the host once per structure.
- params, gradients, lr tables and tensor hyperparameters reach JAX by ``jax.device_put`` of host
  arrays -- a transfer, the same array ``jnp.asarray`` makes, where ``jnp.asarray`` of a NumPy array
  runs an XLA op compiled once per shape -- and results come back by ``jax.device_get``.
- validation (``construct``) cases build optax as a user does and *trace* init and the first update
  (``jax.eval_shape``), compiling nothing (``run_construct``).
What still compiles outside the steps is optax's own eager code: its schedule functions evaluated on the
host for an lr table (a few scalar ops, each compiled once per process however many cases use them), and
its construction-time arithmetic on a tensor learning rate (``scale_by_learning_rate`` negates it; once
per shape). ``compilations()`` counts XLA compilations this process actually ran since the adapter was
made -- every backend compile JAX reports (the jitted steps and any eager op), minus those served from the
persistent cache -- through ``jax.monitoring`` events; ``traces()`` counts traces of the step functions
(a Python side effect inside the traced body).

Persistent compilation cache: set ``ADAM_CONFORMANCE_JAX_CACHE=/some/dir`` (off by default) and the
adapter points JAX's persistent cache there (every entry kept: no minimum compile time or size) before
anything is compiled; a second run over the same structures then compiles nothing (``compilations()``
is 0) -- traces still happen, XLA's work is read from the directory.

Learning rate: what a user passes. A fixed lr is a float (a traced weak float, so no recompile per
value); a dynamic one -- a schedule, a dynamic_lr list, a 1-d tensor or list -- is handed to the factory
as a *schedule*, a callable ``count -> lr`` the factory itself must call with its own update count, as
``optax.adam(schedule)`` does. The schedule's numbers are a traced argument: a table of the lr of every
update (optax's own schedule function evaluated on the host where optax has one -- exponential_decay,
cosine_decay_schedule, polynomial_schedule, linear_schedule -- else ``adapters.lr_port``), padded to a
power-of-two length with its last value, so the compiled step depends only on the table's length class,
never on the schedule's values or kind. A factory that reads its schedule at the wrong count therefore
gets the wrong lr and fails LR-SCHEDULE/LR-SEQUENCE. Sequences: past their end the last value is
reused (JAX indexing clamps; the table repeats it). The table is held in float64 for float64 parameters,
else float32 (where the reference holds hyperparameters).

float64 needs ``jax_enable_x64``: the adapter turns it on in its own process at first use, before
making any array, so every dtype runs under the same x64 mode whatever case came first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from conformance.cases import (
    Case,
    DynamicLRValue,
    Group,
    IterValue,
    OrderParams,
    ParamRef,
    ScheduleValue,
    SparseGrad,
    TensorValue,
    bind_params,
)
from conformance.dtypes import FORMATS

from . import lr_port
from .base import Adapter, AdapterInfo, Outcome, Ran, StepState, Support, Unsupported, cpu_device, raised

DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16")
DEFAULTS: dict[str, Any] = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                            "use_locking": False, "use_nesterov": False, "weight_decay": 0.0, "loss_scale": 1.0}
X64_NOTE = ("float64 needs jax_enable_x64: the adapter enables it in its own process at first use, "
            "so all dtypes run under x64")
CACHE_ENV = "ADAM_CONFORMANCE_JAX_CACHE"
_x64_done = False
_EVENTS = {"compiles": 0, "cache_hits": 0}
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # wraps compile-or-read-from-cache
CACHE_HIT = "/jax/compilation_cache/cache_hits"


def _on_duration(event: str, duration: float, **_: Any) -> None:
    if event == BACKEND_COMPILE:
        _EVENTS["compiles"] += 1


def _on_event(event: str, **_: Any) -> None:
    if event == CACHE_HIT:
        _EVENTS["cache_hits"] += 1


def xla_compilations() -> int:
    """XLA compilations run in this process so far (persistent-cache reads excluded)."""
    return _EVENTS["compiles"] - _EVENTS["cache_hits"]


def configure(jax: Any) -> None:
    """Once per process, before anything compiles: x64, compile counting, the persistent cache if asked."""
    jax.config.update("jax_enable_x64", True)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    jax.monitoring.register_event_listener(_on_event)
    cache = os.environ.get(CACHE_ENV, "").strip()
    if cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(Path(cache).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def libs() -> tuple[Any, Any, Any]:
    """(jax, jax.numpy, optax), imported lazily; configures the process once (``configure``)."""
    global _x64_done
    import jax

    if not _x64_done:
        configure(jax)
        _x64_done = True
    import jax.numpy as jnp
    import optax

    return jax, jnp, optax


class NoCounterpart(Exception):
    """The case needs something optax (or the user-level emulation) cannot express."""


# ---- learning rates: what a user hands optax as learning_rate ---------------------------------------

def sequence_schedule(values: Any) -> Callable[[Any], Any]:
    """A 1-d lr sequence as optax users write it: index by count (JAX clamps past the end)."""
    jax, _, _ = libs()
    host = np.asarray(values, dtype=np.float64)
    if host.ndim != 1:
        raise ValueError(f"a learning-rate sequence must be 1-d, got shape {tuple(host.shape)}")
    arr = jax.device_put(host)  # the float64 array jnp.asarray(host) makes, as a transfer: nothing to compile

    def schedule(count: Any) -> Any:
        return arr[count]

    schedule.host_values = host  # type: ignore[attr-defined]  # lr_table reads these: no eager op per update
    return schedule


def optax_schedule(name: str, args: Mapping[str, Any], horizon: int) -> Callable[[Any], Any]:
    """optax's own schedule for a MindSpore LearningRateSchedule where one exists, else the lr_port values."""
    _, _, optax = libs()
    a = dict(args)
    if name == "ExponentialDecayLR":
        return optax.exponential_decay(init_value=a["learning_rate"], transition_steps=a["decay_steps"],
                                       decay_rate=a["decay_rate"], staircase=bool(a.get("is_stair", False)))
    if name == "CosineDecayLR" and a["max_lr"] != 0:
        # optax: init*((1-alpha)*c + alpha), c = (1+cos(pi*min(s,D)/D))/2 == min + (max-min)*c at alpha=min/max
        return optax.cosine_decay_schedule(init_value=a["max_lr"], decay_steps=a["decay_steps"],
                                           alpha=a["min_lr"] / a["max_lr"])
    if name == "PolynomialDecayLR" and not a.get("update_decay_steps", False):
        return optax.polynomial_schedule(init_value=a["learning_rate"], end_value=a["end_learning_rate"],
                                         power=a["power"], transition_steps=a["decay_steps"])
    if name == "WarmUpLR":
        return optax.linear_schedule(init_value=0.0, end_value=a["learning_rate"],
                                     transition_steps=a["warmup_steps"])
    if name in lr_port.LR_SCHEDULES:  # no optax counterpart: the user precomputes the values
        return sequence_schedule([lr_port.schedule_at(name, a, i) for i in range(max(horizon, 1))])
    raise NoCounterpart(f"no optax or ported schedule for {name!r}")


def learning_rate(value: Any, horizon: int) -> Any:
    """A case's lr value -> a float, an optax schedule (callable of count), or the literal bad value."""
    if isinstance(value, ScheduleValue):
        return optax_schedule(value.name, value.args, horizon)
    if isinstance(value, DynamicLRValue):
        return sequence_schedule(lr_port.dynamic_lr_list(value.name, value.args))
    if isinstance(value, TensorValue):
        v = np.asarray(value.values)
        if v.ndim == 1:
            return sequence_schedule(v)
        return device_array(v)  # 0-d: a fixed lr array; n-d: passed as given (a wrong value)
    if isinstance(value, IterValue):  # an Iterable lr, read once: update i uses element i
        return sequence_schedule(list(value.items))
    if isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields")):
        return sequence_schedule(list(value))
    return value


def lr_at(spec: Any, i: int) -> float:
    """The lr of update i (0-based) as a Python float: optax calls schedules with count i."""
    return float(spec(i)) if callable(spec) else float(spec)


def table_length(horizon: int) -> int:
    """The padded length of an lr table: the next power of two >= the number of updates, at least 64 (so
    every ordinary case, up to 64 updates, shares one length: the length is structure, the values are not)."""
    n = 64
    while n < horizon:
        n *= 2
    return n


def lr_table(spec: Callable[[Any], Any], horizon: int, dtype: str) -> np.ndarray:
    """The lr of updates 0 .. horizon-1 (then the last one repeated) in the hyperparameter dtype."""
    host = getattr(spec, "host_values", None)
    if host is not None and len(host):
        values = [float(host[min(i, len(host) - 1)]) for i in range(max(horizon, 1))]  # clamped, as JAX indexes
    else:
        values = [lr_at(spec, i) for i in range(max(horizon, 1))]
    values += [values[-1]] * (table_length(horizon) - len(values))
    return np.asarray(values, dtype=np.float64 if dtype == "float64" else np.float32)


def table_schedule(table: Any) -> Callable[[Any], Any]:
    """The schedule a user would hand optax, reading a (traced) table at the factory's count."""
    _, jnp, _ = libs()
    last = table.shape[0] - 1
    return lambda count: table[jnp.minimum(jnp.asarray(count), last)]


def device_array(host: np.ndarray) -> Any:
    """A host array as the jax array ``jnp.asarray(host)`` makes (same dtype, uncommitted on the default
    device), by a transfer: ``jnp.asarray`` of a NumPy array runs an XLA op, compiled once per shape."""
    jax, _, _ = libs()
    return jax.device_put(host)


def literal(value: Any) -> Any:
    """A non-lr hyperparameter as a user would pass it (a tensor value becomes a jax array)."""
    if isinstance(value, TensorValue):
        return device_array(value.values)
    return value


def nonzero(value: Any) -> bool:
    """Would a user add decay at all? Anything not plainly equal to 0 is passed on to optax.

    An array is compared on the host (the same elementwise ``!= 0``, without an XLA op to compile)."""
    try:
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            value = np.asarray(value)
        return bool(value != 0)
    except Exception:  # an array or odd object: let optax judge it
        return True


# ---- the static structure of a case ---------------------------------------------------------------

class Entry(NamedTuple):
    name: str
    shape: tuple[int, ...]
    label: int
    decays: bool
    centralizes: bool


class Layout(NamedTuple):
    """Everything the compiled step depends on besides values: the jit cache key."""

    device: str
    dtype: str
    entries: tuple[Entry, ...]  # sorted by name; only parameters the optimizer receives
    n_labels: int
    nesterov: tuple[Any, ...]  # (value,): passed to the factory as nesterov=value; (): not passed
    scaled: bool
    lr_tables: tuple[int, ...] = ()  # per label: 0 = a fixed lr (a float), n = a schedule over an n-value table


class Plan(NamedTuple):
    layout: Layout
    lrs: tuple[Any, ...]  # per label: float or callable(count)
    wds: tuple[Any, ...]  # per label
    b1: Any
    b2: Any
    eps: Any
    loss_scale: Any

    def hyper(self, horizon: int) -> dict[str, Any]:
        """The traced hyperparameters: Python floats (weakly typed once traced), a table per dynamic lr,
        and each parameter's weight decay by canonical name (0.0 where it is not decayed)."""
        lrs = tuple(lr_table(s, horizon, self.layout.dtype) if callable(s) else float(s) for s in self.lrs)
        return {"lr": lrs, "wd": tuple(float(w) for w in self.wds), "wdp": self.entry_decays(float),
                "b1": float(self.b1), "b2": float(self.b2), "eps": float(self.eps),
                "ls": float(self.loss_scale)}

    def entry_decays(self, conv: Callable[[Any], Any]) -> dict[str, Any]:
        return {canonical(k): conv(self.wds[e.label]) if e.decays else 0.0
                for k, e in enumerate(self.layout.entries)}

    def compiled_layout(self) -> Layout:
        """The jit cache key: names replaced by their position, decay and scaling traced (not structure)."""
        entries = tuple(Entry(canonical(k), e.shape, e.label, False, e.centralizes)
                        for k, e in enumerate(self.layout.entries))
        return self.layout._replace(entries=entries, scaled=True)

    def literal_hyper(self) -> dict[str, Any]:
        """The hyperparameters as the case gives them (schedules stay callables), for a per-case jit."""
        return {"lr": self.lrs, "wd": self.wds, "wdp": self.entry_decays(lambda v: v), "b1": self.b1,
                "b2": self.b2, "eps": self.eps, "ls": self.loss_scale}


def canonical(k: int) -> str:
    """The name the compiled step gives the k-th parameter (sorted by real name): structures recur across
    cases whatever the parameters are called; the names' meaning (decay filter, groups) is in the flags."""
    return f"p{k:04d}"


def centralizable(shape: tuple[int, ...]) -> bool:
    """GRP-GC's executable rule: ndim >= 2 and shape[1] % 16 == 0."""
    return len(shape) >= 2 and shape[1] % 16 == 0


def plan(case: Case, device: str, horizon: int, literal_values: bool = False, nesterov_ok: bool = True) -> Plan:
    """Map a case's constructor arguments onto labels, masks and values.

    ``literal_values`` keeps values as the case gives them (validation cases, per-case jit); otherwise
    they become Python floats for the traced step. ``nesterov_ok`` False: the factory has no nesterov
    keyword, so a case asking for anything but ``use_nesterov=False`` raises NoCounterpart.
    """
    given = case.hyperparameters()
    h = {**DEFAULTS, **given}
    shapes = {p.name: tuple(p.shape) for p in case.params}
    groups = [g for g in (case.param_groups() or []) if not isinstance(g, OrderParams)]
    conv: Callable[[Any], Any] = literal if literal_values else (lambda v: float(literal(v)))
    top_lr = learning_rate(h["learning_rate"], horizon)
    entries, lrs, wds = [], [], []
    if not groups:
        wd = conv(h["weight_decay"])
        lrs, wds = [top_lr], [wd]
        entries = [Entry(n, s, 0, nonzero(wd) and "beta" not in n and "gamma" not in n, False)
                   for n, s in shapes.items()]
    for k, g in enumerate(groups):
        assert isinstance(g, Group)
        wd = conv(h["weight_decay"] if g.weight_decay is None else g.weight_decay)
        lrs.append(top_lr if g.lr is None else learning_rate(g.lr, horizon))
        wds.append(wd)
        entries += [Entry(n, shapes[n], k, nonzero(wd), bool(g.grad_centralization) and centralizable(shapes[n]))
                    for n in g.params]
    nest: tuple[Any, ...] = ()
    if "use_nesterov" in given:
        nest = (given["use_nesterov"] if literal_values else bool(given["use_nesterov"]),)
    if not nesterov_ok and nest:
        if nest[0] is not False:
            raise NoCounterpart("the factory has no nesterov keyword")
        nest = ()
    ls = h["loss_scale"]
    scaled = not (type(ls) is float and ls == 1.0)
    tables = tuple(table_length(horizon) if callable(s) and not literal_values else 0 for s in lrs)
    # Ordered by what the compiled step depends on (group, centralization, shape), then name: cases whose
    # parameters differ only in names or in listing order share one compiled step.
    entries.sort(key=lambda e: (e.label, e.centralizes, len(e.shape), e.shape, e.name))
    layout = Layout(device, case.dtype, tuple(entries), max(len(lrs), 1), nest, scaled, tables)
    return Plan(layout, tuple(lrs), tuple(wds), conv(h["beta1"]), conv(h["beta2"]), conv(h["eps"]), conv(ls))


# ---- building the optax transformation ----------------------------------------------------------------

def flag_mask(flags: Mapping[str, bool]) -> Callable[[Any], Any]:
    """A mask function over a name-keyed tree (works on partition's masked subtrees too)."""
    return lambda tree: {k: bool(flags.get(k, False)) for k in tree}


def build_tx(factory: Callable[..., Any], layout: Layout, hp: Mapping[str, Any]) -> Any:
    """chain(add_decayed_weights, masked centralize, factory) per label; partition when grouped."""
    _, _, optax = libs()
    extra = {"nesterov": layout.nesterov[0]} if layout.nesterov else {}

    def chain(label: int) -> Any:
        mine = [e for e in layout.entries if e.label == label]
        parts = []
        if any(e.decays for e in mine):
            parts.append(optax.add_decayed_weights(hp["wd"][label], mask=flag_mask({e.name: e.decays for e in mine})))
        if any(e.centralizes for e in mine):
            parts.append(optax.masked(optax.centralize(), flag_mask({e.name: e.centralizes for e in mine})))
        lr = hp["lr"][label]
        if layout.lr_tables and layout.lr_tables[label]:
            lr = table_schedule(lr)
        parts.append(factory(learning_rate=lr, b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], **extra))
        return optax.chain(*parts)

    if layout.n_labels == 1:
        return chain(0)
    return optax.partition({k: chain(k) for k in range(layout.n_labels)},
                           {e.name: e.label for e in layout.entries})


def moments(state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """mu and nu by parameter name, from every ScaleByAdamState-like node (fields mu, nu) in the state."""
    mu: dict[str, Any] = {}
    nu: dict[str, Any] = {}

    def visit(x: Any) -> None:
        fields = getattr(x, "_fields", ())
        if "mu" in fields and "nu" in fields and isinstance(x.mu, Mapping) and isinstance(x.nu, Mapping):
            mu.update({k: v for k, v in x.mu.items() if hasattr(v, "shape")})
            nu.update({k: v for k, v in x.nu.items() if hasattr(v, "shape")})
            return
        if isinstance(x, Mapping):
            for y in x.values():
                visit(y)
        elif isinstance(x, (tuple, list)):
            for y in x:
                visit(y)

    visit(state)
    return mu, nu


def f64(x: Any) -> np.ndarray:
    return np.array(np.asarray(x).astype(np.float64))


# ---- the adapter machinery (shared with generic_optax) --------------------------------------------------

class OptaxAdapter(Adapter):
    """Drives ``factory(learning_rate=, b1=, b2=, eps=[, nesterov=])`` under jit on one JAX platform."""

    name = "optax"
    platform = "cpu"
    description = ""

    def __init__(self) -> None:
        self._traces = 0
        self._compiled_before: int | None = None  # xla_compilations() when the adapter first used JAX
        self._steps: dict[Layout, Any] = {}
        self._injectable: bool | None = None
        self._dtypes: tuple[str, ...] | None = None

    # -- what subclasses provide ----------------------------------------------------------------
    def factory(self) -> Callable[..., Any]:
        raise NotImplementedError

    def accepts_nesterov(self) -> bool:
        return True

    def injectable(self) -> bool:
        """Can the factory be called with traced hyperparameters? (optax's own factories can.)"""
        return True

    # -- protocol -------------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            libs()
        except ImportError as e:
            return False, f"not available: {e.name or 'jax/optax'} is not installed (pip install jax optax)"
        try:
            self.device()
        except Exception:
            return False, f"not available: no {self.platform.upper()} device"
        return True, ""

    def device_name(self) -> str:
        """``CPU (x86_64)`` like every CPU adapter; an accelerator by its kind and JAX's id."""
        if self.platform == "cpu":
            return cpu_device()
        d = self.device()
        return f"{d.device_kind} ({d})"

    def device(self) -> Any:
        jax, _, _ = libs()
        devs = jax.devices(self.platform)
        if not devs:
            raise RuntimeError(f"no {self.platform} device")
        return devs[0]

    def compilations(self) -> int | None:
        """XLA compilations since this adapter first used JAX (persistent-cache reads are not compilations)."""
        if self._compiled_before is None:
            return 0
        return xla_compilations() - self._compiled_before

    def traces(self) -> int:
        """Traces of the step functions (each is a compilation unless a cache serves it)."""
        return self._traces

    def _start_counting(self) -> None:
        if self._compiled_before is None:
            libs()
            self._compiled_before = xla_compilations()

    def info(self) -> AdapterInfo:
        import numpy

        ok, why = self.available()
        versions = {"numpy": numpy.__version__}
        if not ok:
            return AdapterInfo(self.name, self.description, versions, f"none ({why})", (), *self.support())
        jax, _, optax = libs()
        import jaxlib

        versions.update({"jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__})
        return AdapterInfo(self.name, self.description, versions, self.device_name(), self.probe_dtypes(),
                           *self.support())

    def support(self) -> tuple[dict[str, Support], dict[str, str]]:
        E, U = Support.EMULATED, Support.UNSUPPORTED
        sparse = "optax has no sparse gradients: densified by the adapter (zeros.at[idx].add(values), in the " \
                 "parameter dtype, duplicates summed)"
        s = {"DEC-L2": E, "DEC-FILTER": E, "DEC-GROUP": E, "DEC-LOSS-SCALE": E, "GRP-LR": E, "GRP-ORDER": E,
             "GRP-GC": E, "LR-SEQUENCE": E, "LR-SCHEDULE": E, "SPR-DENSE-EQUIV": E, "SPR-DUPLICATES": E,
             "SPR-DECAY": E, "SPR-NESTEROV": E, "VAL-GROUP": U}
        n = {"UPD-DTYPE": X64_NOTE,
             "DEC-L2": "optax.chain(optax.add_decayed_weights(wd), adam): decay added to the gradient before adam",
             "DEC-FILTER": "add_decayed_weights mask: False for names containing 'beta' or 'gamma'",
             "DEC-GROUP": "optax.partition by parameter name, one add_decayed_weights per group",
             "DEC-LOSS-SCALE": "the adapter divides the gradient by loss_scale before the update",
             "GRP-LR": "optax.partition by parameter name, one optimizer per group with its lr",
             "GRP-ORDER": "ignored: params are a dict, whose order changes no value",
             "GRP-GC": "optax.masked(optax.centralize()) after the decay, masked to ndim >= 2 and shape[1] % 16 == 0",
             "LR-SEQUENCE": "the factory gets a schedule (callable of its count) reading a traced table of the "
                            "sequence; past the end the last value is reused (as JAX indexing clamps)",
             "LR-SCHEDULE": "the factory gets a schedule (callable of its count) reading a traced table of "
                            "optax's exponential_decay / cosine_decay_schedule / polynomial_schedule / "
                            "linear_schedule values where they exist, else adapters.lr_port's",
             "SPR-DENSE-EQUIV": sparse, "SPR-DUPLICATES": sparse, "SPR-DECAY": sparse,
             "SPR-NESTEROV": sparse + "; nesterov passed through as is",
             "VAL-GROUP": "optax has no parameter groups; a malformed group dict has no optax counterpart",
             "VAL-BOOL-TYPE": "optax has no use_locking: such cases are unsupported; use_nesterov is passed as is",
             "VAL-POSITIVE": "optax has no loss_scale argument: loss_scale cases are unsupported; eps passed as is"}
        if not self.accepts_nesterov():
            s["UPD-NESTEROV"] = s["SPR-NESTEROV"] = U
            n["UPD-NESTEROV"] = n["SPR-NESTEROV"] = "the factory has no nesterov keyword"
        if not self.injectable():
            n["UPD-MOMENTS"] = "the factory cannot take traced hyperparameters: one jit per case"
        return s, n

    def probe_dtypes(self) -> tuple[str, ...]:
        """Every suite dtype, by design (x64 is enabled in the worker): a dtype whose update raises, changes
        dtype or goes non-finite is an ERROR or FAIL per case, never a smaller declaration."""
        self._start_counting()
        return DTYPE_NAMES

    def run(self, case: Case) -> Outcome:
        ok, why = self.available()
        if not ok:
            return Unsupported(why)
        why = no_pytree_counterpart(case.raw_params_arg())
        if why:
            return Unsupported(why)
        self._start_counting()
        if case.kind == "construct":
            return self.run_construct(case)
        return self.run_steps(case)

    # -- steps ----------------------------------------------------------------------------------
    def step_fn(self, layout: Layout, fixed: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """(start, jitted step) for a compiled layout (cached), or, with ``fixed`` values, per case.

        ``step(params, grads, state, hp, first)`` divides by loss_scale and adds each parameter's traced
        weight decay (``g/ls + wd*w``, exactly what ``add_decayed_weights`` after the division computes;
        ``wd = 0`` and ``ls = 1`` are exact no-ops), then runs the chain (masked centralize, the factory)
        per label. ``init`` is part of the same compiled step -- one XLA compilation per structure, init
        included: with ``first`` true (a traced flag, so both values share one executable) the step runs on
        ``init(params)`` computed in the jit instead of the state it is given (``lax.cond``: the update
        sees the branch's result as an opaque input, as it sees a state argument, so the update compiles
        to the same arithmetic as a plain ``jit(step)``; a ``jnp.where`` select fused into it measured
        1-ulp differences from step 2 on). ``start(params, hp)`` is the state handed to the first update:
        zeros of init's shapes and dtypes, found by ``jax.eval_shape`` (init is traced, nothing is
        compiled, and whatever init raises is raised there, at construction) and transferred from the
        host, once per structure.
        """
        if fixed is None and layout in self._steps:
            return self._steps[layout]
        jax, _, optax = libs()
        factory = self.factory()
        made: list[Any] = []  # the start state, once known

        def init(params: Any, hp: Any) -> Any:
            hp = fixed if fixed is not None else hp
            return build_tx(factory, layout, hp).init(params)

        def start(params: Any, hp: Any) -> Any:
            if not made:
                shapes = jax.eval_shape(init, params, hp)
                made.append(jax.device_put(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)))
            return made[0]

        def step(params: Any, grads: Any, state: Any, hp: Any, first: Any) -> Any:
            self._traces += 1  # runs only while JAX traces: one per compilation
            hp = fixed if fixed is not None else hp
            tx = build_tx(factory, layout, hp)
            state = jax.lax.cond(first, lambda: tx.init(params), lambda: state)
            grads = {k: g / hp["ls"] + hp["wdp"][k] * params[k] for k, g in grads.items()}
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        fns = (start, jax.jit(step))
        if fixed is None:
            self._steps[layout] = fns
        return fns

    def gradient(self, g: Any, dtype: str) -> np.ndarray:
        """A case gradient in the parameter dtype, on the host (no XLA op to compile per shape); a sparse one
        densified as a user would: values in the dtype, duplicates summed in the dtype, in the given order."""
        t = FORMATS[dtype].np_type
        if isinstance(g, SparseGrad):
            out = np.zeros(g.dense_shape, dtype=t)
            np.add.at(out, np.asarray(g.indices, dtype=np.int64), np.asarray(g.values).astype(t))
            return out
        return np.asarray(g).astype(t)

    def run_steps(self, case: Case) -> Outcome:
        jax, _, _ = libs()
        dev = self.device()
        try:
            p = plan(case, self.platform, case.num_steps, literal_values=not self.injectable(),
                     nesterov_ok=self.accepts_nesterov())
            hp0 = p.hyper(case.num_steps) if self.injectable() else p.literal_hyper()
        except NoCounterpart as e:  # the adapter's plan: the factory has not run yet
            return Unsupported(str(e))
        except Exception as e:
            return raised(e, "construct")
        real = {canonical(k): e.name for k, e in enumerate(p.layout.entries)}  # compiled name -> case name
        values = case.param_values()
        t = FORMATS[case.dtype].np_type
        layout = p.compiled_layout()
        with jax.default_device(dev):
            # Uncommitted arrays on the default device (the context above): a committed input makes jit compile a
            # second executable for the same trace once the (uncommitted) outputs of the first step come back.
            params = {c: jax.device_put(np.asarray(values[n]).astype(t)) for c, n in real.items()}
            start, step = self.step_fn(layout) if self.injectable() else self.step_fn(layout, hp0)
            hp = hp0 if self.injectable() else {}
            try:
                state = start(params, hp)  # init's shape (traced); its values come from init inside the step
            except Exception as e:
                return raised(e, "construct")
            out = []
            for i in range(case.num_steps):
                try:
                    grads_in = case.gradients(i)
                    grads = {c: jax.device_put(self.gradient(grads_in[n], case.dtype)) for c, n in real.items()}
                    params, state = step(params, grads, state, hp, i == 0)
                    host_p, (mu, nu) = jax.device_get((params, moments(state)))
                except Exception as e:
                    return raised(e, "step", i)
                out.append({n: StepState(f64(host_p[c]), f64(mu[c]) if c in mu else None,
                                         f64(nu[c]) if c in nu else None) for c, n in real.items()})
        return Ran(out, {n: str(params[c].dtype) for c, n in real.items()})

    # -- construct (validation) -----------------------------------------------------------------------
    def run_construct(self, case: Case) -> Outcome:
        """Build with the literal arguments, init and one update; report whatever is raised.

        optax is built as a user builds it, outside any trace. ``init`` and the first update are *traced*
        by ``jax.eval_shape`` -- the Python the user's ``jax.jit`` step would run before compiling, on the
        params as given and init's state -- and never compiled: a validation case asks what the arguments
        raise, and no XLA compilation (a jit per case, or each eager op per shape) finds anything the trace
        does not. Init errors are construction errors (optax takes params at init), update errors the
        first step's.
        """
        jax, jnp, optax = libs()
        hyper = case.hyperparameters()
        for arg in ("use_locking", "loss_scale"):
            v, d = hyper.get(arg, DEFAULTS[arg]), DEFAULTS[arg]
            if not (type(v) is type(d) and v == d):
                return Unsupported(f"optax has no {arg} argument: {v!r} cannot be passed to it")
        raw = case.raw_params_arg()
        if raw is not None and contains_dict(raw):
            return Unsupported("optax has no parameter groups: a group dict has no optax counterpart")
        try:
            case.param_groups()
        except Exception as e:
            return Unsupported(f"malformed groups ({type(e).__name__}); optax has no parameter groups")
        values = case.param_values()
        try:  # what the adapter declines is found before the factory runs; from then on, a raise is a raise
            p = plan(case, self.platform, 1, literal_values=True, nesterov_ok=self.accepts_nesterov())
            layout, hp = p.layout, p.literal_hyper()
        except NoCounterpart as e:
            return Unsupported(str(e))
        except Exception as e:
            return raised(e, "construct")
        try:  # NoCounterpart included: the factory under test raising the adapter's decline is a raise
            with jax.default_device(self.device()):
                t = FORMATS[case.dtype].np_type  # the arrays jnp.asarray(v, dtype) makes, by a transfer
                arrays = {n: jax.device_put(np.asarray(v).astype(t)) for n, v in values.items()}
                if raw is not None:  # the params argument as given: a pytree optax walks
                    params = bind_params(raw, arrays, lambda v: v)
                    layout = layout._replace(entries=(), n_labels=1)
                    tx = raw_tx(self.factory(), layout, hp)
                else:
                    params = {e.name: arrays[e.name] for e in layout.entries}
                    tx = build_tx(self.factory(), layout, hp)
                state = jax.eval_shape(lambda: tx.init(params))
        except Exception as e:
            return raised(e, "construct")

        def first_update(state: Any) -> Any:
            grads = jax.tree.map(jnp.ones_like, params)
            if layout.scaled:
                grads = jax.tree.map(lambda g: g / hp["ls"], grads)
            u, _ = tx.update(grads, state, params)
            return optax.apply_updates(params, u)

        try:
            with jax.default_device(self.device()):
                jax.eval_shape(first_update, state)
        except Exception as e:
            return raised(e, "step", 0)
        return Ran([], {})


def raw_tx(factory: Callable[..., Any], layout: Layout, hp: Mapping[str, Any]) -> Any:
    """For a raw params pytree: decay on every leaf when a weight_decay is given, then the factory."""
    _, _, optax = libs()
    extra = {"nesterov": layout.nesterov[0]} if layout.nesterov else {}
    parts = [] if not nonzero(hp["wd"][0]) else [optax.add_decayed_weights(hp["wd"][0])]
    parts.append(factory(learning_rate=hp["lr"][0], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], **extra))
    return optax.chain(*parts)


def no_pytree_counterpart(raw: Any) -> str:
    """Why a literal params argument has no optax counterpart ("" when it has one).

    optax takes params as any pytree at ``init``: a one-shot iterator is no pytree, while a bare array and
    a repeated leaf are valid trees -- the spec's rules on the params *container* cannot be put to optax.
    """
    if isinstance(raw, IterValue):
        return "optax takes params as a pytree at init; a one-shot iterator of parameters is none"
    if isinstance(raw, ParamRef):
        return "optax takes params as any pytree: a bare array is a valid one (no container rule to check)"
    if isinstance(raw, (list, tuple)):
        refs = [x.name for x in raw if isinstance(x, ParamRef)]
        if len(refs) != len(set(refs)):
            return "optax takes params as any pytree: the same array twice is a valid tree (no duplicate rule)"
    return ""


def contains_dict(x: Any) -> bool:
    if isinstance(x, dict):
        return True
    return isinstance(x, (list, tuple)) and any(contains_dict(y) for y in x)


class OptaxAdamAdapter(OptaxAdapter):
    """``optax.adam`` on one platform ("cpu" or "gpu"); arrays are placed on that platform's first device."""

    def __init__(self, platform: str = "cpu") -> None:
        super().__init__()
        self.platform = platform
        self.name = f"optax-{platform}"
        self.description = (f"optax.adam under jax.jit on {platform}; hyperparameters are traced jit arguments "
                            f"(one compile per structure); {X64_NOTE}")

    def factory(self) -> Callable[..., Any]:
        _, _, optax = libs()
        return optax.adam


class OptaxCPU(OptaxAdamAdapter):
    def __init__(self) -> None:
        super().__init__("cpu")


class OptaxGPU(OptaxAdamAdapter):
    def __init__(self) -> None:
        super().__init__("gpu")

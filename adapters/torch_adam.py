"""torch.optim.Adam (single / foreach / fused, CPU and CUDA) and torch.optim.SparseAdam.

Driven as a user porting a MindSpore model would drive them: Parameters of the case's dtype, one
param group per MindSpore group, the beta/gamma no-decay rule as a second param group, the loss
scale divided out of each gradient, and a dynamic learning rate written into ``group["lr"]`` before
each update (a group with its own fixed lr is left alone). Gradient centralization follows the spec's
order (SPEC-NOTES section 5: decay, then centralization, then the division by loss_scale), which
torch's step cannot express -- it adds ``wd*w`` after the adapter has handed it the gradient -- so a
centralized group gets ``weight_decay=0`` and the adapter computes ``centralize(g + wd*ls*w) / ls``
itself: the whole chain is emulated, never half of it. Nothing the library does is
corrected: what torch cannot express is Unsupported, what it refuses is reported as raised.

torch is imported inside methods so that importing this module never needs torch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
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
from conformance.dtypes import NAMES

from . import lr_port
from .base import Adapter, AdapterInfo, Outcome, Raised, Ran, StepState, Support, Unsupported, cpu_device, raised

INCONSISTENT = "InconsistentRefusal"  # a layout the probe saw refused, taken by a case
VARIANTS: dict[str, dict[str, bool]] = {"single": {"foreach": False}, "foreach": {"foreach": True},
                                        "fused": {"fused": True}}
DEFAULTS: dict[str, Any] = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "use_locking": False,
                            "use_nesterov": False, "weight_decay": 0.0, "loss_scale": 1.0}
NAMES_TORCH = (*(f"torch-{d}-{v}" for d in ("cpu", "cuda") for v in VARIANTS), "torch-sparseadam")
LrFn = Callable[[int], Any]
INHERIT = "inherit"  # a group without its own lr follows the optimizer's (fixed or dynamic) lr


class Skip(Exception):
    """The case needs something the wrapped API cannot express; becomes ``Unsupported(reason)``."""


def _torch() -> Any:
    import torch

    return torch


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# ---- values a user hands to torch ------------------------------------------------------------------

def to_tensor(x: Any, dtype: str, device: str) -> Any:
    """float64 values -> a torch tensor of ``dtype``, rounded once (bfloat16 via float32, as torch rounds)."""
    torch = _torch()
    a = np.asarray(x, dtype=np.float64)
    # np.array(order="C"), not np.ascontiguousarray: the latter turns a 0-d array into shape (1,).
    t = torch.from_numpy(np.array(a.astype(np.float32 if dtype == "bfloat16" else dtype), order="C"))
    return t.to(device=device, dtype=getattr(torch, dtype))


def to_numpy(t: Any) -> np.ndarray:
    """A float64 numpy copy of a (device) tensor."""
    return t.detach().to("cpu", _torch().float64).numpy().copy()


def lr_plan(value: Any) -> tuple[Any, LrFn | None]:
    """A MindSpore learning rate -> (what torch's constructor gets, the lr of update i or None if fixed).

    A 0-d tensor becomes ``float(value)``; a 1-d tensor, list or ``dynamic_lr`` list becomes a
    per-update value (the constructor gets element 0); a schedule is ported with ``lr_port``. Anything
    else (float, int, bool, None, str, nan, a 2-d tensor) goes to torch as given.
    """
    if isinstance(value, TensorValue):
        a = np.asarray(value.values, dtype=np.float64)
        if a.ndim == 0:
            return float(a), None
        if a.ndim == 1:
            return _sequence([float(x) for x in a])
        return _torch().from_numpy(a.copy()), None
    try:
        if isinstance(value, ScheduleValue):
            return lr_port.schedule_at(value.name, value.args, 0), (
                lambda i: lr_port.schedule_at(value.name, value.args, i))
        if isinstance(value, DynamicLRValue):
            return _sequence(lr_port.dynamic_lr_list(value.name, value.args))
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError) as e:
        raise Skip(f"the ported schedule {value.name} cannot be evaluated ({_one_line(e)})") from None
    if isinstance(value, IterValue):  # an Iterable lr is read once: update i uses element i
        return _sequence(list(value.items))
    if isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields")):
        return _sequence(list(value))
    return value, None


def literal(value: Any) -> Any:
    """A non-lr hyperparameter as a user passes it: a tensor becomes a torch tensor, the rest as given."""
    if isinstance(value, TensorValue):
        return _torch().from_numpy(np.asarray(value.values, dtype=np.float64).copy())
    return value


def _sequence(values: list[Any]) -> tuple[Any, LrFn]:
    if not values:
        raise Skip("an empty learning-rate sequence gives torch no lr to construct with")

    def at(i: int) -> Any:
        if i >= len(values):
            raise Skip(f"the learning-rate sequence has {len(values)} values; update {i + 1} needs one more "
                       "(torch has no sequence lr, the emulation cannot step past its end)")
        return values[i]

    return values[0], at


def centralize(g: Any) -> Any:
    """GRP-GC as a user writes it: g - mean over axes 1.. for ndim >= 2 and shape[1] % 16 == 0."""
    if g.dim() < 2 or g.shape[1] % 16 != 0 or g.numel() == 0:
        return g
    return g - g.mean(dim=tuple(range(1, g.dim())), keepdim=True)


def centralized_gradient(g: Any, w: Any, weight_decay: float, loss_scale: float) -> Any:
    """The spec's chain for a centralized group, in the parameter dtype: decay, centralize, divide by loss_scale.

    MindSpore decays the still loss-scaled gradient (``g + wd*ls*w``), centralizes it, then divides by
    loss_scale (SPEC-NOTES section 5); torch is then given ``weight_decay=0`` for this group.
    """
    if weight_decay:
        g = g + (weight_decay * loss_scale) * w.detach()
    g = centralize(g)
    return g / loss_scale if loss_scale != 1.0 else g


def _qualifies_for_gc(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2 and shape[1] % 16 == 0 and int(np.prod(shape)) > 0


# ---- the adapter -----------------------------------------------------------------------------------

class TorchOptimizerAdapter(Adapter):
    """Drives an Adam-like ``torch.optim.Optimizer`` with ``(params, lr, betas, eps[, weight_decay])``.

    Subclasses pick the class (``optimizer_class``), extra constructor flags (``variant_kwargs``),
    the nesterov keyword, and whether ``weight_decay`` exists.
    """

    device: str = "cpu"
    takes_weight_decay: bool = True
    nesterov_kwarg: str | None = None
    description: str = ""
    # Layouts a probe may find refused by design. A user's class may refuse sparse gradients (as
    # torch.optim.Adam does: SPR-* are then UNSUPPORTED) but not dense ones: the spec's update rules are
    # judged on dense gradients, and a class that could decline them all would be green untested.
    refusable_layouts: tuple[str, ...] = ("dense", "sparse")

    def optimizer_class(self) -> Any:
        raise NotImplementedError

    def variant_kwargs(self) -> dict[str, Any]:
        return {}

    def no_nesterov_reason(self) -> str:
        return f"{self.optimizer_class().__name__} has no nesterov argument"

    # -- availability and declarations --------------------------------------------------------------
    def _backend(self) -> tuple[bool, str]:
        try:
            torch = _torch()
        except ImportError:
            return False, "not available: torch is not installed"
        if self.device == "cuda" and not torch.cuda.is_available():
            return False, "not available: no CUDA device"
        return True, ""

    def available(self) -> tuple[bool, str]:
        """The environment only (torch importable, the device present): an optimizer whose probe step
        fails is available, and its cases run and ERROR -- never a skipped, green adapter."""
        return self._backend()

    @functools.cached_property
    def refused_layouts(self) -> dict[str, str]:
        """Gradient layouts (of ``refusable_layouts``) a float32 probe step refuses, with torch's message:
        the class's design (torch.optim.Adam takes no sparse gradient, SparseAdam no dense one). A class that
        refuses both is broken, not a design: nothing is declared refused, and its cases run and ERROR.
        The design is held to every case (``_run``): a class that takes a refused layout is an ERROR."""
        out: dict[str, str] = {}
        if not self._backend()[0]:
            return out
        for layout in self.refusable_layouts:
            err = self._probe("float32", layout)
            if err:
                out[layout] = err
        return out if len(out) < 2 else {}

    def _probe(self, dtype: str, layout: str) -> str | None:
        """None when one tiny step in ``dtype`` with a ``layout`` gradient succeeds, else the error."""
        torch = _torch()
        try:
            p = torch.nn.Parameter(to_tensor([[0.5, -0.25], [1.0, 2.0]], dtype, self.device))
            g = to_tensor([[0.1, -0.2], [0.3, 0.4]], dtype, self.device)
            if layout == "sparse":
                idx = torch.tensor([[0, 1]], device=self.device)
                g = torch.sparse_coo_tensor(idx, g, (2, 2), check_invariants=True)
            opt = self.optimizer_class()([p], lr=1e-3, **self.variant_kwargs())
            p.grad = g
            opt.step()
        except Exception as e:
            return _one_line(e)
        return None

    @functools.cached_property
    def probed_dtypes(self) -> tuple[str, ...]:
        """Every suite dtype, by design: a dtype whose step raises is an ERROR per case, not a smaller
        declaration (a broken float16 path must not read as UNSUPPORTED)."""
        return tuple(NAMES) if self._backend()[0] else ()

    def device_name(self) -> str:
        torch = _torch()
        if self.device != "cuda":
            return cpu_device()
        if not torch.cuda.is_available():
            return "cuda (no CUDA device here)"
        try:  # torch has no driver-version API; collect_env asks nvidia-smi
            from torch.utils import collect_env

            driver = f", driver {collect_env.get_nvidia_driver_version(collect_env.run)}"
        except Exception:
            driver = ""
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}{driver})"

    def declarations(self) -> tuple[dict[str, Support], dict[str, str]]:
        """Per-clause support and notes, from the class's arguments and the layout probes."""
        E, U = Support.EMULATED, Support.UNSUPPORTED
        s: dict[str, Support] = {}
        n: dict[str, str] = {}

        def put(clauses: str, support: Support, note: str) -> None:
            for c in clauses.split():
                s[c], n[c] = support, note

        put("LR-FIXED", E, "float/int/bool go to torch as given; a 0-d tensor is passed as float(value)")
        put("LR-SEQUENCE", E, "group['lr'] is set to element i before update i (construction gets element 0); "
            "stepping past the end is Unsupported")
        put("LR-SCHEDULE", E, "group['lr'] = adapters.lr_port value at global step i before update i; "
            "dynamic_lr lists as a sequence")
        put("GRP-ORDER", E, "torch has no order_params: parameters are listed in that order inside their groups")
        put("DEC-LOSS-SCALE", E, "each gradient is divided by loss_scale (in the parameter dtype) before step(); "
            "torch then adds weight_decay*w itself: g/ls + wd*w")
        put("VAL-POSITIVE", Support.NATIVE, "eps is checked by torch; loss_scale is no torch argument: "
            "its cases are Unsupported")
        put("VAL-LR-TYPE", Support.NATIVE, "a list/1-d tensor/schedule lr is mapped as the emulation maps it: "
            "construction gets its first value")
        if self.takes_weight_decay:
            put("DEC-FILTER", E, "ungrouped: names containing 'beta'/'gamma' go to a second param group "
                "with weight_decay=0")
        else:
            put("DEC-L2 DEC-FILTER DEC-GROUP DEC-LOSS-SCALE SPR-DECAY VAL-WD-TYPE VAL-WD-RANGE", U,
                f"{self.optimizer_class().__name__} has no weight_decay argument")
        if "dense" in self.refused_layouts:
            from conformance.clauses import CLAUSES

            dense = " ".join(c.id for c in CLAUSES if c.family in ("UPD", "LR", "GRP", "DEC"))
            put(dense, U, f"only sparse gradients are accepted by design (dense refused: "
                f"{self.refused_layouts['dense']}); these clauses' dense cases cannot be put to it -- the "
                "update rule is judged through the SPR-* clauses")
            put("GRP-GC", U, "only sparse gradients are accepted, and a sparse gradient cannot be centralized "
                "without densifying it")
        else:
            put("GRP-GC", E, "a centralized group gets weight_decay=0 and the adapter hands step() "
                "centralize(g + wd*ls*w)/ls in the parameter dtype: the spec's order (decay, centralize, "
                "divide by loss_scale), which torch's own decay (added inside step) cannot follow")
        if self.nesterov_kwarg is None:
            put("UPD-NESTEROV SPR-NESTEROV", U, self.no_nesterov_reason())
            put("VAL-BOOL-TYPE", U, "no use_locking/use_nesterov arguments")
        else:
            put("VAL-BOOL-TYPE", Support.NATIVE, f"use_nesterov goes to '{self.nesterov_kwarg}'; there is no "
                "use_locking argument: its cases are Unsupported")
        if "sparse" in self.refused_layouts:
            put("SPR-DENSE-EQUIV SPR-DUPLICATES SPR-DECAY SPR-NESTEROV", U,
                f"sparse gradients refused: {self.refused_layouts['sparse']}")
        return s, n

    def info(self) -> AdapterInfo:
        torch = _torch()
        support, notes = self.declarations()
        return AdapterInfo(self.name, self.description, {"torch": torch.__version__, "numpy": np.__version__},
                           self.device_name(), self.probed_dtypes, support, notes)

    # -- one case -----------------------------------------------------------------------------------
    def run(self, case: Case) -> Outcome:
        try:
            return self._run(case)
        except Skip as e:  # declines are returned before the class runs; one escaping from its code is a raise
            return raised(e, "step")

    def _run(self, case: Case) -> Outcome:
        out = self._run_one(case)
        if case.kind != "steps" or not isinstance(out, Ran):
            return out
        for layout in sorted(self.refused_layouts):  # a refusal by design holds for this case's content too
            probe = with_layout(case, layout)
            if probe is None:
                continue
            again = self._run_one(probe)  # holds a refused layout: a step that runs is an InconsistentRefusal
            if isinstance(again, Raised) and again.type == INCONSISTENT:
                return self._inconsistent(layout, f"this case's first update with its gradients made {layout}", 0)
        return out

    def _inconsistent(self, layout: str, what: str, step: int) -> Raised:
        return Raised(INCONSISTENT, f"the probe step refused {layout} gradients ({self.refused_layouts[layout]}), "
                      f"but {what} ran: a layout refused by design must be refused every time", "step", step)

    def _run_one(self, case: Case) -> Outcome:
        torch = _torch()
        refused: list[str] = []
        if case.kind == "steps":  # a layout the probe saw refused is still put to the class: refused every time
            layouts = {"sparse" if case.is_sparse(n) else "dense" for n in case.names}
            refused = sorted(layouts & set(self.refused_layouts))
        # Everything the adapter declines is found here, before the class under test runs at all: from its
        # constructor on, every exception is the implementation's (an implementation must not be able to
        # decline the cases it would fail by raising the adapter's Skip, from its own code or through
        # objects it hands the adapter).
        try:
            hyper = {**DEFAULTS, **case.hyperparameters()}
            kwargs, lr_fn = self._constructor_kwargs(hyper, case.kind)
            params = {n: torch.nn.Parameter(to_tensor(x, case.dtype, self.device))
                      for n, x in case.param_values().items()}
            raw = case.raw_params_arg()
            if raw is not None:
                arg, group_lr, gc = _map_raw(raw, params), [], {}
            else:
                arg, group_lr, gc = self._groups(case, params, hyper["weight_decay"])
            steps = case.num_steps if case.kind == "steps" else 0
            table = {fn: None if fn is None else [fn(i) for i in range(steps)]  # every update's lr, now (a
                     for fn in (lr_fn, *group_lr) if fn is not INHERIT}         # sequence's end is a Skip)
            _check_sparse_centralization(case, gc)
        except Skip as e:
            return Unsupported(str(e))
        try:
            opt = self.optimizer_class()(arg, **kwargs)
        except Exception as e:
            if refused:  # these gradients cannot reach it: what its constructor says of the rest is not judged
                return Unsupported(f"{refused[0]} gradients refused: {self.refused_layouts[refused[0]]}")
            return raised(e, "construct")
        if case.kind == "construct":
            return Ran([], {})
        try:
            lr_values = ([table[lr_fn if fn is INHERIT else fn] for fn in group_lr]
                         or [table[lr_fn]] * len(opt.param_groups))
        except Exception as e:
            return raised(e, "construct")
        return self._steps(case, opt, params, lr_values, gc, hyper["loss_scale"])

    def _constructor_kwargs(self, h: dict[str, Any], kind: str) -> tuple[dict[str, Any], LrFn | None]:
        """torch keyword arguments; Skip for what torch has no argument for."""
        ls = h["loss_scale"]
        if not (isinstance(ls, float) and 0 < ls < float("inf")):
            raise Skip(f"loss_scale={ls!r}: torch has no loss_scale argument to validate it")
        if not isinstance(h["use_locking"], bool):
            raise Skip(f"use_locking={h['use_locking']!r}: torch has no use_locking argument to validate it")
        lr0, lr_fn = lr_plan(h["learning_rate"])
        kw: dict[str, Any] = {"lr": lr0, "betas": (literal(h["beta1"]), literal(h["beta2"])), "eps": literal(h["eps"])}
        if self.nesterov_kwarg is not None:
            kw[self.nesterov_kwarg] = h["use_nesterov"]
        elif h["use_nesterov"] is not False:
            raise Skip(f"use_nesterov={h['use_nesterov']!r}: {self.no_nesterov_reason()}")
        wd = h["weight_decay"]
        if self.takes_weight_decay:
            kw["weight_decay"] = literal(wd)
        elif wd is not False and wd != 0:
            raise Skip(f"weight_decay={wd!r}: {self.optimizer_class().__name__} has no weight_decay argument")
        return {**kw, **self.variant_kwargs()}, lr_fn

    def _groups(self, case: Case, params: dict[str, Any], wd: Any
                ) -> tuple[list[Any], list[Any], dict[str, float]]:
        """torch param groups (or a plain list); per group its lr function (None: its own fixed lr, INHERIT:
        the optimizer's); the names to centralize with the weight decay the adapter adds for them."""
        groups = case.param_groups()
        if groups is None:
            if not self.takes_weight_decay:
                return list(params.values()), [], {}
            plain = [p for n, p in params.items() if "beta" not in n and "gamma" not in n]
            nodecay = [p for n, p in params.items() if "beta" in n or "gamma" in n]
            if not nodecay:
                return plain, [], {}
            out = ([{"params": plain}] if plain else []) + [{"params": nodecay, "weight_decay": 0.0}]
            return out, [INHERIT] * len(out), {}
        order = next((g.names for g in groups if isinstance(g, OrderParams) and g.names), None)
        out: list[Any] = []
        fns: list[Any] = []
        gc: dict[str, float] = {}
        for g in groups:
            if not isinstance(g, Group):
                continue
            names = sorted(g.params, key=order.index) if order else list(g.params)
            d: dict[str, Any] = {"params": [params[n] for n in names]}
            fn: Any = INHERIT
            if g.lr is not None:
                d["lr"], fn = lr_plan(g.lr)
            group_wd = wd if g.weight_decay is None else g.weight_decay
            if g.weight_decay is not None:
                if self.takes_weight_decay:
                    d["weight_decay"] = literal(g.weight_decay)
                elif g.weight_decay != 0:
                    raise Skip(f"group weight_decay={g.weight_decay!r}: no weight_decay argument")
            if g.grad_centralization:
                if self.takes_weight_decay:
                    d["weight_decay"] = 0.0  # the adapter adds the decay where the spec puts it
                try:
                    decay = float(group_wd) if self.takes_weight_decay else 0.0
                except (TypeError, ValueError):
                    raise Skip(f"weight_decay={group_wd!r} with grad_centralization: the emulated decay "
                               "needs a number") from None
                gc.update({n: decay for n in names})
            out.append(d)
            fns.append(fn)
        return out, fns, gc

    def _steps(self, case: Case, opt: Any, params: dict[str, Any], lr_values: list[list[Any] | None],
               gc: dict[str, float], loss_scale: float) -> Outcome:
        steps = []
        for i in range(case.num_steps):
            grads = case.gradients(i)
            try:  # param_groups and state are the class's objects: whatever they raise, Skip included, is its
                for group, values in zip(opt.param_groups, lr_values):
                    if values is not None:
                        group["lr"] = values[i]
                for n, p in params.items():
                    p.grad = self._gradient(grads[n], case.dtype, loss_scale, gc.get(n), p)
            except Exception as e:
                return raised(e, "step", i)
            layouts = {"sparse" if isinstance(g, SparseGrad) else "dense" for g in grads.values()}
            refused = sorted(layouts & set(self.refused_layouts))
            try:
                opt.step()
            except Exception as e:  # Skip included: the class under test raising the adapter's decline is a raise
                if refused:
                    return Unsupported(f"{refused[0]} gradients refused: {_one_line(e)}")
                return raised(e, "step", i)
            if refused:  # the probe's refusal was not a design: the class takes these gradients after all
                return self._inconsistent(refused[0], f"update {i} with {refused[0]} gradients", i)
            try:
                steps.append({n: self._state(opt, p) for n, p in params.items()})
            except Exception as e:
                return raised(e, "step", i)
        return Ran(steps, {n: str(p.dtype).removeprefix("torch.") for n, p in params.items()})

    def _gradient(self, g: np.ndarray | SparseGrad, dtype: str, loss_scale: float, gc_decay: float | None,
                  p: Any) -> Any:
        """The tensor assigned to ``p.grad``: sparse COO exactly as given (uncoalesced), divided by loss_scale;
        in a centralized group (``gc_decay`` not None) the spec's whole decay-centralize-divide chain."""
        torch = _torch()
        if isinstance(g, SparseGrad):
            values = to_tensor(g.values, dtype, self.device)
            if loss_scale != 1.0:
                values = values / loss_scale
            idx = torch.from_numpy(np.asarray(g.indices, dtype=np.int64)[None].copy()).to(self.device)
            return torch.sparse_coo_tensor(idx, values, g.dense_shape, check_invariants=True)
        t = to_tensor(g, dtype, self.device)
        if gc_decay is not None:
            return centralized_gradient(t, p, gc_decay, loss_scale)
        return t / loss_scale if loss_scale != 1.0 else t

    @staticmethod
    def _state(opt: Any, p: Any) -> StepState:
        st = opt.state.get(p, {})
        m, v = st.get("exp_avg"), st.get("exp_avg_sq")
        return StepState(to_numpy(p), None if m is None else to_numpy(m), None if v is None else to_numpy(v))


def with_layout(case: Case, layout: str) -> Case | None:
    """The case's first update with every gradient in ``layout`` (a dense one as sparse rows 0..n-1, a sparse
    one densified), or None when no gradient can take it: what a class refusing ``layout`` by design must
    refuse, on the very content it was just given."""
    step = case.gradients(0) if case.num_steps else {}
    shapes = {p.name: p.shape for p in case.params}
    out: dict[str, Any] = {}
    changed = False
    for name, g in step.items():
        if layout == "dense" and isinstance(g, SparseGrad):
            dense = np.zeros(g.dense_shape)
            np.add.at(dense, np.asarray(g.indices, dtype=np.int64), np.asarray(g.values))
            out[name], changed = {"dense": dense.tolist()}, True
        elif layout == "sparse" and not isinstance(g, SparseGrad) and len(shapes[name]) >= 1 and shapes[name][0]:
            out[name] = {"sparse": {"indices": list(range(shapes[name][0])), "values": np.asarray(g).tolist()}}
            changed = True
        else:
            out[name] = case.grads[0][name]
    return dataclasses.replace(case, grads=(out,)) if changed else None


def _check_sparse_centralization(case: Case, gc: dict[str, float]) -> None:
    """Skip a case whose centralized group gets a sparse gradient (found before the class runs)."""
    if not gc or not any(case.is_sparse(n) for n in gc):  # most cases: no gradient to decode twice
        return
    for i in range(case.num_steps if case.kind == "steps" else 0):
        for n, g in case.gradients(i).items():
            if isinstance(g, SparseGrad) and n in gc and (_qualifies_for_gc(g.dense_shape) or gc[n]):
                raise Skip("grad_centralization of a sparse gradient: torch cannot centralize (or decay) a "
                           "sparse COO gradient without densifying it")


def _map_raw(value: Any, params: dict[str, Any]) -> Any:
    """A case's literal params argument: ParamRef -> Parameter, ``$iter`` -> a one-shot iterator handed to
    torch itself, ``$none`` -> None, group lrs as the emulation maps them."""
    if isinstance(value, ParamRef):
        return params[value.name]
    if isinstance(value, IterValue):
        return iter([_map_raw(v, params) for v in value.items])
    if isinstance(value, NoneValue):
        return None
    if isinstance(value, TensorValue):
        return literal(value)
    if isinstance(value, dict):
        return {k: _group_lr(v) if k == "lr" else _map_raw(v, params) for k, v in value.items()}
    if isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields")):
        return type(value)(_map_raw(v, params) for v in value)
    return value


def _group_lr(value: Any) -> Any:
    """A raw group's lr: a fixed one as torch takes it; a sequence cannot reach torch with its length."""
    lr0, fn = lr_plan(value)
    if fn is not None and not isinstance(value, ScheduleValue):
        raise Skip("a group lr sequence in a literal params argument: torch has no sequence lr, so its length "
                   "(which the spec checks against the other sequences) cannot reach torch")
    return lr0


class TorchAdam(TorchOptimizerAdapter):
    """``torch.optim.Adam`` on ``device`` ("cpu" | "cuda") as ``variant`` ("single" | "foreach" | "fused")."""

    def __init__(self, device: str = "cpu", variant: str = "single") -> None:
        if device not in ("cpu", "cuda") or variant not in VARIANTS:
            raise ValueError(f"torch adapter: device must be cpu|cuda and variant one of {list(VARIANTS)}, "
                             f"got {device!r}, {variant!r}")
        self.device, self.variant = device, variant
        self.name = f"torch-{device}-{variant}"
        flags = ", ".join(f"{k}={v}" for k, v in self.variant_kwargs().items())
        self.description = f"torch.optim.Adam({flags}) on {device}"

    def optimizer_class(self) -> Any:
        return _torch().optim.Adam

    def variant_kwargs(self) -> dict[str, Any]:
        return {**VARIANTS[self.variant], **({"capturable": True} if self.device == "cuda" else {})}

    def no_nesterov_reason(self) -> str:
        return "torch.optim.Adam has no nesterov argument (NAdam is another algorithm)"


class TorchSparseAdam(TorchOptimizerAdapter):
    """``torch.optim.SparseAdam`` on CPU: sparse gradients only, no weight_decay, no nesterov."""

    name = "torch-sparseadam"
    takes_weight_decay = False
    description = "torch.optim.SparseAdam on cpu (sparse gradients only: dense-gradient cases are Unsupported)"

    def optimizer_class(self) -> Any:
        return _torch().optim.SparseAdam


def make(name: str) -> TorchOptimizerAdapter:
    """The adapter called ``name`` (one of ``NAMES_TORCH``)."""
    if name == "torch-sparseadam":
        return TorchSparseAdam()
    parts = name.split("-")
    if name not in NAMES_TORCH or len(parts) != 3:
        raise ValueError(f"unknown torch adapter {name!r}; expected one of {', '.join(NAMES_TORCH)}")
    return TorchAdam(parts[1], parts[2])

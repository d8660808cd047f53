"""The executable spec: ``mindspore.nn.Adam`` in NumPy float64, one small function per clause.

Read top to bottom: the update (UPD-*), the gradient the update sees (DEC-*, GRP-GC, SPR-*), the
learning rate of step i (LR-*), then ``Adam``, which validates its arguments like the seed's
constructor (VAL-*) and runs gradients into a full trajectory of w, m and v after every step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .precision import hyper_dtype, round_scalar, round_to
from .schedules import DynamicLR, Schedule, dynamic_lr_values, schedule_value
from .sparse import Sparse, densify
from .validate import check_constructor

Gradient = np.ndarray | Sparse


class Param(NamedTuple):
    """A named parameter, as ``mindspore.Parameter``: the name drives DEC-FILTER."""

    name: str
    value: np.ndarray


class StepTrace(NamedTuple):
    """One parameter after one update; ``g_eff`` is the gradient the update saw."""

    w: np.ndarray
    m: np.ndarray
    v: np.ndarray
    g_eff: np.ndarray
    lr: float
    weight_decay: float


class Trajectory(NamedTuple):
    """Every parameter after every update, in the optimizer's parameter order."""

    order: tuple[str, ...]
    steps: tuple[dict[str, StepTrace], ...]


# ---- UPD: the update ---------------------------------------------------------------------------

def moments(m: np.ndarray, v: np.ndarray, g: np.ndarray, beta1: float, beta2: float) -> tuple[np.ndarray, np.ndarray]:
    """UPD-MOMENTS: exponential moving averages of g and g*g."""
    # In-place on fresh arrays only: the inputs are never modified, big tensors allocate less.
    m_new = np.multiply(g, 1.0 - beta1)
    m_new += beta1 * m
    v_new = np.multiply(g, g)
    v_new *= 1.0 - beta2
    v_new += beta2 * v
    return m_new, v_new


def step_size(lr: float, beta1: float, beta2: float, t: int) -> float:
    """UPD-BIAS: bias correction lives in the step size only; t = 1 for the first update."""
    return lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)


def numerator(m: np.ndarray, g: np.ndarray, beta1: float, use_nesterov: bool) -> np.ndarray:
    """UPD-NESTEROV: the look-ahead numerator uses the already-updated m."""
    return beta1 * m + (1.0 - beta1) * g if use_nesterov else m


def apply_update(w: np.ndarray, num: np.ndarray, v: np.ndarray, l: float, eps: float) -> np.ndarray:
    """UPD-EPS: the epsilon-hat form -- eps is added to sqrt of the *uncorrected* v."""
    denom = np.sqrt(v)
    denom += eps
    step = np.multiply(num, l)
    step /= denom
    return w - step


# ---- DEC / GRP-GC / SPR: the gradient the update sees ----------------------------------------

def decays(name: str, grouped: bool) -> bool:
    """DEC-FILTER: ungrouped parameters named with 'beta' or 'gamma' are not decayed."""
    return grouped or ("beta" not in name and "gamma" not in name)


def centralize(g: np.ndarray) -> np.ndarray:
    """GRP-GC: subtract the mean over all axes but 0, for ndim >= 2 and shape[1] % 16 == 0."""
    if g.ndim < 2 or g.shape[1] % 16 != 0 or g.size == 0:
        return g
    return g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)


def effective_gradient(g: np.ndarray, w: np.ndarray, weight_decay: float, loss_scale: float,
                       grad_centralization: bool) -> np.ndarray:
    """DEC-L2 and DEC-LOSS-SCALE: g / loss_scale + weight_decay * w, centralized if asked."""
    ge = g / loss_scale + weight_decay * w if weight_decay else g / loss_scale
    return centralize(ge) if grad_centralization else ge


def as_dense(grad: Gradient) -> np.ndarray:
    """SPR-DENSE-EQUIV, SPR-DUPLICATES: a sparse gradient is its densified form."""
    return densify(grad) if isinstance(grad, Sparse) else np.asarray(grad, dtype=np.float64)


def received_gradient(grad: Gradient, dtype: str) -> np.ndarray:
    """The dense gradient an implementation in ``dtype`` sees: sparse values arrive rounded, then sum."""
    if isinstance(grad, Sparse):
        return densify(grad._replace(values=round_to(grad.values, dtype)))
    return round_to(grad, dtype)


# ---- LR: the learning rate of update i (0-based) -----------------------------------------------

def learning_rate_at(lr: object, i: int) -> float:
    """LR-FIXED, LR-SEQUENCE, LR-SCHEDULE: the value update ``i`` uses (unrounded)."""
    if isinstance(lr, Schedule):
        return schedule_value(lr, i)
    if isinstance(lr, DynamicLR):
        return _element(dynamic_lr_values(lr), i)
    if isinstance(lr, (int, float)):
        return float(lr)
    if isinstance(lr, np.ndarray) and lr.ndim == 0:
        return float(lr)
    return _element(list(np.asarray(list(lr), dtype=np.float64).ravel()) if not isinstance(lr, np.ndarray)
                    else list(lr), i)


def _element(values: Sequence[float], i: int) -> float:
    if i >= len(values):
        raise IndexError(f"learning-rate sequence has {len(values)} values; update {i + 1} needs one more")
    return float(values[i])


# ---- the optimizer ------------------------------------------------------------------------------

class _Group(NamedTuple):
    names: tuple[str, ...]
    lr: object
    weight_decay: float
    grad_centralization: bool


class Adam:
    """``nn.Adam``'s constructor and its updates, computed in float64 from received values.

    ``received_as`` is required: it is the dtype the implementation under test holds its
    parameters in. Parameters and gradients are rounded to it, hyperparameters to where
    implementations hold them (``precision.hyper_dtype``), before anything is computed -- so the
    reference answers "what should this implementation have produced from what it was given".
    """

    def __init__(self, params: Iterable[Param] | Iterable[dict[str, Any]], learning_rate: object = 1e-3,
                 beta1: object = 0.9, beta2: object = 0.999, eps: object = 1e-8, use_locking: object = False,
                 use_nesterov: object = False, weight_decay: object = 0.0, loss_scale: object = 1.0, *,
                 received_as: str) -> None:
        items, learning_rate = check_constructor(params, learning_rate, beta1, beta2, eps, use_locking,
                                                 use_nesterov, weight_decay, loss_scale, Param)
        self.dtype = received_as
        h = hyper_dtype(received_as)
        self._h = h
        self.beta1, self.beta2 = round_scalar(beta1, h), round_scalar(beta2, h)
        self.eps, self.loss_scale = round_scalar(eps, h), round_scalar(loss_scale, h)
        self.use_nesterov = bool(use_nesterov)
        self.grouped = isinstance(items[0], dict)
        groups, order = self._groups(items, learning_rate, float(weight_decay))  # type: ignore[arg-type]
        self.groups = groups
        self.values = {p.name: round_to(p.value, received_as) for p in _all_params(items)}
        self.order = order

    @staticmethod
    def _lr_once(lr: object) -> object:
        """An iterable learning rate is read once (a generator can be iterated only once)."""
        if isinstance(lr, (int, float, np.ndarray, Schedule, DynamicLR)):
            return lr
        return [float(x) for x in lr]  # type: ignore[attr-defined]

    def _groups(self, items: list[Any], learning_rate: object, weight_decay: float
                ) -> tuple[list[_Group], tuple[str, ...]]:
        learning_rate = self._lr_once(learning_rate)
        if not self.grouped:
            names = tuple(p.name for p in items)
            return [_Group(names, learning_rate, weight_decay, False)], names
        groups, order = [], ()
        for g in items:
            if "order_params" in g:
                order = tuple(p.name for p in g["order_params"])
                continue
            groups.append(_Group(tuple(p.name for p in g["params"]), self._lr_once(g.get("lr", learning_rate)),
                                 float(g.get("weight_decay", weight_decay)), g.get("grad_centralization", False)))
        return groups, order or tuple(n for grp in groups for n in grp.names)

    def run(self, gradients: Iterable[Mapping[str, Gradient]]) -> Trajectory:
        """Apply one update per mapping of gradients (every parameter needs one each step)."""
        w = dict(self.values)
        m = {n: np.zeros_like(x) for n, x in w.items()}
        v = {n: np.zeros_like(x) for n, x in w.items()}
        steps = []
        for i, grads in enumerate(gradients):
            t = i + 1
            trace = {}
            for group in self.groups:
                lr = round_scalar(learning_rate_at(group.lr, i), self._h)
                wd = round_scalar(group.weight_decay, self._h)
                l = step_size(lr, self.beta1, self.beta2, t)
                for name in group.names:
                    g = received_gradient(grads[name], self.dtype)
                    if g.shape != w[name].shape:
                        raise ValueError(f"gradient of {name!r} has shape {g.shape}, parameter {w[name].shape}")
                    wd_n = wd if decays(name, self.grouped) else 0.0
                    ge = effective_gradient(g, w[name], wd_n, self.loss_scale, group.grad_centralization)
                    m[name], v[name] = moments(m[name], v[name], ge, self.beta1, self.beta2)
                    num = numerator(m[name], ge, self.beta1, self.use_nesterov)
                    w[name] = apply_update(w[name], num, v[name], l, self.eps)
                    trace[name] = StepTrace(w[name], m[name], v[name], ge, lr, wd_n)
            steps.append({n: trace[n] for n in self.order})
        return Trajectory(self.order, tuple(steps))


def _all_params(items: list[Any]) -> list[Param]:
    if not isinstance(items[0], dict):
        return items
    return [p for g in items if "params" in g for p in g["params"]]

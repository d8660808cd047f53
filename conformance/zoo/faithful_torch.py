"""A faithful user-written ``torch.optim.Optimizer``: mindspore.nn.Adam's semantics behind torch.optim.Adam's
constructor.

Why it exists: the generic ``torch:MOD:CLASS`` adapter is only trustworthy if a *correct* optimizer run
through it passes every clause the adapter declares native or emulated, in every dtype. This class is that
correct optimizer, written the way a user porting MindSpore code to torch would write it -- it does not
import the reference (it is an independent implementation) and it is not torch's built-in Adam (whose
epsilon form differs from the spec). Helper zoos build faulty variants by subclassing and overriding one
small method each (``moments``, ``step_size``, ``numerator``, ``apply``, ``check_*``).

What it implements (SPEC-NOTES sections 1-5):
- the epsilon-hat update ``w -= lr*sqrt(1-b2^t)/(1-b1^t) * num / (sqrt(v) + eps)``, ``num = m`` or the
  nesterov look-ahead ``b1*m + (1-b1)*g``; coupled L2 decay ``g + wd*w`` when ``weight_decay`` is non-zero;
- sparse gradients as their densified form (duplicates summed);
- float16/bfloat16 computed in float32 (opmath) from the stored state, results stored in the parameter
  dtype; float32/float64 computed in their own dtype; hyperparameters are Python floats;
- the constructor's "Raises" section with MindSpore's exception types, in the seed's argument order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")
HALF = (torch.float16, torch.bfloat16)


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_lr(lr: object, name: str = "lr") -> None:
    """int/float (bool counts as int) >= 0 and finite; a Tensor lr must be 0-d or 1-d."""
    if isinstance(lr, torch.Tensor):
        if lr.dim() > 1:
            raise ValueError(f"{name} as a Tensor must be 0-d or 1-d, got {lr.dim()}-d")
        return
    if isinstance(lr, (int, float)):
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"{name} must be a finite float or int >= 0, got {lr!r}")
        return
    if callable(lr) or (isinstance(lr, Iterable) and not isinstance(lr, (str, bytes, Mapping))):
        return
    raise TypeError(f"{name} must be int, float, Tensor, Iterable or a schedule, got {type(lr).__name__}")


def check_beta(b: object, name: str) -> None:
    if not isinstance(b, float):
        raise TypeError(f"{name} must be a float, got {type(b).__name__}")
    if not 0.0 < b < 1.0:
        raise ValueError(f"{name} must be in (0.0, 1.0), got {b!r}")


def check_positive(x: object, name: str) -> None:
    if not isinstance(x, float):
        raise TypeError(f"{name} must be a float, got {type(x).__name__}")
    if not (x > 0.0 and math.isfinite(x)):
        raise ValueError(f"{name} must be a finite float > 0, got {x!r}")


def check_weight_decay(wd: object, name: str = "weight_decay") -> None:
    if not _is_real(wd):
        raise TypeError(f"{name} must be a float or int, got {type(wd).__name__}")
    if not (wd >= 0 and math.isfinite(wd)):
        raise ValueError(f"{name} must be a finite number >= 0, got {wd!r}")


def check_bool(x: object, name: str) -> None:
    if not isinstance(x, bool):
        raise TypeError(f"{name} must be a bool, got {type(x).__name__}")


def _seq_len(lr: object) -> int | None:
    if isinstance(lr, torch.Tensor):
        return lr.numel() if lr.dim() == 1 else None
    return len(lr) if isinstance(lr, (list, tuple)) else None


def check_groups(groups: list[dict[str, Any]], lr: object) -> None:
    """MindSpore's group rules: known keys, non-empty Parameter lists, no Parameter twice, equal lr lengths."""
    seen: list[int] = []
    length = _seq_len(lr)
    order: list[Any] | None = None
    for k, g in enumerate(groups):
        unknown = [key for key in g if key not in GROUP_KEYS]
        if unknown:
            raise KeyError(f"group {k} has unknown key(s) {unknown}")
        if "order_params" in g:
            if len(g) > 1:
                raise ValueError(f"group {k}: an order_params dict may hold no other key")
            order = list(g["order_params"])
            continue
        if "params" not in g:
            raise KeyError(f"group {k} has no 'params' key")
        if isinstance(g["params"], torch.Tensor) or not isinstance(g["params"], Iterable):
            raise TypeError(f"group {k}: 'params' must be a list of Parameter, got {type(g['params']).__name__}")
        members = list(g["params"])
        if not members:
            raise ValueError(f"group {k}: 'params' must not be empty")
        for i, p in enumerate(members):
            if not isinstance(p, torch.nn.Parameter):
                raise TypeError(f"group {k}: params[{i}] must be a Parameter, got {type(p).__name__}")
            if id(p) in seen:
                raise RuntimeError(f"group {k}: a parameter is already in another group")
            seen.append(id(p))
        if "lr" in g:
            check_lr(g["lr"], f"group {k} lr")
            n = _seq_len(g["lr"])
            if n is not None:
                if length is not None and n != length:
                    raise ValueError(f"group {k} lr has {n} values, the other sequence learning rates {length}")
                length = n
        if "weight_decay" in g:
            check_weight_decay(g["weight_decay"], f"group {k} weight_decay")
        if "grad_centralization" in g:
            check_bool(g["grad_centralization"], f"group {k} grad_centralization")
    if order and sorted(id(p) for p in order) != sorted(seen):
        raise ValueError("order_params must list every grouped parameter exactly once")


def check_params(params: object, lr: object) -> list[Any]:
    """The params argument read once (an iterator is fine), checked as MindSpore checks it."""
    if params is None:
        raise ValueError("params must be a non-empty iterable of Parameter or dict, got None")
    if isinstance(params, torch.Tensor) or not isinstance(params, Iterable) or isinstance(params, (str, Mapping)):
        raise TypeError(f"params must be an iterable of Parameter or dict, got {type(params).__name__}")
    items = list(params)
    if not items:
        raise ValueError("params must be a non-empty iterable of Parameter or dict, got an empty one")
    if any(isinstance(x, dict) for x in items):
        if not all(isinstance(x, dict) for x in items):
            raise TypeError("params must be all Parameters or all group dicts, not a mix")
        check_groups(items, lr)
        return items
    for i, x in enumerate(items):
        if not isinstance(x, torch.nn.Parameter):
            raise TypeError(f"params[{i}] must be a Parameter or a dict, got {type(x).__name__}")
    if len({id(x) for x in items}) != len(items):
        raise ValueError("the same Parameter appears twice in params")
    return items


class FaithfulAdam(torch.optim.Optimizer):
    """mindspore.nn.Adam's update and validation, constructed like ``torch.optim.Adam``."""

    def __init__(self, params: Any, lr: Any = 1e-3, betas: Any = (0.9, 0.999), eps: Any = 1e-8,
                 weight_decay: Any = 0.0, nesterov: bool = False) -> None:
        check_lr(lr)
        items = check_params(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        check_beta(betas[0], "beta1")
        check_beta(betas[1], "beta2")
        check_positive(eps, "eps")
        check_bool(nesterov, "nesterov")
        check_weight_decay(weight_decay)
        groups = [g for g in items if not (isinstance(g, dict) and "order_params" in g)]
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(groups, defaults)

    # -- the update, one small overridable piece per clause ---------------------------------------------
    @staticmethod
    def moments(m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, b1: float, b2: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return b1 * m + (1.0 - b1) * g, b2 * v + (1.0 - b2) * g * g

    @staticmethod
    def step_size(lr: float, b1: float, b2: float, t: int) -> float:
        return lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)

    @staticmethod
    def numerator(m: torch.Tensor, g: torch.Tensor, b1: float, nesterov: bool) -> torch.Tensor:
        return b1 * m + (1.0 - b1) * g if nesterov else m

    @staticmethod
    def apply(w: torch.Tensor, num: torch.Tensor, v: torch.Tensor, step: float, eps: float) -> torch.Tensor:
        return w - step * num / (torch.sqrt(v) + eps)

    @staticmethod
    def gradient(grad: torch.Tensor) -> torch.Tensor:
        return grad.coalesce().to_dense() if grad.is_sparse else grad

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None if closure is None else closure()
        for group in self.param_groups:
            b1, b2 = (float(b) for b in group["betas"])
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, self.gradient(p.grad), lr, b1, b2, eps, wd, bool(group["nesterov"]))
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, lr: float, b1: float, b2: float, eps: float,
                wd: float, nesterov: bool) -> None:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        t = state["step"]
        compute = torch.float32 if p.dtype in HALF else p.dtype
        w, g = p.to(compute), grad.to(compute)
        m, v = state["exp_avg"].to(compute), state["exp_avg_sq"].to(compute)
        if wd != 0.0:
            g = g + wd * w
        m, v = self.moments(m, v, g, b1, b2)
        w = self.apply(w, self.numerator(m, g, b1, nesterov), v, self.step_size(lr, b1, b2, t), eps)
        state["exp_avg"].copy_(m)
        state["exp_avg_sq"].copy_(v)
        p.copy_(w)

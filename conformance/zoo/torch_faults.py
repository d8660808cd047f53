"""Deliberately faulty torch optimizers, each the faithful ``FaithfulAdam`` with one realistic bug.

They are run through the generic ``--adapter torch:conformance.zoo.torch_faults:CLASS`` adapter, so the
selftest also proves the generic torch machinery (construction, groups, state readout, sparse, half
dtypes) delivers a user class's bug to the judge. ``FAULTS`` maps each class to the clause it breaks;
each docstring names it. Only the clauses a torch class itself implements can be broken here (decay
filters, loss scale, centralization and schedules are the adapter's emulation, not the class's).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .faithful_torch import HALF, FaithfulAdam, check_bool, check_lr, check_params, check_positive, check_weight_decay


class EpsAfterBiasCorrection(FaithfulAdam):
    """UPD-EPS: torch.optim.Adam's placement, sqrt(v)/sqrt(1-b2^t) + eps, i.e. the epsilon-hat form with
    eps*sqrt(1-b2^t)."""

    def _update(self, p: torch.Tensor, grad: torch.Tensor, lr: float, b1: float, b2: float, eps: float,
                wd: float, nesterov: bool) -> None:
        t = self.state[p].get("step", 0) + 1
        super()._update(p, grad, lr, b1, b2, eps * math.sqrt(1.0 - b2**t), wd, nesterov)


class NoBiasCorrection(FaithfulAdam):
    """UPD-BIAS: the step size is lr itself -- the bias corrections sqrt(1-b2^t)/(1-b1^t) are dropped."""

    @staticmethod
    def step_size(lr: float, b1: float, b2: float, t: int) -> float:
        return lr


class SecondMomentOfAbs(FaithfulAdam):
    """UPD-MOMENTS: the second moment averages |g| instead of g*g."""

    @staticmethod
    def moments(m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, b1: float, b2: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return b1 * m + (1.0 - b1) * g, b2 * v + (1.0 - b2) * g.abs()


class FirstMomentUndamped(FaithfulAdam):
    """UPD-MOMENTS: the first moment forgets to decay: m = m + (1-b1) g."""

    @staticmethod
    def moments(m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, b1: float, b2: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return m + (1.0 - b1) * g, b2 * v + (1.0 - b2) * g * g


class NesterovIgnored(FaithfulAdam):
    """UPD-NESTEROV: ``nesterov`` is accepted but the plain m numerator is always used."""

    @staticmethod
    def numerator(m: torch.Tensor, g: torch.Tensor, b1: float, nesterov: bool) -> torch.Tensor:
        return m


class BetasInParameterDtype(FaithfulAdam):
    """UPD-DTYPE: beta1, beta2 and eps are rounded to the parameter's dtype before use (``torch.tensor(b,
    dtype=p.dtype)``): in bfloat16 beta2 = 0.999 becomes 1.0 and v stays 0; in float16 1 - beta2 is 2.3%
    small."""

    def _update(self, p: torch.Tensor, grad: torch.Tensor, lr: float, b1: float, b2: float, eps: float,
                wd: float, nesterov: bool) -> None:
        held = [float(torch.tensor(x, dtype=p.dtype)) for x in (b1, b2, eps)]
        super()._update(p, grad, lr, held[0], held[1], held[2], wd, nesterov)


class DecoupledDecay(FaithfulAdam):
    """DEC-L2: AdamW's decoupled decay, w -= lr*wd*w beside the step, instead of wd*w in the gradient."""

    def _update(self, p: torch.Tensor, grad: torch.Tensor, lr: float, b1: float, b2: float, eps: float,
                wd: float, nesterov: bool) -> None:
        compute = torch.float32 if p.dtype in HALF else p.dtype
        w0 = p.detach().to(compute)
        super()._update(p, grad, lr, b1, b2, eps, 0.0, nesterov)
        if wd:
            p.copy_(p.to(compute) - lr * wd * w0)


class DefaultsForEveryGroup(FaithfulAdam):
    """GRP-LR: every group is stepped with the optimizer's default lr; a group's own ``lr`` is ignored."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        saved = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = self.defaults["lr"]
        try:
            return super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, saved):
                g["lr"] = lr


class GroupDecayIgnored(FaithfulAdam):
    """DEC-GROUP: every group is decayed with the optimizer's default weight_decay, not its own."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        saved = [g["weight_decay"] for g in self.param_groups]
        for g in self.param_groups:
            g["weight_decay"] = self.defaults["weight_decay"]
        try:
            return super().step(closure)
        finally:
            for g, wd in zip(self.param_groups, saved):
                g["weight_decay"] = wd


class SparseDuplicatesLastWins(FaithfulAdam):
    """SPR-DUPLICATES: a sparse gradient is scattered with assignment, so of repeated indices the last value
    wins instead of their sum."""

    @staticmethod
    def gradient(grad: torch.Tensor) -> torch.Tensor:
        if not grad.is_sparse:
            return grad
        dense = torch.zeros(grad.shape, dtype=grad.dtype)
        idx, values = grad._indices(), grad._values()
        for k in range(idx.shape[1]):
            dense[tuple(idx[:, k].tolist())] = values[k]
        return dense


class BetaRangeHalfOpen(FaithfulAdam):
    """VAL-BETA-RANGE: betas checked against [0, 1) (torch.optim.Adam's check), so beta = 0.0 is accepted."""

    def __init__(self, params: Any, lr: Any = 1e-3, betas: Any = (0.9, 0.999), eps: Any = 1e-8,
                 weight_decay: Any = 0.0, nesterov: bool = False) -> None:
        check_lr(lr)
        items = check_params(params, lr)
        for name, b in zip(("beta1", "beta2"), betas):
            if not isinstance(b, float):
                raise TypeError(f"{name} must be a float")
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")
        check_positive(eps, "eps")
        check_bool(nesterov, "nesterov")
        check_weight_decay(weight_decay)
        groups = [g for g in items if not (isinstance(g, dict) and "order_params" in g)]
        torch.optim.Optimizer.__init__(self, groups, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                                       "weight_decay": weight_decay, "nesterov": nesterov})


FAULTS: dict[type[FaithfulAdam], str] = {
    EpsAfterBiasCorrection: "UPD-EPS",
    NoBiasCorrection: "UPD-BIAS",
    SecondMomentOfAbs: "UPD-MOMENTS",
    FirstMomentUndamped: "UPD-MOMENTS",
    NesterovIgnored: "UPD-NESTEROV",
    BetasInParameterDtype: "UPD-DTYPE",
    DecoupledDecay: "DEC-L2",
    DefaultsForEveryGroup: "GRP-LR",
    GroupDecayIgnored: "DEC-GROUP",
    SparseDuplicatesLastWins: "SPR-DUPLICATES",
    BetaRangeHalfOpen: "VAL-BETA-RANGE",
}

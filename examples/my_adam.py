"""Worked example for docs/adapters.md: a hand-written torch Adam in the epsilon-hat form.

Run it through the gate with::

    adam-conformance run --adapter torch:examples.my_adam:EpsHatAdam --dtypes float32,float64
"""

from __future__ import annotations

import math

import torch


class EpsHatAdam(torch.optim.Optimizer):
    """Adam as the MindSpore spec writes it: eps added to sqrt of the *uncorrected* v."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if not 0.0 < betas[0] < 1.0 or not 0.0 < betas[1] < 1.0:
            raise ValueError(f"betas must be in (0, 1), got {betas}")
        if not eps > 0.0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not lr >= 0.0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "nesterov": nesterov})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                num = m * b1 + g * (1 - b1) if group["nesterov"] else m
                step_size = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
                p.addcdiv_(num, v.sqrt().add_(group["eps"]), value=-step_size)

"""The step-by-step diff that ``replay`` prints: where, when and by how much a trajectory departs."""

from __future__ import annotations

import numpy as np
from rich.markup import escape
from rich.table import Table

from adapters.base import Outcome, Ran

from .cases import Case
from .errormodel import trajectory_bounds
from .expected import Expected


def step_table(case: Case, exp: Expected, outcome: Outcome, all_steps: bool = False) -> Table | None:
    """One row per (step, parameter, quantity): max |diff|, the bound there, and the worst ratio."""
    if exp.trajectory is None or not isinstance(outcome, Ran) or not outcome.steps:
        return None
    bounds = trajectory_bounds(case, exp.trajectory)
    t = Table("step", "param", "q", "max |diff|", "bound at worst", "worst ratio", "index", "got", "spec",
              title="trajectory diff (ratio > 1 exceeds the error model)")
    for i, (ref_step, got_step, b_step) in enumerate(zip(exp.trajectory.steps, outcome.steps, bounds)):
        for name in exp.trajectory.order:
            got_state = got_step.get(name)
            if got_state is None:
                t.add_row(str(i + 1), name, "-", "missing", "", "", "", "", "")
                continue
            for q in ("w", "m", "v"):
                got = getattr(got_state, q)
                want, lim = getattr(ref_step[name], q), getattr(b_step[name], q)
                if got is None or want.size == 0 or np.shape(got) != want.shape:
                    continue
                got = np.asarray(got, dtype=np.float64)
                with np.errstate(all="ignore"):
                    err = np.abs(got - want)
                    ratio = np.where(err > 0, err / lim, 0.0)
                ratio = np.where(np.isnan(ratio), np.inf, ratio)
                k = int(np.argmax(ratio))
                r = float(ratio.flat[k])
                if not all_steps and r <= 1.0:
                    continue
                idx = np.unravel_index(k, want.shape)
                style = "red" if r > 1 else ""
                t.add_row(str(i + 1), name, q, f"{float(np.nanmax(err)):.3g}", f"{float(lim.flat[k]):.3g}",
                          f"[{style}]{r:.3g}[/]" if style else f"{r:.3g}", escape(str(list(map(int, idx)))),
                          f"{float(got.flat[k]):.9g}", f"{float(want.flat[k]):.9g}")
    return t

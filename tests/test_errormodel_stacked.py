"""The error model's stacked form gives exactly what one update after another gives.

``errormodel.stacked_bounds`` computes every step of a parameter at once where errors cannot feed back
into a gradient (no weight decay), and block by block otherwise. This checks it bit for bit against a
chain of single updates (``_step``: one update from the state before it), over generated cases with
and without decay, grad centralization, sparse rows, nesterov and loss scale, in two dtypes, and under
alternative readings (eps placement scales eps per step; storage-dtype betas replace the scalars).
"""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from conformance.errormodel import (
    Bounds,
    _context,
    _final,
    _lr_error,
    _lr_forms,
    _received_gradient,
    _step,
    stacked_bounds,
)
from conformance.expected import expected
from conformance.generate import generate
from conformance.variants import alternative_trajectories

CLAUSES = ["UPD-EPS", "UPD-NESTEROV", "DEC-L2", "DEC-LOSS-SCALE", "GRP-GC", "GRP-LR", "SPR-DECAY", "LR-SCHEDULE"]


def _chained(case, traj, eps_scale=None, hyper=None) -> dict[str, list[Bounds]]:
    c0 = _context(case, hyper)
    forms, gcs = _lr_forms(case)
    init = {n: ref.round_to(v, case.dtype) for n, v in case.param_values().items()}
    state = {n: (w, np.zeros_like(w), np.zeros_like(w)) for n, w in init.items()}
    err = {n: Bounds(*(np.zeros_like(s[0]) for _ in range(3))) for n, s in state.items()}
    out: dict[str, list[Bounds]] = {n: [] for n in state}
    for i, step in enumerate(traj.steps):
        c = c0 if eps_scale is None else c0._replace(eps=c0.eps * eps_scale(i + 1))
        grads = case.gradients(i)
        for n, tr in step.items():
            g_abs, dg_in = _received_gradient(grads[n], case.dtype, c.un.u)
            e = _step(c, i + 1, tr, state[n], err[n], g_abs, dg_in, gcs[n], _lr_error(forms[n], tr.lr, i, c.un.uh))
            err[n], state[n] = e, (tr.w, tr.m, tr.v)
            out[n].append(Bounds(*(_final(x, y, c.un) for x, y in zip(e, (tr.w, tr.m, tr.v)))))
    return out


def _same(stacked: dict[str, Bounds], chained: dict[str, list[Bounds]], what: str) -> None:
    assert stacked.keys() == chained.keys(), what
    for n, rows in chained.items():
        for q in ("w", "m", "v"):
            want = np.stack([getattr(r, q) for r in rows])
            got = getattr(stacked[n], q)
            assert got.shape == want.shape and got.tobytes() == want.tobytes(), f"{what}: {q} of {n!r} differs"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_stacked_bounds_equal_one_update_after_another(dtype: str) -> None:
    cases = [c for c in generate(CLAUSES, [dtype], 0, 3) if c.kind != "construct" and c.num_steps]
    assert len(cases) >= 20
    kinds = {"decay": 0, "no decay": 0, "alternatives": 0}
    for case in cases:
        traj = expected(case).trajectory
        if traj is None:
            continue
        decays = any(s.weight_decay for step in traj.steps for s in step.values())
        kinds["decay" if decays else "no decay"] += 1
        _same(stacked_bounds(case, traj), _chained(case, traj), case.id)
        for readings, alt, args in alternative_trajectories(case, sizes=(1,)):
            kinds["alternatives"] += 1
            got = stacked_bounds(case, alt, args.eps_scale, args.hyper)
            _same(got, _chained(case, alt, args.eps_scale, args.hyper), f"{case.id} under {[r.key for r in readings]}")
    assert all(kinds.values()), kinds  # every path was exercised

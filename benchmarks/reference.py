"""What the NumPy reference costs on a large tensor, as a ratio to one bare NumPy Adam step.

    python benchmarks/reference.py                  # 10 million float64 elements, best of 5
    python benchmarks/reference.py --n 1000000 --repeat 9

The reference is the executable spec, written to be read first; it must still be cheap enough that
the gate can afford it on big parameters. The floor for any NumPy Adam is the same step written as a
few whole-array expressions (decay, both moments, bias correction, the update); the ratio says how
far the reference is above that floor (it also keeps every step's w, m, v and beta powers as a
trajectory: 1.7 x measured, docs/performance.md; per-element Python would show as hundreds).
A benchmark, not a test: nothing here asserts a time (tests/test_reference_perf.py checks the same
step's values).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reference as ref

LR, B1, B2, EPS, WD = 0.01, 0.9, 0.999, 1e-8, 0.01


def bare_step(w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """One first Adam step as whole-array NumPy expressions: the floor the reference is measured against."""
    ge = g + WD * w
    m = (1 - B1) * ge
    v = (1 - B2) * ge * ge
    lr_t = LR * np.sqrt(1 - B2) / (1 - B1)
    return w - lr_t * m / (np.sqrt(v) + EPS)


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)  # the first runs pay page faults for fresh allocations


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10**7, help="elements of the one float64 parameter")
    p.add_argument("--repeat", type=int, default=5, help="runs of each; the best is reported")
    a = p.parse_args(argv)
    w0 = np.linspace(-1.0, 1.0, a.n)
    g = np.cos(np.arange(a.n, dtype=np.float64))
    opt = ref.Adam([ref.Param("w", w0)], learning_rate=LR, beta1=B1, beta2=B2, eps=EPS, weight_decay=WD,
                   received_as="float64")
    t_ref = best(lambda: opt.run([{"w": g}]), a.repeat)
    t_bare = best(lambda: bare_step(w0, g), a.repeat)
    print(f"reference: one step on {a.n:,} float64 elements: {t_ref:.3f} s (best of {a.repeat})")
    print(f"bare NumPy Adam step, same data:              {t_bare:.3f} s")
    print(f"ratio reference / bare: {t_ref / t_bare:.2f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

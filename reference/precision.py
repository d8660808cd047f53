"""The rounding step: what an implementation actually received.

An implementation in float32 never sees ``lr=0.1``; it sees ``float32(0.1)``. The reference
computes in float64 from exactly those received values, so any difference that remains is the
implementation's arithmetic, not the representation of its inputs.
"""

from __future__ import annotations

import numpy as np

DTYPES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")


def hyper_dtype(dtype: str) -> str:
    """Where hyperparameters live for parameters of ``dtype``.

    Every surveyed implementation holds hyperparameters in at least float32 (torch: Python floats,
    MindSpore: float32 tensors, optax: float32 arrays), so half types get float32 hyperparameters;
    float64 parameters get float64 ones.
    """
    check_dtype(dtype)
    return "float64" if dtype == "float64" else "float32"


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")


def _round_bfloat16(x: np.ndarray) -> np.ndarray:
    # bfloat16 is the top half of a float32: round-to-nearest-even on the dropped 16 bits.
    with np.errstate(over="ignore"):
        f = np.asarray(x, dtype=np.float64).astype(np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    finite = np.isfinite(f)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    out = np.where(finite, rounded, bits).astype(np.uint32).view(np.float32)
    return out.astype(np.float64)


def round_to(x: object, dtype: str) -> np.ndarray:
    """Round ``x`` to ``dtype`` and return it as float64 holding exactly representable values."""
    check_dtype(dtype)
    a = np.asarray(x, dtype=np.float64)
    if dtype == "float64":
        return a
    if dtype == "bfloat16":
        return _round_bfloat16(a)
    with np.errstate(over="ignore"):
        return a.astype(np.dtype(dtype)).astype(np.float64)


_F32_MAX = float(np.finfo(np.float32).max)


def round_scalar(x: float, dtype: str) -> float:
    """``round_to`` for one number (a hyperparameter: once per step and group)."""
    if type(x) is float and dtype in ("float64", "float32"):  # the usual case, without building arrays
        if dtype == "float64":
            return x
        if abs(x) <= _F32_MAX:  # nothing to overflow: the cast round_to makes, on the scalar
            return float(np.float32(x))
    return float(round_to(x, dtype))

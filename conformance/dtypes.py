"""Floating-point formats the suite tests in: unit roundoff, range, and ULP distance.

The engine's own view of dtypes (the reference has its own, NumPy-only rounding; a test checks
the two agree). ULP distance reinterprets floats as sign-magnitude integers, as
``numpy.testing.assert_array_max_ulp`` does.
"""

from __future__ import annotations

from typing import NamedTuple

import ml_dtypes
import numpy as np

NAMES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")


class Format(NamedTuple):
    name: str
    np_type: type
    unit_roundoff: float  # u = 2**-p: the relative error of one correctly rounded operation
    tiny_abs: float  # the absolute error of an underflowing operation (see _fmt)
    max: float
    int_type: type


def _fmt(name: str, np_type: type, int_type: type) -> Format:
    info = ml_dtypes.finfo(np_type) if np_type is ml_dtypes.bfloat16 else np.finfo(np_type)
    u = float(info.eps) / 2
    # Underflow: float16 keeps gradual underflow (its subnormals matter: the smallest normal is
    # 6e-5); for float32/bfloat16/float64, flushing subnormals to zero (XLA on CPU, CUDA -ftz) is a
    # faithful choice, so an underflowing result may be off by up to the smallest normal number.
    tiny = float(info.smallest_subnormal) / 2 if name == "float16" else float(info.tiny)
    return Format(name, np_type, u, tiny, float(info.max), int_type)


FORMATS: dict[str, Format] = {
    "float64": _fmt("float64", np.float64, np.int64),
    "float32": _fmt("float32", np.float32, np.int32),
    "float16": _fmt("float16", np.float16, np.int16),
    "bfloat16": _fmt("bfloat16", ml_dtypes.bfloat16, np.int16),
}


def fmt(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(NAMES)}") from None


def parse_dtypes(text: str | None) -> tuple[str, ...]:
    """``"float32,float64"`` -> ("float32", "float64"), with a clear error for unknown names."""
    if not text:
        return NAMES
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise ValueError(f"--dtypes: unknown dtype(s) {bad or [text]}; expected a comma-separated subset of "
                         f"{', '.join(NAMES)}")
    return names


def cast(x: object, name: str) -> np.ndarray:
    """Round to ``name`` and hold it in that numpy type (bfloat16 through ml_dtypes)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float64).astype(fmt(name).np_type)


def rounded(x: object, name: str) -> np.ndarray:
    """Round to ``name`` and return float64 holding the representable values."""
    return cast(x, name).astype(np.float64)


def ulp_distance(a: np.ndarray, b: np.ndarray, name: str) -> np.ndarray:
    """Number of representable ``name`` values between a and b (both rounded to ``name`` first)."""
    f = fmt(name)
    with np.errstate(over="ignore", invalid="ignore"):
        return _ulp(a, b, f, name)


def _ulp(a: np.ndarray, b: np.ndarray, f: Format, name: str) -> np.ndarray:
    ia = cast(a, name).view(f.int_type).astype(np.int64)
    ib = cast(b, name).view(f.int_type).astype(np.int64)
    # sign-magnitude -> two's-complement ordering
    sign = np.int64(1) << (np.dtype(f.int_type).itemsize * 8 - 1)
    ia = np.where(ia < 0, -(ia + sign), ia)
    ib = np.where(ib < 0, -(ib + sign), ib)
    return np.abs(ia - ib)

"""Sparse gradients mean their densified gradient (SPEC-NOTES section 1, rule 2)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Sparse(NamedTuple):
    """Row-sparse gradient: ``values[k]`` belongs to row ``indices[k]`` of a ``dense_shape`` tensor.

    Indices may repeat, come unsorted, or leave rows out; the gradient is the dense tensor they
    describe, repeated rows summed (SPR-DUPLICATES).
    """

    indices: np.ndarray
    values: np.ndarray
    dense_shape: tuple[int, ...]


def densify(grad: Sparse) -> np.ndarray:
    """The dense gradient a sparse one stands for: rows summed where indices repeat."""
    dense = np.zeros(grad.dense_shape, dtype=np.float64)
    idx = np.asarray(grad.indices, dtype=np.int64)
    if idx.size:
        if idx.min() < 0 or idx.max() >= grad.dense_shape[0]:
            raise IndexError(f"sparse indices {idx.tolist()} out of range for {grad.dense_shape[0]} rows")
        np.add.at(dense, idx, np.asarray(grad.values, dtype=np.float64))
    return dense

"""NumPy float64 reference Adam: the executable reading of the ``mindspore.nn.Adam`` spec.

Imports numpy and the standard library only; knows nothing of adapters or backends.
"""

from .adam import (
    Adam,
    Param,
    StepTrace,
    Trajectory,
    apply_update,
    as_dense,
    centralize,
    decays,
    effective_gradient,
    learning_rate_at,
    moments,
    numerator,
    received_gradient,
    step_size,
)
from .precision import DTYPES, hyper_dtype, round_scalar, round_to
from .schedules import DYNAMIC_LR, SCHEDULES, DynamicLR, Schedule, dynamic_lr_values, schedule_value
from .sparse import Sparse, densify

__all__ = [
    "DTYPES", "DYNAMIC_LR", "SCHEDULES", "Adam", "DynamicLR", "Param", "Schedule", "Sparse", "StepTrace",
    "Trajectory", "apply_update", "as_dense", "centralize", "decays", "densify", "dynamic_lr_values",
    "effective_gradient",
    "hyper_dtype", "learning_rate_at", "moments", "numerator", "received_gradient", "round_scalar", "round_to",
    "schedule_value",
    "step_size",
]

"""The zoo as data: every faulty and faithful implementation the selftest runs, by its --adapter spelling.

A member is named exactly as a user names an adapter (``MODULE:CLASS``, ``torch:MODULE:CLASS``,
``optax:MODULE:FUNCTION``), so the selftest goes through the gate's real loaders and workers. ``clause``
is the clause a fault breaks (None for a faithful member): the selftest counts a fault killed when a
case tagged with that clause, or a failure charged to it, comes back FAIL or ERROR.
"""

from __future__ import annotations

from typing import NamedTuple

from . import numpy_faults


class Member(NamedTuple):
    spec: str  # the --adapter spelling
    clause: str | None  # the clause the fault breaks; None: faithful
    backend: str  # numpy, torch or optax: members of one backend share a worker batch

    @property
    def faithful(self) -> bool:
        return self.clause is None

    @property
    def family(self) -> str:
        return (self.clause or "").split("-")[0]


NUMPY = "conformance.zoo.numpy_faults"
TORCH = "conformance.zoo.torch_faults"
OPTAX = "conformance.zoo.optax_faults"

# Clauses of the torch and optax faults, spelled out so that listing the zoo imports neither library.
TORCH_FAULTS: dict[str, str] = {
    "EpsAfterBiasCorrection": "UPD-EPS",
    "NoBiasCorrection": "UPD-BIAS",
    "SecondMomentOfAbs": "UPD-MOMENTS",
    "FirstMomentUndamped": "UPD-MOMENTS",
    "NesterovIgnored": "UPD-NESTEROV",
    "BetasInParameterDtype": "UPD-DTYPE",
    "DecoupledDecay": "DEC-L2",
    "DefaultsForEveryGroup": "GRP-LR",
    "GroupDecayIgnored": "DEC-GROUP",
    "SparseDuplicatesLastWins": "SPR-DUPLICATES",
    "BetaRangeHalfOpen": "VAL-BETA-RANGE",
}
OPTAX_FAULTS: dict[str, str] = {
    "eps_after_bias_correction": "UPD-EPS",
    "no_bias_correction": "UPD-BIAS",
    "bias_correction_one_ahead": "UPD-BIAS",
    "squared_first_moment": "UPD-MOMENTS",
    "nesterov_stale_moment": "UPD-NESTEROV",
    "hyperparameters_in_storage_dtype": "UPD-DTYPE",
    "update_never_applied": "UPD-DTYPE",
    "schedule_one_ahead": "LR-SCHEDULE",
}


def members() -> tuple[Member, ...]:
    """Every member: the NumPy faults, the torch and optax faults, then the faithful controls."""
    out = [Member(f"{NUMPY}:{cls.__name__}", clause, "numpy") for cls, clause in numpy_faults.FAULTS.items()]
    out += [Member(f"torch:{TORCH}:{name}", clause, "torch") for name, clause in TORCH_FAULTS.items()]
    out += [Member(f"optax:{OPTAX}:{name}", clause, "optax") for name, clause in OPTAX_FAULTS.items()]
    out += [Member(f"{NUMPY}:{cls.__name__}", None, "numpy") for cls in numpy_faults.FAITHFUL]
    out += [Member("reference", None, "numpy"),
            Member("torch:conformance.zoo.faithful_torch:FaithfulAdam", None, "torch"),
            Member("optax:conformance.zoo.faithful_optax:faithful_adam", None, "optax")]
    return tuple(out)

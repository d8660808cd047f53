"""The faulty NumPy adapters, under the path the CLI tests and docs load them by.

They live in the shipped zoo (``conformance/zoo/numpy_faults.py``, run by ``adam-conformance selftest``);
this module re-exports them so ``--adapter tests/faulty.py:<AdapterClass>`` keeps working.
"""

from conformance.zoo.numpy_faults import *  # noqa: F403
from conformance.zoo.numpy_faults import DTYPES, FAITHFUL, FAULTS, HALF  # noqa: F401

"""adam-conformance: the engine that turns the nn.Adam spec into verdicts for any implementation.

The public surface, in the order a user meets it::

    import conformance

    result = conformance.run(conformance.RunConfig(adapters=["reference-f32"], out="reports/mine",
                                                   clauses="UPD-*", dtypes="float32"))
    result.exit_code          # 0: every requested adapter was judged and conformed
    result.records[0].verdict  # typed records (conformance.Record)

    case = conformance.load_case("reports/mine/failures/UPD-....json")  # a replayable case file

Write an adapter for your own library with ``conformance.Adapter`` and the types beside it
(``docs/adapters.md``; ``adapters.kit`` has the helpers). Every user mistake raises a subclass of
``conformance.ConformanceError`` with a one-line message; its ``exit_code`` is what the CLI returns.

Names are imported on first use, so ``import conformance`` stays cheap (workers import it too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "run": ("conformance.gate", "run"),
    "RunConfig": ("conformance.gate", "RunConfig"),
    "RunResult": ("conformance.gate", "RunResult"),
    "Gap": ("conformance.runner", "Gap"),
    "Record": ("conformance.model", "Record"),
    "Event": ("conformance.model", "Event"),
    "Case": ("conformance.cases", "Case"),
    "load_case": ("conformance.cases", "load"),
    "Adapter": ("adapters.base", "Adapter"),
    "AdapterInfo": ("adapters.base", "AdapterInfo"),
    "Support": ("adapters.base", "Support"),
    "StepState": ("adapters.base", "StepState"),
    "Ran": ("adapters.base", "Ran"),
    "Raised": ("adapters.base", "Raised"),
    "Unsupported": ("adapters.base", "Unsupported"),
    "ConformanceError": ("conformance.errors", "ConformanceError"),
    "UsageError": ("conformance.errors", "UsageError"),
    "EXIT_OK": ("conformance.errors", "EXIT_OK"),
    "EXIT_NONCONFORMANT": ("conformance.errors", "EXIT_NONCONFORMANT"),
    "EXIT_USAGE": ("conformance.errors", "EXIT_USAGE"),
    "EXIT_INTERRUPTED": ("conformance.errors", "EXIT_INTERRUPTED"),
}

__all__ = [  # noqa: RUF022 -- in the order a user meets them
    "__version__", "run", "RunConfig", "RunResult", "Gap", "Record", "Event", "Case", "load_case", "Adapter",
    "AdapterInfo", "Support", "StepState", "Ran", "Raised", "Unsupported", "ConformanceError", "UsageError", "EXIT_OK",
    "EXIT_NONCONFORMANT", "EXIT_USAGE", "EXIT_INTERRUPTED",
]

if TYPE_CHECKING:  # pragma: no cover
    from adapters.base import Adapter, AdapterInfo, Raised, Ran, StepState, Support, Unsupported

    from .cases import Case
    from .cases import load as load_case
    from .errors import EXIT_INTERRUPTED, EXIT_NONCONFORMANT, EXIT_OK, EXIT_USAGE, ConformanceError, UsageError
    from .gate import RunConfig, RunResult, run
    from .model import Event, Record
    from .runner import Gap


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    import importlib

    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value

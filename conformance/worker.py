"""What runs inside an adapter's worker process.

Adapters are created once per worker and kept, so per-structure caches (compiled graphs, jitted
steps) survive from case to case. Everything crossing the process boundary is plain data.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from typing import Any

from adapters.base import Adapter, Raised

from . import registry
from .cases import from_json

_ADAPTERS: dict[str, Adapter] = {}


def initialize() -> None:
    """Per worker: compiled graphs and jit caches grow memory on purpose; loky's leak guard would
    otherwise restart the worker after +300 MB and throw those caches away. And a worker must not
    outlive its run: if the parent is killed (SIGKILL gives it no chance to clean up), exit."""
    from loky import process_executor

    process_executor._MAX_MEMORY_LEAK_SIZE = int(8e9)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def get(spec: str) -> Adapter:
    if spec not in _ADAPTERS:
        _ADAPTERS[spec] = registry.resolve(spec)
    return _ADAPTERS[spec]


def describe(spec: str) -> dict[str, Any]:
    """Availability and declared info of one adapter (probing happens here, in the worker)."""
    a = get(spec)
    ok, why = a.available()
    out: dict[str, Any] = {"spec": spec, "name": a.name, "available": ok, "reason": why, "pid": os.getpid()}
    if ok:
        info = a.info()
        out["info"] = {"name": info.name, "description": info.description, "versions": info.versions,
                       "device": info.device, "dtypes": list(info.dtypes),
                       "support": {k: str(v) for k, v in info.support.items()}, "notes": dict(info.notes)}
    return out


def run_case(spec: str, case_json: dict[str, Any]) -> tuple[Any, float, int | None]:
    """(outcome, seconds, compilations so far). An adapter bug becomes a Raised outcome, not a crash."""
    a = get(spec)
    case = from_json(case_json, "case")
    t0 = time.perf_counter()
    try:
        outcome = a.run(case)
    except Exception as e:  # the adapter itself broke: report it, keep the worker
        tb = traceback.extract_tb(e.__traceback__)
        where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        outcome = Raised(type(e).__name__, f"adapter error{where}: {str(e).strip()[:300]}", "adapter")
    return outcome, time.perf_counter() - t0, a.compilations()

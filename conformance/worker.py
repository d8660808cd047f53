"""What runs inside an adapter's worker process: ``python -m conformance.worker RESULT_FD``.

The worker is the only process that imports and runs code under test. It reads requests (frames,
``conformance.ipc``) from stdin and writes answers to the result channel, a pipe the gate created
and passed as ``RESULT_FD``; stdout and stderr go to a log file, so nothing the code under test
prints reaches the gate's terminal or its channel by accident. Every ``BaseException`` the adapter
raises -- ``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit`` included -- becomes an answer that
says so; whatever the code does instead (``os._exit``, a signal, a hang) the gate sees as a dead or
silent worker and records an ERROR for the case it was running.

Adapters are created once per worker and kept, so per-structure caches (compiled graphs, jitted
steps) survive from case to case. The worker holds no verdicts: it only reports what ran. Its first act
is to confine itself (``conformance.sandbox``): it writes only to its scratch directory and cannot
signal or trace the gate, so code under test cannot reach the run's records, caches or the gate's imports.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Any

import numpy as np

from . import ipc

_FLOAT_KINDS = "fiu"
_BAD = "$bad"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else "")[:300]


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    return f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""


def _array(x: Any) -> Any:
    """A real array as float64, or a marker the gate turns into a protocol ERROR."""
    if x is None:
        return None
    if type(x) is np.ndarray and x.dtype == np.float64:  # what most adapters return: as it is
        return x
    try:
        a = np.asarray(x)
    except BaseException as e:
        return {_BAD: f"not convertible to an array ({type(e).__name__})"}
    name = a.dtype.name
    if a.dtype.kind in _FLOAT_KINDS or name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        try:
            return np.asarray(a, dtype=np.float64)
        except BaseException as e:
            return {_BAD: f"dtype {name} not convertible to float64 ({type(e).__name__})"}
    return {_BAD: f"array of dtype {name} (expected real numbers)"}


def outcome_to_wire(outcome: Any) -> dict[str, Any]:
    """The adapter's Outcome as plain data; anything off-protocol is described, for the gate to judge."""
    from adapters.base import Raised, Ran, Unsupported

    if isinstance(outcome, Unsupported):
        return {"kind": "unsupported", "reason": outcome.reason}
    if isinstance(outcome, Raised):
        return {"kind": "raised", "type": outcome.type, "message": outcome.message, "stage": outcome.stage,
                "step": outcome.step}
    if not isinstance(outcome, Ran):
        return {"kind": "bad", "what": f"run() returned {type(outcome).__name__}, not Ran, Raised or Unsupported"}
    steps = outcome.steps
    if not isinstance(steps, list):
        return {"kind": "bad", "what": f"Ran.steps is a {type(steps).__name__}, not a list"}
    wire_steps: list[Any] = []
    for step in steps:
        if not isinstance(step, dict):
            wire_steps.append({_BAD: f"a step is a {type(step).__name__}, not a dict of StepState"})
            continue
        row: dict[str, Any] = {}
        for name, st in step.items():
            if not isinstance(st, tuple) or len(st) != 3:
                row[str(name)] = {_BAD: f"state is a {type(st).__name__}, not StepState(w, m, v)"}
                continue
            row[str(name)] = {"w": _array(st[0]), "m": _array(st[1]), "v": _array(st[2])}
        wire_steps.append(row)
    dtypes = outcome.dtypes
    try:
        wire_dtypes: Any = {str(k): (v if isinstance(v, str) else {_BAD: f"{type(v).__name__} {v!r}"[:120]})
                            for k, v in dict(dtypes).items()}
    except BaseException as e:
        wire_dtypes = {_BAD: f"Ran.dtypes is not a mapping ({type(e).__name__})"}
    return {"kind": "ran", "steps": wire_steps, "dtypes": wire_dtypes}


class Worker:
    """One adapter, loaded on the first request; answers describe and case requests."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.adapter: Any = None
        self.spec: str | None = None
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        self.write(ipc.encode_parts(message))

    def write(self, parts: list[bytes | memoryview]) -> None:
        """One frame, part by part (an outcome's arrays are written from their own memory, not copied)."""
        with self.lock:
            for part in parts:
                view = memoryview(part).cast("B")
                while view.nbytes:  # an unbuffered pipe may take fewer bytes than offered
                    view = view[self.out.write(view):]
            self.out.flush()

    def load(self, spec: str) -> None:
        from . import registry

        self.spec = spec
        self.adapter = registry.resolve(spec)

    def describe(self, spec: str) -> dict[str, Any]:
        try:
            self.load(spec)
        except BaseException as e:
            return {"type": "described", "available": False, "load_error": True,
                    "reason": f"loading the adapter raised {type(e).__name__}{_where(e)}: {_first_line(e)}"}
        a = self.adapter
        try:
            name = a.name
            ok, why = a.available()
            out: dict[str, Any] = {"type": "described", "name": str(name), "available": bool(ok),
                                   "reason": str(why or "")}
            if ok:
                info = a.info()
                out["info"] = {"name": info.name, "description": info.description, "versions": dict(info.versions),
                               "device": info.device, "dtypes": list(info.dtypes),
                               "support": {str(k): str(v) for k, v in dict(info.support).items()},
                               "notes": {str(k): str(v) for k, v in dict(info.notes).items()}}
            return out
        except BaseException as e:
            return {"type": "described", "available": False, "load_error": True,
                    "reason": f"available()/info() raised {type(e).__name__}{_where(e)}: {_first_line(e)}"}

    def run_case(self, key: Any, case_json: dict[str, Any]) -> dict[str, Any]:
        from .cases import trusted

        self.send({"type": "begin", "key": key})
        t0 = time.perf_counter()
        seconds = 0.0  # the adapter's run() alone: the implementation driven as a user drives it
        try:
            case = trusted(case_json)  # the gate's own request: validated where it was made
            t1 = time.perf_counter()
            try:
                out = self.adapter.run(case)
            finally:
                seconds = time.perf_counter() - t1
            wire = outcome_to_wire(out)
        except BaseException as e:
            wire = {"kind": "raised", "type": type(e).__name__, "stage": "adapter", "step": None,
                    "message": f"adapter error{_where(e)}: {_first_line(e)}"}
        framework = time.perf_counter() - t0 - seconds  # building the case, converting the outcome
        try:
            comps = self.adapter.compilations()
            comps = int(comps) if comps is not None else None
        except BaseException:
            comps = None
        return {"type": "result", "key": key, "outcome": wire, "seconds": seconds, "framework_seconds": framework,
                "compilations": comps, "rss_mb": _rss_mb()}

    def serve(self, read: Any) -> None:
        while True:
            msg = ipc.read_frame(read)
            if msg is None or msg.get("type") == "quit":
                return
            if msg.get("type") == "describe":
                self.send(self.describe(str(msg["spec"])))
            elif msg.get("type") == "case":
                try:
                    answer = self.run_case(msg.get("key"), msg["case"])
                    frame = ipc.encode_parts(answer)
                except BaseException as e:  # an outcome holding something that is not data
                    what = f"the outcome cannot be sent as data ({type(e).__name__}: {_first_line(e)[:200]})"
                    frame = ipc.encode_parts({"type": "result", "key": msg.get("key"), "seconds": 0.0,
                                              "compilations": None, "outcome": {"kind": "bad", "what": what}})
                self.write(frame)


def _rss_mb() -> float | None:
    """This process's resident memory when a case ends (the gate charges a breach to that case)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _watch_parent(parent: int) -> None:
    """A worker must not outlive its run: if the gate is killed (SIGKILL gives it no chance), exit."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def main(argv: list[str]) -> None:
    from .sandbox import apply_from_env

    apply_from_env()  # before anything of the adapter's is imported: code under test starts confined
    result_fd = int(argv[0])
    parent = int(os.environ.get("ADAM_CONFORMANCE_GATE_PID", os.getppid()))
    threading.Thread(target=_watch_parent, args=(parent,), name="orphan-watch", daemon=True).start()
    out = os.fdopen(result_fd, "wb", buffering=0)
    stdin = sys.stdin.buffer
    sys.stdin = open(os.devnull)  # code under test reads nothing from the request channel
    cwd = os.getcwd()
    if cwd not in sys.path:  # user modules are named relative to where the command runs
        sys.path.insert(0, cwd)
    import adapters.base  # noqa: F401 -- its snapshot of the builtin exceptions precedes any code under test
    Worker(out).serve(stdin.read)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])

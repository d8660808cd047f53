"""Hostile adapters and optimizers for the gate's own tests: code under test that tries to end, crash,
confuse or fool the gate (issue 8), loaded through ``--adapter tests/hostile_adapters.py:NAME``.

Each is the faithful ``NumpyAdam`` (``reference-f32``) with one misbehaviour, under its own name, so
its records are told apart from the healthy adapter run beside it. Nothing here may run in the gate
process; importing this module has no side effect (the import-time attacks are files the tests write).

Environment (set by the tests, inherited by the workers):
- ``HOSTILE_MARKERS``: a directory where attacks leave evidence -- a daemon's pid, a rewrite of
  results.jsonl that landed, an unpickled payload -- so a test can tell "blocked" from "never tried".
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from adapters.base import AdapterInfo, Outcome, Raised, Ran, StepState, Support, Unsupported
from adapters.numpy_lowp import NumpyAdam, NumpyLowPrecisionAdapter
from conformance.cases import Case

MARKERS_ENV = "HOSTILE_MARKERS"
DAEMON_SECONDS = 120.0  # upper bound on any daemon's life, so a broken gate cannot leak it forever


def _exit0() -> NoReturn:
    sys.exit(0)


def _exit3() -> NoReturn:
    sys.exit(3)


def _kbint() -> NoReturn:
    raise KeyboardInterrupt


def _genexit() -> NoReturn:
    raise GeneratorExit


def _os_exit() -> NoReturn:
    os._exit(0)


# kind -> the escape hatch; every one of them once ended (or picked the exit code of) the whole gate
ESCAPES: dict[str, Callable[[], NoReturn]] = {"Exit0": _exit0, "Exit3": _exit3, "KeyboardInterrupt": _kbint,
                                              "GeneratorExit": _genexit, "OsExit0": _os_exit}


def _marker(name: str, text: str = "") -> None:
    d = os.environ.get(MARKERS_ENV)
    if d:
        Path(d, name).write_text(text)


class _Hostile(NumpyLowPrecisionAdapter):
    dtypes = ("float32",)


def _healthy_run(adapter: NumpyLowPrecisionAdapter, case: Case) -> Ran:
    out = NumpyLowPrecisionAdapter.run(adapter, case)
    assert isinstance(out, Ran), out
    return out


def _shifted(out: Ran) -> Ran:
    """Every reported w one off: a plain nonconformance (FAIL), whatever the case."""
    return Ran([{n: StepState(s.w + 1.0, s.m, s.v) for n, s in step.items()} for step in out.steps], out.dtypes)


# ---- BaseException / exit in step(), available(), the constructor (generated: 5 kinds x 3 places) --------

def _escape_classes() -> dict[str, type]:
    made: dict[str, type] = {}
    for kind, escape in ESCAPES.items():
        slug = kind.lower()

        def step(self: Any, grads: Any, _e: Callable[[], NoReturn] = escape) -> None:
            _e()

        impl = type(f"_{kind}Step", (NumpyAdam,), {"step": step})
        made[f"{kind}InStep"] = type(f"{kind}InStep", (_Hostile,), {
            "name": f"hostile-{slug}-step", "impl": impl,
            "__doc__": f"The optimizer's step() does {kind}."})

        def available(self: Any, _e: Callable[[], NoReturn] = escape) -> tuple[bool, str]:
            _e()

        made[f"{kind}InAvailable"] = type(f"{kind}InAvailable", (_Hostile,), {
            "name": f"hostile-{slug}-available", "available": available,
            "__doc__": f"available() does {kind} (the worker is loading the adapter)."})

        def init(self: Any, _e: Callable[[], NoReturn] = escape) -> None:
            _e()

        made[f"{kind}InInit"] = type(f"{kind}InInit", (_Hostile,), {
            "name": f"hostile-{slug}-init", "__init__": init,
            "__doc__": f"The adapter's constructor does {kind}."})
    return made


globals().update(_escape_classes())
IMPORT_TIME = {kind: f"import os, sys\n{src}\n" for kind, src in {
    "Exit0": "sys.exit(0)", "Exit3": "sys.exit(3)", "KeyboardInterrupt": "raise KeyboardInterrupt",
    "GeneratorExit": "raise GeneratorExit", "OsExit0": "os._exit(0)"}.items()}  # module sources, written by tests


# ---- a failing case that exits when it is rerun (shrinking) -------------------------------------------

class ExitsOnRerun(_Hostile):
    """Every case FAILs (w one off from step 1). A case whose initial values and first gradient it has
    run before -- the shrinker's truncated copy of a failing case -- ends the worker instead, with the
    next escape of ``ESCAPES`` in turn (what it has seen and done is kept in $HOSTILE_MARKERS, so the
    cycle survives the worker deaths)."""

    name = "hostile-exits-on-rerun"

    def run(self, case: Case) -> Outcome:
        d = Path(os.environ[MARKERS_ENV])
        key = hashlib.sha256(repr((sorted(case.param_values().items(), key=lambda kv: kv[0]),
                                   case.gradients(0))).encode()).hexdigest()[:16]
        if (d / f"seen-{key}").exists():
            n = len(list(d.glob("rerun-*")))
            kind = list(ESCAPES)[n % len(ESCAPES)]
            _marker(f"rerun-{n}-{kind}")
            ESCAPES[kind]()
        _marker(f"seen-{key}")
        return _shifted(_healthy_run(self, case))


# ---- nothing to judge ---------------------------------------------------------------------------------

class NoDtypes(_Hostile):
    """Declares no dtypes: every case is UNSUPPORTED by declaration, so nothing is ever judged."""

    name = "hostile-no-dtypes"
    dtypes = ()


class AllUnsupported(_Hostile):
    """Declares every clause unsupported."""

    name = "hostile-all-unsupported"

    def info(self) -> AdapterInfo:
        from conformance.clauses import CLAUSES

        base = super().info()
        base.support = {c.id: Support.UNSUPPORTED for c in CLAUSES}
        return base


class DeclinesAtRunTime(_Hostile):
    """Declares everything, then answers Unsupported to every case."""

    name = "hostile-declines"

    def run(self, case: Case) -> Outcome:
        return Unsupported("not today")


# ---- malformed outcomes (each must be a protocol ERROR for that adapter only) ---------------------------

def _malformed(name: str, make: Callable[[Ran, Case], Any], doc: str) -> type:
    def run(self: Any, case: Case) -> Any:
        return make(_healthy_run(self, case), case)

    return type(name, (_Hostile,), {"name": f"hostile-{name.lower()}", "run": run, "__doc__": doc})


class _Evil:
    """Runs ``_pwn`` wherever it is unpickled (and leaves a marker saying where)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_pwn, ("unpickled",))


def _pwn(tag: str) -> None:
    _marker(f"reduce-{tag}-{os.getpid()}")


def _states(out: Ran, f: Callable[[StepState], Any]) -> Ran:
    return Ran([{n: f(s) for n, s in step.items()} for step in out.steps], out.dtypes)


MALFORMED = {
    "ReturnsNone": (lambda out, case: None, "run() returns None"),
    "ReturnsDict": (lambda out, case: {"steps": out.steps, "dtypes": dict(out.dtypes)}, "a dict"),
    "ReturnsTuple": (lambda out, case: tuple(out), "a plain tuple (steps, dtypes)"),
    "ReturnsString": (lambda out, case: "PASS", "a string"),
    "StepsNotList": (lambda out, case: Ran(tuple(out.steps), out.dtypes), "Ran.steps a tuple"),  # type: ignore
    "StepsGenerator": (lambda out, case: Ran(iter(out.steps), out.dtypes), "Ran.steps an iterator"),  # type: ignore
    "DtypesNone": (lambda out, case: Ran(out.steps, None), "Ran.dtypes None"),  # type: ignore
    "WrongArity": (lambda out, case: _states(out, lambda s: (s.w, s.m)), "states of two fields"),
    "StringArrays": (lambda out, case: _states(out, lambda s: StepState(str(s.w), s.m, s.v)), "w a string"),
    "ObjectArrays": (lambda out, case: _states(out, lambda s: StepState(s.w.astype(object), s.m, s.v)),
                     "w an object array"),
    "ComplexArrays": (lambda out, case: _states(out, lambda s: StepState(s.w + 0j, s.m + 1j, s.v)),
                      "complex w and m (the real part is right)"),
    "AllNone": (lambda out, case: _states(out, lambda s: StepState(None, None, None)), "StepState(None, None, None)"),
    "EmptySteps": (lambda out, case: Ran([{} for _ in out.steps], out.dtypes), "steps that report no parameter"),
    "WrongDtypeName": (lambda out, case: Ran(out.steps, {n: "fp32" for n in out.dtypes}), "dtype names not the "
                       "suite's"),
    "DtypeNotString": (lambda out, case: Ran(out.steps, {n: np.float32 for n in out.dtypes}), "dtypes as classes"),
    "BogusStage": (lambda out, case: Raised("RuntimeError", "boom", "kaboom", 0), "Raised.stage unknown"),
    "BogusStep": (lambda out, case: Raised("RuntimeError", "boom", "step", "one"), "Raised.step a string"),
    "RaisedClass": (lambda out, case: Raised(ValueError, "boom", "construct"), "Raised.type a class"),  # type: ignore
    "ReduceOutcome": (lambda out, case: _Evil(), "an object with a malicious __reduce__ as the outcome"),
    "ReduceInState": (lambda out, case: _states(out, lambda s: StepState(_Evil(), s.m, s.v)),  # type: ignore
                      "a malicious __reduce__ object as w"),
    "ReduceInDtypes": (lambda out, case: Ran(out.steps, {n: _Evil() for n in out.dtypes}),  # type: ignore
                       "a malicious __reduce__ object as a dtype name"),
    "HugeMessage": (lambda out, case: Raised("RuntimeError", "x" * (12 << 20), "step", 0), "a 12 MB message"),
    "HugeOutcome": (lambda out, case: Ran([{"w0": StepState(np.zeros(40_000_000), None, None)}], out.dtypes),
                    "one 320 MB w (past the outcome size limit)"),
    "SurrogateText": (lambda out, case: Raised("Runtime\udcffError", "bad \udcff\ud800 text", "step", 0),
                      "lone surrogates in the exception text"),
}
globals().update({name: _malformed(name, make, doc) for name, (make, doc) in MALFORMED.items()})


class BadSupportValue(_Hostile):
    """info() declares a support level that does not exist."""

    name = "hostile-bad-support"

    def info(self) -> AdapterInfo:
        base = super().info()
        base.support = {"UPD-MOMENTS": "sorta"}  # type: ignore[dict-item]
        return base


class JunkOnChannel(_Hostile):
    """Writes bytes that are not a frame into the result channel (its fd is the worker's argv)."""

    name = "hostile-junk-channel"

    def run(self, case: Case) -> Outcome:
        os.write(int(sys.argv[-1]), b"\x00PASS PASS PASS\n" * 8)
        return _healthy_run(self, case)


class StallsBetweenCases(_Hostile):
    """Loads, then stops its worker from ever reading the next request (a hang outside any case)."""

    name = "hostile-stalls"

    def info(self) -> AdapterInfo:
        import conformance.ipc

        conformance.ipc.read_frame = lambda read: time.sleep(DAEMON_SECONDS)  # type: ignore[assignment]
        return super().info()


# ---- terminal injection ---------------------------------------------------------------------------------

ESC_TEXT = "\x1b[2J\x1b]0;owned\x07\x1b]52;c;cHduZWQ=\x07\x1b[31mred\r\x00\x0c\nconformant (exit 0)\n"


class EscapeName(_Hostile):
    """A name and a failure message full of ANSI/OSC escapes (clear screen, window title, clipboard) and a
    forged "conformant (exit 0)" line."""

    name = f"hostile-{ESC_TEXT}-name"

    def run(self, case: Case) -> Outcome:
        return _shifted(_healthy_run(self, case))


class EscapeRaise(_Hostile):
    name = "hostile-escape-raise"

    def run(self, case: Case) -> Outcome:
        return Raised(f"Err{ESC_TEXT}", f"message {ESC_TEXT} end", "step", 0)


class Unavailable(_Hostile):
    """Cannot run here (like a GPU adapter on a CPU machine)."""

    name = "hostile-unavailable"

    def available(self) -> tuple[bool, str]:
        return False, "needs hardware this machine lacks"


class EscapeUnavailable(_Hostile):
    name = "hostile-escape-unavailable"

    def available(self) -> tuple[bool, str]:
        return False, f"reason {ESC_TEXT}"


class EscapeLoadError(_Hostile):
    name = "hostile-escape-load"

    def __init__(self) -> None:
        raise RuntimeError(f"load {ESC_TEXT}")


# ---- tamper: judge replacement by a plain wrong answer, result-file rewriting, daemons -------------------

class WrongAnswer(_Hostile):
    """A plain nonconformance (w one off): the control the tamper attempts are compared with."""

    name = "hostile-wrong"

    def run(self, case: Case) -> Outcome:
        return _shifted(_healthy_run(self, case))


def _daemonize(body: Callable[[], None], clean_env: bool = False) -> None:
    """Fork a double-forked, setsid()ed daemon running ``body``; the caller returns at once."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if clean_env:  # a fresh image with an empty environment: no run token left to find it by
            os.execve(sys.executable, [sys.executable, "-c", f"import time; time.sleep({DAEMON_SECONDS})"], {})
        body()
    finally:
        os._exit(0)


def _sleeper(tag: str) -> Callable[[], None]:
    def body() -> None:
        _marker(f"daemon-{tag}-{os.getpid()}", str(os.getpid()))
        time.sleep(DAEMON_SECONDS)

    return body


class DoubleFork(WrongAnswer):
    """Leaves a double-forked, setsid()ed daemon behind at every case (token still in its environment)."""

    name = "hostile-double-fork"

    def run(self, case: Case) -> Outcome:
        _daemonize(_sleeper(self.name))
        return super().run(case)


class DoubleForkCleanEnv(WrongAnswer):
    """The same daemon, which then replaces itself by a process with an empty environment."""

    name = "hostile-double-fork-clean-env"

    def run(self, case: Case) -> Outcome:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # report the final daemon's pid through the pipe, then vanish
            os.close(r)
            try:
                os.setsid()
                gpid = os.fork()
                if gpid:
                    os.write(w, str(gpid).encode())
                    os._exit(0)
                os.close(w)
                os.execve(sys.executable, [sys.executable, "-c", f"import time; time.sleep({DAEMON_SECONDS})"], {})
            finally:
                os._exit(0)
        os.close(w)
        got = os.read(r, 64).decode()
        os.close(r)
        os.waitpid(pid, 0)
        _marker(f"daemon-{self.name}-{got}", got)
        return super().run(case)


class DiesHoldingChannel(WrongAnswer):
    """Leaves a daemon that keeps every inherited fd (the result channel too), then ends its worker:
    the gate sees no end-of-file, and must notice the death by itself."""

    name = "hostile-dies-holding-channel"

    def run(self, case: Case) -> Outcome:
        _daemonize(_sleeper(self.name))
        os._exit(0)


def _gate_results(gate: int) -> Path | None:
    """results.jsonl of the run, as an attacker finds it: an open fd of the gate, else its --out."""
    try:
        for fd in os.listdir(f"/proc/{gate}/fd"):
            target = os.readlink(f"/proc/{gate}/fd/{fd}")
            if target.endswith("/results.jsonl"):
                return Path(target)
    except OSError:
        pass
    try:
        argv = Path(f"/proc/{gate}/cmdline").read_bytes().split(b"\0")
        cwd = os.readlink(f"/proc/{gate}/cwd")
    except OSError:
        return None
    for i, a in enumerate(argv[:-1]):
        if a == b"--out":
            return Path(cwd, argv[i + 1].decode()) / "results.jsonl"
    return None


def _rewrite_results(gate: int) -> None:
    """Turn every FAIL/ERROR of results.jsonl into PASS, in place (same length), until killed."""
    landed = 0
    end = time.monotonic() + DAEMON_SECONDS
    path = None
    while time.monotonic() < end:
        path = path or _gate_results(gate)
        if path is not None:
            try:
                with open(path, "r+", encoding="utf-8") as fh:
                    text = fh.read()
                    new = text.replace('"verdict": "FAIL"', '"verdict": "PASS"').replace(
                        '"verdict": "ERROR"', '"verdict": "PASS" ')
                    if new != text:
                        fh.seek(0)
                        fh.write(new)
                        fh.flush()
                        landed += 1
                        _marker("rewrite-landed", str(landed))
            except OSError:
                pass
        time.sleep(0.02)


class RewritesResults(WrongAnswer):
    """Fails every case, and leaves a daemon that rewrites the gate's results.jsonl to all-PASS."""

    name = "hostile-rewrites-results"

    def __init__(self) -> None:
        self.started = False

    def run(self, case: Case) -> Outcome:
        if not self.started:
            self.started = True
            gate = int(os.environ.get("ADAM_CONFORMANCE_GATE_PID", os.getppid()))
            _daemonize(lambda: _rewrite_results(gate))
        time.sleep(0.6)  # keep the run going while the daemon works
        return super().run(case)


# ---- the sandbox: what a confined worker tries to reach ------------------------------------------------

PLANTED = "_hostile_planted_module.py"  # what Escapist tries to plant in the gate's working directory


def _escapes() -> dict[str, Callable[[], None]]:
    """Every reach outside the worker the sandbox must stop (conformance/sandbox.py), by name."""
    gate = int(os.environ.get("ADAM_CONFORMANCE_GATE_PID", os.getppid()))
    log = os.readlink("/proc/self/fd/1")  # the worker's log: <out>/logs/worker-N.log, as an attacker finds --out
    out = Path(log).parent.parent
    cache = os.environ.get("ADAM_CONFORMANCE_CASE_CACHE", "")

    def write(path: Path) -> Callable[[], None]:
        return lambda: path.write_text("planted by a worker\n")

    return {
        "gate-cwd": write(Path(os.getcwd()) / PLANTED),  # a module the gate could import later
        "out-dir": write(out / "planted.txt"),
        "results": lambda: open(out / "results.jsonl", "a").close(),
        "case-cache": write(Path(cache) / "planted.jsonl"),
        "signal-gate": lambda: os.kill(gate, 0),  # signal 0 only checks: a real attack would SIGKILL or SIGSTOP
        "gate-fds": lambda: os.close(os.open(f"/proc/{gate}/fd/0", os.O_RDONLY)),
    }


class Escapist(WrongAnswer):
    """Fails every case, and on its first case tries every escape of ``_escapes``; leaves a marker
    ``escaped-NAME`` for each that worked and ``blocked-NAME`` for each that was refused."""

    name = "hostile-escapist"

    def __init__(self) -> None:
        self.tried = False

    def run(self, case: Case) -> Outcome:
        if not self.tried:
            self.tried = True
            for what, attempt in _escapes().items():
                try:
                    attempt()
                except OSError:
                    _marker(f"blocked-{what}")
                else:
                    _marker(f"escaped-{what}")
        return super().run(case)


# ---- process bounds: deaths beside healthy cases, leaks --------------------------------------------------

def dies_on(case_id: str) -> bool:
    """The cases ``DiesOnSome`` kills its worker on (a pure function of the case, never of the schedule)."""
    return int(hashlib.sha256(case_id.encode()).hexdigest(), 16) % 2 == 0


class DiesOnSome(_Hostile):
    """Faithful, except that it kills its worker (os._exit) on a fixed half of the cases."""

    name = "hostile-dies-on-some"

    def run(self, case: Case) -> Outcome:
        if dies_on(case.id):
            os._exit(9)
        time.sleep(0.05)  # let cases queue up behind a dying one
        return _healthy_run(self, case)


LEAK_MB = 320


class Leaky(_Hostile):
    """Faithful, but keeps LEAK_MB MiB of touched memory per case it runs."""

    name = "hostile-leaky"
    def __init__(self) -> None:
        self.hoard: list[np.ndarray] = []

    def run(self, case: Case) -> Outcome:
        self.hoard.append(np.ones((LEAK_MB << 20) // 8))
        return _healthy_run(self, case)


# ---- the generic torch adapter: an optimizer whose step always raises -----------------------------------

def __getattr__(name: str) -> Any:
    """``AlwaysRaisingAdam`` is built on first access, so loading the numpy adapters never imports torch."""
    if name != "AlwaysRaisingAdam":
        raise AttributeError(name)
    import torch

    class AlwaysRaisingAdam(torch.optim.Adam):  # type: ignore[misc]
        """torch.optim.Adam whose step() raises, always: nothing about it can be judged conformant."""

        def step(self, closure: Any = None) -> Any:
            raise RuntimeError("AlwaysRaisingAdam.step: not implemented")

    AlwaysRaisingAdam.__module__ = __name__
    globals()["AlwaysRaisingAdam"] = AlwaysRaisingAdam
    return AlwaysRaisingAdam

"""The run: cases -> (reference once, every adapter in its own worker) -> verdicts -> records.

Each adapter lives in its own worker process (loky), so an implementation that raises, hangs,
aborts or segfaults costs one ERROR record, never the run. Records are written in case order, so
the same seed gives the same results.jsonl apart from timings.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loky
from loky.process_executor import TerminatedWorkerError

from adapters.base import AdapterInfo, Support, Unsupported

from . import __version__, worker
from .cases import Case
from .clauses import SPEC, SPEC_VERSION
from .compare import ERROR, FAIL, UNSUPPORTED, Verdict, judge
from .expected import Expected, expected
from .records import META, RecordWriter, done_keys, read_records, write_json

DEFAULT_TIMEOUT = 300.0
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "GLOG_v": "4",
              "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


@dataclass
class RunConfig:
    adapters: Sequence[str]
    out: Path
    seed: int = 0
    max_examples: int = 6
    clauses: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    jobs: int = 1
    shard: tuple[int, int] | None = None
    resume: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdapterHandle:
    """One adapter: its spec, what its worker said about it, and the executor it runs in."""

    spec: str
    described: dict[str, Any]
    jobs: int
    executor: Any = None
    cases_run: int = 0
    seconds: float = 0.0
    compilations: int | None = None

    @property
    def name(self) -> str:
        return str(self.described.get("name", self.spec))

    @property
    def available(self) -> bool:
        return bool(self.described.get("available"))

    def info(self) -> AdapterInfo | None:
        d = self.described.get("info")
        if not d:
            return None
        return AdapterInfo(d["name"], d["description"], d["versions"], d["device"], tuple(d["dtypes"]),
                           {k: Support(v) for k, v in d["support"].items()}, d["notes"])

    def pool(self) -> Any:
        if self.executor is None:
            # One thread per worker: torch's fused/sparse kernels otherwise fight over the cores.
            self.executor = loky.ProcessPoolExecutor(max_workers=self.jobs, env=WORKER_ENV,
                                                     initializer=worker.initialize)
        return self.executor

    def kill(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
            self.executor = None


def start(spec: str, jobs: int = 1, timeout: float = DEFAULT_TIMEOUT) -> AdapterHandle:
    """Start an adapter's worker and ask it to describe itself (probes run there, not here)."""
    h = AdapterHandle(spec, {}, jobs)
    why = None
    try:
        h.described = h.pool().submit(worker.describe, spec).result(timeout=timeout)
    except (TerminatedWorkerError, loky.BrokenProcessPool) as e:
        why = f"worker died while loading the adapter: {_first_line(e)}"
    except loky.TimeoutError:
        why = f"timed out after {timeout:g} s while loading the adapter"
    except Exception as e:  # available()/info() raised: the adapter is broken, not unavailable
        why = f"loading the adapter raised {type(e).__name__}: {_first_line(e)}"
    if why is not None:
        h.kill()
        # A load failure is an ERROR for every case, never an UNSUPPORTED that would pass the gate.
        h.described = {"spec": spec, "name": spec, "available": False, "reason": why, "load_error": True}
    return h


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def run_in_worker(h: AdapterHandle, case: Case, timeout: float) -> Any | None:
    """One case on one adapter outside the main run (shrinking, exploring): its outcome, or None when
    the worker crashed or hung (the worker is replaced; the main run records such faults)."""
    try:
        outcome, _, _ = h.pool().submit(worker.run_case, h.spec, case.to_json()).result(timeout=timeout)
    except Exception:
        h.kill()
        return None
    return outcome


def shard_of(case_id: str, n: int) -> int:
    return int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) % n


def select_shard(cases: Iterable[Case], shard: tuple[int, int] | None) -> list[Case]:
    if shard is None:
        return list(cases)
    k, n = shard
    return [c for c in cases if shard_of(c.id, n) == k - 1]


def _skip_reason(case: Case, h: AdapterHandle) -> str | None:
    if not h.available:
        return str(h.described.get("reason") or "not available")
    info = h.info()
    assert info is not None
    if case.dtype not in info.dtypes:
        return f"{case.dtype} not among the dtypes it runs ({', '.join(info.dtypes)})"
    for c in case.clauses:
        if info.support_for(c) is Support.UNSUPPORTED:
            return f"{c} unsupported: {info.notes.get(c, 'declared by the adapter')}"
    return None


def record_of(case: Case, h: AdapterHandle, v: Verdict, seconds: float) -> dict[str, Any]:
    info = h.info()
    emulated = [c for c in case.clauses if info and info.support_for(c) is Support.EMULATED]
    return {
        "case_id": case.id, "adapter": h.name, "clauses": list(case.clauses), "family": case.family,
        "dtype": case.dtype, "kind": case.kind, "title": case.title, "verdict": v.verdict,
        "max_abs_err": v.max_abs_err, "max_rel_err": v.max_rel_err, "max_ulp": v.max_ulp, "bound": v.bound,
        "ratio": v.ratio, "worst": v.worst, "message": v.message, "raised": v.raised, "error_kind": v.error_kind,
        "emulated": emulated,
        "first_failing_step": v.extra.get("first_failing_step"),
        "deviates": v.extra.get("deviates", list(case.clauses) if v.verdict in (FAIL, ERROR) else []),
        "explained_by": v.extra.get("explained_by"), "seconds": round(seconds, 4),
    }


class Runner:
    """Runs cases over adapter handles, writing records; ``on_record`` sees each record as written."""

    def __init__(self, handles: Sequence[AdapterHandle], cfg: RunConfig,
                 on_record: Callable[[dict[str, Any], Case], None] | None = None) -> None:
        self.handles, self.cfg, self.on_record = handles, cfg, on_record

    def _collect(self, h: AdapterHandle, case: Case, fut: Future[Any], started: float) -> tuple[Verdict, float, Any]:
        remaining = max(self.cfg.timeout - (time.monotonic() - started), 0.01)
        try:
            outcome, seconds, comps = fut.result(timeout=remaining)
        except loky.TimeoutError:
            h.kill()
            v = Verdict(ERROR, f"timed out after {self.cfg.timeout:g} s (worker killed)", error_kind="timeout")
            return v, self.cfg.timeout, None
        except (TerminatedWorkerError, loky.BrokenProcessPool) as e:
            h.kill()
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            v = Verdict(ERROR, f"worker process died: {why[:300]}", error_kind="crashed")
            return v, time.monotonic() - started, None
        except Exception as e:  # unpicklable outcome and the like: the adapter's fault, one record
            return Verdict(ERROR, f"adapter returned something unusable: {type(e).__name__}: {e}",
                           error_kind="protocol"), 0.0, None
        h.compilations = comps
        return Verdict("PENDING"), seconds, outcome

    def run(self, cases: Sequence[Case], writer: RecordWriter, skip: set[tuple[str, str]] | None = None,
            progress: Callable[[int], None] | None = None) -> None:
        skip = skip or set()
        window = max(1, self.cfg.jobs)
        for start_i in range(0, len(cases), window):
            chunk = cases[start_i:start_i + window]
            exps: list[Expected] = [expected(c) for c in chunk]
            pending: list[list[tuple[AdapterHandle, Any, float] | None]] = []
            for case in chunk:
                row: list[tuple[AdapterHandle, Any, float] | None] = []
                for h in self.handles:
                    if (case.id, h.name) in skip or _skip_reason(case, h):
                        row.append(None)
                        continue
                    row.append((h, h.pool().submit(worker.run_case, h.spec, case.to_json()), time.monotonic()))
                pending.append(row)
            for case, exp, row in zip(chunk, exps, pending):
                for h, slot in zip(self.handles, row):
                    if (case.id, h.name) in skip:
                        if progress:
                            progress(1)
                        continue
                    if slot is None and h.described.get("load_error"):
                        v, seconds = Verdict(ERROR, str(h.described.get("reason")), error_kind="load"), 0.0
                    elif slot is None:
                        v, seconds = Verdict(UNSUPPORTED, _skip_reason(case, h) or ""), 0.0
                    else:
                        v, seconds, outcome = self._collect(h, case, slot[1], slot[2])
                        if v.verdict == "PENDING":
                            v = judge(case, exp, outcome) if not isinstance(outcome, Unsupported) else \
                                Verdict(UNSUPPORTED, outcome.reason)
                        h.cases_run += 1
                        h.seconds += seconds
                    rec = record_of(case, h, v, seconds)
                    if self.on_record:  # may annotate (baseline, saved case file) before it is written
                        self.on_record(rec, case)
                    writer.write(rec)
                    if progress:
                        progress(1)

    def close(self) -> None:
        for h in self.handles:
            h.kill()


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine()}


def run_meta(cfg: RunConfig, handles: Sequence[AdapterHandle], n_cases: int, complete: bool,
             wall: float) -> dict[str, Any]:
    return {
        "suite": "adam-conformance", "suite_version": __version__, "spec": SPEC, "spec_version": SPEC_VERSION,
        "seed": cfg.seed, "max_examples": cfg.max_examples, "clauses": list(cfg.clauses), "dtypes": list(cfg.dtypes),
        "shard": None if cfg.shard is None else f"{cfg.shard[0]}/{cfg.shard[1]}", "cases": n_cases,
        "complete": complete, "wall_seconds": round(wall, 2), "environment": environment(), "options": cfg.options,
        "adapters": [{**h.described, "cases_run": h.cases_run, "seconds": round(h.seconds, 3),
                      "compilations": h.compilations} for h in handles],
    }


def resume_skip(out: Path) -> set[tuple[str, str]]:
    path = out / "results.jsonl"
    return done_keys(read_records(path)) if path.exists() else set()


def write_meta(cfg: RunConfig, handles: Sequence[AdapterHandle], n_cases: int, complete: bool, wall: float) -> None:
    write_json(cfg.out / META, run_meta(cfg, handles, n_cases, complete, wall))

"""The report's figures drawn beside the caller, in forks of it, while it writes the other reports.

Why: once the last answer is judged the gate is the only process still working, on one core of the
machine's several, and report.html's figures are the largest part of what is left (three strip and
trajectory plots: about 0.2 s of the 0.35 s the reports of a torch-cpu-single run take). A figure is
a pure function of small inputs (``plots.ratio_strip``, ``plots.trajectory``, ...), so a fork of
the gate -- matplotlib already imported, nothing to load -- draws it while the gate writes
summary.json, summary.md, junit.xml and the page's tables, and sends the SVG text back: the same
bytes the gate would have drawn (``tests/test_report_draw.py``).

Where forking is not the platform's way (anything but Linux), with fewer than two cores, in a process
that has imported a library with threads of its own (``THREADED``: a fork of it may deadlock), or when
a child fails or does not answer within ``PATIENCE`` seconds, the figures it did not deliver are drawn
in the caller, so the page is the same either way and a report is never lost to a child.

    >>> d = Drawing({"strip": (plots.ratio_strip, (points, clauses, adapters, colours))})  # doctest: +SKIP
    >>> ...write the other reports...                                                        # doctest: +SKIP
    >>> d.result()["strip"][:4]                                                              # doctest: +SKIP
    '<svg'
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

Job = tuple[Callable[..., str], tuple[Any, ...]]  # a plots function and its arguments

PATIENCE = 60.0  # seconds to wait for the children's figures before drawing the rest in the caller
MAX_CHILDREN = 4


def _quiet_child() -> None:
    """In a fresh fork: the inherited standard streams may hold a lock another thread of the parent
    had taken (a progress bar writing to stderr); the child writes nothing, so it gets streams of its own."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # lives as long as the child
    gc.disable()  # a collection would touch every inherited object, copying the parent's memory page by page


# Libraries that run threads of their own from import on (and say a fork may deadlock, as JAX does): a
# process that has imported one -- a library caller's, never the gate's own (it imports no adapter) --
# draws its figures itself.
THREADED = ("jax", "torch", "mindspore", "tensorflow")


def _forks() -> bool:
    return (sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2
            and not any(m in sys.modules for m in THREADED))


class Drawing:
    """Figures being drawn: ``jobs`` maps a key to (plots function, arguments); ``result()`` has the SVGs."""

    def __init__(self, jobs: Mapping[str, Job], parallel: bool = True) -> None:
        self.jobs = dict(jobs)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[str, cf.Future[str]] = {}
        if not (parallel and self.jobs and _forks()):
            return
        try:
            self._pool = cf.ProcessPoolExecutor(min(len(self.jobs), os.cpu_count() or 1, MAX_CHILDREN),
                                                mp_context=multiprocessing.get_context("fork"),
                                                initializer=_quiet_child)
            self._futures = {k: self._pool.submit(f, *args) for k, (f, args) in self.jobs.items()}
        except (OSError, RuntimeError, ValueError):  # no fork here (limits, sandbox): drawn in the caller
            self._stop()
            self._futures = {}

    def result(self) -> dict[str, str]:
        """Every job's SVG, in the jobs' order (those the children did not deliver drawn here)."""
        out: dict[str, str] = {}
        try:
            for k, fut in self._futures.items():
                try:
                    out[k] = fut.result(timeout=PATIENCE)
                except cf.TimeoutError:
                    break  # stuck: draw the rest here
                except Exception:  # a child that died or raised: drawn (or raised) here
                    pass
        finally:
            self._stop()
        for k, (f, args) in self.jobs.items():
            if k not in out:
                out[k] = f(*args)
        return {k: out[k] for k in self.jobs}

    def _stop(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for p in list(getattr(pool, "_processes", {}).values()):  # a stuck child is not waited for
                if p.is_alive() and not all(f.done() for f in self._futures.values()):
                    p.kill()
            pool.shutdown(wait=True, cancel_futures=True)

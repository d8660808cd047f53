"""Adapter worker processes the gate owns: started, fed, timed, measured and killed from here.

Why not a process pool: a pool's result channel is pickle, and the worker runs the code under
test, so whatever arrives on that channel is under that code's control. Here each worker is a
plain subprocess in its own session (``python -m conformance.worker``); requests go down its stdin,
answers come up a pipe the gate created, as data-only frames (``conformance.ipc``) whose sizes are
checked before they are read. The gate never imports an adapter or a user module.

What a worker can do to the run, and what it costs:
- raise anything, return garbage, exit, abort, segfault: one ERROR record for the case it was
  running (the answer is validated in ``conformance.protocol``); the cases queued behind it go to a
  fresh worker, so a verdict never depends on ``-j`` or on what ran beside it;
- hang: killed after the case timeout (from the moment it began that case), one ERROR;
- grow past the memory limit: killed and replaced, one ERROR for the case that made it grow;
- fork children or double-forked daemons: killed with the worker (its session, plus every process
  still carrying the run's token in its environment) when the worker is replaced and at the end.
"""

from __future__ import annotations

import collections
import ctypes
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ipc, sandbox

DEFAULT_TIMEOUT = 300.0
DEFAULT_LOAD_TIMEOUT = 120.0  # importing torch/jax/MindSpore and probing: far shorter than a case budget
DEFAULT_MEMORY_MB = 6144  # per worker (RSS); MindSpore's graph caches stay near 2 GB in a default run
DEPTH = 256  # cases sent ahead to each worker, so it never waits on the gate (a batch of answers judged,
# failures explained, records written: a few hundred ms at most, while 256 quick cases take a worker ~0.6 s;
# at 32 a one-adapter run's worker waited 0.4-0.8 s in all)
TOKEN_ENV = "ADAM_CONFORMANCE_RUN"
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # one core each
WORKER_ENV = {**THREAD_ENV, "GLOG_v": "4", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
              "PYTHONUNBUFFERED": "1"}
WIRE_BLAME = ("the adapter's worker broke the wire protocol (an adapter bug, not the implementation's "
              "nonconformance; the code under test can write to the worker's result channel)")
HANG_HINT = ("; the worker did not finish loading -- a library that starts its own processes or threads at import "
             "(a compile pool, a server) can hang there: look for the library's knob to turn that off, or raise "
             "--load-timeout")


@dataclass(frozen=True)
class Limits:
    timeout: float = DEFAULT_TIMEOUT
    load_timeout: float = DEFAULT_LOAD_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB
    max_outcome_mb: int = ipc.DEFAULT_MAX_BLOB >> 20
    writable: tuple[str, ...] = ()  # directories a sandboxed worker may write besides its scratch (conformance.sandbox)
    sandbox: bool = True  # False: --no-sandbox (run.json and the summary say so)


PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes


def _widen(fd: int) -> None:
    """Give a pipe PIPE_BYTES of buffer (Linux; 64 KiB by default) when the system allows it."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (OSError, ImportError, ValueError):
        pass  # the default buffer: correct, only less overlap between the gate and its workers


@dataclass
class Job:
    key: int  # the runner's index of the case
    case_json: dict[str, Any]
    _frame: bytes | None = field(default=None, repr=False, compare=False)

    def frame(self) -> bytes:
        """The request, encoded once: one Job per case is shared by every adapter's pool."""
        if self._frame is None:
            self._frame = ipc.encode({"type": "case", "key": self.key, "case": self.case_json})
        return self._frame


@dataclass
class Answer:
    """What became of one job: the worker's (unvalidated) outcome message, or a fault of the worker."""

    job: Job
    wire: Any = None
    seconds: float = 0.0
    compilations: int | None = None
    fault: str | None = None  # error kind: timeout, crashed, memory, protocol, load
    message: str = ""
    framework: float = 0.0  # the worker's own work around the adapter (building the case, converting the outcome)


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    rfd: int
    wfd: int
    reader: ipc.FrameReader
    spawned: float
    log: Path | None
    first: bool  # this process's description is the pool's
    outbuf: bytearray = field(default_factory=bytearray)
    inflight: collections.deque[Job] = field(default_factory=collections.deque)
    loaded: bool = False
    running: Job | None = None
    began: float = 0.0
    idle_since: float = 0.0  # when it last had nothing running while cases were queued to it
    dead: bool = False
    scratch: str | None = None  # the worker's TMPDIR: the one directory of its own it may write (removed with it)


def _seconds(said: Any) -> float:
    """A duration a worker reports about itself (shown, never used to decide anything): 0 unless a real number."""
    ok = isinstance(said, (int, float)) and not isinstance(said, bool) and math.isfinite(said) and said >= 0
    return float(said) if ok else 0.0


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _tail(path: Path | None, n: int = 3) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 4096))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[:400]


def _how_it_died(p: Proc) -> str:
    rc = p.popen.poll()
    if rc is None:
        try:
            rc = p.popen.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            rc = None
    if rc is None:
        why = "closed its result channel"
    elif rc < 0:
        try:
            why = f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            why = f"was killed by signal {-rc}"
    else:
        why = f"exited with status {rc}"
    tail = _tail(p.log)
    return why + (f" (last output: {tail})" if tail else "")


def kill_tree(pid: int) -> None:
    """Kill a worker and its session (every child that did not start a session of its own)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class AdapterPool:
    """One adapter: its worker processes (``jobs`` of them), its queue, and what it said about itself."""

    def __init__(self, spec: str, jobs: int, limits: Limits, log_dir: Path | None, token: str, index: int) -> None:
        self.spec, self.jobs, self.limits, self.log_dir, self.token, self.index = (spec, jobs, limits, log_dir,
                                                                                   token, index)
        self.described: dict[str, Any] | None = None
        self.procs: list[Proc] = []
        self.pending: collections.deque[Job] = collections.deque()
        self.start_seconds: float | None = None
        self.started_at = 0.0
        self.compilations: int | None = None
        self.respawns = 0
        self.spawned = 0  # processes started for this adapter: each writes a log of its own
        self.broken: str | None = None  # set when workers keep dying while loading

    # -- processes --
    def spawn(self, first: bool = False) -> Proc:
        r, w = os.pipe()
        _widen(r)  # answers: a worker should not block on a full pipe while the gate judges a batch
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            # worker-N.log for the adapter's first process; its other -j workers and any restarted one get
            # worker-N.K.log, so a dead worker's last lines (in its ERROR record) are its own
            log_path = self.log_dir / (f"worker-{self.index}.log" if not self.spawned
                                       else f"worker-{self.index}.{self.spawned}.log")
            self.spawned += 1
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        env = {**os.environ, **WORKER_ENV, TOKEN_ENV: self.token, "ADAM_CONFORMANCE_GATE_PID": str(os.getpid())}
        env.pop(sandbox.ENV, None)
        scratch = tempfile.mkdtemp(prefix="adam-conformance-worker-")
        env.update({"TMPDIR": scratch, "TMP": scratch, "TEMP": scratch})
        rules = sandbox.policy(Path(scratch), self.limits.writable) if self.limits.sandbox else None
        if rules is not None:  # applied by the worker to itself before it loads the adapter
            env[sandbox.ENV] = rules
        try:
            popen = subprocess.Popen([sys.executable, "-m", "conformance.worker", str(w)], stdin=subprocess.PIPE,
                                     stdout=log, stderr=log, pass_fds=(w,), start_new_session=True, env=env,
                                     close_fds=True)
        finally:
            os.close(w)
            if log_path:
                log.close()  # type: ignore[union-attr]
        assert popen.stdin is not None
        wfd = popen.stdin.fileno()
        _widen(wfd)  # requests: many cases ahead in one write (a full pipe is written as it drains)
        os.set_blocking(r, False)
        os.set_blocking(wfd, False)
        p = Proc(popen, r, wfd, ipc.FrameReader(self.limits.max_outcome_mb << 20), time.monotonic(), log_path, first,
                 scratch=scratch)
        p.outbuf += ipc.encode({"type": "describe", "spec": self.spec})
        try:  # now, not at the next poll: the worker loads its library while the gate generates cases
            del p.outbuf[:os.write(wfd, p.outbuf)]
        except OSError:  # BlockingIOError or a worker already gone: the dispatcher's loop retries or notices
            pass
        self.procs.append(p)
        return p

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.spawn(first=True)

    def kill(self, p: Proc) -> None:
        if p.dead:
            return
        p.dead = True
        kill_tree(p.popen.pid)
        try:
            os.close(p.rfd)
        except OSError:
            pass
        try:
            assert p.popen.stdin is not None
            p.popen.stdin.close()
        except OSError:
            pass
        try:
            p.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        if p.scratch:
            shutil.rmtree(p.scratch, ignore_errors=True)

    @property
    def live(self) -> list[Proc]:
        return [p for p in self.procs if not p.dead]

    @property
    def available(self) -> bool:
        return bool(self.described and self.described.get("available"))

    def outstanding(self) -> int:
        return len(self.pending) + sum(len(p.inflight) for p in self.live)


class Dispatcher:
    """Feeds every pool's workers ahead of time and returns answers as they arrive."""

    def __init__(self, pools: Iterable[AdapterPool]) -> None:
        self.pools = list(pools)
        self.sel = selectors.DefaultSelector()
        self._registered: set[int] = set()
        self._last_mem = 0.0
        self.ipc_seconds = 0.0
        self._since = time.time()
        self._reaper = _subreaper(True)

    # -- bookkeeping --
    def _watch(self, pool: AdapterPool) -> None:
        for p in pool.live:
            if p.rfd not in self._registered:
                self.sel.register(p.rfd, selectors.EVENT_READ, (pool, p))
                self._registered.add(p.rfd)

    def _drop(self, pool: AdapterPool, p: Proc) -> None:
        if p.rfd in self._registered:
            try:
                self.sel.unregister(p.rfd)
            except (KeyError, ValueError):
                pass
            self._registered.discard(p.rfd)
        pool.kill(p)

    def submit(self, pool: AdapterPool, jobs: Iterable[Job]) -> None:
        pool.pending.extend(jobs)

    def _feed(self, pool: AdapterPool) -> None:
        if pool.broken or not pool.pending:
            return
        if pool.described is not None and not pool.available:
            return
        live = pool.live
        want = pool.jobs if pool.described is not None else 1
        while len(live) < min(want, max(1, len(pool.pending))):
            live.append(pool.spawn(first=pool.described is None and not live))
            self._watch(pool)
        while pool.pending:  # one at a time to the least loaded worker: -j workers share the cases evenly
            p = min(live, key=lambda q: len(q.inflight))
            if len(p.inflight) >= DEPTH:
                break
            job = pool.pending.popleft()
            if not p.inflight:
                p.idle_since = time.monotonic()
            p.inflight.append(job)
            p.outbuf += job.frame()

    def _flush(self, pool: AdapterPool, p: Proc) -> bool:
        while p.outbuf:
            try:
                n = os.write(p.wfd, p.outbuf)
            except BlockingIOError:
                return True
            except OSError:
                return False
            del p.outbuf[:n]
        return True

    # -- the loop --
    def poll(self, timeout: float = 0.2) -> list[tuple[AdapterPool, Answer | None]]:
        """Answers that arrived (``(pool, None)`` when a pool's description arrived)."""
        out: list[tuple[AdapterPool, Answer | None]] = []
        for pool in self.pools:
            if pool.broken and pool.pending:  # cases sent to a broken pool are ERRORs, never left waiting
                self._fail_queued(pool, out, pool.broken)
            self._feed(pool)
            self._watch(pool)
            for p in pool.live:
                if not self._flush(pool, p):
                    self._died(pool, p, out)
        events = self.sel.select(timeout) if self._registered else (time.sleep(min(timeout, 0.05)) or [])
        t0 = time.perf_counter()
        for key, _ in events:
            pool, p = key.data
            if not p.dead:
                self._read(pool, p, out)
        self.ipc_seconds += time.perf_counter() - t0
        self._timeouts(out)
        return out

    def _read(self, pool: AdapterPool, p: Proc, out: list[Any]) -> None:
        """Whatever the worker has written so far (non-blocking), decoded and handled in order."""
        data = ipc.read_ready(p.rfd)
        if data is None:
            return
        if not data:
            self._died(pool, p, out)
            return
        try:
            messages = p.reader.feed(data)
        except ipc.ProtocolError as e:
            self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: {e}")
            return
        for msg in messages:
            self._message(pool, p, msg, out)
            if p.dead:
                return
        if p.reader.error is not None:  # bad bytes after the messages just handled
            self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: {p.reader.error}")

    def _message(self, pool: AdapterPool, p: Proc, msg: dict[str, Any], out: list[Any]) -> None:
        from . import protocol

        kind = msg.get("type")
        if kind == "described":
            if p.loaded:  # a worker describes itself once, before its first case
                self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: it described itself again while running cases")
                return
            if not p.first and (msg.get("load_error") or msg.get("available") is not True):
                # a replacement worker that cannot load what the first one could: the pool is broken, and
                # every case still queued for it is an ERROR (never left waiting)
                why = f"a replacement worker could not load the adapter: {str(msg.get('reason'))[:300]}"
                if pool.described is None:  # the first worker's description still decides what the adapter is
                    pool.broken = why
                self._load_failed(pool, p, out, why)
                return
            p.loaded = True
            p.idle_since = time.monotonic()
            if p.first and pool.described is None:
                pool.described = protocol.described(msg, pool.spec)
                pool.start_seconds = time.monotonic() - pool.started_at
                out.append((pool, None))
                if not pool.available:
                    for q in pool.live:
                        self._drop(pool, q)
            return
        if kind == "begin":
            if not p.inflight or p.inflight[0].key != msg.get("key"):
                self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: it announced a case it was not sent")
                return
            if p.running is not None:  # announced again: that would restart the case's clock, forever
                self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: it announced the case it was running again")
                return
            p.running, p.began = p.inflight[0], time.monotonic()
            return
        if kind == "result":
            if not p.inflight or p.inflight[0].key != msg.get("key") or p.running is None:
                self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: it answered a case it was not running")
                return
            job = p.inflight.popleft()
            p.idle_since = time.monotonic()
            p.running = None
            comps = msg.get("compilations")
            ans = Answer(job, msg.get("outcome"), _seconds(msg.get("seconds")), comps if type(comps) is int else None,
                         framework=_seconds(msg.get("framework_seconds")))
            if ans.compilations is not None:
                pool.compilations = ans.compilations
            # The worker's own reading, taken when the case ended: the gate's, taken now, may already
            # include the next case's growth. A worker that under-reports is still measured by the gate
            # while it runs (``_timeouts``) -- lying only moves the ERROR to its own next case.
            said = msg.get("rss_mb")
            rss = float(said) if isinstance(said, (int, float)) and not isinstance(said, bool) and \
                math.isfinite(said) else _rss_mb(p.popen.pid)
            if rss > pool.limits.memory_mb:
                ans = Answer(job, fault="memory", message=_memory_message(rss, pool.limits.memory_mb))
                out.append((pool, ans))
                self._replace(pool, p)
                return
            out.append((pool, ans))
            return
        self._fault(pool, p, out, "protocol", f"{WIRE_BLAME}: it sent an unknown message {str(kind)[:40]!r}")

    def _replace(self, pool: AdapterPool, p: Proc) -> None:
        """Kill ``p``; the cases queued behind it go back to the front of the pool's queue."""
        requeue = [j for j in p.inflight if j is not p.running]
        p.inflight.clear()
        p.running = None
        self._drop(pool, p)
        pool.pending.extendleft(reversed(requeue))
        pool.respawns += 1

    def _fault(self, pool: AdapterPool, p: Proc, out: list[Any], kind: str, message: str) -> None:
        """The worker misbehaved: the case it was running (if any) gets the fault; the others are requeued."""
        if p.running is not None:  # its time is what it cost the run, up to the kill
            out.append((pool, Answer(p.running, seconds=time.monotonic() - p.began, fault=kind, message=message)))
        elif not p.loaded:
            self._load_failed(pool, p, out, message)
            return
        elif p.inflight:  # misbehaved between cases: charge the case it answered next
            out.append((pool, Answer(p.inflight[0], fault=kind, message=message)))
            p.inflight.popleft()
        self._replace(pool, p)

    def _died(self, pool: AdapterPool, p: Proc, out: list[Any]) -> None:
        how = _how_it_died(p)
        if not p.loaded:
            self._load_failed(pool, p, out, f"the worker {how} while loading the adapter")
            return
        self._fault(pool, p, out, "crashed", f"worker process {how}")

    def _load_failed(self, pool: AdapterPool, p: Proc, out: list[Any], message: str) -> None:
        if pool.described is None and not pool.broken:
            pool.described = {"spec": pool.spec, "name": pool.spec, "available": False, "load_error": True,
                              "reason": message}
            pool.start_seconds = time.monotonic() - pool.started_at
            out.append((pool, None))
        else:
            pool.broken = message
        self._drop(pool, p)
        if pool.broken:
            for q in pool.live:
                self._drop(pool, q)
            self._fail_queued(pool, out, message)

    def _fail_queued(self, pool: AdapterPool, out: list[Any], message: str) -> None:
        """Every case queued for a broken pool (pending, or sent to a worker now gone) is a load ERROR."""
        jobs = [*pool.pending, *(j for q in pool.procs for j in q.inflight)]
        pool.pending.clear()
        for q in pool.procs:
            q.inflight.clear()
        out.extend((pool, Answer(j, fault="load", message=message)) for j in jobs)

    def _timeouts(self, out: list[Any]) -> None:
        now = time.monotonic()
        check_mem = now - self._last_mem > 0.5
        if check_mem:
            self._last_mem = now
        for pool in self.pools:
            for p in pool.live:
                if p.popen.poll() is not None:  # gone, though a child may hold its channel open (no EOF)
                    self._read(pool, p, out)
                    if not p.dead:
                        self._died(pool, p, out)
                    continue
                if not p.loaded and now - p.spawned > pool.limits.load_timeout:
                    msg = f"timed out after {pool.limits.load_timeout:g} s while loading the adapter{HANG_HINT}"
                    self._load_failed(pool, p, out, msg)
                    continue
                if p.running is not None and now - p.began > pool.limits.timeout:
                    self._fault(pool, p, out, "timeout", f"timed out after {pool.limits.timeout:g} s (worker killed)")
                    continue
                if p.loaded and p.running is None and p.inflight and now - p.idle_since > pool.limits.timeout:
                    self._read(pool, p, out)  # a begin may be waiting in the pipe
                    if not p.dead and p.running is None and p.inflight:
                        self._fault(pool, p, out, "timeout", f"the worker did not begin its next case within "
                                    f"{pool.limits.timeout:g} s (stalled between cases; worker killed)")
                    continue
                if check_mem and p.running is not None and _rss_mb(p.popen.pid) > pool.limits.memory_mb:
                    self._read(pool, p, out)  # the case may have ended already: charge the one running now
                    rss = _rss_mb(p.popen.pid)
                    if not p.dead and p.running is not None and rss > pool.limits.memory_mb:
                        self._fault(pool, p, out, "memory", _memory_message(rss, pool.limits.memory_mb))

    def run_one(self, pool: AdapterPool, case_json: dict[str, Any], timeout: float | None = None) -> Answer | None:
        """One case on one pool outside the main run (replay, shrinking, exploring); None if it never answered."""
        job = Job(-1, case_json)
        pool.pending.appendleft(job)
        limit = (timeout or pool.limits.timeout) + pool.limits.load_timeout + 5
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for got, ans in self.poll(0.05):
                if got is pool and ans is not None and ans.job is job:
                    return ans
            if (pool.described is not None and not pool.available) or pool.broken:
                break
        if job in pool.pending:
            pool.pending.remove(job)
        return None

    def close(self, token: str | None = None) -> None:
        ours = {p.popen.pid for pool in self.pools for p in pool.procs}
        for pool in self.pools:
            for p in pool.procs:
                if not p.dead:
                    p.outbuf += ipc.encode({"type": "quit"})
                    self._flush(pool, p)
            for p in pool.procs:
                self._drop(pool, p)
            pool.procs = []
        if token:
            kill_token(token)
        if self._reaper:
            kill_adopted(ours, self._since)
            _subreaper(False)
            self._reaper = False
        self.sel.close()


# ---- what the workers left behind ------------------------------------------------------------------
# A worker's descendants can leave its session (setsid) and drop the run's token (exec with a clean
# environment); they cannot stop being its descendants. While workers run, the gate is a "child
# subreaper" (Linux prctl): a descendant whose parent dies is re-parented to the gate, not to init,
# so at the end every process it adopted -- whatever it did to hide -- is its child, and is killed.

_PR_SET_CHILD_SUBREAPER = 36
_reapers = 0  # dispatchers alive in this process (the flag is per process)


def _subreaper(on: bool) -> bool:
    """Count a dispatcher in (``on``) or out; the flag is set with the first and cleared with the last.
    False when this system has no subreaper (then only sessions and the token find what is left)."""
    global _reapers
    if not sys.platform.startswith("linux"):
        return False
    _reapers += 1 if on else -1
    if _reapers == (1 if on else 0):
        try:
            ok = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
        if on and not ok:
            _reapers -= 1
            return False
    return True


def _proc_stat(pid: int) -> tuple[str, int, int, float] | None:
    """(state, ppid, session, start time in seconds since boot) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[3]), int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _boot_time() -> float:
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def _proc_entries() -> list[str]:
    """The entries of /proc; none when it cannot be read (then the session kill alone applies)."""
    try:
        return os.listdir("/proc")
    except OSError:
        return []


def adopted(ours: set[int], since: float) -> list[int]:
    """Children of this process that it did not start: re-parented descendants of the run's workers
    (another session than the gate's, started after ``since``, epoch seconds)."""
    me, my_sid, boot = os.getpid(), os.getsid(0), _boot_time()
    found = []
    for entry in _proc_entries():
        if not entry.isdigit() or int(entry) in ours:
            continue
        st = _proc_stat(int(entry))
        if st is not None and st[1] == me and st[2] != my_sid and boot + st[3] >= since - 1.0:
            found.append(int(entry))
    return found


def kill_adopted(ours: set[int], since: float, patience: float = 10.0) -> None:
    """Kill and reap every adopted descendant. Their own children are adopted in turn when they die, so
    this repeats until a round finds none -- a chain of any depth -- or ``patience`` seconds have passed
    (a process that forks faster than it is killed)."""
    if not os.path.isdir("/proc"):
        return
    end = time.monotonic() + patience
    while time.monotonic() < end:
        pids = adopted(ours, since)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def kill_token(token: str) -> None:
    """Every process left carrying the run's token (a double-forked daemon of a worker)."""
    needle = f"{TOKEN_ENV}={token}".encode()
    if not os.path.isdir("/proc"):
        return
    me = os.getpid()
    for entry in _proc_entries():
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _memory_message(rss: float, limit: int) -> str:
    return (f"worker memory grew to {rss:.0f} MiB, past the limit of {limit} MiB (--memory-limit-mb); the worker "
            "was replaced")


def new_token() -> str:
    return uuid.uuid4().hex
